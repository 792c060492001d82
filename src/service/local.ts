/**
 * The jobs client of this machine: the file journal (jobs run attached, in this process) or
 * BullMQ on Redis (workers anywhere run them; this process follows). `mode: 'server'` is the same
 * client inside `custctl serve`: no terminal view, its own worker name, the server's words.
 */
import { isLeased } from '../adapters/queue.js';
import type { ServiceEnv } from './env.js';
import type { CustomerId } from '../domain/customer-id.js';
import type { Clusters } from '../adapters/clusters.js';
import { formatDuration } from '../domain/duration.js';
import { checkRowNamespace, namespaceFor } from '../domain/namespace-name.js';
import { ConflictError, NotFoundError, OperationError, UsageError } from '../errors.js';
import { isCancelled, isFinished, queueStateOf, stateName, type Job, type StateName } from '../domain/job.js';
import { requireJob } from '../adapters/queue.js';
import type { CancelResult, CancelTarget, CleanupPlan, CustomerPlan, DeletionOptions, DeletionPlan, DeletionRun, FollowOptions, JobsClient, RestorePlan, RestoreRequest } from './service.js';
import type { JobsEnv } from '../jobs/env.js';
import { localInterruption } from '../jobs/interruption.js';
import { queueBackendOf } from '../jobs/backends.js';
import type { CleanupReport, CleanupRequest } from '../jobs/kinds/cleanup-rbac.js';
import type { Canceller } from '../jobs/cancel.js';
import type { AuditFilter, AuditRecord, CustomerRow, DeploymentStatus } from '../adapters/store.js';
import type { DeliveryView } from '../domain/webhook.js';

/** The pipeline, the job kinds and the runner: loaded by the methods that plan or run jobs only. */
const running = () => import('./local-running.js');

export interface LocalClientOptions {
  /** 'cli': a terminal view, the CLI's words; 'server': inside `custctl serve` */
  mode: 'cli' | 'server';
  /** the queue and store to use (serve: its reopening store) */
  env?: Partial<JobsEnv>;
}

export class LocalJobsClient implements JobsClient {
  readonly via = '';
  readonly jobsWhere = 'in this journal';
  private envP: Promise<JobsEnv> | undefined;
  private pruned: Promise<unknown> | undefined;

  constructor(
    private readonly d: ServiceEnv,
    private readonly o: LocalClientOptions = { mode: 'cli' },
  ) {}

  /** the clusters registry of this process (the one cluster of kube()/helm() for a Deps without one) */
  private async clusters(): Promise<Clusters> {
    if (this.d.clusters) return this.d.clusters();
    const { singleCluster } = await running();
    return singleCluster({ kube: () => this.d.kube(), helm: () => this.d.helm() });
  }

  env(): Promise<JobsEnv> {
    return (this.envP ??= running().then((r) => r.jobsEnv(this.d, this.o.env)));
  }

  // ---- deletions -------------------------------------------------------------------------------

  async planDeletion(o: DeletionRun): Promise<DeletionPlan> {
    return (await running()).planDeletion(this.d, () => this.clusters(), o);
  }

  /**
   * One customer's deletion plan, as `delete --dry-run` shows it (the same builder: planOf), for
   * the console's customer page: on this client's store, queue and cluster, nothing logged. A
   * customer that cannot be deleted now (being deleted, deploying) has none: the refusal a deletion
   * would get is the answer.
   */
  async planCustomer(customer: CustomerId, o: DeletionOptions = {}): Promise<CustomerPlan> {
    const env = await this.env();
    const { DELETABLE_STATUSES, inspect, planTimeouts, statusConflict } = await running();
    const { store, config: cfg } = env;
    const row = await store.get(customer.id);
    if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${store.description}`);
    const namespace = checkRowNamespace(customer, row.instanceNamespace, cfg.namespacePrefix);
    const conflict = DELETABLE_STATUSES.includes(row.deploymentStatus) ? null : await statusConflict(env.queue, row, o.force ?? false);
    if (conflict) throw conflict;
    const home = env.clusters.for(row); // the customer's cluster (a row naming none in a fleet of several is refused)
    const cluster = cfg.simulate ? null : await home.adapters();
    const insp = cluster ? await inspect(customer, namespace, row, { ...cluster, store }, { detail: true, helmUninstall: o.helmUninstall ?? cfg.helmUninstall }) : null;
    const outside = env.outside ? await env.outside() : null;
    const plan = await (await running()).planOf({ customer, namespace, row, insp, o, config: cfg, kube: cluster?.kube ?? null, outside, store });
    if (Object.keys(home.entry.timeouts).length > 0) plan.timeouts = planTimeouts(cfg, o, home.entry);
    return { plan, target: { ...(cluster ? { context: cluster.target.context, server: cluster.target.server } : {}), database: store.description, ...(env.clusters.several ? { cluster: home.name } : {}) } };
  }

  async submitDeletion(customer: CustomerId, o: DeletionOptions, how: { namespaceUid?: string; sync?: boolean; requestedBy?: string } = {}): Promise<Job> {
    const { cliRequester, eventsOf, JOB_TTL_MS, submitDeletion } = await running();
    const env = await this.env();
    if (this.o.mode === 'cli') await (this.pruned ??= env.queue.prune(env.now() - JOB_TTL_MS).catch(() => 0));
    const job = await submitDeletion(env, customer, { ...o, ...(how.namespaceUid ? { namespaceUid: how.namespaceUid } : {}), requestedBy: how.requestedBy ?? cliRequester(this.d.worker) });
    await eventsOf(env).emit({ type: 'accepted', job });
    if (this.o.mode === 'cli') {
      // step lines: one customer's story, quiet in a run over several (one line per customer there)
      if (job.data.scheduledFor !== undefined) this.d.log.step('info', `Deletion scheduled: instance suspended${job.data.billingPaused?.length ? ', billing collection paused' : ''}`, { customerId: customer.id, job: job.id, deletesAt: new Date(job.data.scheduledFor).toISOString(), ...(job.data.billingPaused?.length ? { billingPaused: job.data.billingPaused.join(',') } : {}), cancel: `custctl cancel ${customer.id}` });
      else this.d.log.step('info', 'Deletion queued', { customerId: customer.id, job: job.id, attempts: job.maxAttempts, jobTimeout: formatDuration(job.opts.timeoutMs), ...(job.opts.waitTimeoutMs !== undefined ? { namespaceTimeout: formatDuration(job.opts.waitTimeoutMs) } : {}) });
    }
    return job;
  }

  // ---- restore ---------------------------------------------------------------------------------

  async planRestore(customer: CustomerId, from: string, o: RestoreRequest = {}): Promise<RestorePlan> {
    const d = this.d;
    const cfg = d.config();
    if (cfg.simulate) throw new UsageError('restore re-creates objects on the cluster: it does not run with SIMULATE_K8S_DEPLOYMENT=true');
    const { admitRestore, loadBackup, loadIdentities, ownGrantOf, refuseRestore, restorePlan, openBackupTarget } = await running();
    const namespace = namespaceFor(customer, cfg.namespacePrefix);
    const store = await d.store();
    const found = await store.get(customer.id);
    // the customer's cluster, as its row names it (no row: refused below, on the fleet's first cluster)
    const clusters = await this.clusters();
    const home = found ? clusters.for(found) : clusters.default();
    const kube = await home.kube();
    const target = { context: kube.target.context, server: kube.target.server, database: store.description, ...(clusters.several ? { cluster: home.name } : {}) };
    d.log.info('Target', target);
    const row = await refuseRestore(customer, namespace, found, cfg.namespacePrefix, kube, null);
    const identities = o.identityFile !== undefined ? await loadIdentities(o.identityFile, '--identity') : await loadIdentities(cfg.backupIdentity, 'CUSTCTL_BACKUP_IDENTITY');
    if (o.trustLocation) d.log.warn('--trust-backup-location: the backup is read even where others can write it');
    const log = (level: 'ok' | 'info' | 'warn' | 'error' | 'debug', message: string, fields?: Record<string, unknown>) => (level === 'warn' ? d.log.warn(message, fields) : level === 'error' ? d.log.error(message, fields) : d.log.info(message, fields));
    const backup = await loadBackup(from, customer.id, (u) => openBackupTarget(u, d.env), undefined, identities, { ...(o.trustLocation ? { trustLocation: true } : {}), log });
    const ownGrant = ownGrantOf(cfg.rbacName, kube.target);
    await admitRestore(backup, customer, namespace, kube, undefined, ownGrant);
    return { target, plan: restorePlan(backup, customer.id, namespace, row, ownGrant).view };
  }

  async submitRestore(customer: CustomerId, from: string, o: RestoreRequest = {}): Promise<Job> {
    const { cliRequester, eventsOf, submitRestore } = await running();
    const env = await this.env();
    const job = await submitRestore(env, customer, {
      from, requestedBy: cliRequester(this.d.worker),
      ...(o.identityFile !== undefined ? { identityFile: o.identityFile } : {}),
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
      ...(o.sha256 !== undefined ? { sha256: o.sha256 } : {}),
      ...(o.trustLocation ? { trustLocation: true } : {}),
    });
    await eventsOf(env).emit({ type: 'accepted', job });
    this.d.log.info('Restore queued', { customerId: customer.id, job: job.id });
    return job;
  }

  // ---- cleanup-rbac ----------------------------------------------------------------------------

  async planCleanup(o: CleanupRequest): Promise<CleanupPlan> {
    const d = this.d;
    const cfg = d.config();
    const { parseCustomerId, scanFleet } = await running();
    const onlyKey = o.customer !== undefined ? parseCustomerId(o.customer).key : undefined;
    if (this.o.mode === 'cli' && cfg.simulate) d.log.warn('SIMULATE_K8S_DEPLOYMENT=true: cluster RBAC is listed and reported, nothing is deleted');
    const env = await this.env();
    // every cluster of the fleet, or --cluster's; each reported on its own (src/jobs/kinds/cleanup-rbac.ts scanFleet)
    const chosen = o.cluster !== undefined ? [env.clusters.named(o.cluster)] : env.clusters.all();
    const targets = await Promise.all(chosen.map(async (c) => ({ name: c.name, target: await c.kube().then((k) => k.target, () => null) })));
    if (this.o.mode === 'cli') {
      for (const t of targets) d.log.info('Target', { ...(env.clusters.several ? { cluster: t.name } : {}), context: t.target?.context, server: t.target?.server, database: env.store.description, customer: o.customer });
    }
    // the plan: also the check that we may list at all, before any job exists
    const scan = await scanFleet(env.clusters, env.store, { prefix: cfg.namespacePrefix, ...(onlyKey !== undefined ? { onlyKey } : {}), includeKept: o.includeKept, ...(o.cluster !== undefined ? { only: o.cluster } : {}) });
    env.metrics?.orphansScanned(scan.report.orphans);
    const report: CleanupReport = {
      dryRun: true, simulated: cfg.simulate, orphans: scan.report.orphans, deleted: [], kept: scan.report.kept, errors: [],
      // a fleet of several: per-cluster counts and the strays (a fleet of one: the report as it always was)
      ...(env.clusters.several ? { clusters: scan.sweeps, strays: scan.strays } : {}),
    };
    const where = targets.length === 1 ? ` from context ${targets[0]?.target?.context ?? '-'}` : ` on clusters ${targets.map((t) => t.name).join(', ')}`;
    return { report, where };
  }

  async submitCleanup(o: CleanupRequest & { requestedBy?: string }, plan?: CleanupPlan): Promise<CleanupReport> {
    const d = this.d;
    const found = (plan ?? (await this.planCleanup(o))).report;
    const { cleanupReportOf, cliRequester, eventsOf, newCleanupJob } = await running();
    if (found.orphans.length === 0) {
      if (this.o.mode === 'cli') d.log.info('No orphaned cluster RBAC: nothing to delete');
      return { dryRun: false, simulated: found.simulated, jobId: null, orphans: [], deleted: [], kept: found.kept, errors: [], ...(found.clusters ? { clusters: found.clusters } : {}), ...(found.strays ? { strays: found.strays } : {}) };
    }
    const env = await this.env();
    const requestedBy = o.requestedBy ?? cliRequester(d.worker);
    const id = await env.queue.allocateId();
    const job = await env.queue.add(id, newCleanupJob(env.config, { ...o, requestedBy }), env.now());
    await eventsOf(env).emit({ type: 'accepted', job });
    d.log.info('Cleanup queued', this.o.mode === 'cli' ? { job: job.id, orphans: found.orphans.length, attempts: job.maxAttempts } : { job: job.id, orphans: found.orphans.length, by: requestedBy });
    const final = await this.follow(job, { label: job.name, run: true });
    return cleanupReportOf(final, (j) => {
      if (this.o.mode === 'server') return new OperationError(`cleanup-rbac job ${j.id} is ${j.state}: the server is shutting down`);
      const why = localInterruption(j);
      return new OperationError(`interrupted: cleanup-rbac job ${j.id} is ${j.state}`, why.details);
    });
  }

  // ---- jobs ------------------------------------------------------------------------------------

  async get(id: string): Promise<Job> {
    return requireJob(await this.d.jobs(), id);
  }

  async deliveries(id: string): Promise<DeliveryView[]> {
    return (await this.d.deliveries?.(id)) ?? [];
  }

  async list(filter: { state?: StateName; customerId?: string }): Promise<Job[]> {
    const { state, ...rest } = filter;
    const jobs = await (await this.d.jobs()).list({ ...rest, ...(state ? { state: queueStateOf(state) } : {}) });
    return jobs.filter((j) => !state || stateName(j) === state).sort((a, b) => Number(a.id) - Number(b.id));
  }

  async customers(filter: { status?: DeploymentStatus }): Promise<{ rows: CustomerRow[]; where: string }> {
    const store = await this.d.store();
    this.d.log.debug('Listing customers', { database: store.description });
    return { rows: (await store.list()).filter((r) => !filter.status || r.deploymentStatus === filter.status), where: store.description };
  }

  async customer(customer: CustomerId) {
    const store = await this.d.store();
    const row = await store.get(customer.id);
    if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${store.description}`, ["List customers with 'custctl customers list'; register one with 'custctl customers add'."]);
    const { latestJobs } = await import('./customer-jobs.js'); // status customer only: not on status job's path
    const jobs = await latestJobs(await this.d.jobs(), customer.id);
    return { customer: row, jobs };
  }

  async retry(id: string): Promise<Job> {
    const { cliRequester, retryJob } = await running();
    const again = await retryJob({ ...(await this.env()), actor: cliRequester(this.d.worker) }, id);
    if (this.o.mode === 'cli') this.d.log.info(`Job ${again.id} queued again`, { attempts: again.maxAttempts });
    return again;
  }

  /** `who`: the server's principal; the CLI cancels as its OS user. */
  async cancel(target: CancelTarget, who?: Canceller): Promise<CancelResult> {
    const { cancel, cliRequester } = await running();
    const r = await cancel(await this.env(), target, who ?? { actor: cliRequester(this.d.worker) });
    if (this.o.mode === 'cli') {
      const what = r.customerId && r.status !== null ? `Deletion of ${r.customerId} cancelled` : `Job ${r.jobId} cancelled`;
      if (r.deletionStarted) this.d.log.warn(`${what} after it had started: nothing was restored, the customer is ${r.status ?? '-'}`, { job: r.jobId });
      else this.d.log.ok(what, { job: r.jobId, status: r.status ?? undefined, restored: r.customerId ? r.restored.length : undefined });
    }
    return r;
  }

  async audit(filter: AuditFilter): Promise<AuditRecord[]> {
    return (await this.d.store()).listAudit(filter);
  }

  async follow(job: Job, o: FollowOptions): Promise<Job> {
    const d = this.d;
    if (!o.run) return this.watch(job, o.pollMs ?? 1000);
    const env = await this.env();
    const { followJob, LEASE_MS, makeProcessor, runAttached, runJobAttached, runnerEvents, settle, workerEvents } = await running();
    const queue = env.queue;
    if (isLeased(queue)) {
      if (this.o.mode === 'cli') return runAttached(d, env, job, { status: o.status ?? true });
      const final = await runJobAttached(queue, job.id, makeProcessor(env), {
        worker: `${d.worker}/sync`,
        leaseMs: LEASE_MS,
        now: env.now,
        sleep: d.sleep,
        signal: d.shutdown,
        onEvent: runnerEvents(env, workerEvents(d)),
      });
      return final;
    }
    // BullMQ: the queue's workers run it (on any machine); this process follows it
    if (this.o.mode === 'server') return waitForEnd(d, env, job.id);
    const final = await followJob(d, { get: async (id) => (await queue.get(id)) ?? Promise.reject(new NotFoundError(`job ${id} not found`)), hint: '', whoRuns: await this.whoRuns() }, job.id, job.data.customerId ?? job.name);
    await settle(env, final); // its worker settles it too; idempotent, and the row is right before we answer
    return final;
  }

  /** `status job --watch` on this journal: a line when the state changes, until the job has ended. */
  private async watch(job: Job, pollMs: number): Promise<Job> {
    const d = this.d;
    let last = '';
    const since = d.now().getTime();
    let noticed = false;
    const whoRuns = await this.whoRuns();
    const { idleNotice } = await import('../jobs/follow.js');
    while (!isFinished(job)) {
      const line = `job ${job.id}: ${job.state} ${job.progress}% (attempt ${Math.min(job.attemptsMade + 1, job.maxAttempts)}/${job.maxAttempts})`;
      if (line !== last) d.log.info(line);
      last = line;
      const idle = noticed ? null : idleNotice(job, since, d.now().getTime(), whoRuns);
      if (idle) {
        d.log.warn(idle);
        noticed = true;
      }
      try {
        await d.sleep(pollMs, d.shutdown);
      } catch {
        break;
      }
      job = await this.get(job.id);
    }
    return job;
  }

  interrupted(job: Job) {
    return localInterruption(job);
  }

  async whoRuns(): Promise<string> {
    const queue = await this.d.jobs();
    const { backend } = await queueBackendOf(this.d);
    if (queue.kind === 'bullmq') return `a 'custctl worker' with ${backend.sameSettings} (on any machine); start one if none is running`;
    return "a 'custctl worker' or 'custctl serve' using this state directory; if none is running, 'custctl worker --once' (or 'custctl jobs resume') runs it now";
  }

  // ---- local journal only ----------------------------------------------------------------------

  /**
   * Takes over jobs whose worker died (lease expired) and runs waiting or delayed ones here. With
   * `customer`: a row left `deleting` whose job is missing from the journal (a crash between the
   * row and the journal) gets its job recreated under the same id.
   */
  async resume(o: { customer?: CustomerId }): Promise<Job[]> {
    const d = this.d;
    const queue = await d.jobs();
    const env = await this.env();
    const { cliRequester, eventsOf, jobOptions, settle } = await running();
    const now = d.now().getTime();
    let candidates: Job[];
    if (o.customer) {
      const customer = o.customer;
      const row = await env.store.get(customer.id);
      if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${env.store.description}`);
      if (row.deploymentStatus !== 'deleting' || !row.deletionJobId) {
        throw new ConflictError(`customer ${customer.id} is ${row.deploymentStatus}: there is no deletion to resume`, [
          row.deploymentStatus === 'deletion_failed' && row.deletionJobId ? `Retry it with 'custctl jobs retry ${row.deletionJobId}'.` : "Start one with 'custctl delete'.",
        ]);
      }
      let job = await queue.get(row.deletionJobId);
      if (job && isCancelled(job)) {
        throw new ConflictError(`customer ${customer.id} is held by job ${job.id}, which was cancelled, but the cancel did not finish: there is nothing to resume`, [
          `Finish the cancel with 'custctl cancel ${customer.id}' (it restores a suspended instance and hands the row back).`,
        ]);
      }
      if (!job) {
        d.log.warn(`Job ${row.deletionJobId} is missing from the journal: recreating it`, { customerId: customer.id });
        job = await queue.add(
          row.deletionJobId,
          {
            name: 'delete',
            data: { customerId: customer.id, namespace: namespaceFor(customer, env.config.namespacePrefix) },
            opts: jobOptions(env.config, {}, env.clusters.for(row).entry),
            requestedBy: `${cliRequester(d.worker)} (resume)`,
            simulated: env.config.simulate,
            previousStatus: row.previousStatus,
          },
          now,
        );
        await eventsOf(env).emit({ type: 'accepted', job });
      }
      candidates = [job];
    } else {
      const all = await queue.list();
      // a failed delete whose row was never settled (its worker died on the last attempt)
      for (const j of all.filter((j) => j.state === 'failed')) await settle(env, j);
      const abandoned = (j: Job) => (isLeased(queue) && queue.leaseAbandoned ? queue.leaseAbandoned(j, now) : (j.lease?.expiresAt ?? 0) <= now);
      // a scheduled deletion (soft delete) that is not due yet waits for its time: a worker runs it then
      const notDue = (j: Job) => j.state === 'delayed' && j.data.scheduledFor !== undefined && (j.delayUntil ?? 0) > now;
      candidates = all.filter((j) => j.state === 'waiting' || (j.state === 'delayed' && !notDue(j)) || (j.state === 'active' && abandoned(j)));
    }
    if (candidates.length === 0) {
      d.log.info('Nothing to resume: no waiting, delayed or abandoned jobs');
      return [];
    }
    const finals: Job[] = [];
    for (const job of candidates) {
      d.log.info(`Resuming job ${job.id}`, { state: job.state, customerId: job.data.customerId, attemptsMade: job.attemptsMade });
      finals.push(await this.follow(job, { label: job.data.customerId ?? job.name, run: true }));
      if (d.shutdown.aborted) break;
    }
    return finals;
  }

  async prunable(olderThanMs: number): Promise<Job[]> {
    const before = this.d.now().getTime() - olderThanMs;
    return (await this.list({})).filter((j) => isFinished(j) && j.finishedOn !== null && j.finishedOn < before);
  }

  async prune(olderThanMs: number): Promise<number> {
    return (await this.d.jobs()).prune(this.d.now().getTime() - olderThanMs);
  }
}

/** A synchronous deletion on BullMQ (serve): the job runs on a worker; this waits for its end (or shutdown). */
async function waitForEnd(d: ServiceEnv, env: JobsEnv, id: string): Promise<Job> {
  for (;;) {
    const job = await env.queue.get(id);
    if (!job) throw new OperationError(`job ${id} disappeared from the queue`);
    if (isFinished(job) || d.shutdown.aborted) return job;
    await d.sleep(500, d.shutdown).catch(() => undefined);
  }
}
