/**
 * Helm through its CLI (node:child_process). Every call names the cluster explicitly (`--kubeconfig`,
 * `--kube-context`) and runs with an environment stripped of the HELM_* settings that could point
 * helm somewhere else, so helm always acts on the cluster custctl talks to (DESIGN "pipeline").
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { OperationError } from '../errors.js';
import type { Helm, HelmRelease, ReleaseContents } from './helm.js';
import { parseManifest } from './helm-manifest.js';
import { HELM_RETRY, withRetries, type RetryEvent, type RetryPolicy } from './retry.js';
import { DELETE_HOOK_EVENTS, latestRevisions, namespaceRecords, type RecordResource, type ReleaseRecord, type ReleaseSecret } from './helm-storage.js';

export interface HelmCliOptions {
  /** HELM_BIN, or `helm` (looked up on env.PATH) */
  helmBin: string;
  /** one kubeconfig file, or a `:`-separated list (then passed as KUBECONFIG, see helmEnv) */
  kubeconfig?: string;
  context: string;
  env: Record<string, string | undefined>;
  /** told of every re-run after a transient failure */
  onRetry?: (e: RetryEvent & { op: string }) => void;
  /** tests: a faster policy, a fake sleep */
  retry?: { policy?: RetryPolicy; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> };
  /**
   * Helm's release records of a namespace (Secrets or ConfigMaps labelled owner=helm), through the
   * API server (src/adapters/helm-storage.ts). When given and helm keeps its records in the
   * namespace (HELM_DRIVER unset, `secret` or `configmap`), `list`, `get manifest` and the hooks
   * are answered from one such read instead of helm processes; `uninstall` is always helm's.
   */
  releaseRecords?: (namespace: string, resource: RecordResource, signal?: AbortSignal) => Promise<ReleaseSecret[]>;
  /**
   * The token custctl got from the kubeconfig's exec credential plugin (null: another kind of
   * credential). helm gets it as HELM_KUBETOKEN, which client-go uses instead of running the
   * plugin again (its exec authenticator stands aside when a token is set): one plugin run per
   * process and expiry, not one more per helm process.
   */
  kubeToken?: (signal?: AbortSignal) => Promise<string | null>;
  /**
   * Whether the API server answered custctl earlier in this process. When it says no, helm's
   * "connection refused" is not retried: a server that never answered is a wrong address or down
   * (retry.ts, UNREACHABLE_NETWORK_CODES), one that did is restarting.
   */
  serverAnswered?: () => boolean;
}

/**
 * Every release state. DESIGN says `helm list -a`, but helm 4 removed `-a/--all` ("unknown
 * shorthand flag: 'a'"); all the state filters together are what `-a` meant on helm 3 (ListAll:
 * the latest revision of each release, whatever its state, pending-install and uninstalling
 * included) and exist on both helm 3 (3.2+) and helm 4.
 */
export const ALL_STATES = ['--deployed', '--failed', '--pending', '--superseded', '--uninstalled', '--uninstalling'] as const;

/** Timeout for the short read commands (`list`, `get manifest`). */
const READ_TIMEOUT_MS = 120_000;
/** Extra time given to `helm uninstall` beyond its own --timeout before it is killed. */
const UNINSTALL_GRACE_MS = 60_000;
/** A read-ahead older than this is not used (the list is read again). */
const READ_AHEAD_FRESH_MS = 10_000;
/** How many trailing stderr lines an error message keeps. */
const STDERR_LINES = 8;

/**
 * Variables that would make helm act on another cluster, namespace or identity than the
 * explicit flags say (helm's `pkg/cli/environment.go`). HELM_DRIVER stays: it says where the
 * site keeps release records, and custctl must read them where they are.
 */
const STRIPPED_ENV = /^HELM_(KUBE[A-Z_]*|NAMESPACE)$/;

interface KubeconfigArgs {
  args: string[];
  /** KUBECONFIG for the child, when a list of files cannot be passed as one flag */
  envKubeconfig?: string;
}

export function kubeconfigArgs(kubeconfig: string | undefined, env: Record<string, string | undefined>): KubeconfigArgs {
  const home = env.HOME || os.homedir();
  const given = kubeconfig || env.KUBECONFIG || path.join(home, '.kube', 'config');
  const files = given.split(path.delimiter).filter((f) => f !== '');
  if (files.length === 1) return { args: ['--kubeconfig', files[0]!] };
  // helm's --kubeconfig takes exactly one file (client-go ExplicitPath), while KUBECONFIG may
  // list several that are merged (first file wins). To keep the same merge custctl used, a list
  // is handed over as KUBECONFIG in the child env; --kube-context still pins the context.
  return { args: [], envKubeconfig: files.join(path.delimiter) };
}

/** The child env: the caller's env minus the HELM_* redirections, with KUBECONFIG made explicit. */
export function helmEnv(env: Record<string, string | undefined>, envKubeconfig: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || STRIPPED_ENV.test(k) || k === 'KUBECONFIG') continue;
    out[k] = v;
  }
  if (envKubeconfig !== undefined) out.KUBECONFIG = envKubeconfig;
  return out;
}

/** `5m30s`-style seconds for helm's --timeout, at least 1 s. */
export function helmDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

function lastLines(text: string, n: number): string {
  const lines = text.trim().split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  return lines.slice(-n).join('\n');
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

interface RunResult { stdout: string; stderr: string; exitCode: number }

interface ProcessResult {
  stdout: string;
  stderr: string;
  /** null when the process did not run or was killed by a signal */
  exitCode: number | null;
  signalName?: string;
  timedOut: boolean;
  canceled: boolean;
  spawnError?: NodeJS.ErrnoException;
}

/** How long a helm stopped with SIGTERM (timeout, abort) gets before SIGKILL. */
const KILL_GRACE_MS = 5_000;

/**
 * Runs `file` to completion with exactly `env` (PATH from it), no stdin, stdout/stderr collected
 * (final newline stripped); stopped with SIGTERM (then SIGKILL) at `timeoutMs` or when `signal`
 * aborts. node:child_process rather than execa: execa's import cost ~0.2 s at start-up, on the
 * path to the first helm call of every deletion, for what these few lines do.
 */
function runProcess(file: string, args: readonly string[], env: Record<string, string>, timeoutMs: number, signal: AbortSignal | undefined): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let canceled = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    let settled = false;
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stop = (): void => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
    };
    const timer = setTimeout(() => { timedOut = true; stop(); }, timeoutMs);
    const onAbort = (): void => { canceled = true; stop(); };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (exitCode: number | null, signalName: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const text = (chunks: Buffer[]): string => Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      resolve({
        stdout: text(out), stderr: text(err), exitCode, timedOut, canceled,
        ...(signalName ? { signalName } : {}), ...(spawnError ? { spawnError } : {}),
      });
    };
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
      if (child.pid === undefined) done(null, null); // never started: no 'close' follows
    });
    child.on('close', (code, sig) => done(code, sig));
  });
}

export function parseReleases(stdout: string, namespace: string): HelmRelease[] {
  const text = stdout.trim();
  if (text === '') return [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new OperationError(`helm list -n ${namespace} printed something that is not JSON: ${text.slice(0, 200)}`);
  }
  if (!Array.isArray(data)) throw new OperationError(`helm list -n ${namespace} printed JSON that is not a list`);
  return data.map((r: Record<string, unknown>) => ({
    name: String(r.name ?? ''),
    namespace: String(r.namespace ?? namespace),
    status: String(r.status ?? ''),
    chart: String(r.chart ?? ''),
    revision: String(r.revision ?? ''),
  }));
}

/**
 * helm failed in a way no re-run can fix: no access (403/401), a kubeconfig or context it cannot
 * use, a flag or command this helm does not know, a certificate it does not trust.
 */
export function saysPermanent(stderr: string): boolean {
  return /\bforbidden\b|\bUnauthorized\b|must be logged in to the server|invalid configuration|no configuration has been provided|context "[^"]*" does not exist|context was not found|cluster has no server defined|unknown (shorthand )?flag|unknown command|x509: |certificate signed by unknown authority|tls: failed to verify/i.test(stderr);
}

/**
 * helm failed because the API server was briefly unavailable: unreachable, a connection reset or
 * refused, a timeout on the wire, a 5xx or a 429 (client-go's messages for them). `failed to
 * delete release: NAME` is helm failing to delete its release record, whose cause it does not
 * print: the API server's answer to that DELETE (a re-run finds the record or its absence).
 */
export function saysTransient(stderr: string): boolean {
  if (saysPermanent(stderr)) return false;
  return /cluster unreachable|connection refused|connection reset|broken pipe|i\/o timeout|TLS handshake timeout|unexpected EOF|\bEOF\b|Internal error occurred|an error on the server|the server is currently unable to handle the request|too many requests|the server was unable to return a response|Gateway Timeout|Bad Gateway|Service Unavailable|server sent GOAWAY|client connection lost|request canceled|no route to host|etcdserver: (request timed out|leader changed)|failed to delete release: /i.test(stderr);
}

/** A run that failed transiently: thrown inside the retry loop, its result returned after the last try. */
class TransientRun extends Error {
  constructor(readonly result: RunResult) {
    super(lastLines(result.stderr, 1));
  }
}

/** helm's answer for a release that does not exist: `Error: release: not found` (v3 and v4). */
export function saysNotFound(text: string): boolean {
  return /release:? not found|release "[^"]*" not found/i.test(text);
}

/**
 * helm's own version (`helm version --template {{.Version}}`): no cluster, no kube context, so
 * `custctl version` and `doctor` can show it without a kubeconfig.
 */
export async function helmVersion(helmBin: string, env: Record<string, string | undefined>, signal?: AbortSignal): Promise<string> {
  const r = await runProcess(helmBin, ['version', '--template', '{{.Version}}'], helmEnv(env, undefined), READ_TIMEOUT_MS, signal);
  if (r.spawnError?.code === 'ENOENT') throw new OperationError(`helm not found: HELM_BIN=${helmBin}`, ['Install helm (v3.8+ or v4), or set HELM_BIN to the helm binary.'], { permanent: true });
  if (r.spawnError || r.exitCode === null) throw new OperationError(`could not run helm (HELM_BIN=${helmBin}): ${r.spawnError?.message ?? `killed by ${r.signalName ?? 'a signal'}`}`);
  if (r.exitCode !== 0) throw new OperationError(`helm version exited ${r.exitCode}: ${lastLines(r.stderr, STDERR_LINES)}`);
  return r.stdout.trim();
}

/** The helm binary `spawn` would run (HELM_BIN as a path, or looked up on PATH), checked to be executable. */
async function locate(helmBin: string, pathList: string): Promise<void> {
  const candidates = helmBin.includes('/') ? [helmBin] : pathList.split(path.delimiter).filter((d) => d !== '').map((d) => path.join(d, helmBin));
  let denied: NodeJS.ErrnoException | undefined;
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      if ((await stat(c)).isFile()) return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EACCES') denied ??= e as NodeJS.ErrnoException;
    }
  }
  if (denied) throw new OperationError(`could not run helm (HELM_BIN=${helmBin}): ${denied.message}`, [], { permanent: true });
  throw helmNotFound(helmBin);
}

function helmNotFound(helmBin: string): OperationError {
  return new OperationError(`helm not found: HELM_BIN=${helmBin} (set HELM_BIN to the helm binary, v3.8+ or v4)`, [], { permanent: true });
}

export function makeHelm(opts: HelmCliOptions): Helm {
  const kc = kubeconfigArgs(opts.kubeconfig, opts.env);
  const childEnv = helmEnv(opts.env, kc.envKubeconfig);
  const clusterArgs = [...kc.args, '--kube-context', opts.context];

  async function runOnce(args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<RunResult> {
    signal?.throwIfAborted();
    const full = [...args, ...clusterArgs];
    const shown = ['helm', ...full].map(shellQuote).join(' ');
    // in the environment, not on the command line (other users can read a command line)
    const token = await opts.kubeToken?.(signal);
    const r = await runProcess(opts.helmBin, full, token ? { ...childEnv, HELM_KUBETOKEN: token } : childEnv, timeoutMs, signal);
    if (r.canceled && signal?.aborted) throw signal.reason;
    if (r.spawnError?.code === 'ENOENT') {
      throw helmNotFound(opts.helmBin);
    }
    if (r.timedOut) {
      throw new OperationError(`${shown} did not finish within ${Math.round(timeoutMs / 1000)}s and was stopped`, [
        lastLines(r.stderr, STDERR_LINES),
      ].filter((l) => l !== ''));
    }
    if (r.spawnError || r.exitCode === null) {
      // spawn failed for another reason (EACCES, not executable, ...), or helm died of a signal
      throw new OperationError(`could not run helm (HELM_BIN=${opts.helmBin}): ${r.spawnError?.message ?? `killed by ${r.signalName ?? 'a signal'}`}`, [], { permanent: !!r.spawnError });
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
  }

  /**
   * One helm command, run again (HELM_RETRY) while it fails with a transient error: every command
   * custctl runs is idempotent (list, get manifest, history are reads; uninstall has
   * --ignore-not-found). A non-zero exit for any other reason is returned for the caller to judge.
   */
  async function run(args: string[], timeoutMs: number, signal: AbortSignal | undefined): Promise<RunResult> {
    try {
      return await withRetries(async () => {
        const r = await runOnce(args, timeoutMs, signal);
        const unreachable = /connection refused|no such host/i.test(r.stderr) && opts.serverAnswered?.() === false;
        if (r.exitCode !== 0 && saysTransient(r.stderr) && !unreachable) throw new TransientRun(r);
        return r;
      }, {
        policy: opts.retry?.policy ?? HELM_RETRY,
        classify: (e) => (e instanceof TransientRun ? { retry: true, why: e.message } : { retry: false }),
        signal,
        ...(opts.retry?.sleep ? { sleep: opts.retry.sleep } : {}),
        onRetry: (ev) => opts.onRetry?.({ ...ev, op: `helm ${args[0] ?? ''}` }),
      });
    } catch (e) {
      if (e instanceof TransientRun) return e.result;
      throw e;
    }
  }

  function failure(args: string[], r: RunResult): OperationError {
    const shown = ['helm', ...args, ...clusterArgs].map(shellQuote).join(' ');
    const tail = lastLines(r.stderr || r.stdout, STDERR_LINES);
    return new OperationError(
      `helm ${args[0] ?? ''} failed (exit ${r.exitCode}): ${tail.split('\n').at(-1) ?? ''}`.trimEnd(),
      [`command: ${shown}`, ...(tail.includes('\n') ? tail.split('\n') : [])],
      { permanent: saysPermanent(r.stderr) },
    );
  }

  const recordResource = namespaceRecords(opts.env);
  const readRecords = opts.releaseRecords && recordResource
    ? async (namespace: string, signal?: AbortSignal): Promise<ReleaseRecord[]> => latestRevisions(await opts.releaseRecords!(namespace, recordResource, signal), namespace, recordResource)
    : undefined;
  // Without `helm list`, a missing helm would show only at the uninstall: the inspection looks for it
  // (ensureAvailable, no process started) when a release needs helm, so it is still refused before
  // anything happens. Found once is enough; a miss is looked for again next time (a long-running
  // serve may get helm later).
  let located: Promise<void> | undefined;
  const locateHelm = (): Promise<void> => (located ??= locate(opts.helmBin, childEnv.PATH ?? '').catch((e: unknown) => {
    located = undefined;
    throw e;
  }));

  async function listReleases(namespace: string, signal?: AbortSignal): Promise<HelmRelease[]> {
    if (readRecords) {
      const records = await readRecords(namespace, signal);
      // the manifests and hooks come with the list (one snapshot): the inspection's read of each
      // release, which follows at once, takes them from here
      for (const r of records) keep(`manifest ${namespace}/${r.name}`, Promise.resolve().then(() => contentsOf(r)));
      return records.map(({ name, namespace: ns, status, chart, revision }) => ({ name, namespace: ns, status, chart, revision }));
    }
    const args = ['list', ...ALL_STATES, '-n', namespace, '-o', 'json', '--max', '0'];
    const r = await run(args, READ_TIMEOUT_MS, signal);
    if (r.exitCode !== 0) throw failure(args, r);
    return parseReleases(r.stdout, namespace);
  }

  async function contentsOf(r: ReleaseRecord): Promise<ReleaseContents> {
    const deleteHooks = r.hooks
      .filter((h) => h.events.some((e) => (DELETE_HOOK_EVENTS as readonly string[]).includes(e)))
      .map((h) => ({ kind: h.kind, name: h.name, events: h.events.filter((e) => (DELETE_HOOK_EVENTS as readonly string[]).includes(e)) }));
    return { ...(await parseManifest(r.manifest)), deleteHooks };
  }

  async function readRelease(release: string, namespace: string, signal?: AbortSignal): Promise<ReleaseContents> {
    if (readRecords) {
      const r = (await readRecords(namespace, signal)).find((x) => x.name === release);
      // gone since the list, or never there: nothing left for helm to delete
      return r ? contentsOf(r) : { objects: [], unreadable: [], deleteHooks: [] };
    }
    const args = ['get', 'manifest', release, '-n', namespace];
    const r = await run(args, READ_TIMEOUT_MS, signal);
    if (r.exitCode !== 0) {
      // gone between `helm list` and here: nothing left for helm to delete
      if (saysNotFound(r.stderr)) return { objects: [], unreadable: [], deleteHooks: [] };
      throw failure(args, r);
    }
    // the records are outside the namespace: helm runs the uninstall anyway, so its hooks need no reading
    return { ...(await parseManifest(r.stdout)), deleteHooks: null };
  }

  /** read-ahead results by `list <ns>` / `manifest <ns>/<release>`: used once, while fresh */
  const ahead = new Map<string, { at: number; value: Promise<unknown> }>();
  async function fromAhead<T>(key: string, read: () => Promise<T>): Promise<T> {
    const hit = ahead.get(key);
    ahead.delete(key);
    if (hit && Date.now() - hit.at <= READ_AHEAD_FRESH_MS) {
      try {
        return (await hit.value) as T;
      } catch {
        // a failed read-ahead is only a missed shortcut: read again, and report that one
      }
    }
    return read();
  }
  const keep = (key: string, value: Promise<unknown>) => {
    value.catch(() => undefined);
    ahead.set(key, { at: Date.now(), value });
  };

  return {
    recordsInNamespace: readRecords !== undefined,

    async ensureAvailable(signal) {
      signal?.throwIfAborted();
      await locateHelm();
    },

    readAhead(namespace, likelyRelease) {
      keep(`list ${namespace}`, listReleases(namespace));
      // from the records in the namespace, the list's one read brings every manifest with it
      if (!readRecords) keep(`manifest ${namespace}/${likelyRelease}`, readRelease(likelyRelease, namespace));
    },

    listReleases: (namespace, signal) => fromAhead(`list ${namespace}`, () => listReleases(namespace, signal)),

    readRelease: (release, namespace, signal) => fromAhead(`manifest ${namespace}/${release}`, () => readRelease(release, namespace, signal)),

    async uninstall(release, namespace, timeoutMs, signal, opts) {
      // With --ignore-not-found, helm 3 and 4 print `release "X" uninstalled` whether or not the
      // release existed (pkg/action/uninstall.go returns nil, nil on a missing history), so its
      // output cannot tell "already gone" apart: ask `helm history` first (helm's own requests).
      if (!opts?.justListed) {
        const probe = ['history', release, '-n', namespace, '--max', '1', '-o', 'json'];
        const h = await run(probe, READ_TIMEOUT_MS, signal);
        if (h.exitCode !== 0) {
          if (saysNotFound(h.stderr)) return 'not-found';
          throw failure(probe, h);
        }
      }
      // helm's default background cascade and no --wait (DESIGN step 1): helm sends its DELETEs and
      // returns; step 2's wait until the namespace is gone proves every namespaced object is gone.
      // `--wait --cascade foreground` made the garbage collector clear a finalizer on every object
      // through one rate-limited client, so concurrent deletions queued behind each other.
      // --timeout still bounds the release's pre/post-delete hooks.
      const args = [
        'uninstall', release, '-n', namespace,
        '--timeout', helmDuration(timeoutMs), '--ignore-not-found',
      ];
      const r = await run(args, timeoutMs + UNINSTALL_GRACE_MS, signal);
      if (r.exitCode !== 0) throw failure(args, r);
      return saysNotFound(`${r.stdout}\n${r.stderr}`) ? 'not-found' : 'uninstalled';
    },
  };
}
