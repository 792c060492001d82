/**
 * Issue 17 items 1 and 2: `custctl doctor` and `custctl version` against the real control plane,
 * PostgreSQL and helm, and against set-ups that cannot delete (a user lacking one permission, no
 * helm, a stopped database, an unreachable queue API).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUIRED_ACCESS, type RequiredAccess } from '../../src/domain/permissions.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { coreApi, ensureCustomersTable, randomKey, rbacApi, tokenKubeconfig, waitFor } from '../support/fixtures.js';

interface Check { name: string; status: 'ok' | 'warn' | 'fail' | 'skipped'; detail: string; fix?: string }
interface Doctor { ok: boolean; checks: Check[] }
const byName = (d: Doctor, name: string) => d.checks.find((c) => c.name === name);

const key = randomKey('dr');
/**
 * The SAs' namespace is the only one with this prefix: doctor asks the namespaced permissions in a
 * customer namespace, and a RoleBinding here grants them (as in a least-privilege set-up).
 */
const prefix = `${key}-`;
const ns = `${prefix}sa`;
const prefixEnv = { CUSTCTL_NAMESPACE_PREFIX: prefix };
const role = `custctl-doctor-test-${key}`;
let limitedKubeconfig = '';

/**
 * A service account granted `access`: the cluster-scoped part cluster-wide (ClusterRoleBinding),
 * the namespace part in `ns` only (RoleBinding); and a kubeconfig for it.
 */
async function serviceAccountWith(sa: string, access: readonly RequiredAccess[]): Promise<string> {
  const name = `${role}-${sa}`;
  const subjects = [{ kind: 'ServiceAccount', name: sa, namespace: ns }];
  const roleRef = (n: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: n });
  await coreApi().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
  await rbacApi().createClusterRole({ body: { metadata: { name }, rules: access.filter((a) => a.scope === 'cluster').map(rule) } });
  await rbacApi().createClusterRoleBinding({ body: { metadata: { name }, roleRef: roleRef(name), subjects } });
  await rbacApi().createClusterRole({ body: { metadata: { name: `${name}-ns` }, rules: access.filter((a) => a.scope === 'namespace').map(rule) } });
  await rbacApi().createNamespacedRoleBinding({ namespace: ns, body: { metadata: { name }, roleRef: roleRef(`${name}-ns`), subjects } });
  const token = await waitFor(async () => {
    const secrets = await coreApi().listNamespacedSecret({ namespace: ns });
    const s = secrets.items.find((x) => x.type === 'kubernetes.io/service-account-token' && x.metadata?.annotations?.['kubernetes.io/service-account.name'] === sa);
    return s?.data?.token ? Buffer.from(s.data.token, 'base64').toString() : null;
  }, 'the service account token', 60_000);
  return tokenKubeconfig(sa, token, `${ns}-${sa}`);
}
const rule = (a: RequiredAccess) => ({ apiGroups: [a.group], resources: [a.resource], verbs: [a.verb], ...(a.resourceNames ? { resourceNames: [...a.resourceNames] } : {}) });
const REQUIRED = REQUIRED_ACCESS.filter((a) => !a.feature);
let basicKubeconfig = '';

beforeAll(async () => {
  await ensureCustomersTable();
  await coreApi().createNamespace({ body: { metadata: { name: ns } } });
  // everything a deletion needs except deleting ClusterRoleBindings, and none of the features' extras
  limitedKubeconfig = await serviceAccountWith('almost', REQUIRED.filter((a) => !(a.verb === 'delete' && a.resource === 'clusterrolebindings')));
  // exactly what a deletion needs: soft delete, backup and restore are not granted
  basicKubeconfig = await serviceAccountWith('basic', REQUIRED);
}, 120_000);

afterAll(async () => {
  for (const sa of ['almost', 'basic']) {
    await rbacApi().deleteClusterRoleBinding({ name: `${role}-${sa}` }).catch(() => undefined);
    await rbacApi().deleteClusterRole({ name: `${role}-${sa}` }).catch(() => undefined);
    await rbacApi().deleteClusterRole({ name: `${role}-${sa}-ns` }).catch(() => undefined);
  }
  await coreApi().deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('custctl doctor', () => {
  it('on a complete set-up: every check ok, exit 0, says a deletion can run', async () => {
    const state = tempStateDir();
    const { result, json } = await custctlJson<Doctor>(['doctor'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(result.exitCode, result.stderr + result.stdout).toBe(0);
    expect(json.ok).toBe(true);
    expect(json.checks.map((c) => [c.name, c.status])).toEqual([
      ['kubeconfig', 'ok'], ['API server', 'ok'], ['permissions', 'ok'], ['helm', 'ok'], ['database', 'ok'], ['database TLS', 'ok'], ['state dir', 'ok'], ['queue', 'ok'],
    ]);
    expect(byName(json, 'API server')?.detail).toMatch(/v1\.\d+/);
    expect(byName(json, 'permissions')?.detail).toContain(`all ${REQUIRED.length} a deletion needs are allowed`);
    expect(byName(json, 'features')).toBeUndefined();
    expect(byName(json, 'database')?.detail).toMatch(/PostgreSQL \d+/);
    const human = await custctl(['doctor'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('A deletion can run.');
  }, 120_000);

  it('a user lacking one permission: that permission named with why, the fix, exit 1', async () => {
    const { result, json } = await custctlJson<Doctor>(['doctor'], { env: { KUBECONFIG: limitedKubeconfig, CUSTCTL_STATE_DIR: tempStateDir(), ...prefixEnv } });
    expect(result.exitCode).toBe(1);
    expect(json.ok).toBe(false);
    const p = byName(json, 'permissions');
    expect(p?.status).toBe('fail');
    // namespaced permissions are asked inside a customer namespace when one exists
    expect(p?.detail).toBe(`denied (inside a customer namespace as in ${ns}): delete clusterrolebindings.rbac.authorization.k8s.io (to delete them (step 3))`);
    expect(p?.fix).toMatch(/^Grant almost what 'custctl doctor --print-rbac' prints/);
    expect(byName(json, 'API server')?.status).toBe('ok');
    const human = await custctl(['doctor'], { env: { KUBECONFIG: limitedKubeconfig, CUSTCTL_STATE_DIR: tempStateDir(), ...prefixEnv } });
    expect(human.exitCode).toBe(1);
    expect(human.stdout).toMatch(/FAIL\s+permissions\s+denied \(inside a customer namespace as in [^)]+\): delete clusterrolebindings/);
    expect(human.stdout).toContain('1 problem(s): a deletion cannot run until they are fixed.');
    expect(json.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['permissions']);
  }, 120_000);

  it('a user with exactly what a deletion needs: exit 0, and a warning names what soft delete, backup and restore would need', async () => {
    const { result, json } = await custctlJson<Doctor>(['doctor'], { env: { KUBECONFIG: basicKubeconfig, CUSTCTL_STATE_DIR: tempStateDir(), ...prefixEnv } });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(byName(json, 'permissions')?.status).toBe('ok');
    const f = byName(json, 'features');
    expect(f?.status).toBe('warn');
    // listing every kind of the namespace is part of a deletion (the plan counts them): only the patches are extra
    expect(f?.detail).toContain('soft delete (--after) needs patch deployments.apps');
    expect(f?.detail).toContain('backup (--backup) needs get clusterroles.rbac.authorization.k8s.io');
    expect(f?.detail).toMatch(/restore needs create namespaces, .*create \*\.\*/);
  }, 120_000);

  it('no helm: the helm check fails with how to fix it, exit 1; the cluster checks still ran', async () => {
    const { result, json } = await custctlJson<Doctor>(['doctor'], { env: { HELM_BIN: '/nonexistent/helm', CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(result.exitCode).toBe(1);
    expect(byName(json, 'helm')).toMatchObject({ status: 'fail' });
    expect(byName(json, 'helm')?.detail).toContain('helm not found');
    expect(byName(json, 'helm')?.fix).toMatch(/HELM_BIN/);
    expect(byName(json, 'permissions')?.status).toBe('ok');
  }, 120_000);

  it('a stopped database: the database check fails, exit 1, nothing else is held up', async () => {
    const { result, json } = await custctlJson<Doctor>(['doctor'], { env: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(result.exitCode).toBe(1);
    expect(byName(json, 'database')?.status).toBe('fail');
    expect(byName(json, 'database')?.detail).toMatch(/127\.0\.0\.1:1/);
    expect(byName(json, 'helm')?.status).toBe('ok');
  }, 120_000);

  it('an unreachable queue API: the queue API check fails, exit 1', async () => {
    const { result, json } = await custctlJson<Doctor>(['doctor', '--api-url', 'http://127.0.0.1:1'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(result.exitCode).toBe(1);
    expect(byName(json, 'queue API')?.status).toBe('fail');
  }, 120_000);

  it('a state dir writable by others fails, and doctor leaves it as it was (read-only)', async () => {
    const state = tempStateDir();
    const { chmodSync, statSync } = await import('node:fs');
    chmodSync(state, 0o777);
    const { result, json } = await custctlJson<Doctor>(['doctor'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(result.exitCode).toBe(1);
    expect(byName(json, 'state dir')).toMatchObject({ status: 'fail', fix: `chmod 700 ${state}` });
    expect(statSync(state).mode & 0o777).toBe(0o777);
  }, 120_000);
});

describe('custctl version', () => {
  it('custctl, Node, helm, the API server and the database, with the store and queue in use', async () => {
    const { result, json } = await custctlJson<Record<string, unknown>>(['version'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(result.exitCode, result.stderr).toBe(0);
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };
    expect(json).toMatchObject({
      custctl: pkg.version,
      node: process.version,
      helm: { version: expect.stringMatching(/^v\d+\.\d+\.\d+/) },
      server: { version: expect.stringMatching(/^v1\.\d+\.\d+/), detail: expect.stringContaining(testEnv().apiServer) },
      database: { version: expect.stringMatching(/^PostgreSQL \d+/) },
      queue: expect.stringContaining('file journal'),
    });
    const human = await custctl(['version'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(human.stdout).toMatch(/^custctl\s+\d+\.\d+\.\d+$/m);
    expect(human.stdout).toMatch(/^API server\s+v1\./m);
  }, 120_000);

  it('--client asks no server: works without a kubeconfig or a database', async () => {
    const { result, json } = await custctlJson<Record<string, unknown>>(['version', '--client'], { env: { KUBECONFIG: '/nonexistent', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' } });
    expect(result.exitCode).toBe(0);
    expect(Object.keys(json).sort()).toEqual(['custctl', 'helm', 'node']);
  }, 60_000);

  it('a stopped database is shown as unavailable with why; version still exits 0 and the rest is shown', async () => {
    const { result, json } = await custctlJson<{ server: { error?: string } }>(['version'], { env: { KUBECONFIG: limitedKubeconfig, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(result.exitCode).toBe(0);
    expect(json.server).toMatchObject({ version: expect.stringMatching(/^v1\./) });
    expect((json as unknown as { database: { error: string } }).database.error).toMatch(/127\.0\.0\.1:1/);
  }, 60_000);

  it('-V and --version print the version alone', async () => {
    for (const flag of ['-V', '--version']) {
      const r = await custctl([flag], { realParts: false });
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    }
  }, 60_000);
});
