/**
 * The kubeconfig, read the way kubectl reads it: --kubeconfig, else KUBECONFIG (a list, missing
 * entries ignored, the first file to define a name wins), else ~/.kube/config; then the context.
 * Touches no network and never loads @kubernetes/client-node.
 *
 * `contextName` and `contextNames` read only the context names, cheaply (no client at all): helm
 * needs only the name (`--kube-context`), and its first reads can then run while the kube client
 * loads; deps.ts checks that the client loadKubeconfig builds agrees before the kube client is used.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { UsageError } from '../../errors.js';
import type { ClusterTarget } from '../kube.js';

/** Where the kubeconfig is: --kubeconfig, --context and the environment (KUBECONFIG, HOME). */
export interface KubeconfigOptions {
  /** --kubeconfig: one file or a `:`-separated list */
  kubeconfig?: string;
  /** --context */
  context?: string;
  env: Record<string, string | undefined>;
}

export type Obj = Record<string, unknown>;

/** One named entry of a kubeconfig list (`clusters`, `users`, `contexts`), as written in the file. */
interface Entry { name: string; body: Obj; file: string }

export interface LoadedKubeconfig {
  files: string[];
  /** the file the selected user entry came from (an exec plugin's relative command is resolved against its directory) */
  userFile: string;
  target: ClusterTarget;
  /** the selected entries, file paths in them made absolute */
  cluster: Obj;
  user: Obj;
  /** the selected context, cluster and user as one kubeconfig document (for client-node) */
  selected: Obj;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields naming files, resolved against the kubeconfig's directory (kubectl's and client-node's rule). */
const CLUSTER_FILES = ['certificate-authority'];
const USER_FILES = ['client-certificate', 'client-key', 'tokenFile'];

function entries(file: string, doc: Obj, list: 'clusters' | 'users' | 'contexts', inner: 'cluster' | 'user' | 'context', files: readonly string[]): Entry[] {
  const v = doc[list];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new UsageError(`cannot read kubeconfig ${file}: ${list} is not a list`, ['fix the file, or point KUBECONFIG / --kubeconfig at another one']);
  return v.map((e: unknown, i): Entry => {
    if (!isObj(e) || typeof e.name !== 'string' || e.name === '') {
      throw new UsageError(`cannot read kubeconfig ${file}: ${list}[${i}] has no name`, ['fix the file, or point KUBECONFIG / --kubeconfig at another one']);
    }
    const body: Obj = isObj(e[inner]) ? { ...(e[inner] as Obj) } : {};
    for (const k of files) {
      const f = body[k];
      if (typeof f === 'string' && f !== '' && !path.isAbsolute(f)) body[k] = path.join(path.dirname(file), f);
    }
    return { name: e.name, body, file };
  });
}

function readKubeconfigFile(file: string): { clusters: Entry[]; users: Entry[]; contexts: Entry[]; current: string } {
  let doc: unknown;
  try {
    doc = loadYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    const reason = e instanceof Error ? (e as { reason?: string }).reason ?? e.message.split('\n')[0] : String(e);
    throw new UsageError(`cannot read kubeconfig ${file}: ${reason}`, ['fix the file, or point KUBECONFIG / --kubeconfig at another one']);
  }
  if (doc === undefined || doc === null) return { clusters: [], users: [], contexts: [], current: '' };
  if (!isObj(doc)) throw new UsageError(`cannot read kubeconfig ${file}: not a kubeconfig (a YAML mapping)`, ['fix the file, or point KUBECONFIG / --kubeconfig at another one']);
  return {
    clusters: entries(file, doc, 'clusters', 'cluster', CLUSTER_FILES),
    users: entries(file, doc, 'users', 'user', USER_FILES),
    contexts: entries(file, doc, 'contexts', 'context', []),
    current: typeof doc['current-context'] === 'string' ? doc['current-context'] : '',
  };
}

function listedNames(contexts: readonly Entry[]): string {
  const names = contexts.map((c) => c.name);
  return names.length > 0 ? names.join(', ') : '(none)';
}

/**
 * Finds and merges the kubeconfig files (kubectl's rules: --kubeconfig, else KUBECONFIG — a list,
 * missing entries ignored, the first file to define a name wins — else ~/.kube/config) and selects
 * the context. Touches no network.
 */
export function loadKubeconfig(opts: KubeconfigOptions): LoadedKubeconfig {
  const home = opts.env.HOME || os.homedir();
  const defaultFile = path.join(home, '.kube', 'config');
  let files: string[];
  if (opts.kubeconfig) {
    files = opts.kubeconfig.split(path.delimiter).filter((f) => f !== '');
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length > 0) {
      throw new UsageError(`kubeconfig not found: ${missing.join(', ')} (from --kubeconfig)`, ['pass the path of an existing kubeconfig file']);
    }
  } else if (opts.env.KUBECONFIG) {
    const listed = opts.env.KUBECONFIG.split(path.delimiter).filter((f) => f !== '');
    files = listed.filter((f) => existsSync(f));
    if (files.length === 0) {
      throw new UsageError(`kubeconfig not found: KUBECONFIG=${opts.env.KUBECONFIG} names no existing file; set KUBECONFIG or pass --kubeconfig with the path of your kubeconfig`);
    }
  } else if (existsSync(defaultFile)) {
    files = [defaultFile];
  } else {
    throw new UsageError(`no kubeconfig found (KUBECONFIG is not set and ${defaultFile} does not exist): set KUBECONFIG or pass --kubeconfig with the path of your kubeconfig`);
  }

  const clusters: Entry[] = [];
  const users: Entry[] = [];
  const contexts: Entry[] = [];
  let currentContext = '';
  const addNew = (into: Entry[], from: Entry[]): void => {
    for (const e of from) if (!into.some((x) => x.name === e.name)) into.push(e);
  };
  for (const file of files) {
    const one = readKubeconfigFile(file);
    addNew(clusters, one.clusters);
    addNew(users, one.users);
    addNew(contexts, one.contexts);
    if (!currentContext && one.current) currentContext = one.current;
  }
  const shownFiles = files.join(path.delimiter);

  const contextName = opts.context || currentContext;
  if (!contextName) {
    throw new UsageError(`kubeconfig ${shownFiles} has no current-context: pass --context (available: ${listedNames(contexts)})`);
  }
  const context = contexts.find((c) => c.name === contextName);
  if (!context) {
    throw new UsageError(
      `context "${contextName}" not found in kubeconfig ${shownFiles} (available: ${listedNames(contexts)})`,
      ['pass --context with one of the available contexts'],
    );
  }
  const clusterName = typeof context.body.cluster === 'string' ? context.body.cluster : '';
  const cluster = clusters.find((c) => c.name === clusterName);
  const server = typeof cluster?.body.server === 'string' ? cluster.body.server : '';
  if (!cluster || !server) {
    throw new UsageError(`context "${contextName}" in kubeconfig ${shownFiles} names cluster "${clusterName}", which is not defined there (or has no server)`);
  }
  const userName = typeof context.body.user === 'string' ? context.body.user : '';
  const user = users.find((u) => u.name === userName);
  const target: ClusterTarget = { context: contextName, server, kubeconfig: shownFiles };
  if (userName) target.user = userName;
  const sa = serviceAccountOfUser(user?.body ?? {}, files[0] ?? '');
  if (sa) target.serviceAccount = sa;
  const selected: Obj = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.name, cluster: cluster.body }],
    users: user ? [{ name: user.name, user: user.body }] : [],
    contexts: [{ name: context.name, context: context.body }],
    'current-context': context.name,
  };
  return { files, userFile: user?.file ?? files[0] ?? '', target, cluster: cluster.body, user: user?.body ?? {}, selected };
}

/**
 * The ServiceAccount a kubeconfig user's bearer token (inline or `tokenFile`) was issued to, from
 * the token's own claims (a TokenRequest token: `kubernetes.io`; a legacy one:
 * `kubernetes.io/serviceaccount/*`; both: `sub` = system:serviceaccount:NS:NAME). Not verified:
 * it only names custctl's own identity (the API server authenticates the token); undefined for
 * anything else.
 */
export function serviceAccountOfToken(token: string): { namespace: string; name: string } | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const m = typeof c.sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(c.sub) : null;
    return m ? { namespace: m[1] as string, name: m[2] as string } : undefined;
  } catch {
    return undefined;
  }
}

function serviceAccountOfUser(user: Obj, firstFile: string): { namespace: string; name: string } | undefined {
  if (typeof user.token === 'string') return serviceAccountOfToken(user.token);
  if (typeof user.tokenFile === 'string') {
    try {
      return serviceAccountOfToken(readFileSync(path.resolve(path.dirname(firstFile), user.tokenFile), 'utf8').trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// the context name alone (no client)

/** The context name, or null when it cannot be told cheaply (then the kube client decides). */
export function contextName(o: { kubeconfig?: string; context?: string; env: Record<string, string | undefined> }): string | null {
  if (o.context) return o.context;
  const home = o.env.HOME || os.homedir();
  const list = (o.kubeconfig || o.env.KUBECONFIG || path.join(home, '.kube', 'config')).split(path.delimiter).filter((f) => f !== '');
  // a missing --kubeconfig file is a usage error that loadKubeconfig words: leave it to it
  if (o.kubeconfig && list.some((f) => !existsSync(f))) return null;
  try {
    for (const file of list.filter((f) => existsSync(f))) {
      const doc = loadYaml(readFileSync(file, 'utf8')) as { 'current-context'?: unknown } | null;
      const current = doc?.['current-context'];
      if (typeof current === 'string' && current !== '') return current;
    }
  } catch {
    return null; // unreadable: loadKubeconfig reports it properly
  }
  return null;
}

/** The context names of the kubeconfig files (for shell completion of --context); none when unreadable. */
export function contextNames(o: { kubeconfig?: string; env: Record<string, string | undefined> }): string[] {
  const home = o.env.HOME || os.homedir();
  const list = (o.kubeconfig || o.env.KUBECONFIG || path.join(home, '.kube', 'config')).split(path.delimiter).filter((f) => f !== '' && existsSync(f));
  const names = new Set<string>();
  for (const file of list) {
    try {
      const doc = loadYaml(readFileSync(file, 'utf8')) as { contexts?: unknown } | null;
      for (const c of Array.isArray(doc?.contexts) ? doc.contexts : []) {
        const name = (c as { name?: unknown } | null)?.name;
        if (typeof name === 'string' && name !== '') names.add(name);
      }
    } catch {
      // unreadable: nothing to offer from it
    }
  }
  return [...names];
}
