/**
 * The fleet of this run, read once (exit 2 with what is wrong, naming the file and the entry):
 *
 * - CUSTCTL_CLUSTERS_FILE, YAML or JSON: the clusters by name, each with its kubeconfig and context
 *   (or `inCluster: true`), Helm storage driver, concurrency and timeouts (src/domain/clusters.ts
 *   has the rules). A file others can write is refused: whoever can write it chooses where
 *   deletions go.
 * - Otherwise the one cluster configured the usual way (--kubeconfig / KUBECONFIG, --context), a
 *   fleet of one named after its context.
 *
 * `clusterKubeconfig` turns one entry into a kubeconfig file and context, for custctl's client
 * (`openClusterKube`, with the kube adapter's `openKube`) and for helm (src/deps.ts) alike.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { dump } from 'js-yaml';
import { CliError, UsageError } from '../errors.js';
import { implicitFleet, parseClusterColumn, parseClustersDoc, type ClusterEntry, type Fleet } from '../domain/clusters.js';
import type { Kube } from './kube.js';
import type { OpenKubeOptions } from './kube/index.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface FleetOptions {
  env: Env;
  /** --kubeconfig and --context: they choose the one cluster, so they do not go with a clusters file */
  kubeconfig?: string | undefined;
  context?: string | undefined;
}

export async function loadFleet(o: FleetOptions): Promise<Fleet> {
  const column = parseClusterColumn(o.env.CUSTCTL_CLUSTER_COLUMN);
  const file = o.env.CUSTCTL_CLUSTERS_FILE || undefined;
  if (file === undefined) {
    const { contextName } = await import('./kube/kubeconfig.js');
    const context = contextName({ kubeconfig: o.kubeconfig, context: o.context, env: o.env as Record<string, string | undefined> });
    return implicitFleet({
      context, env: o.env, column,
      ...(o.kubeconfig !== undefined ? { kubeconfigFlag: o.kubeconfig } : {}),
      ...(o.context !== undefined ? { contextFlag: o.context } : {}),
    });
  }
  const flags = [o.kubeconfig !== undefined ? '--kubeconfig' : '', o.context !== undefined ? '--context' : ''].filter(Boolean);
  if (flags.length > 0) {
    throw new UsageError(`${flags.join(' and ')} ${flags.length > 1 ? 'choose' : 'chooses'} one cluster, but CUSTCTL_CLUSTERS_FILE names the fleet: drop ${flags.length > 1 ? 'them' : 'it'}, or unset CUSTCTL_CLUSTERS_FILE to act on that one cluster`);
  }
  return { ...(await readClustersFile(file)), column };
}

async function readClustersFile(file: string): Promise<Omit<Fleet, 'column'>> {
  const where = `CUSTCTL_CLUSTERS_FILE ${file}`;
  let text: string;
  let mode: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new UsageError(`${where} is not a regular file`);
    mode = st.mode;
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  if ((mode & 0o022) !== 0) {
    const perms = (mode & 0o777).toString(8).padStart(4, '0');
    throw new UsageError(`${where} is writable by ${mode & 0o002 ? 'everyone' : 'its group'} (mode ${perms}): refusing to use it, whoever can write it could send the deletions to another cluster`, [`chmod 644 ${file} (or 600)`]);
  }
  let doc: unknown;
  try {
    const yaml = await import('js-yaml');
    doc = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: file });
  } catch (e) {
    // js-yaml's message quotes the lines around the error; only where, and the reason
    const m = (e as { mark?: { line?: number; column?: number } }).mark;
    const reason = (e as { reason?: string }).reason;
    throw new UsageError(`${where} is not valid YAML or JSON${m?.line !== undefined ? ` (line ${m.line + 1}, column ${(m.column ?? 0) + 1})` : ''}${reason ? `: ${reason}` : ''}`);
  }
  return { source: where, clusters: parseClustersDoc(doc, where, dirname(resolve(file))) };
}

// ---------------------------------------------------------------------------------------------
// opening one cluster

/** Where a pod's service account is mounted (client-go's rest.InClusterConfig). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The kubeconfig of the pod's service account, as client-go's InClusterConfig reads it: the API
 * server from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the token file (read again at
 * every request: it is rotated) and the CA of the mount. UsageError when this is not a pod.
 */
export function inClusterKubeconfig(env: Env, dir = SERVICE_ACCOUNT_DIR): string {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (host === '' || port === '') {
    throw new UsageError('inCluster: true, but KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: custctl is not running in a pod', ['give this cluster a kubeconfig (and context) instead']);
  }
  if (!/^\d{1,5}$/.test(port)) throw new UsageError(`inCluster: KUBERNETES_SERVICE_PORT=${JSON.stringify(port.slice(0, 20))} is not a port number`);
  const token = join(dir, 'token');
  const ca = join(dir, 'ca.crt');
  if (!existsSync(token)) {
    throw new UsageError(`inCluster: true, but there is no service account token at ${token}`, ['mount the pod\'s service account token (automountServiceAccountToken: true), or give this cluster a kubeconfig']);
  }
  const name = IN_CLUSTER_CONTEXT;
  return dump({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, ...(existsSync(ca) ? { 'certificate-authority': ca } : {}) } }],
    users: [{ name: 'service-account', user: { tokenFile: token } }],
    contexts: [{ name, context: { cluster: name, user: 'service-account' } }],
    'current-context': name,
  });
}

/** One entry's kubeconfig file and context, as custctl's client and helm both open them. */
export interface ClusterKubeconfig {
  /** the file (undefined: KUBECONFIG / ~/.kube/config, a fleet configured the usual way) */
  kubeconfig: string | undefined;
  /** the context (undefined: the kubeconfig's current-context) */
  context: string | undefined;
  /** removes a file written for this entry (an in-cluster entry's); nothing otherwise */
  dispose(): Promise<void>;
}

export interface ClusterKubeconfigOptions {
  env: Env;
  /** the fleet's source (Fleet.source): a kubeconfig named by a clusters file is looked for first, and a missing one named with it */
  source?: string | undefined;
  /** the service account mount of an inCluster entry (default SERVICE_ACCOUNT_DIR) */
  serviceAccountDir?: string | undefined;
}

/** The context of the kubeconfig written for an inCluster entry. */
export const IN_CLUSTER_CONTEXT = 'in-cluster';

/**
 * The one place an entry becomes a kubeconfig file and a context, for custctl's Kubernetes client
 * and for helm alike, so both act on the same cluster as the same identity. An entry with a
 * kubeconfig is that file (a missing one named by a clusters file is a UsageError naming the
 * cluster). An inCluster entry is the service account's kubeconfig (inClusterKubeconfig), written
 * 0600 in a private 0700 directory that `dispose` removes: it names files only (the token is read
 * at every request), and lives as long as its user needs it.
 */
export async function clusterKubeconfig(entry: ClusterEntry, o: ClusterKubeconfigOptions): Promise<ClusterKubeconfig> {
  const nothing = async () => undefined;
  if (!entry.inCluster) {
    // openKube words a missing --kubeconfig or KUBECONFIG file itself; one named by a clusters file is looked for here
    if (entry.kubeconfig !== undefined && o.source?.startsWith('CUSTCTL_CLUSTERS_FILE') && !existsSync(entry.kubeconfig)) {
      throw new UsageError(`cluster ${entry.name}: kubeconfig ${entry.kubeconfig} not found (${o.source})`, ['fix the path in the clusters file (a relative path is read from the file\'s directory)']);
    }
    return { kubeconfig: entry.kubeconfig, context: entry.context, dispose: nothing };
  }
  let text: string;
  try {
    text = inClusterKubeconfig(o.env, o.serviceAccountDir);
  } catch (e) {
    throw clusterNamed(entry, e);
  }
  // mkdtemp makes the directory 0700
  const dir = await mkdtemp(join(tmpdir(), 'custctl-in-cluster-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const file = join(dir, 'kubeconfig');
    await writeFile(file, text, { mode: 0o600 });
    return { kubeconfig: file, context: IN_CLUSTER_CONTEXT, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** A CliError's message names the cluster it is about. */
function clusterNamed(entry: ClusterEntry, e: unknown): unknown {
  if (e instanceof CliError && !e.message.startsWith(`cluster ${entry.name}: `)) e.message = `cluster ${entry.name}: ${e.message}`;
  return e;
}

export type ClusterKubeOptions = Omit<OpenKubeOptions, 'kubeconfig' | 'context'> & Omit<ClusterKubeconfigOptions, 'env'>;

/**
 * One entry's Kubernetes client, from clusterKubeconfig. A kubeconfig that is not there, or a
 * context it lacks, is a UsageError naming the cluster. An in-cluster entry's kubeconfig is read
 * by openKube and removed at once (it names files; the token is read at every request).
 */
export async function openClusterKube(entry: ClusterEntry, o: ClusterKubeOptions): Promise<Kube> {
  const { openKube } = await import('./kube/index.js');
  const { serviceAccountDir, source, ...rest } = o;
  const kc = await clusterKubeconfig(entry, { env: o.env, source, serviceAccountDir });
  try {
    return await openKube({ ...rest, ...(kc.kubeconfig !== undefined ? { kubeconfig: kc.kubeconfig } : {}), ...(kc.context !== undefined ? { context: kc.context } : {}) });
  } catch (e) {
    throw clusterNamed(entry, e);
  } finally {
    await kc.dispose();
  }
}
