/**
 * The fleet: the clusters custctl acts on, and which of them holds a customer. Pure rules; the
 * clusters file is read by src/adapters/clusters-config.ts.
 *
 * - A fleet is one or more named clusters. Configured the usual way (KUBECONFIG, --kubeconfig,
 *   --context) it is one cluster, named after its context (`implicitFleet`). CUSTCTL_CLUSTERS_FILE
 *   names several (`parseClustersDoc`).
 * - Which cluster holds a customer is a column of its row (CUSTCTL_CLUSTER_COLUMN, default
 *   `cluster`). `clusterFor` never guesses: in a fleet of more than one, a row without a cluster is
 *   refused, never searched for on every cluster (a namespace of that name on another cluster is
 *   someone else's, or a leftover: deleting it there would be deleting the wrong thing).
 */
import path from 'node:path';
import { parseDuration, formatDuration } from './duration.js';
import { UsageError } from './errors.js';
import { quoted } from './visible.js';

/** A cluster's name: a DNS label (RFC 1123), as a metrics label value, a row value and a flag value read it. */
export const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The Helm storage drivers a cluster may name. `sql` is left out on purpose: its one connection
 * string (HELM_DRIVER_SQL_CONNECTION_STRING) is the process's, so several clusters would keep their
 * release records in one table, keyed by namespace and name, and overwrite each other's.
 */
export const HELM_DRIVERS = ['secret', 'configmap'] as const;
export type HelmDriver = (typeof HELM_DRIVERS)[number];

/** The most deletions at once a cluster may ask for (delete --concurrency's bound). */
export const MAX_CLUSTER_CONCURRENCY = 64;

export interface ClusterTimeouts {
  /** each attempt of a job on this cluster (CUSTCTL_JOB_TIMEOUT, delete --job-timeout) */
  jobMs?: number;
  /** waiting for a customer namespace to go (delete --timeout) */
  namespaceMs?: number;
}

export interface ClusterEntry {
  name: string;
  /**
   * The kubeconfig file(s) (absolute; a `:`-list only from --kubeconfig). Undefined: the usual
   * lookup (KUBECONFIG, then ~/.kube/config) for the one cluster configured the usual way, or none
   * for `inCluster`.
   */
  kubeconfig?: string;
  /** the kubeconfig's context; undefined: its current-context */
  context?: string;
  /** the pod's service account (KUBERNETES_SERVICE_HOST/PORT and its token), not a kubeconfig */
  inCluster: boolean;
  /** where helm keeps this cluster's release records; undefined: HELM_DRIVER (default secret) */
  helmDriver?: HelmDriver;
  /** deletions at once on this cluster in a bulk run; undefined: the run's --concurrency */
  concurrency?: number;
  timeouts: ClusterTimeouts;
}

export interface Fleet {
  /** where the clusters came from: `CUSTCTL_CLUSTERS_FILE <path>`, `--context`, `--kubeconfig`, `KUBECONFIG`, `~/.kube/config` */
  source: string;
  clusters: readonly ClusterEntry[];
  /** the customers table's column that names a customer's cluster */
  column: string;
}

// ---------------------------------------------------------------------------------------------
// the column

export const DEFAULT_CLUSTER_COLUMN = 'cluster';
const COLUMN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** CUSTCTL_CLUSTER_COLUMN: a column name as the table spells it (case included); default `cluster`. */
export function parseClusterColumn(raw: string | undefined): string {
  if (raw === undefined || raw === '') return DEFAULT_CLUSTER_COLUMN;
  if (!COLUMN.test(raw)) {
    throw new UsageError(`CUSTCTL_CLUSTER_COLUMN=${quoted(raw.slice(0, 80))} is not a column name: letters, digits and '_', starting with a letter or '_', up to 63 (as the customers table spells it, case included)`);
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------
// one cluster configured the usual way

/**
 * The one-entry fleet of a run configured the usual way: `--kubeconfig`/KUBECONFIG and
 * `--context`/current-context, exactly as before (the entry keeps the flags, not what they
 * resolve to). It is named after its context when that is a cluster name (`kind-dev`,
 * `prod-eu`), else `default` (no context known, or one like an EKS ARN or a GKE
 * `gke_project_zone_name`, which are not DNS labels).
 */
export function implicitFleet(o: { context: string | null; kubeconfigFlag?: string; contextFlag?: string; env: Readonly<Record<string, string | undefined>>; column: string }): Fleet {
  const source = o.contextFlag !== undefined ? '--context' : o.kubeconfigFlag !== undefined ? '--kubeconfig' : o.env.KUBECONFIG ? 'KUBECONFIG' : '~/.kube/config';
  const entry: ClusterEntry = { name: implicitClusterName(o.context), inCluster: false, timeouts: {} };
  if (o.kubeconfigFlag !== undefined) entry.kubeconfig = o.kubeconfigFlag;
  if (o.contextFlag !== undefined) entry.context = o.contextFlag;
  return { source, clusters: [entry], column: o.column };
}

export function implicitClusterName(context: string | null): string {
  return context !== null && CLUSTER_NAME.test(context) ? context : 'default';
}

// ---------------------------------------------------------------------------------------------
// the clusters file

const TOP_KEYS = ['clusters'] as const;
const ENTRY_KEYS = ['name', 'kubeconfig', 'context', 'inCluster', 'helmDriver', 'concurrency', 'timeouts'] as const;
const TIMEOUT_KEYS = ['job', 'namespace'] as const;
/** bounds of a cluster's timeouts: long enough to mean it, short enough to be a mistake past it */
const TIMEOUT_BOUNDS = { job: [10_000, 24 * 3_600_000], namespace: [1_000, 24 * 3_600_000] } as const;

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const shownKey = (k: string): string => quoted(k.slice(0, 40));

function unknownKeys(v: Record<string, unknown>, known: readonly string[], at: string): void {
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) throw new UsageError(`${at}: unknown key ${shownKey(k)} (known: ${known.join(', ')})`);
  }
}

function text(v: unknown, at: string, what: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new UsageError(`${at}: ${what} must be text`);
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new UsageError(`${at}: ${what} holds a control character`);
  return v;
}

function timeout(v: unknown, key: (typeof TIMEOUT_KEYS)[number], at: string): number {
  const where = `${at}: timeouts.${key}`;
  let ms: number;
  try {
    if (typeof v !== 'string') throw new Error('not text');
    ms = parseDuration(v);
  } catch {
    throw new UsageError(`${where} must be a duration such as 90s, 10m or 1h (quoted or not, with its unit)`);
  }
  const [min, max] = TIMEOUT_BOUNDS[key];
  if (ms < min || ms > max) throw new UsageError(`${where} must be from ${formatDuration(min)} to ${formatDuration(max)} (got ${formatDuration(ms)})`);
  return ms;
}

/**
 * The entries of a clusters file's document (YAML or JSON already parsed):
 *
 *     clusters:
 *       - name: eu-1                 # a DNS label, unique
 *         kubeconfig: eu-1.yaml      # relative: from the file's directory
 *         context: admin@eu-1        # optional: the kubeconfig's current-context
 *         helmDriver: secret         # optional: secret | configmap (default HELM_DRIVER, else secret)
 *         concurrency: 16            # optional: deletions at once on this cluster (1-64)
 *         timeouts: {job: 15m, namespace: 10m}   # optional
 *       - name: local
 *         inCluster: true            # the pod's service account
 *
 * Strict: an unknown key, a bad or repeated name, two entries for one kubeconfig context, or a
 * missing kubeconfig is a UsageError naming `where` and the entry. `where` names the file
 * (`CUSTCTL_CLUSTERS_FILE /etc/custctl/clusters.yaml`); `dir` is its directory.
 */
export function parseClustersDoc(doc: unknown, where: string, dir: string): ClusterEntry[] {
  if (!isMap(doc)) throw new UsageError(`${where} must hold a mapping with a clusters list (clusters: [{name, kubeconfig, context}])`);
  unknownKeys(doc, TOP_KEYS, where);
  const list = doc.clusters;
  if (!Array.isArray(list) || list.length === 0) throw new UsageError(`${where}: clusters must be a list of at least one cluster`);
  const out: ClusterEntry[] = [];
  for (const [i, raw] of list.entries()) {
    let at = `${where}: clusters[${i}]`;
    if (!isMap(raw)) throw new UsageError(`${at} must be a mapping (name, kubeconfig, context, …)`);
    unknownKeys(raw, ENTRY_KEYS, at);
    if (typeof raw.name !== 'string' || !CLUSTER_NAME.test(raw.name)) {
      const got = typeof raw.name === 'string' ? ` (got ${quoted(raw.name.slice(0, 70))})` : '';
      throw new UsageError(`${at}: name is required and must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, up to 63${got}`);
    }
    const name = raw.name;
    at = `${where}: cluster ${name}`;
    if (out.some((c) => c.name === name)) throw new UsageError(`${at} is named twice: each cluster once (rows name their cluster by it)`);
    const entry: ClusterEntry = { name, inCluster: false, timeouts: {} };
    if (raw.inCluster !== undefined && typeof raw.inCluster !== 'boolean') throw new UsageError(`${at}: inCluster must be true or false`);
    if (raw.inCluster === true) {
      if (raw.kubeconfig !== undefined || raw.context !== undefined) {
        throw new UsageError(`${at}: inCluster uses the pod's service account: give either inCluster: true or kubeconfig (and context), not both`);
      }
      entry.inCluster = true;
    } else {
      if (raw.kubeconfig === undefined) throw new UsageError(`${at}: kubeconfig is required (the path of its kubeconfig file; relative paths are read from the directory of this file), or inCluster: true`);
      const file = text(raw.kubeconfig, at, 'kubeconfig');
      if (file.startsWith('~')) throw new UsageError(`${at}: kubeconfig ${JSON.stringify(file)} starts with '~': custctl does not expand it; write the absolute path, or one relative to this file's directory`);
      entry.kubeconfig = path.resolve(dir, file);
      if (raw.context !== undefined) entry.context = text(raw.context, at, 'context');
    }
    if (raw.helmDriver !== undefined) {
      if (typeof raw.helmDriver !== 'string' || !(HELM_DRIVERS as readonly string[]).includes(raw.helmDriver)) {
        throw new UsageError(`${at}: helmDriver must be one of ${HELM_DRIVERS.join(', ')} (sql is not offered per cluster: helm's one connection string would hold every cluster's releases in one table)`);
      }
      entry.helmDriver = raw.helmDriver as HelmDriver;
    }
    if (raw.concurrency !== undefined) {
      const c = raw.concurrency;
      if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > MAX_CLUSTER_CONCURRENCY) {
        throw new UsageError(`${at}: concurrency must be a whole number from 1 to ${MAX_CLUSTER_CONCURRENCY} (deletions at once on this cluster)`);
      }
      entry.concurrency = c;
    }
    if (raw.timeouts !== undefined) {
      if (!isMap(raw.timeouts)) throw new UsageError(`${at}: timeouts must be a mapping (${TIMEOUT_KEYS.join(', ')})`);
      unknownKeys(raw.timeouts, TIMEOUT_KEYS, `${at}: timeouts`);
      if (raw.timeouts.job !== undefined) entry.timeouts.jobMs = timeout(raw.timeouts.job, 'job', at);
      if (raw.timeouts.namespace !== undefined) entry.timeouts.namespaceMs = timeout(raw.timeouts.namespace, 'namespace', at);
    }
    const twin = out.find((c) => sameTarget(c, entry));
    if (twin) {
      throw new UsageError(`${at} and cluster ${twin.name} are the same ${entry.inCluster ? 'in-cluster service account' : `kubeconfig context (${entry.kubeconfig}${entry.context ? `, context ${entry.context}` : ', its current-context'})`}: one cluster under two names would hold customers twice`);
    }
    out.push(entry);
  }
  return out;
}

function sameTarget(a: ClusterEntry, b: ClusterEntry): boolean {
  if (a.inCluster || b.inCluster) return a.inCluster && b.inCluster;
  return a.kubeconfig === b.kubeconfig && (a.context ?? '') === (b.context ?? '');
}

/** How an entry is configured, for lists and messages: `eu-1.yaml (context admin@eu-1)`, `in-cluster service account`. */
export function describeCluster(c: ClusterEntry): string {
  if (c.inCluster) return 'in-cluster service account';
  const file = c.kubeconfig ?? 'KUBECONFIG or ~/.kube/config';
  return c.context ? `${file} (context ${c.context})` : `${file} (its current-context)`;
}

/** Names of clusters whose API servers are the same URL (two entries, one cluster): each pair once. */
export function sameServers(servers: ReadonlyArray<{ name: string; server: string | null }>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const norm = (s: string) => s.replace(/\/+$/, '').toLowerCase();
  servers.forEach((a, i) => {
    for (const b of servers.slice(i + 1)) if (a.server && b.server && norm(a.server) === norm(b.server)) out.push([a.name, b.name]);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// which cluster holds a customer

/** What clusterFor reads of a row: `cluster` is undefined when the table has no such column, null or '' when the row names none. */
export interface RowCluster {
  customerId: string;
  cluster?: string | null;
}

function names(fleet: Fleet): string {
  return fleet.clusters.map((c) => c.name).join(', ');
}

/**
 * The cluster that holds this customer, or a UsageError saying why none may be chosen:
 * - the row names a cluster of the fleet: that one;
 * - the row names none and the fleet is one cluster: that one (a site with one cluster needs no
 *   column);
 * - the row names none and the fleet has several: refused. custctl never looks for the customer on
 *   every cluster: what it found might not be the customer's.
 * - the row names a cluster the fleet does not have: refused (a typo, a cluster not configured
 *   here, a row of another site).
 */
export function clusterFor(row: RowCluster, fleet: Fleet): ClusterEntry {
  const named = row.cluster ?? '';
  const col = `customers.${fleet.column}`;
  if (named === '') {
    if (fleet.clusters.length === 1) return fleet.clusters[0] as ClusterEntry;
    if (row.cluster === undefined) {
      throw new UsageError(`customer ${row.customerId}: the customers table has no column ${fleet.column} (CUSTCTL_CLUSTER_COLUMN), and with ${fleet.clusters.length} clusters (${names(fleet)}) every row must name its cluster: nothing was changed`, [
        `add the column with 'custctl db migrate' (column "${DEFAULT_CLUSTER_COLUMN}"), or set CUSTCTL_CLUSTER_COLUMN to the billing system's column that names the cluster`,
        'custctl never searches the clusters for a customer: a namespace found elsewhere might not be this customer\'s',
      ]);
    }
    throw new UsageError(`customer ${row.customerId} names no cluster in ${col}, and the fleet has ${fleet.clusters.length} (${names(fleet)}): refused, nothing was changed`, [
      `set ${col} to the cluster that holds it; custctl never searches the clusters for a customer (a namespace found elsewhere might not be this customer's)`,
    ]);
  }
  const found = fleet.clusters.find((c) => c.name === named);
  if (found) return found;
  const near = fleet.clusters.find((c) => c.name === named.trim().toLowerCase());
  throw new UsageError(`customer ${row.customerId} is on cluster ${quoted(named.slice(0, 80))} (${col}), which is not in the fleet (${names(fleet)}, from ${fleet.source}): refused, nothing was changed`, [
    near ? `did you mean ${near.name}? Cluster names are exact: fix the row` : `fix the row, or add that cluster to ${fleet.clusters.length === 1 && !fleet.source.startsWith('CUSTCTL_CLUSTERS_FILE') ? 'a clusters file (CUSTCTL_CLUSTERS_FILE)' : 'the clusters file'}`,
  ]);
}

/** Rows grouped by the cluster that holds each (fleet order), and those clusterFor refuses. */
export function groupByCluster<R extends RowCluster>(rows: readonly R[], fleet: Fleet): { groups: Array<{ cluster: ClusterEntry; rows: R[] }>; refused: Array<{ row: R; error: UsageError }> } {
  const by = new Map<string, R[]>();
  const refused: Array<{ row: R; error: UsageError }> = [];
  for (const r of rows) {
    try {
      const c = clusterFor(r, fleet);
      const group = by.get(c.name);
      if (group) group.push(r);
      else by.set(c.name, [r]);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      refused.push({ row: r, error: e });
    }
  }
  return { groups: fleet.clusters.filter((c) => by.has(c.name)).map((c) => ({ cluster: c, rows: by.get(c.name) as R[] })), refused };
}

/** Deletions at once on this cluster: its own concurrency, else the run's. */
export function concurrencyFor(cluster: ClusterEntry, runConcurrency: number): number {
  return cluster.concurrency ?? runConcurrency;
}

// ---------------------------------------------------------------------------------------------
// a deletion's timeouts

/** Where one of a deletion's timeouts came from. */
export type TimeoutSource = 'asked' | 'site' | 'cluster' | 'default';

export interface DeletionTimeouts {
  /** each attempt of the job, ms */
  jobMs: number;
  /** step 2's wait for the namespace to go (and helm's --timeout), ms */
  namespaceMs: number;
  /** `asked`: --job-timeout/--timeout or the API's jobTimeoutMs/timeoutMs; `site`: CUSTCTL_JOB_TIMEOUT; `cluster`: the clusters file */
  from: { job: TimeoutSource; namespace: TimeoutSource };
}

/**
 * The timeouts of one deletion on `cluster`, the one rule every edge uses (delete, the queue API,
 * the console, `jobs resume`, the attempt itself). What the caller asked for explicitly
 * (`--job-timeout`, `--timeout`, the API's `jobTimeoutMs`/`timeoutMs`) wins; then the site's
 * CUSTCTL_JOB_TIMEOUT when it is set (an explicit setting of the process); then the cluster's
 * `timeouts` from the clusters file; then the defaults.
 */
export function deletionTimeouts(
  asked: { jobTimeoutMs?: number; waitTimeoutMs?: number },
  cluster: Pick<ClusterEntry, 'timeouts'> | undefined,
  site: { jobTimeoutMs: number; jobTimeoutSet?: boolean; defaultWaitTimeoutMs: number },
): DeletionTimeouts {
  const t = cluster?.timeouts ?? {};
  const job: [number, TimeoutSource] = asked.jobTimeoutMs !== undefined ? [asked.jobTimeoutMs, 'asked']
    : site.jobTimeoutSet ? [site.jobTimeoutMs, 'site']
    : t.jobMs !== undefined ? [t.jobMs, 'cluster']
    : [site.jobTimeoutMs, 'default'];
  const ns: [number, TimeoutSource] = asked.waitTimeoutMs !== undefined ? [asked.waitTimeoutMs, 'asked']
    : t.namespaceMs !== undefined ? [t.namespaceMs, 'cluster']
    : [site.defaultWaitTimeoutMs, 'default'];
  return { jobMs: job[0], namespaceMs: ns[0], from: { job: job[1], namespace: ns[1] } };
}
