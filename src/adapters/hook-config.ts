/**
 * The deletion hooks' configuration, read and checked once at start (exit 2 with what is wrong):
 * `CUSTCTL_HOOKS_FILE`, YAML or JSON:
 *
 *   hooks:
 *     - name: billing                    # stable: the delivery id is derived from it
 *       url: https://billing.internal/custctl/hooks
 *       secretEnv: BILLING_HOOK_SECRET   # or secretFile (relative: to this file), or secret
 *       points: [before, after-cluster]  # required
 *       timeout: 10s                     # one request (1s to 2m)
 *       tries: 4                         # within one attempt (1 to 10)
 *       allowHttp: false                 # plain http to a host other than loopback
 *
 * A file of its own, not a section of CUSTCTL_WEBHOOKS_FILE: a hook decides whether a deletion
 * goes ahead, a webhook only reports its end; a site may run webhooks from the environment alone
 * (CUSTCTL_WEBHOOK_URL), and mending or dropping the webhooks must not drop a deletion's gate.
 * The file is checked by the webhooks' rules (src/adapters/webhook-config.ts): unknown keys,
 * http(s) URLs without user info or fragment, secrets of 16 characters or more from one source,
 * a file that others can write refused, one others can read that holds a secret warned of.
 * Stricter than a webhook: the answer decides, and it is not signed, so plain http (which anyone
 * on the path can answer) is refused except to a loopback address or with `allowHttp: true`.
 *
 * No message quotes a secret, a file's content, or a URL's query.
 */
import { UsageError } from '../errors.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { DEFAULT_HOOK_POLICY, HOOK_POINTS, isHookPoint, makeHookEndpoint, type HookEndpoint, type HookPoint } from '../domain/hooks.js';
import { shownUrl } from '../domain/webhook.js';
import { checkUrl, inlineSecretWarning, NAME, readSecretsFile, secretOf, type Env } from './webhook-config.js';

export interface HookConfig {
  /** in the file's order: at one point they are called in this order */
  endpoints: HookEndpoint[];
  /** `CUSTCTL_HOOKS_FILE <path>`, or `none` */
  source: string;
  /** lines to show on stderr (a file others can read that holds secrets) */
  warnings: string[];
}

const HOOK_KEYS = ['name', 'url', 'secret', 'secretEnv', 'secretFile', 'points', 'timeout', 'tries', 'allowHttp'] as const;
const TIMEOUT_MS = { min: 1_000, max: 120_000 };
const TRIES = { min: 1, max: 10 };

export const NO_HOOKS: HookConfig = Object.freeze({ endpoints: [], source: 'none', warnings: [] }) as HookConfig;

export async function loadHookConfig(env: Env): Promise<HookConfig> {
  const path = env.CUSTCTL_HOOKS_FILE || undefined;
  if (path === undefined) return NO_HOOKS;
  const where = `CUSTCTL_HOOKS_FILE ${path}`;
  const { doc, mode, perms } = await readSecretsFile(path, where, 'let deletions go ahead without asking your service, or send its signed calls elsewhere');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError(`${where} must hold a mapping with a hooks list (hooks: [{name, url, secretEnv, points}])`);
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top)) if (k !== 'hooks') throw new UsageError(`${where}: unknown key ${JSON.stringify(k.slice(0, 40))} (the file holds hooks: [...])`);
  if (!Array.isArray(top.hooks) || top.hooks.length === 0) throw new UsageError(`${where}: hooks must be a list of at least one hook (or unset CUSTCTL_HOOKS_FILE)`);
  const endpoints: HookEndpoint[] = [];
  let inlineSecrets = false;
  for (const [i, raw] of (top.hooks as unknown[]).entries()) {
    let at = `${where}: hooks[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${at} must be a mapping (name, url, secretEnv, points, …)`);
    const e = raw as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!(HOOK_KEYS as readonly string[]).includes(k)) throw new UsageError(`${at}: unknown key ${JSON.stringify(k.slice(0, 40))} (known: ${HOOK_KEYS.join(', ')})`);
    if (typeof e.name !== 'string' || !NAME.test(e.name)) throw new UsageError(`${at}: name is required: lowercase letters, digits, '.', '_' or '-', up to 63 (the delivery id is derived from it)`);
    const name = e.name;
    at = `${where}: hook ${name}`;
    if (endpoints.some((x) => x.name === name)) throw new UsageError(`${at} is named twice`);
    if (typeof e.url !== 'string') throw new UsageError(`${at}: url is required`);
    if (e.allowHttp !== undefined && typeof e.allowHttp !== 'boolean') throw new UsageError(`${at}: allowHttp must be true or false`);
    const url = checkHookUrl(e.url, `${at}: url`, e.allowHttp === true);
    const { secret, inline } = await secretOf(e, at, path, env, 'hook');
    inlineSecrets ||= inline;
    const points = parsePoints(e.points, `${at}: points`);
    const timeoutMs = e.timeout === undefined ? DEFAULT_HOOK_POLICY.timeoutMs : parseTimeout(e.timeout, `${at}: timeout`);
    const tries = e.tries === undefined ? DEFAULT_HOOK_POLICY.tries : parseTries(e.tries, `${at}: tries`);
    endpoints.push(makeHookEndpoint({ name, url, secret, points, policy: { timeoutMs, tries } }));
  }
  const warning = inlineSecretWarning(where, path, mode, perms, inlineSecrets);
  return { endpoints, source: where, warnings: warning ? [warning] : [] };
}

/** Loopback hosts: plain http to them never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** The webhooks' URL rules, and https unless the host is a loopback address or plain http is allowed. */
export function checkHookUrl(raw: string, where: string, allowHttp: boolean): string {
  const url = checkUrl(raw, where);
  const u = new URL(url);
  if (u.protocol === 'http:' && !allowHttp && !isLoopbackHost(u.hostname)) {
    throw new UsageError(`${where} (${shownUrl(url)}) is plain http: the answer decides whether a deletion goes ahead and is not signed, so anyone on the path could answer it. Use https, or set allowHttp: true for a network you trust (e.g. inside the cluster)`);
  }
  return url;
}

function parsePoints(v: unknown, where: string): HookPoint[] {
  if (v === undefined) throw new UsageError(`${where} is required: when the hook is called (${HOOK_POINTS.join(', ')})`);
  if (!Array.isArray(v) || v.length === 0) throw new UsageError(`${where} must be a list of at least one point (${HOOK_POINTS.join(', ')})`);
  const out: HookPoint[] = [];
  for (const p of v as unknown[]) {
    if (!isHookPoint(p)) throw new UsageError(`${where}: ${typeof p === 'string' ? JSON.stringify(p.slice(0, 40)) : 'a non-text entry'} is not a point; the points are ${HOOK_POINTS.join(', ')}`);
    if (!out.includes(p)) out.push(p);
  }
  // the order of the points is the order of the deletion, whatever the file's
  return HOOK_POINTS.filter((p) => out.includes(p));
}

function parseTimeout(v: unknown, where: string): number {
  let ms: number;
  if (typeof v === 'number' && Number.isInteger(v)) ms = v;
  else if (typeof v === 'string') {
    try {
      ms = /^\d+$/.test(v) ? Number(v) : parseDuration(v);
    } catch {
      throw new UsageError(`${where}: ${JSON.stringify(v.slice(0, 40))} is not a duration (e.g. 10s, 1m) or milliseconds`);
    }
  } else {
    throw new UsageError(`${where} must be a duration (e.g. 10s) or milliseconds`);
  }
  if (ms < TIMEOUT_MS.min || ms > TIMEOUT_MS.max) throw new UsageError(`${where} must be from ${formatDuration(TIMEOUT_MS.min)} to ${formatDuration(TIMEOUT_MS.max)} (got ${formatDuration(ms)})`);
  return ms;
}

function parseTries(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < TRIES.min || v > TRIES.max) {
    throw new UsageError(`${where} must be a whole number from ${TRIES.min} to ${TRIES.max} (requests within one attempt of the job, the first included)`);
  }
  return v;
}
