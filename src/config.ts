/**
 * One typed configuration object, built once from the environment (the original design's variable names kept) and the
 * global flags. A flag beats the environment.
 */
import type { HelmUninstallMode } from './domain/deletion-options.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './errors.js';
import { DEFAULT_NAMESPACE_PREFIX, parseNamespacePrefix } from './domain/namespace-name.js';
import { formatDuration, parseDuration, parseRetention } from './domain/duration.js';
import type * as Sections from './config-sections.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  apiUrl?: string;
  store?: string;
  verbose?: boolean;
  /** write this run's metrics to this file when the command ends (node_exporter's textfile collector) */
  metricsTextfile?: string;
}

export type StoreChoice = 'auto' | 'embedded' | 'postgres';

export interface Config {
  simulate: boolean;
  namespacePrefix: string;
  kubeconfig?: string;
  context?: string;
  helmBin: string;
  store: StoreChoice;
  databaseUrl?: string;
  stateDir: string;
  /** QUEUE_MAX_RETRIES: tries in all */
  maxAttempts: number;
  /** QUEUE_RETRY_DELAY, ms */
  retryDelayMs: number;
  /** CUSTCTL_JOB_TIMEOUT, ms */
  jobTimeoutMs: number;
  /** CUSTCTL_JOB_TIMEOUT is set: it beats a cluster's `timeouts.job` (src/domain/clusters.ts deletionTimeouts) */
  jobTimeoutSet?: boolean;
  apiUrl?: string;
  apiToken?: string;
  /** CUSTCTL_BACKUP_URL: the site's default `delete --backup` target */
  backupUrl?: string;
  /** CUSTCTL_SNAPSHOT_CLASS: the site's default `delete --snapshot-volumes` class */
  snapshotClass?: string;
  /** CUSTCTL_BACKUP_RECIPIENT: age public keys every backup is encrypted to (comma/space separated) */
  backupRecipients: string[];
  /** CUSTCTL_BACKUP_IDENTITY: `restore`'s default age identity (a file, or the AGE-SECRET-KEY-1… itself) */
  backupIdentity?: string;
  verbose: boolean;
  /** CUSTCTL_RETENTION: how long a deletion waits by default (the instance suspended meanwhile), ms; 0 = immediate */
  retentionMs: number;
  /** CUSTCTL_OWNER_MIN_RETENTION: the shortest retention an owner token may ask for, ms (never 0) */
  ownerMinRetentionMs: number;
  /** CUSTCTL_HELM_UNINSTALL: the site's default `delete --helm-uninstall` (`auto` when unset) */
  helmUninstall: HelmUninstallMode;
  /**
   * CUSTCTL_RBAC_NAME: the name of custctl's roles (doctor --print-rbac): `<name>` cluster-wide and
   * `<name>-customer-namespace` inside each customer namespace
   */
  rbacName: string;
  /** CUSTCTL_SITE_NAME: who issues certificates and exports, in the customer's words (default `custctl`) */
  siteName: string;
  /** CUSTCTL_SIGNING_KEY_FILE: the ed25519 key certificates are signed with (PEM, mode 0600) */
  signingKeyFile?: string;
  /** CUSTCTL_PORTAL_URL: the customer portal's base URL (portal links point there) */
  portalUrl?: string;
  /** CUSTCTL_ERASE_COLUMNS: the customers table's extra personal columns (erased and exported with e-mail, company, URL) */
  eraseColumns: string[];
  /** CUSTCTL_ERASE_AFTER: erase a customer automatically this long after its hard deletion (serve and worker), ms; 0 = never */
  eraseAfterMs: number;
  /** CUSTCTL_ERASE_TARGETS: backup and export targets an erasure empties besides CUSTCTL_BACKUP_URL (file:// or s3://, comma/space separated) */
  eraseTargets: string[];
  /** CUSTCTL_EXPORT_ENCRYPTION=required: an export must be encrypted (--recipient or --passphrase-file) */
  exportEncryptionRequired: boolean;
  /** CUSTCTL_DELETE_REQUIRES_EXPORT=true: a scheduled deletion is refused until the customer has an export */
  deleteRequiresExport: boolean;
}

export const DEFAULTS = {
  maxAttempts: 3,
  retryDelayMs: 60_000,
  jobTimeoutMs: 10 * 60_000,
  waitTimeoutMs: 5 * 60_000,
  /**
   * `delete`: customers deleted at once. Measured on the 2-core test machine: 24 customers
   * (bench/results/2026-12-01.md) 8 → 42 s, 16 → 38 s, 32 → 32 s; 60 customers with one helm
   * process per deletion (bench/results/2026-12-01-bulk-concurrency.md) 16 → 114 s, 32 → 98 s,
   * 48 → 110 s. A deletion spends ≥ 5 s waiting for the namespace controller (its grace period
   * holds none of its 10 workers), so well over 10 in flight keeps it busy; beyond ~32 the helm
   * processes saturate 2 cores and every deletion gets slower. Peak RSS stays ~100 MB at 32.
   */
  concurrency: 32,
  /** CUSTCTL_RETENTION: 0, deletions are immediate (as before soft delete) */
  retentionMs: 0,
  /** CUSTCTL_OWNER_MIN_RETENTION: 7 days by default */
  ownerMinRetentionMs: 7 * 86_400_000,
} as const;

export function stateDirFrom(env: Env): string {
  if (env.CUSTCTL_STATE_DIR) return env.CUSTCTL_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'custctl');
  return join(env.HOME ?? homedir(), '.local', 'state', 'custctl');
}

function positiveInt(name: string, raw: string | undefined, fallback: number, max = 1_000): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new UsageError(`${name}=${JSON.stringify(raw)} must be a whole number from 1 to ${max}`);
  }
  return Number(raw);
}

/** QUEUE_RETRY_DELAY is milliseconds (the original design's unit); a duration with a unit (`90s`) is accepted too. */
function millis(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (/^\d+$/.test(raw)) return Number(raw);
  try {
    return parseDuration(raw);
  } catch {
    throw new UsageError(`${name}=${JSON.stringify(raw)} must be milliseconds (e.g. 60000) or a duration (e.g. 60s, 2m)`);
  }
}

/** A retention period: `0` (immediate) or 1h…400d, the one parser of every entry point (src/domain/duration.ts). */
function retention(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  return parseRetention(raw, name);
}

function storeChoice(raw: string | undefined, source: string): StoreChoice {
  if (raw === undefined || raw === '' || raw === 'auto') return 'auto';
  if (raw === 'embedded' || raw === 'postgres') return raw;
  throw new UsageError(`${source}=${JSON.stringify(raw)}: the store is 'embedded' or 'postgres'`);
}

/** The variables whose parsers are in config-sections.ts: set (non-empty), they are parsed with the rest. */
export const SECTION_VARIABLES = ['CUSTCTL_HELM_UNINSTALL', 'CUSTCTL_BACKUP_URL', 'CUSTCTL_SNAPSHOT_CLASS', 'CUSTCTL_BACKUP_RECIPIENT', 'CUSTCTL_PORTAL_URL', 'CUSTCTL_ERASE_COLUMNS', 'CUSTCTL_ERASE_TARGETS'] as const;

/**
 * The optional settings' parsers, loaded by `prepareConfig`: their modules (backups, snapshots, the
 * portal's links, erasure, deletion options) are a third of the bytes a `status job` would otherwise load for nothing.
 */
let sectionParsers: typeof Sections | undefined;

/**
 * Loads what `buildConfig(env, …)` will need: the optional settings' parsers when `env` sets one of
 * them (`all`: always). Awaited once before the first `buildConfig` (main does; the unit tests'
 * setup loads them all); every setting is still checked when the configuration is built.
 */
export async function prepareConfig(env: Env, o: { all?: boolean } = {}): Promise<void> {
  if (sectionParsers === undefined && (o.all || SECTION_VARIABLES.some((v) => env[v]))) sectionParsers = await import('./config-sections.js');
}

function sections(): typeof Sections {
  if (sectionParsers === undefined) throw new Error(`buildConfig: ${SECTION_VARIABLES.join(', ')} need prepareConfig(env) awaited first`);
  return sectionParsers;
}

export function buildConfig(env: Env, flags: GlobalFlags): Config {
  const simulateRaw = env.SIMULATE_K8S_DEPLOYMENT;
  if (simulateRaw !== undefined && !['true', 'false', ''].includes(simulateRaw)) {
    throw new UsageError(`SIMULATE_K8S_DEPLOYMENT=${JSON.stringify(simulateRaw)} must be 'true' or 'false'`);
  }
  const apiUrl = flags.apiUrl ?? (env.CUSTCTL_API_URL || undefined);
  if (apiUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(apiUrl);
    } catch {
      throw new UsageError(`--api-url ${JSON.stringify(apiUrl)} is not a URL (e.g. http://127.0.0.1:3100)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--api-url must be http:// or https://, not ${u.protocol}`);
    if (flags.kubeconfig !== undefined || flags.context !== undefined) {
      throw new UsageError('--api-url sends the command to the queue API; --kubeconfig and --context apply only to local runs: drop one or the other');
    }
    if (flags.metricsTextfile !== undefined) {
      throw new UsageError("--metrics-textfile records the jobs this process runs; with --api-url the server runs them: scrape its /metrics instead");
    }
  }
  return {
    simulate: simulateRaw === 'true',
    namespacePrefix: parseNamespacePrefix(env.CUSTCTL_NAMESPACE_PREFIX || DEFAULT_NAMESPACE_PREFIX),
    kubeconfig: flags.kubeconfig,
    context: flags.context,
    helmBin: env.HELM_BIN || 'helm',
    store: flags.store !== undefined ? storeChoice(flags.store, '--store') : storeChoice(env.CUSTCTL_STORE, 'CUSTCTL_STORE'),
    databaseUrl: env.DATABASE_URL || undefined,
    stateDir: stateDirFrom(env),
    maxAttempts: positiveInt('QUEUE_MAX_RETRIES', env.QUEUE_MAX_RETRIES, DEFAULTS.maxAttempts, 100),
    retryDelayMs: millis('QUEUE_RETRY_DELAY', env.QUEUE_RETRY_DELAY, DEFAULTS.retryDelayMs),
    jobTimeoutMs: millis('CUSTCTL_JOB_TIMEOUT', env.CUSTCTL_JOB_TIMEOUT, DEFAULTS.jobTimeoutMs),
    jobTimeoutSet: !!env.CUSTCTL_JOB_TIMEOUT,
    apiUrl,
    apiToken: env.CUSTCTL_API_TOKEN || undefined,
    backupUrl: env.CUSTCTL_BACKUP_URL ? sections().backupUrl(env.CUSTCTL_BACKUP_URL) : undefined,
    snapshotClass: env.CUSTCTL_SNAPSHOT_CLASS ? sections().snapshotClass(env.CUSTCTL_SNAPSHOT_CLASS) : undefined,
    backupRecipients: env.CUSTCTL_BACKUP_RECIPIENT ? sections().backupRecipients(env.CUSTCTL_BACKUP_RECIPIENT) : [],
    backupIdentity: env.CUSTCTL_BACKUP_IDENTITY || undefined,
    verbose: flags.verbose ?? false,
    retentionMs: retention('CUSTCTL_RETENTION', env.CUSTCTL_RETENTION, DEFAULTS.retentionMs),
    ownerMinRetentionMs: ownerMinimum(env.CUSTCTL_OWNER_MIN_RETENTION),
    helmUninstall: helmUninstallFrom(env.CUSTCTL_HELM_UNINSTALL),
    rbacName: rbacName(env.CUSTCTL_RBAC_NAME),
    siteName: siteName(env.CUSTCTL_SITE_NAME),
    signingKeyFile: env.CUSTCTL_SIGNING_KEY_FILE || undefined,
    portalUrl: env.CUSTCTL_PORTAL_URL ? sections().portalUrl(env.CUSTCTL_PORTAL_URL) : undefined,
    eraseColumns: env.CUSTCTL_ERASE_COLUMNS ? sections().eraseColumns(env.CUSTCTL_ERASE_COLUMNS) : [],
    eraseAfterMs: retention('CUSTCTL_ERASE_AFTER', env.CUSTCTL_ERASE_AFTER, 0),
    eraseTargets: env.CUSTCTL_ERASE_TARGETS ? sections().eraseTargets(env.CUSTCTL_ERASE_TARGETS) : [],
    exportEncryptionRequired: choice('CUSTCTL_EXPORT_ENCRYPTION', env.CUSTCTL_EXPORT_ENCRYPTION, ['optional', 'required']) === 'required',
    deleteRequiresExport: choice('CUSTCTL_DELETE_REQUIRES_EXPORT', env.CUSTCTL_DELETE_REQUIRES_EXPORT, ['false', 'true']) === 'true',
  };
}

function helmUninstallFrom(raw: string | undefined): HelmUninstallMode {
  if (raw === undefined || raw.trim() === '') return 'auto';
  return sections().helmUninstall(raw);
}

/** One of a few words (the first when unset). */
function choice(name: string, raw: string | undefined, words: readonly [string, ...string[]]): string {
  const v = (raw ?? '').trim();
  if (v === '') return words[0];
  if (!words.includes(v)) throw new UsageError(`${name}=${JSON.stringify(v.slice(0, 40))}: it is ${words.map((w) => `'${w}'`).join(' or ')}`);
  return v;
}

function siteName(raw: string | undefined): string {
  const name = (raw ?? '').trim();
  if (name === '') return 'custctl';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name) || [...name].length > 100) throw new UsageError('CUSTCTL_SITE_NAME must be one line of at most 100 characters');
  return name;
}

function rbacName(raw: string | undefined): string {
  if (raw === undefined || raw === '') return 'custctl';
  if (!/^[a-z0-9]([-.a-z0-9]{0,180}[a-z0-9])?$/.test(raw)) throw new UsageError(`CUSTCTL_RBAC_NAME=${JSON.stringify(raw)} is not a valid name for a ClusterRole (lowercase letters, digits, '-' and '.')`);
  return raw;
}

function ownerMinimum(raw: string | undefined): number {
  const ms = retention('CUSTCTL_OWNER_MIN_RETENTION', raw, DEFAULTS.ownerMinRetentionMs);
  if (ms <= 0) throw new UsageError('CUSTCTL_OWNER_MIN_RETENTION must be longer than 0: an owner may never delete immediately');
  return ms;
}

export { formatDuration };
