/**
 * `custctl delete <customerId...>`: validate every id and row, show the target and the plan,
 * confirm, then submit each deletion as a job and run it in this process (or only enqueue it
 * with --detach). Locally or through --api-url: the jobs client decides where.
 */
import { summaryWords } from '../domain/billing.js';
import { Command, Option } from '@commander-js/extra-typings';
import { DEFAULTS } from '../config.js';
import { withCompletions } from '../completions.js';
import { DELETABLE_STATUSES } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { deletionOptionsOf, HELM_UNINSTALL_MODES, type DeletionRun, type HelmUninstallMode } from '../domain/deletion-options.js';
import { errorJson, exitCodeFor, isRunWideError } from '../errors.js';
import { durationFlag, intFlag, retentionFlag } from '../flags.js';
import { formatRetention } from '../domain/duration.js';
import type { DeleteOutcome, DeleteReport } from '../jobs/kinds/delete.js';
import { outcomeOf } from '../jobs/kinds/delete.js';
import { alreadyDeletedText, renderBulkSummary, renderPlan, whoIs } from '../output/plan.js';
import { writeError } from '../output/error.js';
import { humanIO, outputOption, print, printTable, view, writeStyled, type OutputFormat } from '../output/print.js';
import { h, Styled } from '../output/text.js';
import { confirmOrRefuse } from '../prompt.js';
import { parseBackupUrl, parseRecipients } from '../domain/backup.js';
import { parseSnapshotClass } from '../domain/volume-snapshots.js';
import { isFinished } from '../domain/job.js';
import { combinedExitCode, runPaced } from '../util/pool.js';
import { Pacer, paceText } from '../domain/pacing.js';

export type { DeleteOutcome, DeleteReport };

export async function runDelete(o: DeletionRun & { output: OutputFormat }, d: Deps): Promise<DeleteReport> {
  const client = await d.client();
  const plan = await client.planDeletion(o);
  if (o.dryRun) {
    const results: DeleteOutcome[] = plan.items.map((t) => ({
      customerId: t.customer.id,
      namespace: t.namespace,
      jobId: null,
      state: 'planned',
      exitCode: 0,
      simulated: plan.simulated,
      error: null,
      result: null,
      plan: t.plan,
      ...(t.alreadyDeleted ? { alreadyDeleted: t.alreadyDeleted } : {}),
    }));
    return { dryRun: true, simulated: plan.simulated, target: plan.target, results, exitCode: 0, ...whenOf(plan.afterMs, d) };
  }
  // a pending row with nothing left on the cluster is deleted already: no job, no question
  const gone = plan.items.filter((t) => t.alreadyDeleted);
  const todo = plan.items.filter((t) => !t.alreadyDeleted);
  for (const t of gone) d.log.info(`${t.customer.id}: ${alreadyDeletedText(t.alreadyDeleted ?? { byJob: null, at: null })}; nothing left on the cluster, no job created`);
  const when = whenLine(plan.afterMs, d);
  const many = todo.length > 1;
  if (!o.yes && todo.length > 0) {
    const c = d.io.errChalk;
    for (const t of todo) d.log.line(t.plan ? renderPlan(t.plan, c) : (t.summary ?? ''));
    d.log.line(when);
    const first = todo[0] as (typeof todo)[number];
    const verb = plan.afterMs ? `Schedule the deletion of` : 'Delete';
    if (many) {
      // a run over several customers ends with what it adds up to, and asks for more than a number
      d.log.line(renderBulkSummary(todo.map((t) => t.plan ?? null), c));
      const expected = bulkConfirmation(todo.length);
      await confirmOrRefuse(d, h`${verb} these ${todo.length} customers${client.via}? Type '${expected}' to confirm`, expected, `delete ${todo.length} customers`);
    } else {
      const who = first.plan ? h` ${whoIs(first.plan.row)}` : '';
      await confirmOrRefuse(d, h`${verb} ${first.customer.id}${who}${client.via}? Type its customer ID to confirm`, first.customer.id, `delete ${first.customer.id}`);
    }
  }

  let simulated = plan.simulated;
  // several customers: one line each (and the live n/N line on a terminal); each job's steps only with -v
  if (many) d.log.quietSteps(true);
  const count = await bulkCount(d, todo.length, o.detach, o.output);
  // Grouped by cluster (local runs over a fleet): each cluster runs its customers at its own
  // concurrency and pace, the clusters at the same time, so one cluster's namespace controller or
  // outage does not hold up another's. One cluster (or --api-url): one group, as before.
  const groups = groupByCluster(plan.items);
  const pacers = new Map<string, Pacer>();
  const grouped = groups.length > 1;
  try {
    const perGroup = await Promise.all(groups.map(async (g) => {
      // the pace: lowered on 429s or a namespace controller falling behind, raised again on recovery
      const pacer = new Pacer(g.concurrency ?? o.concurrency);
      pacers.set(g.cluster, pacer);
      const throttles = () => (grouped ? d.pressure?.byCluster?.[g.cluster] ?? 0 : d.pressure?.throttles ?? 0);
      let throttlesSeen = throttles();
      const limit = (): number => {
        const now = d.now().getTime();
        const t = throttles();
        if (t > throttlesSeen) pacer.throttled(now);
        throttlesSeen = t;
        return pacer.limit(now);
      };
      return runPaced(g.items, limit, async (t): Promise<[number, DeleteOutcome]> => {
        const index = plan.items.indexOf(t);
        if (t.alreadyDeleted) return [index, { customerId: t.customer.id, namespace: t.namespace, ...(t.cluster ? { cluster: t.cluster } : {}), jobId: null, state: 'already-deleted', exitCode: 0, simulated: false, error: null, result: null, alreadyDeleted: t.alreadyDeleted }];
        const outcome = await deleteOne(t);
        if (outcome.result?.namespaceWaitMs !== undefined) pacer.namespaceWaited(outcome.result.namespaceWaitMs, d.now().getTime());
        count.done(outcome);
        return [index, outcome];
      });
    }));
    const results = perGroup.flat().sort((a, b) => a[0] - b[0]).map(([, r]) => r);
    const pacer = pacers.get(groups[0]?.cluster ?? '') ?? new Pacer(o.concurrency);
    count.end();
    const paced = pacer.summary();
    if (grouped) {
      for (const g of groups) {
        const p = pacers.get(g.cluster)?.summary();
        if (p) d.log.info(`Cluster ${g.cluster}: concurrency ${paceText(p)}`, { concurrency: g.concurrency ?? o.concurrency });
      }
    } else if (paced) d.log.info(`Concurrency ${paceText(paced)}`, { concurrency: o.concurrency });
    const queued = results.filter((r) => r.jobId && !r.scheduledFor && (r.state === 'waiting' || r.state === 'delayed'));
    if (o.detach && queued.length > 0) {
      const follow = queued.length === 1 ? `'custctl status job ${queued[0]?.jobId ?? ''} --watch'` : `'custctl status job <id> --watch' (jobs ${queued.map((r) => r.jobId).join(', ')})`;
      d.log.info(`Queued: the job${queued.length === 1 ? '' : 's'} run${queued.length === 1 ? 's' : ''} in ${await client.whoRuns()}. Follow ${queued.length === 1 ? 'it' : 'them'} with ${follow}.`);
    }
    return { dryRun: false, simulated, target: plan.target, results, exitCode: combinedExitCode(results.map((r) => r.exitCode)), ...(paced ? { pacing: paced } : {}) };
  } finally {
    if (many) d.log.quietSteps(false);
  }

  async function deleteOne(t: (typeof plan.items)[number]): Promise<DeleteOutcome> {
    const base = { customerId: t.customer.id, namespace: t.namespace, ...(t.cluster ? { cluster: t.cluster } : {}), simulated: plan.simulated };
    let job;
    try {
      job = await client.submitDeletion(t.customer, deletionOptionsOf(o), { ...(t.namespaceUid ? { namespaceUid: t.namespaceUid } : {}), ...(o.sync ? { sync: true } : {}) });
    } catch (e) {
      // over several clusters a cluster that does not answer (or refuses us) fails its own customers, each with the reason
      if (isRunWideError(e) && !grouped) throw e;
      return { ...base, jobId: null, state: 'refused', exitCode: exitCodeFor(e), error: errorJson(e), result: null };
    }
    simulated ||= job.simulated;
    // a scheduled deletion (soft delete) waits for its time: a worker runs it then
    const scheduledFor = job.data.scheduledFor !== undefined ? new Date(job.data.scheduledFor).toISOString() : undefined;
    if (o.detach || scheduledFor) return { ...base, simulated: job.simulated, jobId: job.id, state: job.state, exitCode: 0, error: null, result: null, ...(scheduledFor ? { scheduledFor } : {}) };
    const final = o.sync ? job : await client.follow(job, { label: t.customer.id, run: true, status: !count.active });
    simulated ||= final.simulated;
    return outcomeOf({ ...base, simulated: final.simulated }, final, isFinished(final) ? undefined : client.interrupted(final));
  }
}

/** The plan's items by cluster, in the order each cluster first appears; items of no cluster (one cluster, --api-url) are one group. */
export function groupByCluster<T extends { cluster?: string; clusterConcurrency?: number }>(items: readonly T[]): Array<{ cluster: string; concurrency?: number; items: T[] }> {
  const by = new Map<string, { cluster: string; concurrency?: number; items: T[] }>();
  for (const t of items) {
    const name = t.cluster ?? '';
    let g = by.get(name);
    if (!g) by.set(name, (g = { cluster: name, ...(t.clusterConcurrency !== undefined ? { concurrency: t.clusterConcurrency } : {}), items: [] }));
    g.items.push(t);
  }
  return [...by.values()];
}

/** What a run over several customers asks to be typed: the word and the count (`delete 20`), not the count alone. */
export function bulkConfirmation(count: number): string {
  return `delete ${count}`;
}

/**
 * A run over several customers: one line per customer as each ends (`3/20 cust_abc deleted`), on
 * stderr whatever the format, and on a terminal the live count (`3/20 deleted`) as the status line
 * (instead of one job's progress; not with -o json|yaml).
 */
async function bulkCount(d: Deps, total: number, detach: boolean, format: OutputFormat): Promise<{ active: boolean; done(o: DeleteOutcome): void; end(): void }> {
  const active = total > 1;
  const live = active && !detach && d.io.isErrTTY && format === 'table';
  let ended = 0;
  let deleted = 0;
  let failed = 0;
  const text = () => `${deleted}/${total} deleted${failed ? `, ${failed} failed` : ''}`;
  if (live) {
    await d.log.enableSpinner();
    d.log.setStatus(text());
  }
  return {
    active: active && !detach,
    done(x) {
      if (!active) return;
      ended += 1;
      if (x.exitCode === 0) deleted += 1;
      else failed += 1;
      const n = `${ended}/${total}`;
      const warnings = x.result?.warnings.length ?? 0;
      const fields = { job: x.jobId ?? undefined, warnings: warnings || undefined, deletesAt: x.scheduledFor };
      if (x.exitCode === 0) d.log.ok(`${n} ${x.customerId} ${resultWord(x)}`, fields);
      else d.log.error(`${n} ${x.customerId} ${resultWord(x)} (exit ${x.exitCode})${x.error ? `: ${x.error.message.split('\n')[0] ?? ''}` : ''}`, fields);
      if (live) d.log.setStatus(text());
    },
    end() {
      if (live) d.log.setStatus(null);
    },
  };
}

/** The closing line of a run over several customers: `8 deleted, 1 failed` (failed: every non-zero exit). */
export function summaryLine(results: readonly DeleteOutcome[]): string {
  const n = (f: (x: DeleteOutcome) => boolean) => results.filter(f).length;
  const parts = [
    `${n((x) => x.exitCode === 0 && resultWord(x).startsWith('deleted'))} deleted`,
    `${n((x) => x.exitCode !== 0)} failed`,
  ];
  const extra: Array<[string, number]> = [
    ['already deleted', n((x) => x.state === 'already-deleted')],
    ['scheduled', n((x) => x.exitCode === 0 && resultWord(x) === 'scheduled')],
    ['queued', n((x) => x.exitCode === 0 && (x.state === 'waiting' || (x.state === 'delayed' && !x.scheduledFor)))],
  ];
  for (const [word, k] of extra) if (k > 0) parts.push(`${k} ${word}`);
  return parts.join(', ');
}

export async function printDeleteReport(d: Deps, r: DeleteReport, format: OutputFormat): Promise<void> {
  await print(d.io, format, view(r, () => deleteReportHuman(d, r)));
}

async function deleteReportHuman(d: Deps, r: DeleteReport): Promise<void> {
  const io = humanIO(d.io);
  if (r.dryRun) {
    const where = r.simulated ? 'cluster not contacted (simulated)' : r.target.clusters ? `clusters ${r.target.clusters.map((c) => `${c.name} (${c.server})`).join(', ')}` : `context ${r.target.context ?? '-'} (${r.target.server ?? '-'})`;
    writeStyled(io, h`Dry run: nothing will be changed. ${where}, database ${r.target.database}\n\n`);
    const plans = r.results.map((x) => x.plan as NonNullable<DeleteOutcome['plan']>);
    writeStyled(io, h`${Styled.join(plans.map((p) => renderPlan(p, io.chalk)), '\n\n')}\n`);
    if (plans.length > 1) writeStyled(io, h`\n${renderBulkSummary(plans, io.chalk)}\n`);
    writeStyled(io, h`\n${r.deletesAt === undefined ? "When: the server's retention period." : r.deletesAt === null ? 'When: now (no retention period).' : `When: the data would be deleted at ${r.deletesAt}; the instance suspended until then.`}\n`);
    return;
  }
  // a fleet of several: which cluster each customer was deleted on
  const fleet = r.results.some((x) => x.cluster !== undefined);
  await printTable(
    io,
    ['CUSTOMER', ...(fleet ? ['CLUSTER'] : []), 'NAMESPACE', 'JOB', 'RESULT', 'DETAIL'],
    r.results.map((x) => [x.customerId, ...(fleet ? [x.cluster ?? '-'] : []), x.namespace, x.jobId ?? '-', resultWord(x), detail(x)]),
  );
  if (r.results.length > 1) writeStyled(io, h`\n${summaryLine(r.results)}\n`);
  for (const x of r.results.filter((x) => x.error)) writeError(d.io, `${x.customerId}: ${x.error?.message ?? ''}`, x.error?.details ?? []);
}

/** What the plan and the confirmation say about when the data goes. */
function whenLine(afterMs: number | undefined, d: Deps): string {
  if (afterMs === undefined) return "When: the server's retention period (CUSTCTL_RETENTION on the server) applies; the answer says when the data will be deleted.";
  if (afterMs === 0) return 'When: now. The data is deleted as soon as the job runs (no retention period).';
  const at = new Date(d.now().getTime() + afterMs).toISOString();
  return `When: the data will be deleted at ${at} (in ${formatRetention(afterMs)}). Until then the instance is suspended (Deployments and StatefulSets scaled to 0, CronJobs suspended) and nothing is deleted; cancel with 'custctl cancel <customerId>'.`;
}

function whenOf(afterMs: number | undefined, d: Deps): { deletesAt?: string | null } {
  if (afterMs === undefined) return {};
  return { deletesAt: afterMs === 0 ? null : new Date(d.now().getTime() + afterMs).toISOString() };
}

function resultWord(x: DeleteOutcome): string {
  if (x.state === 'already-deleted') return 'already deleted';
  if (x.scheduledFor && x.state === 'delayed') return 'scheduled';
  if (x.state === 'completed') return x.result?.outcome === 'superseded' ? 'superseded' : x.simulated ? 'deleted (simulated)' : 'deleted';
  return x.state;
}

function detail(x: DeleteOutcome): string {
  if (x.state === 'already-deleted' && x.alreadyDeleted) {
    const a = x.alreadyDeleted;
    return `${a.byJob ? `by job ${a.byJob}` : 'no deletion job recorded'}${a.at ? `, ${a.at}` : ''}; nothing left on the cluster, no job created`;
  }
  if (x.jobId && !x.error && (x.state === 'waiting' || (x.state === 'delayed' && !x.scheduledFor))) return 'queued: a worker runs it (custctl worker, or custctl serve)';
  if (x.scheduledFor && x.state === 'delayed') return `deletes at ${x.scheduledFor}; cancel: custctl cancel ${x.customerId}`;
  if (!x.result || x.state !== 'completed') return x.error ? `exit ${x.exitCode}` : '';
  const r = x.result;
  const parts = [
    `releases ${r.releases.length}${r.releases.some((x) => x.outcome === 'removed-with-namespace') ? ` (${r.releases.filter((x) => x.outcome === 'removed-with-namespace').length} with the namespace, no helm)` : ''}`,
    `namespace ${r.namespaceOutcome}`,
    `rbac deleted ${r.rbac.deleted.length}`,
  ];
  if (r.rbac.keptByPolicy.length) parts.push(`kept by policy ${r.rbac.keptByPolicy.length}`);
  if (r.retainedVolumes.length) parts.push(`PVs retained ${r.retainedVolumes.length}`);
  if (r.volumeSnapshots?.length) parts.push(`volume snapshots ${r.volumeSnapshots.length}`);
  if (r.billing) parts.push(summaryWords(r.billing));
  if (r.warnings.length) parts.push(`warnings ${r.warnings.length}`);
  return parts.join(', ');
}

/** `delete`'s flags as commander hands them over. */
interface DeleteFlags {
  yes?: boolean; dryRun?: boolean; detach?: boolean; sync?: boolean; concurrency: number;
  timeout?: number; jobTimeout?: number; after?: number;
  force?: boolean; allowMissing?: boolean; allowClusterScoped?: boolean; allowOutsideNamespace?: boolean;
  backup?: string | boolean; snapshotVolumes?: string | boolean; snapshotTimeout?: number; backupRecipient?: string[];
  helmUninstall?: HelmUninstallMode;
}

/** The flags as a run (src/domain/deletion-options.ts): the one place `delete`'s flags become options. */
export function fromFlags(ids: string[], f: DeleteFlags): DeletionRun {
  return {
    ids,
    yes: !!f.yes,
    dryRun: !!f.dryRun,
    detach: !!f.detach,
    sync: !!f.sync,
    concurrency: f.concurrency,
    ...(f.timeout !== undefined ? { waitTimeoutMs: f.timeout } : {}),
    ...(f.jobTimeout !== undefined ? { jobTimeoutMs: f.jobTimeout } : {}),
    ...(f.after !== undefined ? { afterMs: f.after } : {}),
    force: !!f.force,
    allowMissing: !!f.allowMissing,
    allowClusterScoped: !!f.allowClusterScoped || !!f.allowOutsideNamespace,
    ...(typeof f.backup === 'string' ? { backupUrl: f.backup } : {}),
    ...(f.backup === false ? { noBackup: true } : {}),
    ...(typeof f.snapshotVolumes === 'string' ? { snapshotClass: f.snapshotVolumes } : {}),
    ...(f.snapshotVolumes === false ? { noSnapshotVolumes: true } : {}),
    ...(f.snapshotTimeout !== undefined ? { snapshotTimeoutMs: f.snapshotTimeout } : {}),
    ...(f.backupRecipient !== undefined ? { backupRecipients: f.backupRecipient } : {}),
    ...(f.helmUninstall !== undefined ? { helmUninstall: f.helmUninstall } : {}),
  };
}

export function makeDeleteCommand(d: Deps, setExit: (code: number) => void, runF = runDelete) {
  // offered at TAB: something to delete (a pending row has nothing left; deploying needs --force)
  return withCompletions(new Command('delete'), {
    customers: (r, force) => (DELETABLE_STATUSES.includes(r.deploymentStatus) && r.deploymentStatus !== 'pending') || (force && r.deploymentStatus === 'deploying'),
  })
    .description("Delete customers' infrastructure: Helm releases, namespace, cluster RBAC; then reset the row to pending")
    .argument('<customerId...>', 'customer IDs (cust_…)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'show what would be deleted, change nothing')
    .option('--detach', 'only queue the deletion and print the job id')
    .option('--sync', 'with --api-url: run the deletion synchronously on the server (DELETE …/deployment)')
    .addOption(new Option('--concurrency <n>', 'customers deleted at once').argParser(intFlag('--concurrency', 1, 64)).default(DEFAULTS.concurrency))
    .addOption(new Option('--timeout <duration>', "how long to wait for the namespace to go (default: the cluster's timeouts.namespace, else 5m)").argParser(durationFlag('--timeout')))
    .addOption(new Option('--job-timeout <duration>', "timeout of each attempt (default CUSTCTL_JOB_TIMEOUT, else the cluster's timeouts.job, else 10m)").argParser(durationFlag('--job-timeout')))
    .addOption(new Option('--after <duration>', 'soft delete: suspend the instance now, delete its data after this retention period (e.g. 7d; 0: now; default CUSTCTL_RETENTION)').argParser(retentionFlag('--after')))
    .option('--force', 'also delete a customer whose status is deploying')
    .option('--allow-missing', "reset a deployed row whose release, namespace and RBAC are all missing (otherwise: wrong cluster?)")
    .option('--allow-cluster-scoped', 'uninstall releases that hold objects outside the customer namespace: cluster-scoped ones other than their RBAC, or objects in other namespaces')
    .addOption(new Option('--backup <url>', 'first write a verified backup here: file:///dir or s3://bucket/prefix (default CUSTCTL_BACKUP_URL)').argParser((v: string) => parseBackupUrl(v).url))
    .option('--no-backup', 'no backup, even when CUSTCTL_BACKUP_URL is set')
    .addOption(new Option('--snapshot-volumes <class>', 'first take a VolumeSnapshot of every bound PVC with this VolumeSnapshotClass (deletionPolicy Retain) and wait until ready (default CUSTCTL_SNAPSHOT_CLASS)').argParser((v: string) => parseSnapshotClass(v)))
    .option('--no-snapshot-volumes', 'no volume snapshots, even when CUSTCTL_SNAPSHOT_CLASS is set')
    .addOption(new Option('--snapshot-timeout <duration>', 'how long to wait for the volume snapshots to be ready (default 5m)').argParser(durationFlag('--snapshot-timeout')))
    .addOption(new Option('--backup-recipient <age1…>', 'encrypt the backup to this age public key (repeatable; default CUSTCTL_BACKUP_RECIPIENT)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), ...parseRecipients([v])]))
    .addOption(new Option('--helm-uninstall <when>', "when to run helm uninstall: auto (only for releases with delete hooks or objects outside the namespace; the rest go with the namespace) or always (default CUSTCTL_HELM_UNINSTALL, else auto)").choices(HELM_UNINSTALL_MODES))
    .addOption(new Option('--allow-outside-namespace', 'the same as --allow-cluster-scoped').hideHelp())
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Examples:
  custctl delete cust_abc123                 # shows the plan, asks you to type the ID
  custctl delete cust_abc123 --dry-run       # the plan only
  custctl delete cust_abc123 --yes -o json   # in scripts
  custctl delete cust_a cust_b --yes --concurrency 8
  custctl delete cust_abc123 --yes --detach  # queue only; then: custctl status job <id> --watch
  custctl delete cust_abc123 --after 7d      # suspend now, delete in 7 days; custctl cancel cust_abc123 undoes it
  custctl delete cust_abc123 --snapshot-volumes csi-retain --backup file:///backups  # volumes' data too`,
    )
    .action(async (ids, f) => {
      const report = await runF({ ...fromFlags(ids, f), output: f.output }, d);
      await printDeleteReport(d, report, f.output);
      setExit(report.exitCode);
    });
}
