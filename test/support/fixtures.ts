import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { execa } from 'execa';
import pg from 'pg';
import { openPgStore } from '../../src/adapters/store-pg.js';
import { parse, stringify } from 'yaml';
import { testEnv } from './env.js';

export const CHART_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/charts/customer-instance');
/** The finalizer provisionCustomer({ stuck: true }) puts on a ConfigMap; only unstick() removes it. */
export const STUCK_FINALIZER = 'custctl.test/stuck';
export const STUCK_CONFIGMAP = 'custctl-test-stuck';

// ---------------------------------------------------------------------------------------------
// helm / kubectl

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** stdin */
  input?: string;
  /** throw (with stderr) when the exit code is not 0; default false */
  check?: boolean;
  timeoutMs?: number;
  /** extra environment (helm: e.g. HELM_DRIVER) */
  env?: NodeJS.ProcessEnv;
  /** another cluster's admin kubeconfig (the second control plane's); default: this run's */
  kubeconfig?: string;
}

async function exec(bin: string, args: readonly string[], opts: ExecOptions, env: NodeJS.ProcessEnv): Promise<ExecResult> {
  const res = await execa(bin, args, {
    reject: false,
    env,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    timeout: opts.timeoutMs ?? 120_000,
  });
  const result: ExecResult = { stdout: res.stdout, stderr: res.stderr, exitCode: res.exitCode ?? -1 };
  if (opts.check && result.exitCode !== 0) {
    throw new Error(`${path.basename(bin)} ${args.join(' ')} exited with ${result.exitCode}${res.timedOut ? ' (timed out)' : ''}:\n${result.stderr || result.stdout}`);
  }
  return result;
}

/** The real kubectl v1.35 with this run's admin kubeconfig (`--kubeconfig` is always passed). */
export function kubectl(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const env = testEnv();
  return exec(env.kubectlBin, ['--kubeconfig', opts.kubeconfig ?? env.kubeconfig, '--cache-dir', path.join(env.runDir, 'kube-cache'), ...args], opts, process.env);
}

/** The real helm v4 with this run's admin kubeconfig; helm's own state lives in the run dir. */
export function helm(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const env = testEnv();
  const home = path.join(env.runDir, 'helm');
  return exec(env.helmBin, [...args, '--kubeconfig', opts.kubeconfig ?? env.kubeconfig], opts, {
    ...process.env,
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_DATA_HOME: path.join(home, 'data'),
    ...opts.env,
  });
}

/** Parsed JSON output of `kubectl ... -o json` (checked). */
export async function kubectlJson<T = unknown>(args: readonly string[]): Promise<T> {
  const { stdout } = await kubectl([...args, '-o', 'json'], { check: true });
  return JSON.parse(stdout) as T;
}

// ---------------------------------------------------------------------------------------------
// clients

let kubeConfig: k8s.KubeConfig | undefined;

/** A @kubernetes/client-node KubeConfig for this run's admin user. */
export function kubeConfigForTests(): k8s.KubeConfig {
  if (!kubeConfig) {
    kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromFile(testEnv().kubeconfig);
  }
  return kubeConfig;
}

export function coreApi(): k8s.CoreV1Api {
  return kubeConfigForTests().makeApiClient(k8s.CoreV1Api);
}

export function rbacApi(): k8s.RbacAuthorizationV1Api {
  return kubeConfigForTests().makeApiClient(k8s.RbacAuthorizationV1Api);
}

let pool: pg.Pool | undefined;

/** A pg pool on this run's DATABASE_URL (shared by the tests of one file). */
export function db(): pg.Pool {
  pool ??= new pg.Pool({ connectionString: testEnv().databaseUrl, max: 4, idleTimeoutMillis: 1000, allowExitOnIdle: true });
  return pool;
}

/**
 * The `customers` table as the product has it: the product's own migrations (`custctl db
 * migrate`), applied once per test process. They take an advisory lock, so concurrent test
 * files and CLI runs do not race.
 */
let migrated: Promise<void> | undefined;
export function ensureCustomersTable(): Promise<void> {
  migrated ??= (async () => {
    const store = await openPgStore({ connectionString: testEnv().databaseUrl, env: {}, skipSchemaCheck: true });
    try {
      await store.migrate();
    } finally {
      await store.close();
    }
  })();
  return migrated;
}

// ---------------------------------------------------------------------------------------------
// keys

let keyCounter = 0;

/** A key no other test uses: `<prefix><random base36>`, [a-z0-9], starts with a letter, ≤ 24 chars. */
export function randomKey(prefix = 't'): string {
  if (!/^[a-z][a-z0-9]{0,9}$/.test(prefix)) throw new Error(`randomKey prefix must be [a-z][a-z0-9]{0,9}, got ${JSON.stringify(prefix)}`);
  keyCounter += 1;
  const rand = BigInt(`0x${randomBytes(8).toString('hex')}`).toString(36).padStart(13, '0').slice(0, 10);
  return `${prefix}${rand}${keyCounter.toString(36)}`.slice(0, 24);
}

/** A production-shaped key: 32 lowercase hex characters (customer ID `cust_<32 hex>`). */
export function randomHexKey(): string {
  return randomBytes(16).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// provisioning

export interface ProvisionOptions {
  /** deployment_status of the row; default 'deployed' */
  status?: string;
  /** install the Helm release; default true. false: the chart's objects are applied with kubectl, no release */
  release?: boolean;
  /** create the namespace; default true. false implies no release */
  namespace?: boolean;
  /** create the OpenCost ClusterRole + Binding with kubectl apply instead of in the release */
  rbacOutsideRelease?: boolean;
  /** add a ConfigMap with the finalizer custctl.test/stuck (outside the release): namespace deletion hangs until unstick() */
  stuck?: boolean;
  extraConfigMaps?: number;
  extraSecrets?: number;
  /** extra PVCs besides the chart's one */
  pvcs?: number;
  /** add the CRD <key>widgets.example.com to the release (key must start with a letter) */
  crd?: boolean;
  /** annotate the cluster RBAC with helm.sh/resource-policy: keep */
  keepPolicy?: boolean;
  /** insert the customers row; default true */
  row?: boolean;
  /** the row's instance_namespace; default the real namespace */
  instanceNamespace?: string;
  /** the chart's RoleBinding granting custctl's namespace role (doctor --print-rbac) to this ServiceAccount */
  custctlAccess?: { name: string; clusterRole: string; serviceAccount: string; serviceAccountNamespace: string };
  /** the row's cluster column (a fleet's tests) */
  cluster?: string;
  /** install on another cluster: its admin kubeconfig (the second control plane's) */
  kubeconfig?: string;
}

export interface ProvisionedCustomer {
  customerId: string;
  key: string;
  namespace: string;
  release: string;
}

export const namespaceOf = (key: string): string => `customer-${key}`;
export const releaseOf = (key: string): string => `customer-${key}`;
export const openCostName = (key: string): string => `c${key}-customer-instance-opencost`;

function chartValues(key: string, opts: ProvisionOptions, clusterRbac: boolean): string[] {
  const values: Record<string, string | number | boolean> = {
    customerKey: key,
    extraConfigMaps: opts.extraConfigMaps ?? 0,
    extraSecrets: opts.extraSecrets ?? 0,
    extraPvcs: opts.pvcs ?? 0,
    clusterRbac,
    keepPolicy: opts.keepPolicy ?? false,
    clusterScopedExtra: opts.crd ? 'crd' : '',
    ...(opts.custctlAccess ? Object.fromEntries(Object.entries(opts.custctlAccess).map(([k, v]) => [`custctlAccess.${k}`, v])) : {}),
  };
  return Object.entries(values).flatMap(([k, v]) => [typeof v === 'string' ? '--set-string' : '--set', `${k}=${String(v)}`]);
}

/** The OpenCost-style ClusterRole + Binding as created by hand (no Helm annotations). */
export function clusterRbacManifest(key: string, opts: { keepPolicy?: boolean } = {}): string {
  const name = openCostName(key);
  const metadata = {
    name,
    labels: { 'custctl.test/customer-key': key },
    ...(opts.keepPolicy ? { annotations: { 'helm.sh/resource-policy': 'keep' } } : {}),
  };
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata,
    rules: [{ apiGroups: [''], resources: ['nodes', 'pods', 'namespaces'], verbs: ['get', 'list', 'watch'] }],
  };
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: 'customer-instance', namespace: namespaceOf(key) }],
  };
  return `${stringify(role)}---\n${stringify(binding)}`;
}

/**
 * Sets up one customer the way the billing system does: a `customers` row and the
 * customer-instance chart installed as release customer-<key> in namespace customer-<key>.
 */
export async function provisionCustomer(key: string, opts: ProvisionOptions = {}): Promise<ProvisionedCustomer> {
  if (!/^[a-z0-9]{1,44}$/.test(key)) throw new Error(`provisionCustomer: key must be [a-z0-9]{1,44}, got ${JSON.stringify(key)}`);
  if (opts.crd && !/^[a-z]/.test(key)) throw new Error('provisionCustomer: crd needs a key starting with a letter (CRD plural names are DNS-1035 labels)');
  const customer: ProvisionedCustomer = { customerId: `cust_${key}`, key, namespace: namespaceOf(key), release: releaseOf(key) };
  const wantNamespace = opts.namespace ?? true;
  const wantRelease = wantNamespace && (opts.release ?? true);
  const rbacInChart = !opts.rbacOutsideRelease;
  const on = opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {};

  if (opts.row ?? true) {
    await ensureCustomersTable();
    await db().query(
      `insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url${opts.cluster !== undefined ? ', cluster' : ''})
       values ($1, $2, $3, $4, $5, $6${opts.cluster !== undefined ? ', $7' : ''})`,
      [customer.customerId, `${key}@example.test`, `Test company ${key}`, opts.status ?? 'deployed',
        opts.instanceNamespace ?? customer.namespace, `https://${key}.example.test`, ...(opts.cluster !== undefined ? [opts.cluster] : [])],
    );
  }

  if (wantRelease) {
    await helm(['install', customer.release, CHART_DIR, '--namespace', customer.namespace, '--create-namespace',
      ...chartValues(key, opts, rbacInChart)], { check: true, ...on });
  } else if (wantNamespace) {
    // the instance's objects without a release record (e.g. the release was lost)
    await kubectl(['create', 'namespace', customer.namespace], { check: true, ...on });
    const rendered = await helm(['template', customer.release, CHART_DIR, '--namespace', customer.namespace,
      ...chartValues(key, opts, rbacInChart)], { check: true, ...on });
    await kubectl(['apply', '--namespace', customer.namespace, '-f', '-'], { input: rendered.stdout, check: true, ...on });
  }

  if (opts.rbacOutsideRelease) {
    await kubectl(['apply', '-f', '-'], { input: clusterRbacManifest(key, { keepPolicy: opts.keepPolicy ?? false }), check: true, ...on });
  }

  if (opts.stuck && wantNamespace) {
    const cm = {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: STUCK_CONFIGMAP, namespace: customer.namespace, finalizers: [STUCK_FINALIZER] },
      data: { why: 'holds the namespace in Terminating until unstick()' },
    };
    await kubectl(['create', '-f', '-'], { input: stringify(cm), check: true, ...on });
  }
  return customer;
}

/** Removes the custctl.test/stuck finalizer from every ConfigMap in `namespace` that has it. */
export async function unstick(namespace: string): Promise<void> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string; finalizers?: string[] } }> }>(
    ['get', 'configmaps', '--namespace', namespace]);
  for (const item of list.items) {
    const finalizers = item.metadata.finalizers ?? [];
    if (!finalizers.includes(STUCK_FINALIZER)) continue;
    const patch = { metadata: { finalizers: finalizers.filter((f) => f !== STUCK_FINALIZER) } };
    await kubectl(['patch', 'configmap', item.metadata.name, '--namespace', namespace, '--type', 'merge', '-p', JSON.stringify(patch)], { check: true });
  }
}

// ---------------------------------------------------------------------------------------------
// snapshots

export interface NamespaceSnapshot { name: string; uid: string; phase: string }
export interface RbacSnapshot { name: string; annotations: Record<string, string> }
export interface ReleaseSnapshot { name: string; namespace: string; status: string }
export interface CustomerRowSnapshot {
  customerId: string;
  deploymentStatus: string;
  instanceNamespace: string;
  instanceUrl: string;
  deletionJobId: string | null;
  previousStatus: string | null;
}

/** Everything custctl may touch, sorted, plain data: compare two with toEqual or diffSnapshots. */
export interface Snapshot {
  namespaces: NamespaceSnapshot[];
  clusterRoles: RbacSnapshot[];
  clusterRoleBindings: RbacSnapshot[];
  releases: ReleaseSnapshot[];
  customers: CustomerRowSnapshot[];
}

const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const IGNORED_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

function rbacOf(items: Array<{ metadata?: k8s.V1ObjectMeta }>): RbacSnapshot[] {
  return items.map((o) => ({
    name: o.metadata?.name ?? '',
    annotations: Object.fromEntries(Object.entries(o.metadata?.annotations ?? {}).filter(([k]) => !IGNORED_ANNOTATIONS.has(k)).sort()),
  })).sort(byName);
}

/** helm 4 has no `list --all`: every status filter together lists releases in any state. */
export const ALL_RELEASE_STATES = ['--deployed', '--failed', '--pending', '--superseded', '--uninstalled', '--uninstalling'] as const;

export async function listEverything(): Promise<Snapshot> {
  const [namespaces, roles, bindings, releases, customers] = await Promise.all([
    coreApi().listNamespace(),
    rbacApi().listClusterRole(),
    rbacApi().listClusterRoleBinding(),
    helm(['list', '--all-namespaces', ...ALL_RELEASE_STATES, '--output', 'json'], { check: true }),
    (async () => {
      await ensureCustomersTable();
      const res = await db().query<{ customer_id: string; deployment_status: string; instance_namespace: string; instance_url: string; deletion_job_id: string | null; previous_status: string | null }>(
        'select customer_id, deployment_status, instance_namespace, instance_url, deletion_job_id, previous_status from customers order by customer_id');
      return res.rows.map((r): CustomerRowSnapshot => ({
        customerId: r.customer_id, deploymentStatus: r.deployment_status, instanceNamespace: r.instance_namespace,
        instanceUrl: r.instance_url, deletionJobId: r.deletion_job_id, previousStatus: r.previous_status,
      }));
    })(),
  ]);
  return {
    namespaces: namespaces.items.map((n) => ({ name: n.metadata?.name ?? '', uid: n.metadata?.uid ?? '', phase: n.status?.phase ?? '' })).sort(byName),
    clusterRoles: rbacOf(roles.items),
    clusterRoleBindings: rbacOf(bindings.items),
    releases: (JSON.parse(releases.stdout || '[]') as Array<{ name: string; namespace: string; status: string }>)
      .map((r) => ({ name: r.name, namespace: r.namespace, status: r.status }))
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`)),
    customers,
  };
}

export interface SnapshotDiff {
  /** `namespace/customer-x`, `clusterrole/c…`, `clusterrolebinding/…`, `release/<ns>/<name>`, `customer/cust_…` */
  added: string[];
  removed: string[];
  changed: string[];
}

/** What differs between two snapshots, by object id; all three lists empty when equal. */
export function diffSnapshots(before: Snapshot, after: Snapshot): SnapshotDiff {
  const index = (s: Snapshot): Map<string, string> => new Map<string, string>([
    ...s.namespaces.map((n) => [`namespace/${n.name}`, JSON.stringify(n)] as const),
    ...s.clusterRoles.map((r) => [`clusterrole/${r.name}`, JSON.stringify(r)] as const),
    ...s.clusterRoleBindings.map((r) => [`clusterrolebinding/${r.name}`, JSON.stringify(r)] as const),
    ...s.releases.map((r) => [`release/${r.namespace}/${r.name}`, JSON.stringify(r)] as const),
    ...s.customers.map((c) => [`customer/${c.customerId}`, JSON.stringify(c)] as const),
  ]);
  const a = index(before);
  const b = index(after);
  return {
    added: [...b.keys()].filter((k) => !a.has(k)).sort(),
    removed: [...a.keys()].filter((k) => !b.has(k)).sort(),
    changed: [...a.keys()].filter((k) => b.has(k) && a.get(k) !== b.get(k)).sort(),
  };
}

// ---------------------------------------------------------------------------------------------
// waiting

/** Polls `check` until it returns a truthy value; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The namespace object, or null when the API answers 404. */
export async function getNamespace(name: string): Promise<k8s.V1Namespace | null> {
  try {
    return await coreApi().readNamespace({ name });
  } catch (err) {
    if (err instanceof k8s.ApiException && err.code === 404) return null;
    throw err;
  }
}

/** One client of the test server for `fn`, then closed: CREATE DATABASE, roles (what a pool is not for). */
export async function withAdminClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: testEnv().databaseUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A kubeconfig (mode 0600, in this run's directory) for the test cluster, as `user` with a bearer token. */
export function tokenKubeconfig(user: string, token: string, name: string): string {
  const adminConfig = parse(readFileSync(testEnv().kubeconfig, 'utf8')) as { clusters: Array<{ name: string; cluster: Record<string, unknown> }> };
  const file = path.join(testEnv().runDir, `kubeconfig-${name}`);
  writeFileSync(file, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': user,
    clusters: adminConfig.clusters,
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: adminConfig.clusters[0]!.name, user } }],
  }), { mode: 0o600 });
  return file;
}
