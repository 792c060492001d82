/**
 * The webhook configuration, read and checked once at start (exit 2 with what is wrong):
 *
 * - one endpoint: `CUSTCTL_WEBHOOK_URL` + `CUSTCTL_WEBHOOK_SECRET` (+ `CUSTCTL_WEBHOOK_EVENTS`,
 *   a comma list; default every end), named `default`;
 * - several: `CUSTCTL_WEBHOOKS_FILE`, YAML or JSON: `endpoints: [{name, url, secret | secretEnv |
 *   secretFile, events?, kinds?}]`;
 * - the retry policy: `CUSTCTL_WEBHOOK_RETRY_WINDOW`, `…_RETRY_DELAY`, `…_RETRY_MAX_DELAY`,
 *   `CUSTCTL_WEBHOOK_TIMEOUT`, `CUSTCTL_WEBHOOK_EXIT_WAIT` (durations).
 *
 * No message quotes a secret, a file's content, or a URL's query: endpoints are named by their
 * name and their URL without its query (`shownUrl`).
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { parseDuration, formatDuration } from '../domain/duration.js';
import { JOB_KINDS, type JobName } from '../domain/job.js';
import { CUSTOMER_SUBSCRIPTION, DEFAULT_WEBHOOK_POLICY, makeEndpoint, shownUrl, WEBHOOK_EVENTS, type WebhookEndpoint, type WebhookEvent, type WebhookPolicy } from '../domain/webhook.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface WebhookConfig {
  endpoints: WebhookEndpoint[];
  policy: WebhookPolicy;
  /** where the endpoints came from: `CUSTCTL_WEBHOOK_URL`, `CUSTCTL_WEBHOOKS_FILE <path>`, or `none` */
  source: string;
  /** lines to show on stderr (a config file others can read that holds secrets) */
  warnings: string[];
}

export const MIN_SECRET_LENGTH = 16;
const JOB_NAMES = Object.keys(JOB_KINDS) as JobName[];
/** An endpoint's name: lowercase letters, digits, '.', '_' or '-', up to 63. */
export const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const ENDPOINT_KEYS = ['name', 'url', 'secret', 'secretEnv', 'secretFile', 'events', 'kinds'] as const;

export async function loadWebhookConfig(env: Env): Promise<WebhookConfig> {
  const policy = policyFrom(env);
  const url = env.CUSTCTL_WEBHOOK_URL || undefined;
  const file = env.CUSTCTL_WEBHOOKS_FILE || undefined;
  if (url !== undefined && file !== undefined) {
    throw new UsageError('CUSTCTL_WEBHOOK_URL and CUSTCTL_WEBHOOKS_FILE are both set: use one (the file can hold several endpoints)');
  }
  if (file !== undefined) {
    if (env.CUSTCTL_WEBHOOK_SECRET) throw new UsageError('CUSTCTL_WEBHOOK_SECRET goes with CUSTCTL_WEBHOOK_URL; in CUSTCTL_WEBHOOKS_FILE each endpoint names its secret (secret, secretEnv or secretFile)');
    return { ...(await fromFile(file, env)), policy };
  }
  if (url === undefined) {
    if (env.CUSTCTL_WEBHOOK_SECRET) throw new UsageError('CUSTCTL_WEBHOOK_SECRET is set without CUSTCTL_WEBHOOK_URL: set the URL too, or unset the secret');
    return { endpoints: [], policy, source: 'none', warnings: [] };
  }
  const where = 'CUSTCTL_WEBHOOK_URL';
  const secret = env.CUSTCTL_WEBHOOK_SECRET;
  if (!secret) throw new UsageError(`${where} is set but CUSTCTL_WEBHOOK_SECRET is not: every delivery is signed (e.g. CUSTCTL_WEBHOOK_SECRET=$(openssl rand -hex 32))`);
  const { events, customerEvents } = env.CUSTCTL_WEBHOOK_EVENTS ? parseEvents(env.CUSTCTL_WEBHOOK_EVENTS.split(',').map((s) => s.trim()).filter(Boolean), 'CUSTCTL_WEBHOOK_EVENTS') : { events: WEBHOOK_EVENTS, customerEvents: false };
  return {
    endpoints: [makeEndpoint({ name: 'default', url: checkUrl(url, where), secret: checkSecret(secret, 'CUSTCTL_WEBHOOK_SECRET'), events, customerEvents })],
    policy,
    source: where,
    warnings: [],
  };
}

function duration(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  let ms: number;
  try {
    ms = /^\d+$/.test(raw) ? Number(raw) : parseDuration(raw);
  } catch {
    throw new UsageError(`${name}=${JSON.stringify(raw)} must be a duration (e.g. 10s, 5m, 24h) or milliseconds`);
  }
  if (ms < min || ms > max) throw new UsageError(`${name} must be from ${formatDuration(min)} to ${formatDuration(max)} (got ${formatDuration(ms)})`);
  return ms;
}

function policyFrom(env: Env): WebhookPolicy {
  const d = DEFAULT_WEBHOOK_POLICY;
  const baseDelayMs = duration(env, 'CUSTCTL_WEBHOOK_RETRY_DELAY', d.baseDelayMs, 100, 3_600_000);
  const maxDelayMs = duration(env, 'CUSTCTL_WEBHOOK_RETRY_MAX_DELAY', Math.max(d.maxDelayMs, baseDelayMs), 100, 24 * 3_600_000);
  if (maxDelayMs < baseDelayMs) throw new UsageError('CUSTCTL_WEBHOOK_RETRY_MAX_DELAY must not be shorter than CUSTCTL_WEBHOOK_RETRY_DELAY');
  return {
    windowMs: duration(env, 'CUSTCTL_WEBHOOK_RETRY_WINDOW', d.windowMs, 1_000, 30 * 86_400_000),
    baseDelayMs,
    maxDelayMs,
    timeoutMs: duration(env, 'CUSTCTL_WEBHOOK_TIMEOUT', d.timeoutMs, 100, 300_000),
    exitWaitMs: duration(env, 'CUSTCTL_WEBHOOK_EXIT_WAIT', d.exitWaitMs, 0, 300_000),
  };
}

/** http(s) only, no user info (a password in a URL would be shown and logged; put it in the secret). */
export function checkUrl(raw: string, where: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${where} is not a URL (expected e.g. https://billing.example.com/hooks/custctl)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${where} must be an http:// or https:// URL, not ${u.protocol}`);
  if (u.username || u.password) throw new UsageError(`${where} holds a user name or password (${shownUrl(raw)}): custctl signs every delivery with the secret instead; remove them from the URL`);
  if (u.hash) throw new UsageError(`${where} has a #fragment (${shownUrl(raw)}): a fragment is never sent; remove it`);
  return u.toString();
}

/** A signing secret: at least MIN_SECRET_LENGTH characters, no line break; never quoted in a message. */
export function checkSecret(secret: string, where: string, kind = 'webhook'): string {
  if (secret.length < MIN_SECRET_LENGTH) {
    // the secret itself is never shown, only how long it is
    throw new UsageError(`${where} is ${secret.length} characters long: a ${kind} secret needs at least ${MIN_SECRET_LENGTH} (e.g. openssl rand -hex 32)`);
  }
  if (/[\r\n]/.test(secret)) throw new UsageError(`${where} holds a line break: set it again without it (a secret read from a file with its newline is a common cause)`);
  return secret;
}

/** An events list: job ends (`completed`, `job.failed`, …) and `customer` (the customer events, src/domain/customer-events.ts). */
function parseEvents(list: unknown[], where: string): { events: WebhookEvent[]; customerEvents: boolean } {
  const known = [...WEBHOOK_EVENTS, CUSTOMER_SUBSCRIPTION].join(', ');
  if (list.length === 0) throw new UsageError(`${where}: name at least one event (${known})`);
  const out: WebhookEvent[] = [];
  let customerEvents = false;
  for (const e of list) {
    if (e === CUSTOMER_SUBSCRIPTION) {
      customerEvents = true;
      continue;
    }
    const v = typeof e === 'string' ? e.replace(/^job\./, '') : e;
    if (typeof v !== 'string' || !(WEBHOOK_EVENTS as readonly string[]).includes(v)) {
      throw new UsageError(`${where}: ${typeof e === 'string' ? JSON.stringify(e.slice(0, 40)) : 'a non-text entry'} is not an event; the events are ${known}`);
    }
    if (!out.includes(v as WebhookEvent)) out.push(v as WebhookEvent);
  }
  return { events: out, customerEvents };
}

function parseKinds(list: unknown[], where: string): JobName[] {
  if (list.length === 0) throw new UsageError(`${where}: name at least one job kind (${JOB_NAMES.join(', ')}), or leave kinds out for all`);
  const out: JobName[] = [];
  for (const k of list) {
    if (typeof k !== 'string' || !(JOB_NAMES as readonly string[]).includes(k)) {
      throw new UsageError(`${where}: ${typeof k === 'string' ? JSON.stringify(k.slice(0, 40)) : 'a non-text entry'} is not a job kind; the kinds are ${JOB_NAMES.join(', ')}`);
    }
    if (!out.includes(k as JobName)) out.push(k as JobName);
  }
  return out;
}

/**
 * A configuration file that holds (or names) signing secrets: a regular file that neither its
 * group nor others can write (`writableWhy`: what whoever could write it could do), read as YAML
 * or JSON (the CORE schema). No message quotes a line of it.
 */
export async function readSecretsFile(path: string, where: string, writableWhy: string): Promise<{ doc: unknown; mode: number; perms: string }> {
  let text: string;
  let mode: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new UsageError(`${where} is not a regular file`);
    mode = st.mode;
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${where}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  const perms = (mode & 0o777).toString(8).padStart(4, '0');
  if ((mode & 0o022) !== 0) {
    throw new UsageError(`${where} is writable by ${mode & 0o002 ? 'everyone' : 'its group'} (mode ${perms}): refusing to use it, whoever can write it could ${writableWhy}`, [`chmod 600 ${path}`]);
  }
  let doc: unknown;
  try {
    const yaml = await import('js-yaml');
    doc = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: path });
  } catch (e) {
    // js-yaml's message quotes the lines around the error: they may hold a secret. Only where, and the reason.
    const m = (e as { mark?: { line?: number; column?: number }; reason?: string }).mark;
    const reason = (e as { reason?: string }).reason;
    throw new UsageError(`${where} is not valid YAML or JSON${m?.line !== undefined ? ` (line ${m.line + 1}, column ${(m.column ?? 0) + 1})` : ''}${reason ? `: ${reason}` : ''}`);
  }
  return { doc, mode, perms };
}

/**
 * The secret of one entry of such a file: exactly one of `secret` (inline), `secretEnv` (the name
 * of an environment variable) or `secretFile` (a path; relative: to the file `path`), checked by
 * `checkSecret`. `inline`: it was written in the file itself.
 */
export async function secretOf(e: Record<string, unknown>, at: string, path: string, env: Env, kind = 'webhook'): Promise<{ secret: string; inline: boolean }> {
  const sources = (['secret', 'secretEnv', 'secretFile'] as const).filter((k) => e[k] !== undefined);
  if (sources.length !== 1) throw new UsageError(`${at}: give exactly one of secret, secretEnv (the name of an environment variable) or secretFile (a path)${sources.length ? `, not ${sources.join(' and ')}` : ''}`);
  if (e.secret !== undefined) {
    if (typeof e.secret !== 'string') throw new UsageError(`${at}: secret must be text`);
    return { secret: checkSecret(e.secret, `${at}: secret`, kind), inline: true };
  }
  if (e.secretEnv !== undefined) {
    if (typeof e.secretEnv !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(e.secretEnv)) throw new UsageError(`${at}: secretEnv must be the name of an environment variable`);
    const v = env[e.secretEnv];
    if (!v) throw new UsageError(`${at}: secretEnv ${e.secretEnv} is not set (or empty) in the environment`);
    return { secret: checkSecret(v, `${at}: the secret in ${e.secretEnv}`, kind), inline: false };
  }
  if (typeof e.secretFile !== 'string' || e.secretFile === '') throw new UsageError(`${at}: secretFile must be a path`);
  const p = isAbsolute(e.secretFile) ? e.secretFile : resolve(dirname(path), e.secretFile);
  let t: string;
  try {
    t = await readFile(p, 'utf8');
  } catch (err) {
    throw new UsageError(`${at}: cannot read secretFile ${p}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  return { secret: checkSecret(t.replace(/\r?\n$/, ''), `${at}: the secret in ${p}`, kind), inline: false };
}

/** The warning for a file that others can read and that holds a secret inline; null when there is none to give. */
export function inlineSecretWarning(where: string, path: string, mode: number, perms: string, inlineSecrets: boolean): string | null {
  return inlineSecrets && (mode & 0o044) !== 0 ? `${where} holds secrets and is readable by ${mode & 0o004 ? 'everyone' : 'its group'} (mode ${perms}): chmod 600 ${path}, or move the secrets to secretEnv/secretFile` : null;
}

async function fromFile(path: string, env: Env): Promise<Omit<WebhookConfig, 'policy'>> {
  const where = `CUSTCTL_WEBHOOKS_FILE ${path}`;
  const { doc, mode, perms } = await readSecretsFile(path, where, 'send the billing events elsewhere');
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError(`${where} must hold a mapping with an endpoints list (endpoints: [{name, url, secretEnv}])`);
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top)) if (k !== 'endpoints') throw new UsageError(`${where}: unknown key ${JSON.stringify(k.slice(0, 40))} (the file holds endpoints: [...])`);
  if (!Array.isArray(top.endpoints) || top.endpoints.length === 0) throw new UsageError(`${where}: endpoints must be a list of at least one endpoint`);
  const endpoints: WebhookEndpoint[] = [];
  let inlineSecrets = false;
  for (const [i, raw] of (top.endpoints as unknown[]).entries()) {
    let at = `${where}: endpoints[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${at} must be a mapping (name, url, secretEnv, …)`);
    const e = raw as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!(ENDPOINT_KEYS as readonly string[]).includes(k)) throw new UsageError(`${at}: unknown key ${JSON.stringify(k.slice(0, 40))} (known: ${ENDPOINT_KEYS.join(', ')})`);
    if (typeof e.name !== 'string' || !NAME.test(e.name)) throw new UsageError(`${at}: name is required: lowercase letters, digits, '.', '_' or '-', up to 63 (deliveries are journaled under it)`);
    const name = e.name;
    at = `${where}: endpoint ${name}`;
    if (endpoints.some((x) => x.name === name)) throw new UsageError(`${at} is named twice`);
    if (typeof e.url !== 'string') throw new UsageError(`${at}: url is required`);
    const url = checkUrl(e.url, `${at}: url`);
    const { secret, inline } = await secretOf(e, at, path, env);
    inlineSecrets ||= inline;
    const { events, customerEvents } = e.events === undefined ? { events: WEBHOOK_EVENTS, customerEvents: false } : Array.isArray(e.events) ? parseEvents(e.events, `${at}: events`) : (() => { throw new UsageError(`${at}: events must be a list (${WEBHOOK_EVENTS.join(', ')}, ${CUSTOMER_SUBSCRIPTION})`); })();
    const kinds = e.kinds === undefined ? null : Array.isArray(e.kinds) ? parseKinds(e.kinds, `${at}: kinds`) : (() => { throw new UsageError(`${at}: kinds must be a list (${JOB_NAMES.join(', ')})`); })();
    endpoints.push(makeEndpoint({ name, url, secret, events, kinds, customerEvents }));
  }
  const warning = inlineSecretWarning(where, path, mode, perms, inlineSecrets);
  return { endpoints, source: where, warnings: warning ? [warning] : [] };
}
