/**
 * `custctl clusters list`: the fleet this configuration acts on (CUSTCTL_CLUSTERS_FILE, else the one
 * cluster of KUBECONFIG / --context), each cluster's API server, its version, whether it answers,
 * and how many customers its rows give it. A cluster that does not answer is shown as such, with
 * why on stderr: the list is the answer, not a check (`doctor` is the check).
 */
import { Command } from '@commander-js/extra-typings';
import type { CustomerRow } from '../adapters/store.js';
import type { RetryPolicy } from '../adapters/retry.js';
import type { Deps } from '../deps.js';
import { clusterFor, describeCluster, sameServers, type ClusterEntry, type Fleet } from '../domain/clusters.js';
import { errorMessage, UsageError } from '../errors.js';
import { outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';
import { runPool } from '../util/pool.js';
import { within } from '../util/within.js';
import { VERSION } from '../version.js';

/** How long one cluster may take to answer before it is shown unreachable. */
const PROBE_TIMEOUT_MS = 10_000;
/** Clusters asked at once. */
const PROBE_PARALLEL = 8;
/** A refused or reset connection is tried once more, quickly: a list should not wait out a full backoff. */
const PROBE_RETRY: RetryPolicy = { tries: 2, baseMs: 250, maxMs: 1_000, maxRetryAfterMs: 2_000, maxElapsedMs: PROBE_TIMEOUT_MS };

export interface ClusterListing {
  name: string;
  /** the API server's URL, from its kubeconfig (null: the kubeconfig could not be read) */
  server: string | null;
  /** the kube context used (null: the kubeconfig could not be read) */
  context: string | null;
  /** the kubeconfig file(s) (null: in-cluster, or the usual lookup failed) */
  kubeconfig: string | null;
  inCluster: boolean;
  /** GET /version's gitVersion (null: not reachable) */
  version: string | null;
  reachable: boolean;
  /** why it is not reachable */
  error: string | null;
  /** rows that name this cluster (any status); in a fleet of one, the rows that name none too (null: the store could not be read) */
  customers: number | null;
  /** from the clusters file: deletions at once on it (null: the run's --concurrency) */
  concurrency: number | null;
  helmDriver: string | null;
  timeouts: { jobMs: number | null; namespaceMs: number | null };
}

export interface ClustersReport {
  /** where the fleet came from: `CUSTCTL_CLUSTERS_FILE <path>`, `KUBECONFIG`, `--context`, … */
  source: string;
  /** the customers table's column naming a customer's cluster */
  column: string;
  clusters: ClusterListing[];
  /** rows that name no cluster in a fleet of several: refused by every command that would act on them (null: not counted) */
  unassigned: number | null;
  /** rows that name a cluster this fleet does not have, by name */
  unknown: Array<{ cluster: string; customers: number }>;
  /** the store the customers were counted in, or why they were not */
  database: string | null;
  databaseError: string | null;
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  return typeof AbortSignal.any === 'function' ? AbortSignal.any(signals) : (signals[signals.length - 1] as AbortSignal);
}

async function probe(d: Deps, fleet: Fleet, c: ClusterEntry): Promise<Omit<ClusterListing, 'customers'>> {
  const listing: Omit<ClusterListing, 'customers'> = {
    name: c.name, server: null, context: c.context ?? null, kubeconfig: c.kubeconfig ?? null, inCluster: c.inCluster,
    version: null, reachable: false, error: null,
    concurrency: c.concurrency ?? null, helmDriver: c.helmDriver ?? null,
    timeouts: { jobMs: c.timeouts.jobMs ?? null, namespaceMs: c.timeouts.namespaceMs ?? null },
  };
  try {
    const { openClusterKube } = await import('../adapters/clusters-config.js');
    const kube = await openClusterKube(c, {
      env: d.env, userAgent: `custctl/${VERSION}`, source: fleet.source, retry: { policy: PROBE_RETRY },
      onRetry: (e) => d.log.debug(`cluster ${c.name}: request failed transiently; trying again`, { request: e.op, error: e.why, inMs: e.waitMs }),
    });
    listing.server = kube.target.server;
    listing.context = kube.target.context;
    if (!c.inCluster) listing.kubeconfig = kube.target.kubeconfig;
    const signal = anySignal([d.shutdown, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
    listing.version = kube.serverVersion ? await within(kube.serverVersion(signal), PROBE_TIMEOUT_MS + 1_000, '') : 'unknown';
    listing.reachable = true;
  } catch (e) {
    d.shutdown.throwIfAborted();
    // the listing is this cluster's: its name is not repeated in front of the reason
    listing.error = (e as { name?: string }).name === 'TimeoutError' ? `no answer within ${PROBE_TIMEOUT_MS / 1000}s` : errorMessage(e).replace(`cluster ${c.name}: `, '');
  }
  return listing;
}

/** Rows counted by the cluster clusterFor gives them; those it refuses, by why. */
function countRows(rows: readonly CustomerRow[], fleet: Fleet): { per: Map<string, number>; unassigned: number; unknown: Map<string, number>; noColumn: boolean } {
  const per = new Map<string, number>();
  const unknown = new Map<string, number>();
  let unassigned = 0;
  let noColumn = false;
  for (const r of rows) {
    try {
      const c = clusterFor(r, fleet);
      per.set(c.name, (per.get(c.name) ?? 0) + 1);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      if ((r.cluster ?? '') === '') {
        unassigned += 1;
        if (r.cluster === undefined) noColumn = true;
      } else {
        unknown.set(r.cluster as string, (unknown.get(r.cluster as string) ?? 0) + 1);
      }
    }
  }
  return { per, unassigned, unknown, noColumn };
}

export async function runClustersList(d: Deps, setExit: (code: number) => void, o: { output: OutputFormat }): Promise<ClustersReport> {
  const cfg = d.config();
  if (cfg.apiUrl) {
    throw new UsageError("clusters list reads this machine's clusters (CUSTCTL_CLUSTERS_FILE or KUBECONFIG) and customers database: run it without --api-url / CUSTCTL_API_URL");
  }
  const { loadFleet } = await import('../adapters/clusters-config.js');
  const fleet = await loadFleet({ env: d.env, kubeconfig: cfg.kubeconfig, context: cfg.context });
  const counted = (async () => {
    try {
      const { rows, where } = await (await d.client()).customers({});
      return { ...countRows(rows, fleet), database: where, error: null };
    } catch (e) {
      d.shutdown.throwIfAborted();
      return { per: null, unassigned: null, unknown: new Map<string, number>(), noColumn: false, database: null, error: errorMessage(e) };
    }
  })();
  const [probes, c] = await Promise.all([runPool(fleet.clusters, PROBE_PARALLEL, (e) => probe(d, fleet, e)), counted]);
  const report: ClustersReport = {
    source: fleet.source,
    column: fleet.column,
    clusters: probes.map((p) => ({ ...p, customers: c.per ? c.per.get(p.name) ?? 0 : null })),
    unassigned: c.unassigned,
    unknown: [...c.unknown].map(([cluster, customers]) => ({ cluster, customers })).sort((a, b) => a.cluster.localeCompare(b.cluster)),
    database: c.database,
    databaseError: c.error,
  };
  if (c.error !== null) setExit(1);

  await print(d.io, o.output, view(report, async (io) => {
    await printTable(io, ['NAME', 'SERVER', 'VERSION', 'REACHABLE', 'CUSTOMERS'], report.clusters.map((x) => [
      x.name, x.server ?? '-', x.version ?? '-', x.reachable ? 'yes' : 'no', x.customers === null ? '?' : String(x.customers),
    ]));
  }, { names: () => report.clusters.map((x) => `cluster/${x.name}`) }));
  // what the table cannot say, on stderr in every format
  d.log.info(`${fleet.clusters.length === 1 ? '1 cluster' : `${fleet.clusters.length} clusters`} from ${fleet.source}; customers by customers.${fleet.column}${c.database ? ` in ${c.database}` : ''}`);
  for (const x of report.clusters) {
    if (!x.reachable) d.log.warn(`cluster ${x.name} is not reachable: ${x.error ?? 'no answer'}`, { config: describeCluster(fleet.clusters.find((e) => e.name === x.name) as ClusterEntry) });
  }
  for (const [a, b] of sameServers(report.clusters)) {
    d.log.warn(`clusters ${a} and ${b} have the same API server (${report.clusters.find((x) => x.name === a)?.server ?? '?'}): one cluster under two names would hold customers twice; fix the clusters file`);
  }
  if (c.error !== null) d.log.error(`customers not counted: ${c.error}`);
  if (report.unassigned) {
    d.log.warn(c.noColumn
      ? `the customers table has no column ${fleet.column} (CUSTCTL_CLUSTER_COLUMN): its ${report.unassigned} rows name no cluster, and with ${fleet.clusters.length} clusters every row must`
      : `${report.unassigned} customer${report.unassigned === 1 ? '' : 's'} name${report.unassigned === 1 ? 's' : ''} no cluster in customers.${fleet.column}: with ${fleet.clusters.length} clusters ${report.unassigned === 1 ? 'it is' : 'they are'} refused until the row names one`);
  }
  for (const u of report.unknown) {
    d.log.warn(`${u.customers} customer${u.customers === 1 ? '' : 's'} name${u.customers === 1 ? 's' : ''} cluster ${JSON.stringify(u.cluster)}, which is not in this fleet: refused until the row or the clusters file is fixed`);
  }
  return report;
}

export function makeClustersCommand(d: Deps, setExit: (code: number) => void = () => undefined) {
  const cmd = new Command('clusters')
    .description('The clusters custctl acts on (CUSTCTL_CLUSTERS_FILE, else the one of KUBECONFIG / --context)')
    .addHelpText('after', '\nExamples:\n  custctl clusters list\n  CUSTCTL_CLUSTERS_FILE=/etc/custctl/clusters.yaml custctl clusters list -o json');
  cmd
    .command('list')
    .description('List the clusters: API server, version, whether it answers, customers on it (an unreachable cluster is shown, not an error)')
    .addOption(outputOption({ list: true }))
    .addHelpText('after', "\nExamples:\n  custctl clusters list\n  custctl clusters list -o json | jq -r '.clusters[] | select(.reachable | not) | .name'\n\nExit status: 0 also when a cluster does not answer; 1 when the customers could not be counted.")
    .action(async (f) => {
      await runClustersList(d, setExit, { output: f.output });
    });
  return cmd;
}
