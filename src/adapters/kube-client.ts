/**
 * The cluster over plain HTTPS (node:https), loaded on demand. custctl makes a handful of REST
 * calls (get, list, delete, one watch), so it sends them itself: importing
 * @kubernetes/client-node costs ~0.7–1 s of start-up (its ~1000 generated modules), on the path to
 * every deletion's first request, and that was most of what one deletion spent above the floor.
 * Credentials from an `exec` plugin are fetched here too, once per expiry (exec-credentials.ts);
 * client-node is still used, loaded only then, for the kubeconfig users whose credentials need it
 * (auth providers, impersonation) and for clusters behind a proxy-url: its KubeConfig gives the
 * TLS options, the agent and the Authorization header of each request. Requests share one pool of
 * kept-alive connections (kube-transport.ts).
 *
 * Every request carries the caller's User-Agent and AbortSignal, and every foreign error is
 * translated here into the typed errors of src/errors.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { dump as dumpYaml, load as loadYaml } from 'js-yaml';
import { ConflictError, OperationError, UsageError, errorMessage, isPermanent } from '../errors.js';
import { KUBE_RETRY, backoffMs, networkVerdict, parseRetryAfter, withRetries, type RetryEvent, type RetryPolicy, type Verdict } from './retry.js';
import type { RbacKind, RbacObject } from '../domain/rbac-owner.js';
import { runPool } from '../util/pool.js';
import type {
  AccessAnswer, AccessCheck, ClusterTarget, CountOptions, Kube, NamespaceInfo, NamespacedObjectCount, PvcInfo, Workload, WorkloadKind,
  VolumeSnapshotApi, VolumeSnapshotContentInfo, VolumeSnapshotInfo,
} from './kube.js';
import { SNAPSHOT_API } from '../domain/volume-snapshots.js';
import type { KubeObject } from '../domain/backup.js';
import { RELEASE_SELECTOR, type RecordResource, type ReleaseSecret } from './helm-storage.js';
import { execConfigOf, makeExecCredentialSource, type ExecCredential, type ExecCredentialSource } from './exec-credentials.js';
import { makeTransport, type TransportOptions } from './kube-transport.js';
import { ListStreamParser, PAGE_SIZE, countFromFirstPage, forEachPage, type ListPage } from './kube-paging.js';
import { makeRbacCache, type RbacListing, type RbacWatchEvent } from './kube-rbac-cache.js';
import { slimRbac } from '../domain/rbac-index.js';

export interface OpenKubeOptions {
  /** --kubeconfig: one file or a `:`-separated list */
  kubeconfig?: string;
  /** --context */
  context?: string;
  env: Record<string, string | undefined>;
  userAgent: string;
  /** told of every request retry (a transient fault: 429, 5xx, reset, refused, timeout) */
  onRetry?: (e: RetryEvent & { op: string }) => void;
  /** tests: a faster policy, a fake sleep */
  retry?: { policy?: RetryPolicy; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> };
  /** the connection pool (the bench turns keep-alive off to compare) */
  transport?: TransportOptions;
}

/** A request that gets no answer within this time fails (watches excepted: they have timeoutSeconds). */
const REQUEST_TIMEOUT_MS = 60_000;
/** Longest single watch; an abandoned watch ends by itself server-side after this. */
const WATCH_CHUNK_SECONDS = 60;
/** Longest RBAC watch; it is resumed from its last resourceVersion when the server ends it. */
const RBAC_WATCH_SECONDS = 300;
/** Re-establishing a watch that failed: the request backoff, capped lower (a watch is cheap to redo). */
const WATCH_BACKOFF = { baseMs: 500, maxMs: 5_000 };
/** The API group list is read again after this (counting a terminating namespace asks for it repeatedly). */
const GROUPS_FRESH_MS = 30_000;
/** Parallel discovery/list requests in countNamespaceObjects. */
const PARALLEL = 6;

// ---------------------------------------------------------------------------------------------
// kubeconfig

type Obj = Record<string, unknown>;

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

function contextNames(contexts: readonly Entry[]): string {
  const names = contexts.map((c) => c.name);
  return names.length > 0 ? names.join(', ') : '(none)';
}

/**
 * Finds and merges the kubeconfig files (kubectl's rules: --kubeconfig, else KUBECONFIG — a list,
 * missing entries ignored, the first file to define a name wins — else ~/.kube/config) and selects
 * the context. Touches no network.
 */
export function loadKubeconfig(opts: Pick<OpenKubeOptions, 'kubeconfig' | 'context' | 'env'>): LoadedKubeconfig {
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
    throw new UsageError(`kubeconfig ${shownFiles} has no current-context: pass --context (available: ${contextNames(contexts)})`);
  }
  const context = contexts.find((c) => c.name === contextName);
  if (!context) {
    throw new UsageError(
      `context "${contextName}" not found in kubeconfig ${shownFiles} (available: ${contextNames(contexts)})`,
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
// transport: the TLS options and credentials of a request

/** What custctl reads itself; anything else in the cluster or user entry is left to client-node. */
const PLAIN_CLUSTER_KEYS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name', 'extensions']);
const PLAIN_USER_KEYS = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'username', 'password', 'exec', 'extensions']);

/** Whether custctl sends this user's requests itself (certificates, tokens, basic auth) or needs client-node. */
export function plainCredentials(cluster: Obj, user: Obj): boolean {
  return Object.keys(cluster).every((k) => PLAIN_CLUSTER_KEYS.has(k)) && Object.keys(user).every((k) => PLAIN_USER_KEYS.has(k));
}

/** The options of one request; `exec`: the plugin credential it carries (a 401 refreshes it). */
type RequestOptionsFn = (signal?: AbortSignal) => Promise<{ options: https.RequestOptions; exec?: ExecCredential }>;

function fileOrData(file: unknown, data: unknown): Buffer | undefined {
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  if (typeof file === 'string' && file !== '') return readFileSync(file);
  return undefined;
}

/** The options of every request for a plain user: read once (a tokenFile on every request: it may rotate; an exec credential per its expiry). */
function plainOptions(k: LoadedKubeconfig, exec: ExecCredentialSource | null): RequestOptionsFn {
  const c = k.cluster;
  const u = k.user;
  const fixed: https.RequestOptions = {};
  const unusable = (what: string, e: unknown) => new UsageError(`kubeconfig ${k.target.kubeconfig}: cannot read the ${what} of context "${k.target.context}": ${errorMessage(e)}`, ['fix the path in the kubeconfig']);
  try {
    const ca = fileOrData(c['certificate-authority'], c['certificate-authority-data']);
    if (ca) fixed.ca = ca;
  } catch (e) { throw unusable('certificate-authority', e); }
  try {
    const cert = fileOrData(u['client-certificate'], u['client-certificate-data']);
    const key = fileOrData(u['client-key'], u['client-key-data']);
    if (cert) fixed.cert = cert;
    if (key) fixed.key = key;
  } catch (e) { throw unusable('client certificate or key', e); }
  if (c['insecure-skip-tls-verify'] === true) fixed.rejectUnauthorized = false;
  if (typeof c['tls-server-name'] === 'string' && c['tls-server-name'] !== '') fixed.servername = c['tls-server-name'];
  if (typeof u.username === 'string' && u.username !== '') fixed.auth = `${u.username}:${typeof u.password === 'string' ? u.password : ''}`;
  const token = typeof u.token === 'string' && u.token !== '' ? u.token : undefined;
  const tokenFile = typeof u.tokenFile === 'string' && u.tokenFile !== '' ? u.tokenFile : undefined;
  return async (signal) => {
    let bearer = token;
    if (!bearer && tokenFile) {
      try {
        bearer = readFileSync(tokenFile, 'utf8').trim();
      } catch (e) { throw unusable('tokenFile', e); }
    }
    if (!bearer && exec) {
      const cred = await exec.get(signal);
      const options: https.RequestOptions = { ...fixed, headers: cred.token ? { Authorization: `Bearer ${cred.token}` } : {} };
      if (cred.clientCertificateData && cred.clientKeyData) {
        options.cert = cred.clientCertificateData;
        options.key = cred.clientKeyData;
      }
      return { options, exec: cred };
    }
    return { options: { ...fixed, headers: bearer ? { Authorization: `Bearer ${bearer}` } : {} } };
  };
}

/** The exec plugin source of a plain user whose credentials come from one (a static token wins, as in client-go). */
function execSource(k: LoadedKubeconfig, env: Record<string, string | undefined>): ExecCredentialSource | null {
  const u = k.user;
  const exec = execConfigOf(u);
  if (!exec || (typeof u.token === 'string' && u.token !== '') || (typeof u.tokenFile === 'string' && u.tokenFile !== '')) return null;
  return makeExecCredentialSource({ exec, kubeconfigFile: k.userFile, cluster: k.cluster, env });
}

/** The options of every request from client-node's KubeConfig (exec plugins, auth providers, proxies). */
function clientNodeOptions(k: LoadedKubeconfig): RequestOptionsFn {
  let kc: Promise<{ applyToHTTPSOptions(o: https.RequestOptions): Promise<void> }> | undefined;
  const load = async () => {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const c = new KubeConfig();
    try {
      c.loadFromString(dumpYaml(k.selected));
    } catch (e) {
      throw new UsageError(`cannot read kubeconfig ${k.target.kubeconfig}: ${errorMessage(e)}`, ['fix the file, or point KUBECONFIG / --kubeconfig at another one']);
    }
    return c as unknown as { applyToHTTPSOptions(o: https.RequestOptions): Promise<void> };
  };
  return async () => {
    const c = await (kc ??= load());
    const o: https.RequestOptions = { headers: {} };
    await c.applyToHTTPSOptions(o);
    return { options: o };
  };
}

/** A non-2xx answer: `code`, `body` (text) and `headers`, the shape translateError and requestVerdict read. */
export class ApiStatusError extends Error {
  constructor(readonly code: number, readonly body: string, readonly headers: http.IncomingHttpHeaders) {
    super(`HTTP ${code}`);
  }
}

// ---------------------------------------------------------------------------------------------
// errors

interface Op {
  /** get, delete, list, watch */
  verb: string;
  /** `namespace customer-abc`, `clusterroles` */
  what: string;
  /** instead of the client's policy (KUBE_RETRY) */
  retry?: RetryPolicy;
}

interface K8sStatus { message?: string; reason?: string; code?: number }

export function statusOf(body: unknown): K8sStatus {
  let v = body;
  if (typeof v === 'string') {
    const text = v;
    try {
      v = JSON.parse(text);
    } catch {
      return text.trim() ? { message: text.trim() } : {};
    }
  }
  if (typeof v !== 'object' || v === null) return {};
  const s = v as Record<string, unknown>;
  const out: K8sStatus = {};
  if (typeof s.message === 'string') out.message = s.message;
  if (typeof s.reason === 'string') out.reason = s.reason;
  if (typeof s.code === 'number') out.code = s.code;
  return out;
}

/**
 * `clusterroles.rbac.authorization.k8s.io "x" is forbidden: User "bob" cannot delete resource
 * "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope` →
 * `permission denied: cannot delete clusterroles.rbac.authorization.k8s.io (user bob)`.
 * Returns null when the message is not an RBAC refusal.
 */
export function permissionDeniedMessage(statusMessage: string): string | null {
  const m = /User "([^"]*)" cannot ([\w-]+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]*)")?/.exec(statusMessage);
  if (!m) return null;
  const [, user, verb, resource, group, namespace] = m;
  const qualified = group ? `${resource}.${group}` : resource;
  const where = namespace ? ` in namespace ${namespace}` : '';
  return `permission denied: cannot ${verb} ${qualified}${where} (user ${user})`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const errno = (e as { errno?: unknown }).errno;
  return typeof errno === 'string' ? errno : undefined;
}

function isTlsCode(code: string): boolean {
  return /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/.test(code);
}

function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';
}

export interface ErrorContext { server: string; context: string; user?: string }

/** Turns an API answer (ApiStatusError or anything with a numeric `code`) / a network failure into a typed error. 404 is the caller's business. */
export function translateError(e: unknown, op: Op, t: ErrorContext): Error {
  if (e instanceof OperationError || e instanceof ConflictError || e instanceof UsageError) return e;
  const at = `the API server ${t.server} (context ${t.context})`;
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
    const code = (e as { code: number }).code;
    const st = statusOf((e as { body?: unknown }).body);
    const msg = st.message ?? `HTTP ${code}`;
    if (code === 403) {
      return new OperationError(permissionDeniedMessage(msg) ?? `permission denied: cannot ${op.verb} ${op.what}: ${msg}`, [
        `${at} refused: ${msg}`,
        'ask a cluster admin for the RBAC permission, or use a context with it (--context)',
      ], { permanent: true });
    }
    if (code === 401) {
      return new OperationError(`${at} rejected the credentials of user ${t.user ?? '(none)'} (401 Unauthorized) on ${op.verb} ${op.what}`, [
        'refresh your credentials or fix the user in the kubeconfig',
      ], { permanent: true });
    }
    if (code === 404) {
      // the callers that expect a 404 (get, delete) handle it before; here it is a path the server does not serve
      return new OperationError(`cannot ${op.verb} ${op.what}: ${at} does not serve this API (404)`, [
        'the cluster is older or newer than custctl expects, or an aggregated API is not installed',
      ], { cause: e, permanent: true });
    }
    if (code === 409) return new ConflictError(`cannot ${op.verb} ${op.what}: ${msg}`, [], { cause: e });
    return new OperationError(`cannot ${op.verb} ${op.what}: ${msg} (HTTP ${code} from ${at})`, [], { cause: e });
  }
  const code = errorCode(e);
  if (code && NETWORK_CODES.has(code)) {
    return new OperationError(`cannot reach ${at}: ${code}`, [errorMessage(e), 'check that the cluster is up and that --context / KUBECONFIG point at it']);
  }
  if (code && isTlsCode(code)) {
    return new OperationError(`TLS error talking to ${at}: ${code}`, [errorMessage(e), 'check the certificate-authority of the cluster in the kubeconfig'], { permanent: true });
  }
  return new OperationError(`cannot ${op.verb} ${op.what} on ${at}: ${errorMessage(e)}`);
}

/** Answers worth another try: the server is overloaded, restarting or briefly broken (client-go's list). */
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

/** A request that got no answer within REQUEST_TIMEOUT_MS (retried like a reset). */
class RequestTimeout extends Error {}

function headerOf(e: unknown, name: string): string | undefined {
  const headers = typeof e === 'object' && e !== null ? (e as { headers?: unknown }).headers : undefined;
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() === name && typeof v === 'string') return v;
  }
  return undefined;
}

/**
 * Whether one failed request (before translation) is worth another try, and when (Retry-After).
 * Connection failures as retry.ts's networkVerdict: a reset or a timeout always; refused or no such
 * host only when the API server answered earlier in this process (`answeredBefore`): an API server
 * that restarts refuses connections for a few seconds, while one that never answered is most
 * likely a wrong address or a cluster that is down, and the operator should hear so at once.
 */
export function requestVerdict(e: unknown, answeredBefore = true): Verdict {
  if (e instanceof RequestTimeout) return { retry: true, why: `no answer within ${REQUEST_TIMEOUT_MS / 1000}s` };
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
    const code = (e as { code: number }).code;
    if (!RETRY_STATUS.has(code)) return { retry: false };
    const afterMs = parseRetryAfter(headerOf(e, 'retry-after'));
    return { retry: true, why: `HTTP ${code}`, ...(afterMs !== undefined ? { afterMs } : {}) };
  }
  return networkVerdict(errorCode(e), answeredBefore);
}

/** `HTTP 503: service unavailable` for an API answer, else the message: for one line of a report. */
export function shortReason(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  if (typeof cause === 'object' && cause !== null && typeof (cause as { code?: unknown }).code === 'number') {
    const code = (cause as { code: number }).code;
    const msg = statusOf((cause as { body?: unknown }).body).message;
    return msg ? `HTTP ${code}: ${msg}` : `HTTP ${code}`;
  }
  return errorMessage(e);
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 404;
}

/** Resolves/rejects with `p`, or rejects with the signal's reason as soon as it aborts. */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// scope of kinds

/** `group/Kind` → cluster-scoped? (group '' is the core group). */
const WELL_KNOWN_SCOPE: ReadonlyMap<string, boolean> = new Map([
  // cluster-scoped
  ...[
    '/Namespace', '/Node', '/PersistentVolume', '/ComponentStatus',
    'rbac.authorization.k8s.io/ClusterRole', 'rbac.authorization.k8s.io/ClusterRoleBinding',
    'apiextensions.k8s.io/CustomResourceDefinition',
    'storage.k8s.io/StorageClass', 'storage.k8s.io/CSIDriver', 'storage.k8s.io/CSINode',
    'storage.k8s.io/VolumeAttachment', 'storage.k8s.io/VolumeAttributesClass',
    'scheduling.k8s.io/PriorityClass',
    'admissionregistration.k8s.io/ValidatingWebhookConfiguration',
    'admissionregistration.k8s.io/MutatingWebhookConfiguration',
    'admissionregistration.k8s.io/ValidatingAdmissionPolicy',
    'admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding',
    'apiregistration.k8s.io/APIService',
    'networking.k8s.io/IngressClass', 'extensions/IngressClass',
    'node.k8s.io/RuntimeClass',
    'policy/PodSecurityPolicy', 'extensions/PodSecurityPolicy',
    'certificates.k8s.io/CertificateSigningRequest',
    'flowcontrol.apiserver.k8s.io/FlowSchema', 'flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration',
    'authentication.k8s.io/TokenReview', 'authorization.k8s.io/SubjectAccessReview',
    'authorization.k8s.io/SelfSubjectAccessReview', 'authorization.k8s.io/SelfSubjectRulesReview',
  ].map((k) => [k, true] as const),
  // namespaced
  ...[
    '/Pod', '/Service', '/ConfigMap', '/Secret', '/ServiceAccount', '/PersistentVolumeClaim',
    '/Endpoints', '/Event', '/LimitRange', '/ResourceQuota', '/ReplicationController', '/PodTemplate',
    'apps/Deployment', 'apps/StatefulSet', 'apps/DaemonSet', 'apps/ReplicaSet', 'apps/ControllerRevision',
    'batch/Job', 'batch/CronJob',
    'autoscaling/HorizontalPodAutoscaler',
    'policy/PodDisruptionBudget',
    'networking.k8s.io/NetworkPolicy', 'networking.k8s.io/Ingress', 'extensions/Ingress', 'extensions/NetworkPolicy',
    'rbac.authorization.k8s.io/Role', 'rbac.authorization.k8s.io/RoleBinding',
    'coordination.k8s.io/Lease', 'discovery.k8s.io/EndpointSlice', 'events.k8s.io/Event',
    'storage.k8s.io/CSIStorageCapacity', 'authorization.k8s.io/LocalSubjectAccessReview',
  ].map((k) => [k, false] as const),
]);

export function groupOf(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** true / false for well-known kinds, undefined when discovery must decide. */
export function wellKnownScope(apiVersion: string, kind: string): boolean | undefined {
  return WELL_KNOWN_SCOPE.get(`${groupOf(apiVersion).group}/${kind}`);
}

// ---------------------------------------------------------------------------------------------
// the client

interface ApiResource { name: string; kind: string; namespaced: boolean; verbs: string[] }
interface RawMeta { metadata?: { name?: string; annotations?: Record<string, string> } }
interface RawPvc {
  metadata?: { name?: string };
  spec?: { volumeName?: string; resources?: { requests?: { storage?: string } } };
  status?: { phase?: string; capacity?: { storage?: string } };
}
const RBAC_API = '/apis/rbac.authorization.k8s.io/v1';
interface ObjectMeta { name?: string; finalizers?: string[] }

function discoveryPath(groupVersion: string): string {
  return groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
}


interface RawNamespace {
  metadata?: { name?: string; uid?: string; deletionTimestamp?: string };
  spec?: { finalizers?: string[] };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

function namespaceInfo(ns: RawNamespace): NamespaceInfo {
  const info: NamespaceInfo = {
    name: ns.metadata?.name ?? '',
    uid: ns.metadata?.uid ?? '',
    phase: ns.status?.phase ?? 'Active',
    conditions: (ns.status?.conditions ?? []).map((c) => {
      const out: NamespaceInfo['conditions'][number] = { type: c.type, status: c.status };
      if (c.reason) out.reason = c.reason;
      if (c.message) out.message = c.message;
      return out;
    }),
    finalizers: ns.spec?.finalizers ?? [],
  };
  if (typeof ns.metadata?.deletionTimestamp === 'string' && ns.metadata.deletionTimestamp) info.deletionTimestamp = ns.metadata.deletionTimestamp;
  return info;
}

const enc = encodeURIComponent;
type Query = Record<string, string | number | boolean | undefined>;
/** `body` is sent as JSON; `contentType` says which (default application/json; a PATCH names its patch type). */
interface SendOptions {
  body?: unknown;
  accept?: string;
  contentType?: string;
  signal: AbortSignal;
  /** its connection does not keep the process alive (a background watch) */
  unref?: boolean;
}

export async function openKube(opts: OpenKubeOptions): Promise<Kube> {
  const loaded = loadKubeconfig(opts);
  const { target } = loaded;
  const errCtx: ErrorContext = { server: target.server, context: target.context, ...(target.user ? { user: target.user } : {}) };
  const plain = plainCredentials(loaded.cluster, loaded.user);
  const exec = plain ? execSource(loaded, opts.env) : null;
  const requestOptions = plain ? plainOptions(loaded, exec) : clientNodeOptions(loaded);
  const transport = makeTransport(opts.transport);
  const base = target.server.replace(/\/+$/, '');
  const ua = opts.userAgent;
  /** the API server answered a request of this process (any status): a later refusal is a restart */
  let answered = false;

  function urlOf(urlPath: string, query: Query): URL {
    const url = new URL(base + urlPath);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    return url;
  }

  /**
   * Starts one request; `onResponse` gets the response once its headers are in. A failure before
   * that (refused, reset, TLS, the signal) rejects with Node's error (its `code`, or AbortError).
   */
  async function start(method: string, url: URL, o: SendOptions, onResponse: (res: http.IncomingMessage) => void, onError: (e: unknown) => void): Promise<ExecCredential | undefined> {
    const { options: ro, exec: usedExec } = await requestOptions(o.signal);
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const headers: http.OutgoingHttpHeaders = {
      ...(ro.headers as http.OutgoingHttpHeaders | undefined),
      'User-Agent': ua,
      Accept: o.accept ?? 'application/json',
      ...(payload !== undefined ? { 'Content-Type': o.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
    };
    // a proxy's agent (client-node) as given; else this process's pool for the server
    const agent = ro.agent ?? transport.agentFor(url);
    const req = (url.protocol === 'http:' ? http : https).request(url, { ...ro, agent, method, headers, signal: o.signal }, (res) => {
      answered = true;
      onResponse(res);
    });
    req.on('error', onError);
    if (o.unref) req.on('socket', (sock) => sock.unref());
    req.end(payload);
    return usedExec;
  }

  /**
   * One request to completion: the parsed JSON of a 2xx answer, else an ApiStatusError. A 401 on
   * an exec plugin's credential fetches a new one and sends the request once more.
   */
  async function send<T>(method: string, urlPath: string, query: Query, o: SendOptions): Promise<T> {
    let used: ExecCredential | undefined;
    try {
      return await sendOnce<T>(method, urlPath, query, o, (c) => { used = c; });
    } catch (e) {
      if (!(exec && used && e instanceof ApiStatusError && e.code === 401)) throw e;
      exec.invalidate(used);
      return sendOnce<T>(method, urlPath, query, o, () => undefined);
    }
  }

  function sendOnce<T>(method: string, urlPath: string, query: Query, o: SendOptions, usedExec: (c: ExecCredential | undefined) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      start(method, urlOf(urlPath, query), o, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('aborted', () => reject(Object.assign(new Error('the API server closed the connection mid-answer'), { code: 'ECONNRESET' })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 400 || code < 200) return reject(new ApiStatusError(code, text, res.headers));
          try {
            resolve((text === '' ? {} : JSON.parse(text)) as T);
          } catch {
            reject(new OperationError(`${method} ${urlPath}: the API server ${target.server} answered with something that is not JSON: ${text.slice(0, 200)}`));
          }
        });
      }, reject).then(usedExec, reject);
    });
  }

  /**
   * A list read as it arrives (kube-paging.ts's ListStreamParser): each item to `onItem`, the
   * list's other top-level fields (metadata) returned. For lists too large to hold whole.
   */
  function sendStreamed(urlPath: string, query: Query, o: SendOptions, onItem: (item: unknown) => void): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      start('GET', urlOf(urlPath, query), o, (res) => {
        const code = res.statusCode ?? 0;
        res.setEncoding('utf8');
        if (code >= 400 || code < 200) {
          let text = '';
          res.on('data', (d: string) => { text += d; });
          res.on('end', () => reject(new ApiStatusError(code, text, res.headers)));
          res.on('error', reject);
          return;
        }
        const parser = new ListStreamParser(onItem);
        res.on('data', (d: string) => {
          try {
            parser.push(d);
          } catch (e) {
            res.destroy();
            reject(new OperationError(`GET ${urlPath}: the API server ${target.server} answered with a list that is not JSON: ${errorMessage(e)}`));
          }
        });
        res.on('error', reject);
        res.on('aborted', () => reject(Object.assign(new Error('the API server closed the connection mid-answer'), { code: 'ECONNRESET' })));
        res.on('end', () => resolve(parser.fields));
      }, reject).catch(reject);
    });
  }

  function requestSignal(signal: AbortSignal | undefined): { signal: AbortSignal; timeout: AbortSignal } {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    if (!signal) return { signal: timeout, timeout };
    if (typeof AbortSignal.any === 'function') return { signal: AbortSignal.any([signal, timeout]), timeout };
    // Node < 20.3: no AbortSignal.any
    const both = new AbortController();
    const stop = (s: AbortSignal) => () => both.abort(s.reason);
    signal.addEventListener('abort', stop(signal), { once: true });
    timeout.addEventListener('abort', stop(timeout), { once: true });
    return { signal: both.signal, timeout };
  }

  const retryPolicy = opts.retry?.policy ?? KUBE_RETRY;
  // counting a namespace's objects (the plan, a timeout's diagnosis) reports a failing group
  // instead of failing: an aggregated API that is down (metrics.k8s.io) gets a short try only
  const diagnosisRetry: RetryPolicy = { ...retryPolicy, tries: Math.min(retryPolicy.tries, 3) };
  /**
   * One request, tried again on transient faults (RETRY_STATUS, RETRY_NETWORK_CODES, no answer)
   * as KUBE_RETRY says, within the caller's signal. Every call custctl makes is idempotent: reads,
   * lists, and deletes whose 404 the caller counts as done. 404 goes to the caller untranslated.
   */
  async function call<T>(op: Op, signal: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<T>, seen?: { tries: number }): Promise<T> {
    signal?.throwIfAborted();
    try {
      return await withRetries(async (tryNo) => {
        if (seen) seen.tries = tryNo;
        const rs = requestSignal(signal);
        try {
          return await raceSignal(fn(rs.signal), signal);
        } catch (e) {
          if (!signal?.aborted && (rs.timeout.aborted || isAbortError(e))) throw new RequestTimeout(errorMessage(e));
          throw e;
        }
      }, {
        policy: op.retry ?? retryPolicy,
        classify: (e) => requestVerdict(e, answered),
        signal,
        ...(opts.retry?.sleep ? { sleep: opts.retry.sleep } : {}),
        onRetry: (ev) => opts.onRetry?.({ ...ev, op: `${op.verb} ${op.what}` }),
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (isNotFound(e)) throw e;
      if (e instanceof RequestTimeout) {
        throw new OperationError(`${op.verb} ${op.what}: the API server ${target.server} (context ${target.context}) did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`);
      }
      throw translateError(e, op, errCtx);
    }
  }

  /** `call`, with 404 answered by `notFound`. */
  async function callOr<T, N>(op: Op, signal: AbortSignal | undefined, notFound: N, fn: (s: AbortSignal) => Promise<T>, seen?: { tries: number }): Promise<T | N> {
    try {
      return await call(op, signal, fn, seen);
    } catch (e) {
      if (isNotFound(e)) return notFound;
      throw e;
    }
  }

  /** A GET of any path (discovery, any resource's list), `accept` as given. */
  async function rawGet(urlPath: string, query: Query, accept: string, signal: AbortSignal | undefined, op: Op): Promise<unknown> {
    return call(op, signal, (s) => send('GET', urlPath, query, { accept, signal: s }));
  }

  /** Any method on any path; a body is sent as JSON. */
  async function rawRequest(method: string, urlPath: string, query: Query, accept: string, body: unknown, signal: AbortSignal | undefined, op: Op): Promise<unknown> {
    return call(op, signal, (s) => send(method, urlPath, query, { accept, signal: s, ...(body !== undefined ? { body } : {}) }));
  }

  async function serverVersion(signal?: AbortSignal): Promise<string> {
    const v = (await rawGet('/version', {}, 'application/json', signal, { verb: 'get', what: 'the server version (/version)' })) as { gitVersion?: string };
    return v.gitVersion ?? 'unknown';
  }

  async function accessReview(checks: readonly AccessCheck[], signal?: AbortSignal): Promise<AccessAnswer[]> {
    interface Review { status?: { allowed?: boolean; reason?: string; evaluationError?: string } }
    return runPool([...checks], PARALLEL, async (c) => {
      const body = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: { resourceAttributes: { verb: c.verb, group: c.group, resource: c.resource, ...(c.namespace ? { namespace: c.namespace } : {}), ...(c.name ? { name: c.name } : {}) } },
      };
      // a create that changes nothing (a review is answered, not stored): safe to send again
      const r = await call({ verb: 'create', what: 'selfsubjectaccessreviews.authorization.k8s.io' }, signal,
        (s) => send<Review>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {}, { body, signal: s }));
      const reason = r.status?.reason || r.status?.evaluationError;
      return { ...c, allowed: r.status?.allowed === true, ...(reason ? { reason } : {}) };
    });
  }

  async function getNamespace(name: string, signal?: AbortSignal): Promise<NamespaceInfo | null> {
    const ns = await callOr({ verb: 'get', what: `namespace ${name}` }, signal, null, (s) => send<RawNamespace>('GET', `/api/v1/namespaces/${enc(name)}`, {}, { signal: s }));
    return ns ? namespaceInfo(ns) : null;
  }

  async function deleteNamespace(name: string, uid: string, signal?: AbortSignal): Promise<'deleted' | 'not-found'> {
    const op = { verb: 'delete', what: `namespace ${name}` };
    try {
      const body = { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid }, propagationPolicy: 'Background' };
      const r = await callOr(op, signal, 'not-found' as const, (s) => send('DELETE', `/api/v1/namespaces/${enc(name)}`, {}, { body, signal: s }));
      return r === 'not-found' ? r : 'deleted';
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      // 409: either the uid precondition failed (the namespace was recreated), or the namespace
      // is already terminating ("the system is ensuring all content is removed"). Look.
      const now = await getNamespace(name, signal);
      if (!now) return 'not-found';
      if (now.uid !== uid) {
        throw new ConflictError(`namespace ${name} was recreated (uid changed from ${uid} to ${now.uid}): refusing to delete the new one`, [
          'the customer was probably redeployed; check its row and start a new deletion if it should go',
        ]);
      }
      if (now.deletionTimestamp) return 'deleted';
      throw e;
    }
  }

  async function hastenNamespaceDeletion(name: string, signal?: AbortSignal): Promise<void> {
    const body = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' };
    await Promise.allSettled(['pods', 'persistentvolumeclaims'].map((resource) =>
      // one try: the namespace controller does it anyway
      call({ verb: 'deletecollection', what: `${resource} in namespace ${name}`, retry: { ...retryPolicy, tries: 1 } }, signal,
        (s) => send('DELETE', `/api/v1/namespaces/${enc(name)}/${resource}`, {}, { body, signal: s }))));
  }

  /**
   * One watch request: `onEvent` for each event line, `onDone` once when it ends (null: the server
   * closed it; else why). Resolves true once the server answered 200 (the watch is running).
   */
  function watchOnce(urlPath: string, query: Query, signal: AbortSignal, onEvent: (type: string, object: unknown) => void, onDone: (err: unknown) => void, o: { accept?: string; unref?: boolean } = {}): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      start('GET', urlOf(urlPath, query), { signal, ...o }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          onDone(Object.assign(new Error(`HTTP ${res.statusCode ?? 0}`), { statusCode: res.statusCode ?? 0 }));
          resolve(false);
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i).trim();
            buf = buf.slice(i + 1);
            if (line === '') continue;
            let ev: { type?: unknown; object?: unknown };
            try {
              ev = JSON.parse(line) as typeof ev;
            } catch { continue; /* not an event line */ }
            onEvent(String(ev.type ?? ''), ev.object);
          }
        });
        res.on('aborted', () => onDone(new Error('watch connection lost')));
        res.on('error', (e) => onDone(e));
        res.on('end', () => onDone(null));
        resolve(true);
      }, (e) => { onDone(e); resolve(false); }).catch((e: unknown) => { onDone(e); resolve(false); });
    });
  }

  function waitNamespaceGone(name: string, timeoutMs: number, signal?: AbortSignal): Promise<'gone' | 'timeout'> {
    signal?.throwIfAborted();
    const deadline = Date.now() + timeoutMs;

    return new Promise((resolve, reject) => {
      let finished = false;
      let controller: AbortController | undefined;
      let reconnects = 0;
      let retryTimer: NodeJS.Timeout | undefined;

      const finish = (settle: () => void): void => {
        if (finished) return;
        finished = true;
        clearTimeout(deadlineTimer);
        clearTimeout(retryTimer);
        signal?.removeEventListener('abort', onAbort);
        controller?.abort(); // closes the watch's connection: nothing keeps the process alive
        settle();
      };
      const onAbort = (): void => finish(() => reject(signal!.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      const deadlineTimer = setTimeout(() => finish(() => resolve('timeout')), Math.max(0, timeoutMs));

      const reconnectLater = (): void => {
        if (finished) return;
        reconnects += 1;
        retryTimer = setTimeout(connect, Math.min(backoffMs(reconnects, WATCH_BACKOFF), Math.max(0, deadline - Date.now())));
      };

      const connect = (): void => {
        if (finished) return;
        const remaining = deadline - Date.now();
        if (remaining <= 0) { finish(() => resolve('timeout')); return; }
        const timeoutSeconds = Math.max(1, Math.min(WATCH_CHUNK_SECONDS, Math.ceil(remaining / 1000)));
        let ended = false;
        const c = new AbortController();
        controller = c;
        const onEvent = (type: string): void => {
          if (type === 'DELETED') finish(() => resolve('gone'));
        };
        const onDone = (err: unknown): void => {
          if (ended || finished) return;
          ended = true;
          const status = typeof err === 'object' && err !== null ? (err as { statusCode?: unknown }).statusCode : undefined;
          if (typeof status === 'number' && status >= 400 && status < 500 && status !== 410 && status !== 429) {
            // the watch's error body is not kept: a GET tells more (and its 403 names the user)
            const e = Object.assign(new Error(`HTTP ${status}`), { code: status, body: '' });
            getNamespace(name, signal).then(
              (ns) => finish(() => (ns ? reject(translateError(e, { verb: 'watch', what: 'namespaces' }, errCtx)) : resolve('gone'))),
              (ge: unknown) => finish(() => reject(ge)),
            );
            return;
          }
          if (err) reconnectLater();
          else connect();
        };
        watchOnce('/api/v1/namespaces', { watch: 'true', fieldSelector: `metadata.name=${name}`, timeoutSeconds, allowWatchBookmarks: 'false' }, c.signal, onEvent, onDone)
          .then(async (running) => {
            if (!running || finished || ended) return;
            // connected: a namespace that went before the watch started shows up only here
            try {
              const ns = await getNamespace(name, signal);
              if (!ns) finish(() => resolve('gone'));
              else reconnects = 0;
            } catch (e) {
              if (finished || signal?.aborted) return;
              // refused outright: waiting longer will not help
              if (isPermanent(e)) finish(() => reject(e));
              // otherwise (a flaky server) the watch's end brings the next GET; the deadline bounds it
            }
          });
      };
      connect();
    });
  }

  /** One page of a list (`limit`, `continue`); a 404 is translated (the path is not served). */
  function fetchPage<T>(op: Op, signal: AbortSignal | undefined, urlPath: string, query: Query, limit: number, accept?: string): (cont: string | undefined) => Promise<ListPage<T>> {
    return (cont) => call(op, signal, (s) => send<ListPage<T>>('GET', urlPath, { ...query, limit, continue: cont }, { signal: s, ...(accept ? { accept } : {}) })).catch((e: unknown) => {
      throw isNotFound(e) ? translateError(e, op, errCtx) : e;
    });
  }
  /** a continue token etcd no longer has (410 Gone, translated by call()) */
  const isExpired = (e: unknown): boolean => e instanceof OperationError && / \(HTTP 410 /.test(e.message);

  /** Every item of a list, page by page (limit PAGE_SIZE, continue). */
  async function listPaged<T>(op: Op, signal: AbortSignal | undefined, urlPath: string, query: Query = {}): Promise<T[]> {
    const out: T[] = [];
    await forEachPage(fetchPage<T>(op, signal, urlPath, query, PAGE_SIZE), (items) => { for (const i of items) out.push(i); }, { isExpired, onRestart: () => { out.length = 0; } });
    return out;
  }

  const RBAC_PATHS: Record<RbacKind, string> = { ClusterRole: `${RBAC_API}/clusterroles`, ClusterRoleBinding: `${RBAC_API}/clusterrolebindings` };
  // ClusterRoles as metadata only: their rules are never read (a binding's roleRef is not metadata)
  const RBAC_ACCEPT: Record<RbacKind, string> = { ClusterRole: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json', ClusterRoleBinding: 'application/json' };
  type RawRbac = RawMeta & { metadata?: { resourceVersion?: string }; roleRef?: { kind: string; name: string } };
  const slim = (kind: RbacKind, o: RawRbac) => slimRbac(kind, o.metadata?.name ?? '', o.metadata?.annotations, kind === 'ClusterRoleBinding' ? o.roleRef : undefined);

  /**
   * One kind, from the API server's watch cache (resourceVersion=0: no etcd read, which is what
   * made 100,000 objects take 20 s), streamed and slimmed item by item: the raw list (tens of MB
   * at that size) never exists whole. The cache may be a few milliseconds behind etcd, as a
   * watch is; the listing's resourceVersion is where the watch resumes.
   */
  async function listRbacKind(kind: RbacKind, signal?: AbortSignal): Promise<RbacListing> {
    const objects: RbacObject[] = [];
    const op = { verb: 'list', what: `${kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}.rbac.authorization.k8s.io` };
    const fields = await call(op, signal, (s) => {
      objects.length = 0; // a retried request starts over
      return sendStreamed(RBAC_PATHS[kind], { resourceVersion: '0' }, { signal: s, accept: RBAC_ACCEPT[kind] }, (o) => objects.push(slim(kind, o as RawRbac)));
    }).catch((e: unknown) => {
      throw isNotFound(e) ? translateError(e, op, errCtx) : e;
    });
    const rv = (fields.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion;
    return { objects, resourceVersion: typeof rv === 'string' && rv !== '' ? rv : undefined };
  }

  function watchRbacKind(kind: RbacKind, resourceVersion: string, signal: AbortSignal, onEvent: (e: RbacWatchEvent) => void): Promise<{ status?: number; error?: unknown } | null> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: { status?: number; error?: unknown } | null): void => { if (!done) { done = true; resolve(r); } };
      const accept = kind === 'ClusterRole' ? 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json' : 'application/json';
      void watchOnce(RBAC_PATHS[kind], { watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: RBAC_WATCH_SECONDS }, signal, (type, object) => {
        const o = (object ?? {}) as RawRbac & { code?: number };
        if (type === 'ERROR') onEvent({ type: 'ERROR', ...(typeof o.code === 'number' ? { code: o.code } : {}) });
        else if (type === 'BOOKMARK') onEvent({ type: 'BOOKMARK', ...(o.metadata?.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {}) });
        else if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') onEvent({ type, object: slim(kind, o), ...(o.metadata?.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {}) });
      }, (err) => {
        const status = typeof err === 'object' && err !== null ? (err as { statusCode?: unknown }).statusCode : undefined;
        finish(err === null ? null : typeof status === 'number' ? { status } : { error: err });
      }, { accept, unref: true }).then((running) => { if (running) onEvent({ type: 'CONNECTED' }); });
    });
  }

  const rbacCache = makeRbacCache({ list: listRbacKind, watch: watchRbacKind });

  /** Every ClusterRole and ClusterRoleBinding, slimmed (one shared listing; see kube-rbac-cache.ts). */
  async function listClusterRbac(signal?: AbortSignal): Promise<RbacObject[]> {
    return (await rbacCache.index(signal)).all();
  }

  async function deleteClusterRbac(kind: RbacKind, name: string, signal?: AbortSignal): Promise<'deleted' | 'not-found'> {
    const what = `${kind === 'ClusterRole' ? 'clusterrole' : 'clusterrolebinding'} ${name}`;
    const seen = { tries: 0 };
    const r = await callOr({ verb: 'delete', what }, signal, 'not-found' as const,
      (s) => send('DELETE', `${RBAC_API}/${kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'}/${enc(name)}`, {}, { signal: s }), seen);
    rbacCache.forget(kind, name); // deleted, or gone: a later read of this process does not show it
    // a 404 on a retry: most likely the try whose answer was lost deleted it
    return r === 'not-found' && seen.tries <= 1 ? r : 'deleted';
  }

  async function listPvcs(namespace: string, signal?: AbortSignal): Promise<PvcInfo[]> {
    const pvcs = await listPaged<RawPvc>({ verb: 'list', what: `persistentvolumeclaims in namespace ${namespace}` }, signal, `/api/v1/namespaces/${enc(namespace)}/persistentvolumeclaims`);
    const policies = new Map<string, string>();
    if (pvcs.some((p) => p.spec?.volumeName)) {
      const pvs = await listPaged<{ metadata?: { name?: string }; spec?: { persistentVolumeReclaimPolicy?: string } }>({ verb: 'list', what: 'persistentvolumes' }, signal, '/api/v1/persistentvolumes');
      for (const pv of pvs) {
        if (pv.metadata?.name && pv.spec?.persistentVolumeReclaimPolicy) policies.set(pv.metadata.name, pv.spec.persistentVolumeReclaimPolicy);
      }
    }
    return pvcs.map((p) => {
      const info: PvcInfo = { name: p.metadata?.name ?? '', phase: p.status?.phase ?? 'Pending' };
      const storage = p.status?.capacity?.storage ?? p.spec?.resources?.requests?.storage;
      if (storage !== undefined) info.storage = String(storage);
      if (p.spec?.volumeName) {
        info.volumeName = p.spec.volumeName;
        const policy = policies.get(p.spec.volumeName);
        if (policy) info.reclaimPolicy = policy;
      }
      return info;
    });
  }

  const discoveryCache = new Map<string, Promise<ApiResource[]>>();
  function discover(groupVersion: string, signal: AbortSignal | undefined, retry?: RetryPolicy): Promise<ApiResource[]> {
    let p = discoveryCache.get(groupVersion);
    if (!p) {
      p = rawGet(discoveryPath(groupVersion), {}, 'application/json', signal, { verb: 'discover', what: groupVersion, ...(retry ? { retry } : {}) })
        .then((r) => ((r as { resources?: ApiResource[] }).resources ?? []));
      discoveryCache.set(groupVersion, p);
      p.catch(() => discoveryCache.delete(groupVersion));
    }
    return p;
  }

  /** the API groups, read again after GROUPS_FRESH_MS (a CRD added since shows up then) */
  let groupsRead: { at: number; value: Promise<string[]> } | null = null;
  function preferredGroupVersions(signal: AbortSignal | undefined): Promise<string[]> {
    if (groupsRead && Date.now() - groupsRead.at < GROUPS_FRESH_MS) return groupsRead.value;
    const value = readGroupVersions(signal);
    groupsRead = { at: Date.now(), value };
    value.catch(() => { if (groupsRead?.value === value) groupsRead = null; });
    return value;
  }

  async function readGroupVersions(signal: AbortSignal | undefined): Promise<string[]> {
    const groups = await rawGet('/apis', {}, 'application/json', signal, { verb: 'discover', what: 'API groups' }) as {
      groups?: Array<{ name: string; preferredVersion?: { groupVersion: string }; versions?: Array<{ groupVersion: string }> }>;
    };
    const out = ['v1'];
    for (const g of groups.groups ?? []) {
      const gv = g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion;
      if (gv) out.push(gv);
    }
    return out;
  }

  /** whether this API server counts the rest of a metadata-only list (remainingItemCount); learned on the first that does not */
  let metadataListsCount = true;

  async function countNamespaceObjects(namespace: string, signal?: AbortSignal, opts: CountOptions = {}): Promise<NamespacedObjectCount[]> {
    const withFinalizers = opts.finalizers ?? true;
    const gvs = await preferredGroupVersions(signal);
    const failed: NamespacedObjectCount[] = [];
    const targets: Array<{ gv: string; resource: ApiResource; label: string }> = [];
    const perGv = await runPool(gvs, PARALLEL, async (gv) => {
      try {
        return { gv, resources: await discover(gv, signal, diagnosisRetry) };
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        failed.push({ resource: `${gv} (discovery failed: ${shortReason(e)})`, kind: '', count: 0, finalizers: [] });
        return { gv, resources: [] as ApiResource[] };
      }
    });
    const seen = new Set<string>();
    // extensions/v1beta1 serves the same Ingresses (etc.) as their real groups on old servers: count once
    const ordered = [...perGv.filter((x) => groupOf(x.gv).group !== 'extensions'), ...perGv.filter((x) => groupOf(x.gv).group === 'extensions')];
    for (const { gv, resources } of ordered) {
      const group = groupOf(gv).group;
      for (const r of resources) {
        if (!r.namespaced || r.name.includes('/') || r.name === 'events' || !r.verbs?.includes('list')) continue;
        if (group === 'extensions' && seen.has(`${r.name}/${r.kind}`)) continue;
        seen.add(`${r.name}/${r.kind}`);
        const label = group ? `${r.name}.${group}` : r.name;
        if (!opts.only || opts.only.has(label)) targets.push({ gv, resource: r, label });
      }
    }
    const accept = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
    const counted = await runPool(targets, PARALLEL, async ({ gv, resource, label }): Promise<NamespacedObjectCount> => {
      const base = `${discoveryPath(gv)}/namespaces/${encodeURIComponent(namespace)}/${resource.name}`;
      let count = 0;
      const finalizers = new Set<string>();
      let cont: string | undefined;
      const what = { verb: 'list', what: `${label} in namespace ${namespace}`, retry: diagnosisRetry };
      try {
        if (!withFinalizers) {
          // one item and the server's count of the rest: no list of every object. Some API servers
          // (1.20) leave remainingItemCount out of a PartialObjectMetadataList but not of a full
          // list: asked again as JSON once, and as JSON from then on in this process
          const firstAs = async (a: string) => countFromFirstPage(await rawGet(base, { limit: 1 }, a, signal, what) as ListPage<unknown>);
          let n = metadataListsCount ? await firstAs(accept) : null;
          if (n === null) {
            n = await firstAs('application/json');
            if (n !== null && metadataListsCount) metadataListsCount = false;
          }
          if (n !== null) return { resource: label, kind: resource.kind, count: n, finalizers: [] };
        }
        do {
          const r = await rawGet(base, { limit: PAGE_SIZE, continue: cont }, accept, signal, { verb: 'list', what: `${label} in namespace ${namespace}`, retry: diagnosisRetry }) as {
            items?: Array<{ metadata?: ObjectMeta }>; metadata?: { continue?: string };
          };
          for (const item of r.items ?? []) {
            count++;
            for (const f of item.metadata?.finalizers ?? []) finalizers.add(f);
          }
          cont = r.metadata?.continue || undefined;
        } while (cont);
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        if (isNotFound(e)) return { resource: label, kind: resource.kind, count: 0, finalizers: [] };
        return { resource: `${label} (list failed: ${shortReason(e)})`, kind: resource.kind, count: 0, finalizers: [] };
      }
      return { resource: label, kind: resource.kind, count, finalizers: [...finalizers].sort() };
    });
    return [
      ...counted.filter((c) => c.count > 0 || c.resource.includes('(list failed')),
      ...failed,
    ];
  }

  /**
   * Every object of every listable namespaced resource type in the namespace (CRDs included, events
   * left out), as full JSON with apiVersion and kind set. A type that fails to list fails the call:
   * a backup must not silently miss objects.
   */
  async function exportNamespaceObjects(namespace: string, signal?: AbortSignal): Promise<KubeObject[]> {
    const gvs = await preferredGroupVersions(signal);
    const perGv = await runPool(gvs, PARALLEL, async (gv) => ({ gv, resources: await discover(gv, signal) }));
    const seen = new Set<string>();
    const targets: Array<{ gv: string; resource: ApiResource }> = [];
    const ordered = [...perGv.filter((x) => groupOf(x.gv).group !== 'extensions'), ...perGv.filter((x) => groupOf(x.gv).group === 'extensions')];
    for (const { gv, resources } of ordered) {
      for (const r of resources) {
        if (!r.namespaced || r.name.includes('/') || r.name === 'events' || !r.verbs?.includes('list')) continue;
        if (seen.has(r.kind)) continue; // the same kind served by two groups (extensions/v1beta1, events.k8s.io): once
        seen.add(r.kind);
        targets.push({ gv, resource: r });
      }
    }
    const lists = await runPool(targets, PARALLEL, async ({ gv, resource }) => {
      const base = `${discoveryPath(gv)}/namespaces/${encodeURIComponent(namespace)}/${resource.name}`;
      const items: KubeObject[] = [];
      let cont: string | undefined;
      do {
        const r = await rawGet(base, { limit: PAGE_SIZE, continue: cont }, 'application/json', signal, { verb: 'list', what: `${resource.name} in namespace ${namespace}` }) as {
          items?: KubeObject[]; metadata?: { continue?: string };
        };
        for (const item of r.items ?? []) items.push({ ...item, apiVersion: gv, kind: resource.kind });
        cont = r.metadata?.continue || undefined;
      } while (cont);
      return items;
    });
    return lists.flat();
  }

  async function readClusterObject(apiVersion: string, kind: string, name: string, signal?: AbortSignal): Promise<KubeObject | null> {
    const r = await resourceOf(apiVersion, kind, signal);
    try {
      const o = await rawGet(`${discoveryPath(apiVersion)}/${r.name}/${encodeURIComponent(name)}`, {}, 'application/json', signal, { verb: 'get', what: `${r.name} ${name}` }) as KubeObject;
      return { ...o, apiVersion, kind };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async function resourceOf(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ApiResource> {
    const r = (await discover(apiVersion, signal)).find((x) => x.kind === kind && !x.name.includes('/'));
    if (!r) throw new OperationError(`the API server ${target.server} does not serve ${apiVersion} ${kind}`, [], { permanent: true });
    return r;
  }

  /** POST the object; 'exists' on 409 AlreadyExists (a retry whose first answer was lost counts as created). */
  async function createObject(o: KubeObject, signal?: AbortSignal): Promise<'created' | 'exists'> {
    const r = await resourceOf(o.apiVersion, o.kind, signal);
    const ns = r.namespaced ? o.metadata.namespace : undefined;
    if (r.namespaced && !ns) throw new OperationError(`${o.kind} ${o.metadata.name} has no namespace`);
    const path = `${discoveryPath(o.apiVersion)}${ns ? `/namespaces/${encodeURIComponent(ns)}` : ''}/${r.name}`;
    try {
      await rawRequest('POST', path, {}, 'application/json', o, signal, { verb: 'create', what: `${r.name} ${ns ? `${ns}/` : ''}${o.metadata.name}` });
      return 'created';
    } catch (e) {
      if (e instanceof ConflictError) return 'exists';
      throw e;
    }
  }

  async function isClusterScoped(apiVersion: string, kind: string, signal?: AbortSignal): Promise<boolean> {
    const known = wellKnownScope(apiVersion, kind);
    if (known !== undefined) return known;
    let resources: ApiResource[];
    try {
      resources = await discover(apiVersion, signal);
    } catch (e) {
      // the API does not serve that group/version: its kind cannot be placed, so it is treated
      // as cluster-scoped (the conservative answer: the plan shows it, an operator decides)
      if (isNotFound(e)) return true;
      throw e;
    }
    const r = resources.find((x) => x.kind === kind && !x.name.includes('/'));
    return r ? !r.namespaced : true;
  }

  function listHelmReleaseRecords(namespace: string, resource: RecordResource, signal?: AbortSignal): Promise<ReleaseSecret[]> {
    return listPaged<ReleaseSecret>({ verb: 'list', what: `Helm release records (${resource}) in namespace ${namespace}` }, signal, `/api/v1/namespaces/${enc(namespace)}/${resource}`, { labelSelector: RELEASE_SELECTOR });
  }

  async function listNamespaceNames(signal?: AbortSignal): Promise<string[]> {
    const items = await listPaged<RawMeta>({ verb: 'list', what: 'namespaces' }, signal, '/api/v1/namespaces');
    return items.map((n) => n.metadata?.name ?? '').filter((n) => n !== '');
  }

  /** Where each workload kind lives in the API. */
  // CronJobs are batch/v1 from Kubernetes 1.21, batch/v1beta1 before (and on older servers only)
  const WORKLOAD_PATHS: Record<WorkloadKind, string> = { Deployment: 'apis/apps/v1/namespaces/%/deployments', StatefulSet: 'apis/apps/v1/namespaces/%/statefulsets', CronJob: 'apis/batch/v1/namespaces/%/cronjobs' };
  const workloadPath = (kind: WorkloadKind, namespace: string) => `/${WORKLOAD_PATHS[kind].replace('%', encodeURIComponent(namespace))}`;

  async function listWorkloadsOf(kind: WorkloadKind, namespace: string, signal?: AbortSignal): Promise<unknown> {
    const op = { verb: 'list', what: `${kind}s in namespace ${namespace}` };
    try {
      return await rawGet(workloadPath(kind, namespace), {}, 'application/json', signal, op);
    } catch (e) {
      if (!isNotFound(e) || kind !== 'CronJob' || WORKLOAD_PATHS.CronJob.includes('v1beta1')) throw e;
      WORKLOAD_PATHS.CronJob = 'apis/batch/v1beta1/namespaces/%/cronjobs';
      return callOr(op, signal, { items: [] }, (s) => send('GET', workloadPath(kind, namespace), {}, { signal: s }));
    }
  }

  async function listWorkloads(namespace: string, signal?: AbortSignal): Promise<Workload[]> {
    const out: Workload[] = [];
    for (const kind of ['Deployment', 'StatefulSet', 'CronJob'] as const) {
      const list = (await listWorkloadsOf(kind, namespace, signal)) as {
        items?: Array<{ metadata?: { name?: string; annotations?: Record<string, string>; resourceVersion?: string }; spec?: { replicas?: number; suspend?: boolean } }>;
      };
      for (const item of list.items ?? []) {
        const w: Workload = { kind, name: item.metadata?.name ?? '', annotations: item.metadata?.annotations ?? {}, resourceVersion: item.metadata?.resourceVersion ?? '' };
        if (kind === 'CronJob') w.suspend = item.spec?.suspend ?? false;
        else w.replicas = item.spec?.replicas ?? 1;
        out.push(w);
      }
    }
    return out;
  }

  async function patchWorkload(namespace: string, w: Pick<Workload, 'kind' | 'name' | 'resourceVersion'>, patch: Record<string, unknown>, signal?: AbortSignal): Promise<'patched' | 'not-found'> {
    const meta = (patch.metadata ?? {}) as Record<string, unknown>;
    // the resourceVersion makes the patch a compare-and-set: a concurrent change answers 409 (ConflictError)
    const body = { ...patch, metadata: { ...meta, resourceVersion: w.resourceVersion } };
    const op = { verb: 'patch', what: `${w.kind} ${namespace}/${w.name}` };
    const r = await callOr(op, signal, 'not-found' as const, (s) =>
      send('PATCH', `${workloadPath(w.kind, namespace)}/${enc(w.name)}`, {}, { body, contentType: 'application/merge-patch+json', signal: s }));
    return r === 'not-found' ? r : 'patched';
  }

  /** snapshot.storage.k8s.io/v1 (the external-snapshotter CRDs): three GETs, a list and a create. */
  const SNAP = `/apis/${SNAPSHOT_API}`;
  interface RawSnapshot {
    metadata?: { name?: string; labels?: Record<string, string> };
    spec?: { source?: { persistentVolumeClaimName?: string }; volumeSnapshotClassName?: string };
    status?: { readyToUse?: boolean; boundVolumeSnapshotContentName?: string; restoreSize?: string | number; error?: { message?: string } };
  }
  const snapshotInfo = (v: RawSnapshot): VolumeSnapshotInfo => {
    const info: VolumeSnapshotInfo = {
      name: v.metadata?.name ?? '', pvc: v.spec?.source?.persistentVolumeClaimName ?? '', labels: v.metadata?.labels ?? {},
      readyToUse: v.status?.readyToUse === true,
    };
    if (v.spec?.volumeSnapshotClassName) info.className = v.spec.volumeSnapshotClassName;
    if (v.status?.boundVolumeSnapshotContentName) info.boundContentName = v.status.boundVolumeSnapshotContentName;
    if (v.status?.restoreSize !== undefined && v.status.restoreSize !== null) info.restoreSize = String(v.status.restoreSize);
    if (v.status?.error) info.error = v.status.error.message ?? 'error (no message)';
    return info;
  };
  const volumeSnapshots: VolumeSnapshotApi = {
    async served(signal) {
      try {
        const rs = await discover(SNAPSHOT_API, signal);
        return ['volumesnapshots', 'volumesnapshotcontents', 'volumesnapshotclasses'].every((n) => rs.some((r) => r.name === n));
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
    async getClass(name, signal) {
      const c = await callOr({ verb: 'get', what: `volumesnapshotclass ${name}` }, signal, null, (s) =>
        send<{ metadata?: { name?: string }; driver?: string; deletionPolicy?: string }>('GET', `${SNAP}/volumesnapshotclasses/${enc(name)}`, {}, { signal: s }));
      return c ? { name: c.metadata?.name ?? name, driver: c.driver ?? '', deletionPolicy: c.deletionPolicy ?? '' } : null;
    },
    async list(namespace, labelSelector, signal) {
      const op = { verb: 'list', what: `volumesnapshots in namespace ${namespace}` };
      const out: VolumeSnapshotInfo[] = [];
      let cont: string | undefined;
      do {
        const r = await callOr(op, signal, { items: [] as RawSnapshot[] }, (s) => send<{ items?: RawSnapshot[]; metadata?: { continue?: string } }>('GET',
          `${SNAP}/namespaces/${enc(namespace)}/volumesnapshots`, { labelSelector, limit: PAGE_SIZE, continue: cont }, { signal: s }));
        out.push(...(r.items ?? []).map(snapshotInfo));
        cont = (r as { metadata?: { continue?: string } }).metadata?.continue || undefined;
      } while (cont);
      return out;
    },
    async create(namespace, r, signal) {
      const body = {
        apiVersion: SNAPSHOT_API, kind: 'VolumeSnapshot',
        metadata: { name: r.name, namespace, labels: r.labels },
        spec: { volumeSnapshotClassName: r.className, source: { persistentVolumeClaimName: r.pvc } },
      };
      try {
        // a retry whose first answer was lost finds it there: 409, counted as exists (the caller re-reads it)
        await call({ verb: 'create', what: `volumesnapshot ${namespace}/${r.name}` }, signal, (s) => send('POST', `${SNAP}/namespaces/${enc(namespace)}/volumesnapshots`, {}, { body, signal: s }));
        return 'created';
      } catch (e) {
        if (e instanceof ConflictError) return 'exists';
        throw isNotFound(e) ? translateError(e, { verb: 'create', what: `volumesnapshot ${namespace}/${r.name}` }, errCtx) : e;
      }
    },
    async getContent(name, signal) {
      const c = await callOr({ verb: 'get', what: `volumesnapshotcontent ${name}` }, signal, null, (s) => send<{
        metadata?: { name?: string };
        spec?: { deletionPolicy?: string; driver?: string; volumeSnapshotRef?: { namespace?: string; name?: string } };
        status?: { snapshotHandle?: string; restoreSize?: number; readyToUse?: boolean; error?: { message?: string } };
      }>('GET', `${SNAP}/volumesnapshotcontents/${enc(name)}`, {}, { signal: s }));
      if (!c) return null;
      const info: VolumeSnapshotContentInfo = {
        name: c.metadata?.name ?? name, deletionPolicy: c.spec?.deletionPolicy ?? '', driver: c.spec?.driver ?? '',
        snapshotRef: { ...(c.spec?.volumeSnapshotRef?.namespace ? { namespace: c.spec.volumeSnapshotRef.namespace } : {}), ...(c.spec?.volumeSnapshotRef?.name ? { name: c.spec.volumeSnapshotRef.name } : {}) },
        readyToUse: c.status?.readyToUse === true,
      };
      if (c.status?.snapshotHandle) info.snapshotHandle = c.status.snapshotHandle;
      if (typeof c.status?.restoreSize === 'number') info.restoreSizeBytes = c.status.restoreSize;
      if (c.status?.error) info.error = c.status.error.message ?? 'error (no message)';
      return info;
    },
  };

  async function pluginToken(signal?: AbortSignal): Promise<string | null> {
    return exec ? (await exec.get(signal)).token ?? null : null;
  }

  return {
    target,
    pluginToken,
    answered: () => answered,
    listWorkloads,
    volumeSnapshots,
    patchWorkload,
    getNamespace,
    deleteNamespace,
    hastenNamespaceDeletion,
    waitNamespaceGone,
    listClusterRbac,
    clusterRbac: (signal) => rbacCache.index(signal),
    followClusterRbac: () => rbacCache.follow(),
    close: () => { rbacCache.close(); transport.close(); },
    deleteClusterRbac,
    listPvcs,
    countNamespaceObjects,
    isClusterScoped,
    listNamespaceNames,
    listHelmReleaseRecords,
    exportNamespaceObjects,
    readClusterObject,
    createObject,
    serverVersion,
    accessReview,
  };
}
