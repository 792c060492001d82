/**
 * The queue API's routes (`/api/…`): deletions of customers, the rows, the jobs (read, deliveries,
 * certificate, retry, cancel), the audit log, erasure and cleanup-rbac. Each maps HTTP to the one
 * service `svc` and asks src/service/policy.ts who may do what; the server (src/server/app.ts)
 * authenticates the caller before a handler runs and turns errors into answers.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { deliveryJson, jobJson as jobWithIsoTimes, type JobJson } from '../domain/json-times.js';
import type { DeliveryView } from '../domain/webhook.js';
import { AUDIT_ACTIONS, DEPLOYMENT_STATUSES } from '../adapters/store.js';
import { parseTimePoint } from '../domain/time-window.js';
import { parseCustomerId, shownInput } from '../domain/customer-id.js';
import { fromQuery, type DeletionOptions } from '../domain/deletion-options.js';
import { isJobId } from '../domain/job-id.js';
import { errorMessage, httpStatusForErrorName, type ErrorName, InvalidIdError, NotFoundError, UsageError } from '../errors.js';
import { CLUSTER_NAME } from '../domain/clusters.js';
import { isStateName, STATE_NAMES, type Job } from '../domain/job.js';
import { formatRetention } from '../domain/duration.js';
import { cancellerOf, type Principal } from './auth.js';
import type { ServerService } from '../service/server-service.js';
import type { RouteSettings } from './settings.js';
import { authorize as allow, deletionTerms, DEFAULT_RETENTION_RULE, deliveryView, jobsScope, jobView, rowView, type Action } from '../service/policy.js';

export const QUEUED_MESSAGE = 'Customer deletion queued successfully';
export const SCHEDULED_MESSAGE = 'Customer deletion scheduled';
export const QUEUED_NOTE = 'Kubernetes namespace will be deleted asynchronously. Check job status for progress.';

function parseJobIdParam(raw: string): string {
  if (!isJobId(raw)) throw new InvalidIdError(`${shownInput(raw)} is not a job id: job ids are numbers, e.g. 12345`);
  return raw;
}

function boolParam(name: string, raw: unknown): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new UsageError(`query parameter ${name} must be true or false`);
}

type Query = Record<string, string | undefined>;

/** The job as the API shows it: the one schema (DESIGN "The job journal", ISO times beside BullMQ's ms), without the lease's pid/host. */
export function jobJson(job: Job): JobJson {
  return jobWithIsoTimes(job.lease ? { ...job, lease: { ...job.lease, pid: 0, host: '' } } : job);
}

/** The end of a synchronous deletion as HTTP: 200 completed, the failure's status, 202 when handed back. */
export function syncStatus(job: Job): { status: number; error?: ErrorName } {
  if (job.state === 'completed') {
    const superseded = (job.returnvalue as { outcome?: string } | null)?.outcome === 'superseded';
    return superseded ? { status: 409, error: 'conflict' } : { status: 200 };
  }
  if (job.state === 'failed') {
    const name = job.failedCode ?? 'internal';
    return { status: httpStatusForErrorName(name), error: name };
  }
  return { status: 202 };
}

/** Registers the API's routes on `app`, calling `svc`. */
export function registerApi(app: FastifyInstance, svc: ServerService, s: RouteSettings): void {
  const { log } = s;
  const requestedBy = (req: FastifyRequest) => `api:${req.principal?.name ?? 'unknown'}`;
  /** Who asks (every route that reaches a handler with a role has authenticated one). */
  const who = (req: FastifyRequest): Principal => req.principal as Principal;
  /** The job as the caller may see it (src/service/policy.ts): the API's JSON, or an owner's view of its own customer's job. */
  const jobFor = (req: FastifyRequest) => (job: Job): JobJson => (who(req).role === 'owner' ? jobWithIsoTimes(jobView(who(req), job)) : jobJson(job));
  /** The job, if the caller may read it; a missing one and (to an owner) another customer's read the same. */
  async function readableJob(req: FastifyRequest, raw: string, action: Action = 'read-job'): Promise<Job> {
    const id = parseJobIdParam(raw);
    const job = await svc.job(id);
    if (!job) throw new NotFoundError(`job ${id} not found`, ["List jobs with 'custctl jobs list' (finished jobs are kept 7 days)."]);
    allow(who(req), action, { job });
    return job;
  }
  const retention = s.retention ?? DEFAULT_RETENTION_RULE;

  /**
   * The options of a deletion asked through the API: `?after=7d` (0: now) or the site's default,
   * as the policy's retention rule allows them (an owner: at least its minimum, no override flags).
   */
  function retentionFor(req: FastifyRequest, extras: DeletionOptions): DeletionOptions {
    const terms = deletionTerms(who(req), extras, retention);
    if (!terms.allowed && terms.refusal === 'overrides') throw new UsageError('an owner token cannot pass force, allowMissing or allowClusterScoped');
    if (!terms.allowed) {
      throw new UsageError(`an account owner's deletion waits at least ${formatRetention(terms.minMs)} (after=${formatRetention(terms.afterMs)} is shorter): it is never immediate`, [
        `Ask for after=${formatRetention(terms.minMs)} or more, or leave after out for the site's retention period.`,
      ]);
    }
    const { afterMs: _asked, ...rest } = extras;
    return terms.afterMs !== undefined ? { ...rest, afterMs: terms.afterMs } : rest;
  }

  // ---- customers -----------------------------------------------------------------------------

  app.delete<{ Params: { id: string }; Querystring: Query }>(
    '/api/customers/:id',
    { config: { role: 'admin', owner: true, conflictStatus: 400 } },
    async (req) => {
      const customer = parseCustomerId(req.params.id);
      allow(who(req), 'submit', { customerId: customer.id });
      const extras = retentionFor(req, fromQuery(req.query));
      const job = await svc.submit(customer, requestedBy(req), extras);
      if (job.data.scheduledFor !== undefined) {
        const at = new Date(job.data.scheduledFor).toISOString();
        log.info('Deletion scheduled', { customerId: customer.id, job: job.id, deletesAt: at, by: req.principal?.name });
        return {
          message: SCHEDULED_MESSAGE,
          customerId: customer.id,
          jobId: job.id,
          status: 'scheduled',
          scheduledFor: at,
          note: `The instance is suspended now; its data will be deleted at ${at}. Cancel before then with POST /api/customers/${customer.id}/cancel-deletion.`,
        };
      }
      log.info('Deletion queued', { customerId: customer.id, job: job.id, by: req.principal?.name });
      return { message: QUEUED_MESSAGE, customerId: customer.id, jobId: job.id, status: 'pending', note: QUEUED_NOTE };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/customers/:id/cancel-deletion',
    { config: { role: 'admin', owner: true } },
    async (req, reply) => {
      const customer = parseCustomerId(req.params.id);
      allow(who(req), 'cancel', { customerId: customer.id });
      if (!svc.cancel) return reply.code(501).send({ error: 'internal', message: 'cancelling deletions is not available on this server' });
      const r = await svc.cancel({ customer }, cancellerOf(req.principal));
      log.info('Deletion cancelled', { customerId: customer.id, job: r.jobId, status: r.status ?? undefined, restored: r.restored.length, deletionStarted: r.deletionStarted || undefined, by: req.principal?.name });
      return { ...r, job: jobFor(req)(r.job) };
    },
  );

  app.delete<{ Params: { id: string }; Querystring: Query }>(
    '/api/customers/:id/deployment',
    { config: { role: 'admin', conflictStatus: 400 } },
    async (req, reply) => {
      const customer = parseCustomerId(req.params.id);
      if (fromQuery({ after: req.query.after }).afterMs !== undefined) throw new UsageError('the synchronous endpoint deletes now: schedule a deletion with DELETE /api/customers/:id?after=7d');
      // synchronous means now, whatever the site's default retention
      const extras = { ...fromQuery(req.query), afterMs: 0 };
      const job = await svc.submit(customer, requestedBy(req), extras);
      log.info('Deletion started (synchronous)', { customerId: customer.id, job: job.id, by: req.principal?.name });
      // not tied to the request: a client that goes away leaves the job running to its end
      const run = svc.runSync(job);
      run.catch((e: unknown) => log.error(`job ${job.id}: synchronous run failed`, { error: errorMessage(e) }));
      const final = await run;
      const { status, error } = syncStatus(final);
      const firstLine = (final.failedReason ?? '').split('\n')[0] ?? '';
      return reply.code(status).send({
        customerId: customer.id,
        jobId: final.id,
        state: final.state,
        progress: final.progress,
        result: final.returnvalue ?? null,
        failedReason: final.failedReason,
        simulated: final.simulated,
        ...(error ? { error, message: firstLine || `job ${final.id} ${final.state}` } : {}),
        ...(status === 202 ? { message: `job ${final.id} is ${final.state}: the server is shutting down; another worker will finish it` } : {}),
      });
    },
  );

  app.get<{ Params: { id: string } }>('/api/customers/:id', { config: { role: 'viewer', owner: true } }, async (req) => {
    const customer = parseCustomerId(req.params.id);
    allow(who(req), 'read-customer', { customerId: customer.id });
    const row = await svc.row(customer.id);
    if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${svc.where()}`);
    const jobs = await svc.latestJobs(customer.id);
    return { customer: rowView(who(req), row), jobs: jobs.map(jobFor(req)) };
  });

  // the rows (customers list --api-url); an owner gets its own row only
  app.get<{ Querystring: Query }>('/api/customers', { config: { role: 'viewer', owner: true } }, async (req) => {
    const status = req.query.status;
    if (status !== undefined && !(DEPLOYMENT_STATUSES as readonly string[]).includes(status)) throw new UsageError(`status must be one of ${DEPLOYMENT_STATUSES.join(', ')}`);
    const p = who(req);
    const own = jobsScope(p, undefined);
    const rows = p.role === 'owner' ? [await svc.row(own ?? '')].filter((r) => r !== null).map((r) => rowView(p, r)) : await svc.rows();
    return rows.filter((r) => status === undefined || r.deploymentStatus === status);
  });

  // ---- jobs ----------------------------------------------------------------------------------

  app.get<{ Querystring: Query }>('/api/admin/jobs', { config: { role: 'viewer', owner: true } }, async (req) => {
    // the states as people read them: `failed` leaves out the cancelled jobs, `delayed` the scheduled deletions
    const state = req.query.state;
    if (state !== undefined && !isStateName(state)) throw new UsageError(`state must be one of ${STATE_NAMES.join(', ')}`);
    const asked = req.query.customer !== undefined ? parseCustomerId(req.query.customer) : undefined;
    if (asked) allow(who(req), 'list-jobs', { customerId: asked.id });
    // an owner lists its own customer's jobs, whatever it asked for
    const customerId = jobsScope(who(req), asked?.id);
    return (await svc.jobs({ ...(state ? { state } : {}), ...(customerId ? { customerId } : {}) })).map(jobFor(req));
  });

  // another customer's job reads to an owner exactly as a job that does not exist
  app.get<{ Params: { id: string } }>('/api/admin/jobs/:id', { config: { role: 'viewer', owner: true } }, async (req) => jobFor(req)(await readableJob(req, req.params.id)));

  // webhook deliveries of a job (who was told, status code, attempts): read as the job is; an
  // owner learns only that its customer's deliveries exist, not where they go
  app.get<{ Params: { id: string } }>('/api/admin/jobs/:id/deliveries', { config: { role: 'viewer', owner: true } }, async (req) => {
    const job = await readableJob(req, req.params.id, 'deliveries');
    const deliveries = (await svc.deliveries(job.id)).map((x) => deliveryJson(x as DeliveryView));
    return { jobId: job.id, deliveries: deliveries.map((x) => deliveryView(who(req), x)) };
  });

  // the job's signed deletion certificate (the file `certificate verify` reads; ?format=text|html renders it).
  // Staff only: a signed document cannot be trimmed for an owner, and it names the backup target
  // and the cluster RBAC, which owner views never show; the customer portal decides what a customer gets.
  app.get<{ Params: { id: string }; Querystring: Query }>('/api/admin/jobs/:id/certificate', { config: { role: 'viewer' } }, async (req, reply) => {
    const job = await readableJob(req, req.params.id);
    const format = req.query.format ?? 'json';
    if (!['json', 'text', 'html'].includes(format)) throw new UsageError('format must be json, text or html');
    const [{ jobCertificate }, { certificateHtml, certificateText }] = await Promise.all([import('../jobs/certificate-of-job.js'), import('../domain/certificate.js')]);
    const doc = jobCertificate(job);
    const note = 'Shown, not verified: check it with custctl certificate verify.';
    if (format === 'html') return reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'").send(certificateHtml(doc, note));
    if (format === 'text') return reply.header('content-type', 'text/plain; charset=utf-8').send(certificateText(doc, note));
    return doc;
  });

  app.post<{ Params: { id: string } }>('/api/admin/jobs/:id/retry', { config: { role: 'admin' } }, async (req) => {
    const job = await svc.retry(parseJobIdParam(req.params.id), requestedBy(req));
    log.info(`Job ${job.id} queued again`, { by: req.principal?.name });
    return jobJson(job);
  });

  // the job, as GET answers it, plus what the cancel did (`cancel`: the row's status, what was restored)
  app.post<{ Params: { id: string } }>('/api/admin/jobs/:id/cancel', { config: { role: 'admin' } }, async (req, reply) => {
    const id = parseJobIdParam(req.params.id);
    if (!svc.cancel) return reply.code(501).send({ error: 'internal', message: 'cancelling jobs is not available on this server' });
    const { job, ...done } = await svc.cancel({ jobId: id }, cancellerOf(req.principal));
    log.info(`Job ${job.id} cancelled`, { customerId: done.customerId ?? undefined, status: done.status ?? undefined, restored: done.restored.length, by: req.principal?.name });
    return { ...jobJson(job), cancel: done };
  });

  // ---- audit ---------------------------------------------------------------------------------

  app.get<{ Querystring: Query }>('/api/admin/audit', { config: { role: 'viewer' } }, async (req) => {
    const q = req.query;
    const customerId = q.customer !== undefined ? parseCustomerId(q.customer).id : undefined;
    const since = q.since !== undefined ? parseTimePoint(q.since, new Date(svc.now()), 'since') : undefined;
    const actions = (q.action ?? '').split(',').map((a) => a.trim()).filter(Boolean);
    for (const a of actions) if (!(AUDIT_ACTIONS as readonly string[]).includes(a)) throw new UsageError(`action must be one of ${AUDIT_ACTIONS.join(', ')}`);
    const limit = q.limit !== undefined ? Number(q.limit) : 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError('limit must be a whole number from 1 to 100000');
    return svc.audit({ ...(customerId ? { customerId } : {}), ...(since ? { since } : {}), actions, limit });
  });

  // ---- erasure -------------------------------------------------------------------------------

  app.post<{ Params: { id: string }; Querystring: Query }>('/api/admin/customers/:id/erase', { config: { role: 'admin' } }, async (req, reply) => {
    const customer = parseCustomerId(req.params.id);
    const dryRun = boolParam('dryRun', req.query.dryRun) ?? false;
    if (!svc.erase) return reply.code(501).send({ error: 'internal', message: 'erasure is not available on this server' });
    const result = await svc.erase(customer, requestedBy(req), dryRun);
    log.info(dryRun ? `Erasure of ${customer.id} planned` : `Customer ${customer.id} erased`, { by: req.principal?.name });
    return result;
  });

  // ---- cleanup-rbac --------------------------------------------------------------------------

  app.post<{ Querystring: Query }>('/api/admin/cleanup-rbac', { config: { role: 'admin' } }, async (req, reply) => {
    const dryRun = boolParam('dryRun', req.query.dryRun) ?? false;
    const includeKept = boolParam('includeKept', req.query.includeKept) ?? false;
    const customer = req.query.customer !== undefined ? parseCustomerId(req.query.customer) : undefined;
    // one cluster of the server's fleet (its name is checked against the fleet by the sweep: unknown → 400 naming them)
    const cluster = req.query.cluster;
    if (cluster !== undefined && !CLUSTER_NAME.test(cluster)) throw new UsageError("query parameter cluster must be a cluster's name (a DNS label)");
    if (!svc.cleanupRbac) return reply.code(501).send({ error: 'internal', message: 'cleanup-rbac is not available on this server' });
    const result = await svc.cleanupRbac(dryRun, requestedBy(req), { includeKept, ...(customer ? { customer } : {}), ...(cluster !== undefined ? { cluster } : {}) });
    return { dryRun, result };
  });
}
