/**
 * The clusters registry: which cluster a customer's row names, and that cluster's adapters.
 *
 * `clusters.for(row)` is the one way a job, a plan or a command finds the cluster to act on: the
 * cluster the row names (src/domain/clusters.ts clusterFor decides, and refuses a row naming none in
 * a fleet of several). Each cluster's Kubernetes client and helm are opened on first use and kept
 * for the process (`kube()`, `helm()`, `adapters()` are cached per cluster). A run configured the
 * usual way (KUBECONFIG, --context) is the one-entry registry: every row is on that cluster.
 */
import { clusterFor, type ClusterEntry, type Fleet, type RowCluster } from '../domain/clusters.js';
import { UsageError } from '../domain/errors.js';
import { quoted } from '../domain/visible.js';
import type { OpenBackupTarget } from './backup-target.js';
import type { Helm } from './helm.js';
import type { ClusterTarget, Kube } from './kube.js';

/** What a deletion, a restore or a suspend uses on one cluster. */
export interface ClusterAdapters {
  kube: Kube;
  helm: Helm;
  target: ClusterTarget;
  /** where backups go (the same for every cluster) */
  backups?: OpenBackupTarget;
}

export interface Cluster {
  /** the cluster's name (the row's value, the metrics label, `--cluster`) */
  name: string;
  entry: ClusterEntry;
  kube(): Promise<Kube>;
  helm(): Promise<Helm>;
  /** kube, helm and the target together; helm is not opened until this is called */
  adapters(): Promise<ClusterAdapters>;
}

export interface Clusters {
  fleet: Fleet;
  /** more than one cluster: rows must name theirs, and namespaces are looked for elsewhere before a deletion */
  several: boolean;
  /** the cluster that holds this customer (UsageError, exit 2: a row naming none in a fleet of several, or a cluster not in the fleet) */
  for(row: RowCluster): Cluster;
  /** a cluster by name (`--cluster NAME`; UsageError when the fleet has none of that name) */
  named(name: string): Cluster;
  all(): Cluster[];
  /** the first cluster of the fleet (the only one when configured the usual way) */
  default(): Cluster;
}

/** How one entry's adapters are opened (the composition root knows kubeconfigs, helm and retries). */
export interface ClusterOpener {
  kube(entry: ClusterEntry): Promise<Kube>;
  helm(entry: ClusterEntry, kube: () => Promise<Kube>): Promise<Helm>;
  backups?: OpenBackupTarget;
}

/** Made on first use and kept; a failed make is forgotten, so the next ask tries again (a cluster that was down may be back). */
function cached<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= make().catch((e: unknown) => {
    p = undefined;
    throw e;
  }));
}

export function makeClusters(fleet: Fleet, open: ClusterOpener): Clusters {
  const made = fleet.clusters.map((entry): Cluster => {
    const kube = cached(() => open.kube(entry));
    const helm = cached(() => open.helm(entry, kube));
    const adapters = cached(async (): Promise<ClusterAdapters> => {
      const [k, h] = await Promise.all([kube(), helm()]);
      return { kube: k, helm: h, target: k.target, ...(open.backups ? { backups: open.backups } : {}) };
    });
    return { name: entry.name, entry, kube, helm, adapters };
  });
  const byName = new Map(made.map((c) => [c.name, c] as const));
  return {
    fleet,
    several: made.length > 1,
    for: (row) => byName.get(clusterFor(row, fleet).name) as Cluster,
    named: (name) => {
      const c = byName.get(name);
      if (!c) throw new UsageError(`no cluster ${quoted(name.slice(0, 80))} in the fleet (${made.map((x) => x.name).join(', ')}, from ${fleet.source})`, ["list them with 'custctl clusters list'"]);
      return c;
    },
    all: () => [...made],
    default: () => made[0] as Cluster,
  };
}

/** Where a customer's namespace was found on a cluster other than its row's, or why a cluster could not be asked. */
export interface Elsewhere {
  found: string[];
  unreachable: Array<{ cluster: string; error: string }>;
}

/**
 * Looks for `namespace` on every cluster but `home` (a fleet of one: nothing to look at). A
 * namespace of that name elsewhere is someone else's, a copy or a leftover: a deletion refuses it
 * rather than guess. A cluster that does not answer within `timeoutMs` is reported, not waited for.
 */
export async function namespaceElsewhere(clusters: Clusters, home: Cluster, namespace: string, o: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Elsewhere> {
  const out: Elsewhere = { found: [], unreachable: [] };
  if (!clusters.several) return out;
  const timeoutMs = o.timeoutMs ?? 10_000;
  await Promise.all(clusters.all().filter((c) => c.name !== home.name).map(async (c) => {
    const signal = o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    try {
      const ns = await Promise.race([
        c.kube().then((k) => k.getNamespace(namespace, signal)),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error(`no answer within ${timeoutMs / 1000}s`)), { once: true })),
      ]);
      if (ns) out.found.push(c.name);
    } catch (e) {
      o.signal?.throwIfAborted();
      out.unreachable.push({ cluster: c.name, error: e instanceof Error ? e.message.replace(`cluster ${c.name}: `, '') : String(e) });
    }
  }));
  out.found.sort();
  return out;
}

/**
 * The one-entry registry around adapters that are already there (a process configured the usual
 * way without the composition root's registry, test doubles): every row is on this cluster.
 */
export function singleCluster(o: { kube: () => Promise<Kube>; helm: () => Promise<Helm>; backups?: OpenBackupTarget; name?: string }): Clusters {
  const fleet: Fleet = { source: 'KUBECONFIG', column: 'cluster', clusters: [{ name: o.name ?? 'default', inCluster: false, timeouts: {} }] };
  return makeClusters(fleet, { kube: () => o.kube(), helm: () => o.helm(), ...(o.backups ? { backups: o.backups } : {}) });
}
