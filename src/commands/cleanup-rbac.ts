/**
 * `custctl cleanup-rbac`: find the ClusterRoles and ClusterRoleBindings left behind by customer
 * instances that no longer exist, and remove them (issue 6). `--dry-run --exit-code` is the CI gate.
 *
 * Cost: a fixed number of calls whatever the number of customers — list namespaces, list roles,
 * list bindings (paged), list the store — then one delete per orphan.
 * A real run is a journaled job (`cleanup-rbac`) run in this process; `worker`/`serve` run such jobs
 * with `makeCleanupProcessor`.
 */
import { Command, Option } from '@commander-js/extra-typings';
import type { Kube } from '../adapters/kube.js';
import type { CustomerStore } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { findOrphans, type OrphanReport, type RbacReportEntry } from '../domain/orphans.js';
import type { RbacKind } from '../domain/rbac-owner.js';
import { errorFromName, errorMessage, OperationError, CliError } from '../errors.js';
import { plainLine, type Level } from '../io.js';
import { OUTPUT_FORMATS, printJson, printTable, type OutputFormat } from '../output/print.js';
import type { Job } from '../queue/job.js';
import type { AttemptContext, Processor } from '../queue/queue.js';
import { runPool } from '../util/pool.js';
import { confirmOrRefuse } from './shared.js';
import { jobsEnv, runAttached } from './run-jobs.js';

export interface CleanupRbacOptions {
  dryRun: boolean;
  /** exit 6 when orphans exist (dry run) or remain (sweep) */
  exitCode: boolean;
  /** `--customer cust_…`, validated before anything happens */
  customer?: string;
  includeKept: boolean;
  yes: boolean;
  output: OutputFormat;
}

export interface RbacError {
  kind: RbacKind;
  name: string;
  error: string;
}

/** What a sweep did: the job's return value. */
export interface CleanupResult extends OrphanReport {
  deleted: RbacReportEntry[];
  errors: RbacError[];
}

/** `-o json`: a stable contract. */
export interface CleanupReport {
  dryRun: boolean;
  simulated: boolean;
  /** real runs only: the journaled job (null when there was nothing to delete) */
  jobId?: string | null;
  orphans: RbacReportEntry[];
  deleted: RbacReportEntry[];
  kept: RbacReportEntry[];
  errors: RbacError[];
  /** why the report is empty without a scan (the API under simulation) */
  note?: string;
}

export interface CleanupRbacOutcome {
  report: CleanupReport;
  exitCode: number;
}

const RESOURCE: Record<RbacKind, string> = {
  ClusterRole: 'clusterrole.rbac.authorization.k8s.io',
  ClusterRoleBinding: 'clusterrolebinding.rbac.authorization.k8s.io',
};
const DELETE_CONCURRENCY = 8;

type Log = (level: Level, message: string, fields?: Record<string, unknown>) => void;

/** The fixed set of list calls, in parallel, then the pure classification. */
export async function scanOrphans(
  kube: Kube,
  store: CustomerStore,
  o: { prefix: string; onlyKey?: string; includeKept: boolean; signal?: AbortSignal },
): Promise<OrphanReport> {
  const [namespaces, rbac, rows] = await Promise.all([kube.listNamespaceNames(o.signal), kube.listClusterRbac(o.signal), store.list()]);
  return findOrphans({
    roles: rbac.filter((x) => x.kind === 'ClusterRole'),
    bindings: rbac.filter((x) => x.kind === 'ClusterRoleBinding'),
    namespaces: new Set(namespaces),
    rows,
    prefix: o.prefix,
    ...(o.onlyKey !== undefined ? { onlyKey: o.onlyKey } : {}),
    includeKept: o.includeKept,
  });
}

/**
 * Deletes the orphans, bindings before roles (a role is never left bound to nothing by a half-done
 * sweep). A failure is recorded for its object and the sweep goes on; 404 counts as deleted.
 */
export async function deleteOrphans(kube: Kube, orphans: readonly RbacReportEntry[], log: Log, signal: AbortSignal): Promise<Pick<CleanupResult, 'deleted' | 'errors'>> {
  const deleted: RbacReportEntry[] = [];
  const errors: RbacError[] = [];
  for (const kind of ['ClusterRoleBinding', 'ClusterRole'] as const) {
    await runPool(orphans.filter((x) => x.kind === kind), DELETE_CONCURRENCY, async (x) => {
      signal.throwIfAborted();
      try {
        const r = await kube.deleteClusterRbac(x.kind, x.name, signal);
        deleted.push(x);
        const field = kind === 'ClusterRole' ? 'role' : 'binding';
        if (r === 'not-found') log('info', `${kind} already gone`, { [field]: `${RESOURCE[kind]}/${x.name}` });
        else log('info', `Deleted ${kind}`, { [field]: `${RESOURCE[kind]}/${x.name}`, customer: `cust_${x.customerKey}` });
      } catch (e) {
        if (signal.aborted) throw e;
        errors.push({ kind: x.kind, name: x.name, error: errorMessage(e) });
        log('error', `Failed to delete ${kind} ${x.name}: ${errorMessage(e)}`, e instanceof CliError && e.details.length > 0 ? { detail: e.details.join('; ') } : undefined);
      }
    });
  }
  const order = new Map(orphans.map((x, i) => [`${x.kind}/${x.name}`, i] as const));
  deleted.sort((a, b) => (order.get(`${a.kind}/${a.name}`) ?? 0) - (order.get(`${b.kind}/${b.name}`) ?? 0));
  return { deleted, errors };
}

/**
 * One attempt of a `cleanup-rbac` job: list, classify, delete the orphans; returns the result.
 * Deletion failures are recorded per object, not thrown; a failed list throws (the attempt is
 * retried). A simulated job lists and reports, and deletes nothing.
 * Wire it into every runner: `jobsEnv(d, { cleanupProcessor: makeCleanupProcessor(d) })`.
 */
export function makeCleanupProcessor(d: Deps): Processor {
  return async (ctx: AttemptContext): Promise<CleanupResult> => {
    const log: Log = (level, message, fields) => {
      d.log.write(level, message, fields);
      void ctx.log(plainLine(level, message, fields)).catch(() => undefined);
    };
    const cfg = d.config();
    const onlyKey = ctx.job.data.customerId ? parseCustomerId(ctx.job.data.customerId).key : undefined;
    const includeKept = ctx.job.opts.includeKept ?? false;
    const kube = await d.kube();
    const store = await d.store();
    log('info', 'Listing cluster RBAC, namespaces and customers', { customer: ctx.job.data.customerId, includeKept: includeKept || undefined });
    const found = await scanOrphans(kube, store, { prefix: cfg.namespacePrefix, ...(onlyKey !== undefined ? { onlyKey } : {}), includeKept, signal: ctx.signal });
    await ctx.progress(30);
    log('info', `Found ${found.orphans.length} orphaned, ${found.kept.length} kept`);
    for (const k of found.kept) log('warn', `${k.kind} ${k.name} kept`, { reason: k.reason });
    if (ctx.job.simulated) {
      log('warn', `SIMULATE_K8S_DEPLOYMENT=true: ${found.orphans.length} orphaned object(s) reported, nothing deleted`);
      await ctx.progress(100);
      return { ...found, deleted: [], errors: [] };
    }
    const done = await deleteOrphans(kube, found.orphans, log, ctx.signal);
    await ctx.progress(100);
    return { ...found, ...done };
  };
}

function requestedBy(d: Deps): string {
  return d.env.USER ? `${d.env.USER} (cli)` : 'cli';
}

/** The result of a finished job, or the typed error it failed with. */
function resultOf(job: Job): CleanupResult {
  if (job.state === 'completed') return job.returnvalue as CleanupResult;
  if (job.state === 'failed') {
    const [first = 'failed', ...rest] = (job.failedReason ?? 'failed').split('\n');
    throw errorFromName(job.failedCode ?? undefined, `cleanup-rbac job ${job.id} failed: ${first}`, rest);
  }
  throw new OperationError(`interrupted: cleanup-rbac job ${job.id} is ${job.state}`, [`Resume it with 'custctl jobs resume' or 'custctl worker --once'.`]);
}

export async function runCleanupRbac(o: CleanupRbacOptions, d: Deps): Promise<CleanupRbacOutcome> {
  const cfg = d.config();
  if (cfg.apiUrl) return (await import('./remote.js')).remoteCleanupRbac(d, o);
  const onlyKey = o.customer !== undefined ? parseCustomerId(o.customer).key : undefined;
  if (cfg.simulate) d.log.warn('SIMULATE_K8S_DEPLOYMENT=true: cluster RBAC is listed and reported, nothing is deleted');
  const kube = await d.kube();
  const store = await d.store();
  d.log.info('Target', { context: kube.target.context, server: kube.target.server, database: store.description, customer: o.customer });

  // the plan: also the check that we may list at all, before any job exists
  const found = await scanOrphans(kube, store, { prefix: cfg.namespacePrefix, ...(onlyKey !== undefined ? { onlyKey } : {}), includeKept: o.includeKept });

  if (o.dryRun) {
    const report: CleanupReport = { dryRun: true, simulated: cfg.simulate, orphans: found.orphans, deleted: [], kept: found.kept, errors: [] };
    return { report, exitCode: o.exitCode && found.orphans.length > 0 ? 6 : 0 };
  }
  if (found.orphans.length === 0) {
    d.log.info('No orphaned cluster RBAC: nothing to delete');
    return { report: { dryRun: false, simulated: cfg.simulate, jobId: null, orphans: [], deleted: [], kept: found.kept, errors: [] }, exitCode: 0 };
  }
  if (!o.yes) {
    for (const x of found.orphans) d.log.line(`  delete ${x.kind} ${x.name}  (cust_${x.customerKey}: ${x.reason})`);
    for (const x of found.kept) d.log.line(`  keep   ${x.kind} ${x.name}  (${x.reason})`);
    await confirmOrRefuse(
      d,
      `Delete these ${found.orphans.length} cluster RBAC objects from context ${kube.target.context}? Type 'delete' to confirm`,
      'delete',
      `delete ${found.orphans.length} cluster RBAC objects`,
    );
  }

  const env = await jobsEnv(d, { cleanupProcessor: makeCleanupProcessor(d) });
  const id = await env.queue.allocateId();
  const job = await env.queue.add(
    id,
    {
      name: 'cleanup-rbac',
      data: o.customer !== undefined ? { customerId: o.customer } : {},
      opts: {
        attempts: cfg.maxAttempts,
        backoff: { type: 'exponential', delay: cfg.retryDelayMs },
        timeoutMs: cfg.jobTimeoutMs,
        includeKept: o.includeKept,
      },
      requestedBy: requestedBy(d),
      simulated: cfg.simulate,
    },
    env.now(),
  );
  d.log.info('Cleanup queued', { job: job.id, orphans: found.orphans.length, attempts: job.maxAttempts });
  const final = await runAttached(d, env, job);
  const r = resultOf(final);
  const report: CleanupReport = { dryRun: false, simulated: final.simulated, jobId: final.id, orphans: r.orphans, deleted: r.deleted, kept: r.kept, errors: r.errors };
  const remaining = r.orphans.length - r.deleted.length;
  const exitCode = r.errors.length > 0 ? 1 : o.exitCode && remaining > 0 ? 6 : 0;
  return { report, exitCode };
}

function action(report: CleanupReport, x: RbacReportEntry, deleted: ReadonlySet<string>, failed: ReadonlyMap<string, string>): string {
  const id = `${x.kind}/${x.name}`;
  if (report.dryRun) return 'would delete';
  if (deleted.has(id)) return 'deleted';
  if (failed.has(id)) return 'failed';
  return report.simulated ? 'would delete (simulated)' : 'not deleted';
}

export async function printCleanupReport(d: Deps, report: CleanupReport, format: OutputFormat, exitCode = 0): Promise<void> {
  if (format === 'json') printJson(d.io, report);
  const deleted = new Set(report.deleted.map((x) => `${x.kind}/${x.name}`));
  const failed = new Map(report.errors.map((x) => [`${x.kind}/${x.name}`, x.error] as const));
  if (format === 'table') {
    const rows = [
      ...report.orphans.map((x) => [x.kind, x.name, `cust_${x.customerKey}`, action(report, x, deleted, failed), failed.get(`${x.kind}/${x.name}`) ?? x.reason]),
      ...report.kept.map((x) => [x.kind, x.name, `cust_${x.customerKey}`, 'kept', x.reason]),
    ];
    if (rows.length > 0) await printTable(d.io, ['KIND', 'NAME', 'CUSTOMER', 'ACTION', 'REASON'], rows);
  }
  const summary = {
    orphans: report.orphans.length,
    deleted: report.dryRun ? undefined : report.deleted.length,
    kept: report.kept.length,
    errors: report.errors.length || undefined,
    job: report.jobId ?? undefined,
  };
  if (report.note) d.log.warn(report.note);
  else if (report.orphans.length === 0 && report.kept.length === 0) d.log.ok('No orphaned cluster RBAC found');
  else if (report.dryRun) d.log.info(`Dry run: ${report.orphans.length} orphaned object(s) would be deleted; nothing was changed`, summary);
  else d.log.info(`Cleanup ${report.simulated ? '(simulated) ' : ''}done`, summary);
  for (const e of report.errors) d.log.error(`${e.kind} ${e.name}: ${e.error}`);
  if (exitCode === 6) {
    d.log.warn(report.dryRun
      ? "Orphaned cluster RBAC found (--exit-code: exit 6): remove it with 'custctl cleanup-rbac' (see the REASON of each object first)"
      : 'Orphaned cluster RBAC remains (--exit-code: exit 6)');
  }
}

export function makeCleanupRbacCommand(d: Deps, setExit: (code: number) => void, runF = runCleanupRbac) {
  return new Command('cleanup-rbac')
    .description('Find and remove cluster RBAC (ClusterRole, ClusterRoleBinding) left behind by customer instances that no longer exist')
    .option('--dry-run', 'list what would be deleted and why, change nothing')
    .option('--exit-code', 'exit 6 when orphans exist (with --dry-run: the CI gate) or remain after the sweep')
    .option('--customer <customerId>', "only this customer's objects (cust_…)")
    .option('--include-kept', 'also delete objects annotated helm.sh/resource-policy: keep')
    .option('-y, --yes', "do not ask for confirmation (without a terminal it is required)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table' as const))
    .addHelpText(
      'after',
      `
An object is an orphan when it carries a customer mark (annotation meta.helm.sh/release-namespace =
<prefix><key>, or a name matching ^c<key>-customer-instance(-.*)?$) and its customer is gone: the
namespace does not exist and the row is neither deploying nor deployed with a namespace.

Examples:
  custctl cleanup-rbac --dry-run                       # what would be deleted, and why
  custctl cleanup-rbac --dry-run --exit-code -o json   # CI: exit 6 when orphans exist
  custctl cleanup-rbac --yes                           # sweep (a journaled job)
  custctl cleanup-rbac --customer cust_abc123 --yes    # one customer's objects only`,
    )
    .action(async (f) => {
      const { report, exitCode } = await runF(
        {
          dryRun: !!f.dryRun,
          exitCode: !!f.exitCode,
          ...(f.customer !== undefined ? { customer: f.customer } : {}),
          includeKept: !!f.includeKept,
          yes: !!f.yes,
          output: f.output,
        },
        d,
      );
      await printCleanupReport(d, report, f.output, exitCode);
      setExit(exitCode);
    });
}
