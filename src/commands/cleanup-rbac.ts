/**
 * `custctl cleanup-rbac`: find the ClusterRoles and ClusterRoleBindings left behind by customer
 * instances that no longer exist, and remove them. `--dry-run --exit-code` is the CI gate.
 * The scan and the sweep (a journaled `cleanup-rbac` job) are the job kind's
 * (src/jobs/kinds/cleanup-rbac.ts), locally or through --api-url.
 */
import { Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import type { RbacReportEntry } from '../domain/orphans.js';
import type { CleanupReport, CleanupResult } from '../jobs/kinds/cleanup-rbac.js';
import { outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';
import { confirmOrRefuse } from '../prompt.js';

export type { CleanupReport, CleanupResult };

export interface CleanupRbacOptions {
  dryRun: boolean;
  /** exit 6 when orphans exist (dry run) or remain (sweep) */
  exitCode: boolean;
  /** `--customer cust_…`, validated before anything happens */
  customer?: string;
  includeKept: boolean;
  /** `--cluster NAME`: one cluster of the fleet; absent: every cluster */
  cluster?: string;
  yes: boolean;
  output: OutputFormat;
}

export interface CleanupRbacOutcome {
  report: CleanupReport;
  exitCode: number;
}

export async function runCleanupRbac(o: CleanupRbacOptions, d: Deps): Promise<CleanupRbacOutcome> {
  const client = await d.client();
  const ask = { ...(o.customer !== undefined ? { customer: o.customer } : {}), includeKept: o.includeKept, ...(o.cluster !== undefined ? { cluster: o.cluster } : {}) };
  if (o.dryRun) {
    const { report } = await client.planCleanup(ask);
    return { report, exitCode: clusterFailed(report) ? 1 : o.exitCode && report.orphans.length > 0 ? 6 : 0 };
  }
  let plan;
  if (!o.yes) {
    plan = await client.planCleanup(ask);
    const p = plan.report;
    if (p.orphans.length === 0) {
      d.log.info('No orphaned cluster RBAC: nothing to delete');
      return { report: { dryRun: false, simulated: p.simulated, jobId: null, orphans: [], deleted: [], kept: p.kept, errors: [], ...(p.clusters ? { clusters: p.clusters } : {}), ...(p.strays ? { strays: p.strays } : {}) }, exitCode: clusterFailed(p) ? 1 : 0 };
    }
    const on = (x: RbacReportEntry) => (p.clusters && p.clusters.length > 1 && x.cluster ? ` on ${x.cluster}` : '');
    for (const x of p.orphans) d.log.line(`  delete ${x.kind} ${x.name}${on(x)}  (cust_${x.customerKey}: ${x.reason})`);
    for (const x of p.kept) d.log.line(`  keep   ${x.kind} ${x.name}${on(x)}  (${x.reason})`);
    await confirmOrRefuse(
      d,
      `Delete these ${p.orphans.length} cluster RBAC objects${plan.where}? Type 'delete' to confirm`,
      'delete',
      `delete ${p.orphans.length} cluster RBAC objects`,
    );
  }
  const report = await client.submitCleanup(ask, plan);
  const remaining = report.orphans.length - report.deleted.length;
  return { report, exitCode: report.errors.length > 0 || clusterFailed(report) ? 1 : o.exitCode && remaining > 0 ? 6 : 0 };
}

/** A cluster of the sweep could not be listed: the sweep is not whole (exit 1, whatever was found elsewhere). */
function clusterFailed(r: CleanupReport): boolean {
  return (r.clusters ?? []).some((c) => c.error !== null);
}

function action(report: CleanupReport, x: RbacReportEntry, deleted: ReadonlySet<string>, failed: ReadonlyMap<string, string>): string {
  const id = `${x.kind}/${x.name}`;
  if (report.dryRun) return 'would delete';
  if (deleted.has(id)) return 'deleted';
  if (failed.has(id)) return 'failed';
  return report.simulated ? 'would delete (simulated)' : 'not deleted';
}

export async function printCleanupReport(d: Deps, report: CleanupReport, format: OutputFormat, exitCode = 0): Promise<void> {
  const deleted = new Set(report.deleted.map((x) => `${x.kind}/${x.name}`));
  const failed = new Map(report.errors.map((x) => [`${x.kind}/${x.name}`, x.error] as const));
  // a fleet of several: a CLUSTER column first (one cluster: the table as it always was)
  const fleet = report.clusters !== undefined;
  const withCluster = (x: RbacReportEntry, row: string[]) => (fleet ? [x.cluster ?? '-', ...row] : row);
  await print(d.io, format, view(report, async (io) => {
    const rows = [
      ...report.orphans.map((x) => withCluster(x, [x.kind, x.name, `cust_${x.customerKey}`, action(report, x, deleted, failed), failed.get(`${x.kind}/${x.name}`) ?? x.reason])),
      ...report.kept.map((x) => withCluster(x, [x.kind, x.name, `cust_${x.customerKey}`, 'kept', x.reason])),
    ];
    if (rows.length > 0) await printTable(io, [...(fleet ? ['CLUSTER'] : []), 'KIND', 'NAME', 'CUSTOMER', 'ACTION', 'REASON'], rows);
  }, {
    // as kubectl names them: what was deleted, or what a dry run would delete
    names: () => report.orphans.filter((x) => report.dryRun || deleted.has(`${x.kind}/${x.name}`)).map((x) => `${x.kind.toLowerCase()}.rbac.authorization.k8s.io/${x.name}`),
  }));
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
  for (const e of report.errors) d.log.error(`${fleet && e.cluster ? `cluster ${e.cluster}: ` : ''}${e.kind} ${e.name}: ${e.error}`);
  if (fleet) for (const c of report.clusters ?? []) if (c.error === null) d.log.info(`cluster ${c.cluster}: ${c.orphans} orphaned, ${c.kept} kept${report.dryRun ? '' : `, ${c.deleted} deleted`}${c.errors ? `, ${c.errors} errors` : ''}`);
  for (const c of report.clusters ?? []) if (c.error !== null) d.log.error(`cluster ${c.cluster} could not be swept: ${c.error}`);
  for (const x of report.strays ?? []) {
    d.log.warn(`namespace ${x.namespace} is on cluster ${x.cluster}, but ${x.customerId}'s row names cluster ${x.rowCluster}: not deleted; delete refuses this customer until one of them is fixed`);
  }
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
    .option('--cluster <name>', 'only this cluster of the fleet (CUSTCTL_CLUSTERS_FILE); default: every cluster')
    .option('-y, --yes', "do not ask for confirmation (without a terminal it is required)")
    .addOption(outputOption({ list: true }))
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
  custctl cleanup-rbac --customer cust_abc123 --yes    # one customer's objects only
  custctl cleanup-rbac --cluster eu-1 --dry-run        # one cluster of the fleet

With CUSTCTL_CLUSTERS_FILE every cluster is swept (each object on its own cluster), and customer
namespaces found on a cluster other than their row's are reported, never deleted. A cluster that
cannot be listed is named and the sweep goes on with the others (exit 1).`,
    )
    .action(async (f) => {
      const { report, exitCode } = await runF(
        {
          dryRun: !!f.dryRun,
          exitCode: !!f.exitCode,
          ...(f.customer !== undefined ? { customer: f.customer } : {}),
          includeKept: !!f.includeKept,
          ...(f.cluster !== undefined ? { cluster: f.cluster } : {}),
          yes: !!f.yes,
          output: f.output,
        },
        d,
      );
      await printCleanupReport(d, report, f.output, exitCode);
      setExit(exitCode);
    });
}
