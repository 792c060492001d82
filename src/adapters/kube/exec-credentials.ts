/**
 * Credentials from a kubeconfig `exec` plugin (EKS's `aws eks get-token`, GKE's
 * `gke-gcloud-auth-plugin`, kubelogin, …), fetched once per process and per expiry.
 *
 * Such a plugin takes 0.5–1 s a run. client-node ran it again for every request whose cached
 * credential had no `expirationTimestamp` (and for each of several requests in flight at once);
 * client-go runs it once per process, which for helm meant once per helm process. Here the
 * protocol (client.authentication.k8s.io v1 and v1beta1, as client-go implements it) is run by
 * custctl itself:
 *
 * - one run answers every request until `status.expirationTimestamp` (a little before it), or for
 *   the life of the process when the plugin gives none; requests in flight at once share one run;
 * - a 401 from the API server refreshes it once (the plugin's token was revoked or rotated);
 * - the plugin gets the caller's environment, the kubeconfig's `env` entries and
 *   KUBERNETES_EXEC_INFO (with the cluster when `provideClusterInfo` is set), no stdin (custctl
 *   runs unattended: `interactiveMode: Always` is refused with the reason);
 * - a relative `command` with a `/` is resolved against the kubeconfig's directory (client-go's rule).
 *
 * The token it returns is what helm is given too (HELM_KUBETOKEN, src/adapters/helm-cli.ts), so a
 * helm process does not run the plugin again.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { OperationError, UsageError } from '../../errors.js';

export interface ExecConfig {
  apiVersion?: string;
  command?: string;
  args?: string[];
  env?: Array<{ name: string; value: string }> | null;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: string;
}

export interface ExecCredential {
  token?: string;
  /** PEM */
  clientCertificateData?: string;
  clientKeyData?: string;
  /** ms since the epoch; undefined: valid until the API server says otherwise (401) */
  expiresAt?: number;
}

export interface ExecCredentialSource {
  /** The current credential: cached, or the plugin run (once for every caller waiting at that moment). */
  get(signal?: AbortSignal): Promise<ExecCredential>;
  /** The API server refused `used` (401): the next get() runs the plugin again (once, however many callers saw the 401). */
  invalidate(used: ExecCredential): void;
  /** How many times the plugin ran (tests, the bench). */
  readonly runs: number;
}

export interface ExecSourceOptions {
  exec: ExecConfig;
  /** the kubeconfig file the user entry came from: a relative command is resolved against its directory */
  kubeconfigFile: string;
  /** `--context`'s cluster entry, sent in KUBERNETES_EXEC_INFO when provideClusterInfo is set */
  cluster: Record<string, unknown>;
  env: Record<string, string | undefined>;
  now?: () => number;
  /** a plugin that has not answered after this long is stopped (ms) */
  timeoutMs?: number;
}

const API_VERSIONS = new Set(['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']);
/** A credential this close to its expiry is fetched again (client-go refreshes at expiry; a request in flight must not carry an expired token). */
const EXPIRY_MARGIN_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 60_000;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `exec` as the kubeconfig writes it, checked; null when the user entry has none. */
export function execConfigOf(user: Record<string, unknown>): ExecConfig | null {
  const e = user.exec;
  if (!isObj(e)) return null;
  const out: ExecConfig = {};
  if (typeof e.apiVersion === 'string') out.apiVersion = e.apiVersion;
  if (typeof e.command === 'string') out.command = e.command;
  if (Array.isArray(e.args)) out.args = e.args.map(String);
  if (Array.isArray(e.env)) out.env = e.env.filter(isObj).map((x) => ({ name: String(x.name ?? ''), value: String(x.value ?? '') }));
  if (typeof e.installHint === 'string') out.installHint = e.installHint;
  if (typeof e.provideClusterInfo === 'boolean') out.provideClusterInfo = e.provideClusterInfo;
  if (typeof e.interactiveMode === 'string') out.interactiveMode = e.interactiveMode;
  return out;
}

function clusterInfo(cluster: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { server: cluster.server };
  if (typeof cluster['tls-server-name'] === 'string') out['tls-server-name'] = cluster['tls-server-name'];
  if (cluster['insecure-skip-tls-verify'] === true) out['insecure-skip-tls-verify'] = true;
  if (typeof cluster['certificate-authority-data'] === 'string') out['certificate-authority-data'] = cluster['certificate-authority-data'];
  if (typeof cluster['proxy-url'] === 'string') out['proxy-url'] = cluster['proxy-url'];
  const ext = Array.isArray(cluster.extensions) ? cluster.extensions.find((x) => isObj(x) && x.name === 'client.authentication.k8s.io/exec') : undefined;
  if (isObj(ext) && ext.extension !== undefined) out.config = ext.extension;
  return out;
}

/** Parses the plugin's stdout (an ExecCredential) as client-go does. */
export function parseExecCredential(stdout: string, apiVersion: string, what: string): ExecCredential {
  let v: unknown;
  try {
    v = JSON.parse(stdout);
  } catch {
    throw new OperationError(`${what} printed something that is not an ExecCredential (JSON)`, [], { permanent: true });
  }
  if (!isObj(v) || v.kind !== 'ExecCredential') throw new OperationError(`${what} printed JSON that is not an ExecCredential`, [], { permanent: true });
  if (v.apiVersion !== apiVersion) throw new OperationError(`${what} answered with apiVersion ${String(v.apiVersion)}, but the kubeconfig asks for ${apiVersion}`, [], { permanent: true });
  const st = isObj(v.status) ? v.status : {};
  const out: ExecCredential = {};
  if (typeof st.token === 'string' && st.token !== '') out.token = st.token;
  if (typeof st.clientCertificateData === 'string' && st.clientCertificateData !== '') out.clientCertificateData = st.clientCertificateData;
  if (typeof st.clientKeyData === 'string' && st.clientKeyData !== '') out.clientKeyData = st.clientKeyData;
  if (!out.token && !(out.clientCertificateData && out.clientKeyData)) {
    throw new OperationError(`${what} gave neither a token nor a client certificate and key`, [], { permanent: true });
  }
  if (!!out.clientCertificateData !== !!out.clientKeyData) throw new OperationError(`${what} gave a client certificate without its key (or the reverse)`, [], { permanent: true });
  if (typeof st.expirationTimestamp === 'string' && st.expirationTimestamp !== '') {
    const t = Date.parse(st.expirationTimestamp);
    if (!Number.isFinite(t)) throw new OperationError(`${what} gave an expirationTimestamp that is not a time: ${st.expirationTimestamp}`, [], { permanent: true });
    out.expiresAt = t;
  }
  return out;
}

export function makeExecCredentialSource(o: ExecSourceOptions): ExecCredentialSource {
  const e = o.exec;
  const now = o.now ?? Date.now;
  const apiVersion = e.apiVersion ?? '';
  const command = e.command ?? '';
  if (!command) throw new UsageError(`kubeconfig ${o.kubeconfigFile}: the user's exec entry names no command`, ['fix the user entry of the kubeconfig']);
  if (!API_VERSIONS.has(apiVersion)) {
    throw new UsageError(`kubeconfig ${o.kubeconfigFile}: exec apiVersion ${JSON.stringify(apiVersion)} is not supported (client.authentication.k8s.io/v1 or v1beta1)`, ['update the credential plugin entry (client.authentication.k8s.io/v1alpha1 was removed from Kubernetes in 1.24)']);
  }
  if (e.interactiveMode === 'Always') {
    throw new UsageError(`kubeconfig ${o.kubeconfigFile}: the credential plugin ${command} asks for a terminal (interactiveMode: Always), and custctl runs unattended`, ['log in with the plugin first so that it can answer without asking, or use a context whose credentials need no prompt']);
  }
  const file = command.includes('/') && !path.isAbsolute(command) ? path.join(path.dirname(o.kubeconfigFile), command) : command;
  const what = `the credential plugin ${command}`;
  let cached: ExecCredential | null = null;
  let inFlight: Promise<ExecCredential> | null = null;
  let runs = 0;

  const valid = (c: ExecCredential | null): c is ExecCredential => c !== null && (c.expiresAt === undefined || c.expiresAt - EXPIRY_MARGIN_MS > now());

  function run(): Promise<ExecCredential> {
    runs += 1;
    const info = { apiVersion, kind: 'ExecCredential', spec: { interactive: false, ...(e.provideClusterInfo ? { cluster: clusterInfo(o.cluster) } : {}) } };
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v;
    for (const x of e.env ?? []) env[x.name] = x.value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(info);
    return new Promise<ExecCredential>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const child = spawn(file, e.args ?? [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let timedOut = false;
      const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      let spawnError: NodeJS.ErrnoException | undefined;
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (x: NodeJS.ErrnoException) => { spawnError = x; });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        if (timedOut) return reject(new OperationError(`${what} did not answer within ${Math.round((o.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)}s and was stopped`));
        if (spawnError) {
          const hint = spawnError.code === 'ENOENT' && e.installHint ? [e.installHint.trim()] : [];
          return reject(new OperationError(`cannot run ${what}: ${spawnError.code ?? spawnError.message}`, hint, { permanent: true }));
        }
        const stderr = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-4);
        if (code !== 0) {
          return reject(new OperationError(`${what} failed (${sig ? `killed by ${sig}` : `exit ${code ?? '?'}`})`, stderr.filter(Boolean)));
        }
        try {
          resolve(parseExecCredential(Buffer.concat(out).toString('utf8'), apiVersion, what));
        } catch (x) {
          reject(x);
        }
      });
    });
  }

  return {
    get runs() {
      return runs;
    },
    get(signal) {
      if (valid(cached)) return Promise.resolve(cached);
      if (!inFlight) {
        // one run for every caller; it does not stop because one caller gave up waiting
        const p = run().then((c) => { cached = c; return c; });
        inFlight = p;
        const clear = () => { if (inFlight === p) inFlight = null; };
        p.then(clear, clear);
      }
      const p = inFlight;
      if (!signal) return p;
      return new Promise((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, (x: unknown) => { signal.removeEventListener('abort', onAbort); reject(x); });
      });
    },
    invalidate(used) {
      if (cached === used) cached = null;
    },
  };
}
