/**
 * Least privilege, proven on the real control plane (RBAC authorization, ServiceAccount tokens
 * from the TokenRequest API): custctl running as a ServiceAccount bound to exactly what
 * `custctl doctor --print-rbac` prints completes a deletion (helm uninstall included), a backup,
 * a restore and a cleanup-rbac sweep, and `kubectl auth can-i` shows what it cannot do.
 *
 * Every name here is this run's own (roles `custctl-lp-<key>`, ServiceAccount namespace, customers),
 * so the file shares the cluster with the others; the sweep is limited to its own customer.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { custctl, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { db, getNamespace, helm, kubectl, kubectlJson, openCostName, provisionCustomer, randomKey, tokenKubeconfig, type ProvisionedCustomer } from '../support/fixtures.js';

const run = randomKey('lp');
const NAME = `custctl-${run}`;
const SA_NS = `custctl-${run}`;
const SA = 'custctl';
const NAME_NOREST = `${NAME}-norestore`;
const state = tempStateDir();
const backups = mkdtempSync(path.join(tmpdir(), 'custctl-lp-backups-'));
let saKubeconfig = '';
let saNoRestoreKubeconfig = '';

const access = { name: NAME, clusterRole: `${NAME}-customer-namespace`, serviceAccount: SA, serviceAccountNamespace: SA_NS };

/** custctl as the ServiceAccount (its token in its own kubeconfig; helm gets the same one) */
const asSa = (args: string[]) => custctl(args, { env: { KUBECONFIG: saKubeconfig, CUSTCTL_STATE_DIR: state, CUSTCTL_RBAC_NAME: NAME } });
const canI = async (kubeconfig: string, ...args: string[]): Promise<string> => {
  const r = await execa(testEnv().kubectlBin, ['--kubeconfig', kubeconfig, 'auth', 'can-i', ...args], { reject: false });
  return String(r.stdout).trim();
};

async function serviceAccountKubeconfig(sa: string, label: string): Promise<string> {
  // the TokenRequest API (kube-apiserver's --service-account-issuer and signing key)
  const t = await kubectl(['-n', SA_NS, 'create', 'token', sa, '--duration', '2h'], { check: true });
  return tokenKubeconfig(`system:serviceaccount:${SA_NS}:${sa}`, t.stdout.trim(), label);
}

let a: ProvisionedCustomer;
let b: ProvisionedCustomer;
let c: ProvisionedCustomer;

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: state } });
  expect(m.exitCode, m.stderr).toBe(0);
  [a, b, c] = await Promise.all([
    provisionCustomer(randomKey('lpa'), { custctlAccess: access }),
    provisionCustomer(randomKey('lpb'), { custctlAccess: access }),
    // an instance removed by hand (no row left): its cluster RBAC leaks
    provisionCustomer(randomKey('lpc'), { custctlAccess: access, row: false }),
  ]);
  await kubectl(['create', 'namespace', SA_NS], { check: true });
  // printed by the admin while customers exist: the restore part holds what their ClusterRoles grant
  const all = await custctl(['doctor', '--print-rbac', '--features', 'all', '--service-account', `${SA_NS}/${SA}`, '--rbac-name', NAME], { env: { CUSTCTL_STATE_DIR: state } });
  expect(all.exitCode, all.stderr).toBe(0);
  expect(all.stdout).toMatch(/read the rules of \d+ customer ClusterRole name\(s\): c<key>-customer-instance-opencost/);
  await kubectl(['apply', '-f', '-'], { input: all.stdout, check: true });
  saKubeconfig = await serviceAccountKubeconfig(SA, `${run}-all`);
  // the default profile (no restore) for a second ServiceAccount
  const base = await custctl(['doctor', '--print-rbac', '--static', '--service-account', `${SA_NS}/${SA}-norestore`, '--rbac-name', NAME_NOREST], { env: { CUSTCTL_STATE_DIR: state } });
  expect(base.exitCode, base.stderr).toBe(0);
  await kubectl(['apply', '-f', '-'], { input: base.stdout, check: true });
  saNoRestoreKubeconfig = await serviceAccountKubeconfig(`${SA}-norestore`, `${run}-norestore`);
}, 240_000);

afterAll(async () => {
  for (const n of [NAME, NAME_NOREST]) {
    await kubectl(['delete', 'clusterrolebinding', n, '--ignore-not-found']).catch(() => undefined);
    await kubectl(['delete', 'clusterrole', n, `${n}-customer-namespace`, '--ignore-not-found']).catch(() => undefined);
  }
  await kubectl(['delete', 'namespace', SA_NS, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  if (spare) {
    await helm(['uninstall', spare.release, '-n', spare.namespace]).catch(() => undefined);
    await kubectl(['delete', 'namespace', spare.namespace, '--wait=false', '--ignore-not-found']).catch(() => undefined);
  }
});

describe('custctl as a ServiceAccount bound to exactly what doctor --print-rbac prints', () => {
  it('doctor: every permission a deletion needs, and every feature, allowed', async () => {
    // the grant is per customer namespace: asked in this file's own customer's (others share the cluster)
    const r = await custctl(['doctor', '-o', 'json', '--customer', a.customerId], { env: { KUBECONFIG: saKubeconfig, CUSTCTL_STATE_DIR: state, CUSTCTL_RBAC_NAME: NAME } });
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks;
    expect(checks.find((k) => k.name === 'permissions'), r.stdout).toMatchObject({ status: 'ok' });
    expect(checks.find((k) => k.name === 'features')).toBeUndefined();
  });

  it('a deletion with a backup (helm uninstall as the ServiceAccount), then a restore of it', async () => {
    const d = await asSa(['delete', a.customerId, '--yes', '--backup', `file://${backups}`]);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(d.stderr).not.toMatch(/permission denied|forbidden/i);
    expect(await getNamespace(a.namespace)).toBeNull();
    expect((await kubectl(['get', 'clusterrole', openCostName(a.key), '--ignore-not-found', '-o', 'name'])).stdout.trim()).toBe('');
    expect((await db().query('select deployment_status from customers where customer_id = $1', [a.customerId])).rows[0]?.deployment_status).toBe('pending');

    const archive = readdirSync(backups).find((f) => f.startsWith(`${a.customerId}-`) && f.endsWith('.tar.gz'));
    expect(archive).toBeDefined();
    const r = await asSa(['restore', a.customerId, '--from', `file://${path.join(backups, archive!)}`, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored .*row deployed/);
    const ns = await getNamespace(a.namespace);
    expect(ns?.status?.phase).toBe('Active');
    expect((await kubectl(['get', 'clusterrole', openCostName(a.key), '-o', 'name'], { check: true })).stdout.trim()).toBe(`clusterrole.rbac.authorization.k8s.io/${openCostName(a.key)}`);
    const deploy = await kubectlJson<{ metadata: { name: string } }>(['-n', a.namespace, 'get', 'deployment', 'customer-instance', '-o', 'json']);
    expect(deploy.metadata.name).toBe('customer-instance');
    // the restored namespace carries custctl's grant again: the restored customer can be deleted by it
    const again = await asSa(['delete', a.customerId, '--yes']);
    expect(again.exitCode, again.stderr).toBe(0);
  });

  it('helm uninstall as the ServiceAccount covers a release (its grant is kept by the chart, so helm keeps access to the end)', async () => {
    const env = testEnv();
    const r = await execa(env.helmBin, ['uninstall', b.release, '-n', b.namespace, '--kubeconfig', saKubeconfig, '--timeout', '2m'], {
      reject: false, env: { ...process.env, HELM_CONFIG_HOME: path.join(state, 'helm-config'), HELM_CACHE_HOME: path.join(state, 'helm-cache'), HELM_DATA_HOME: path.join(state, 'helm-data') },
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect((await helm(['list', '-n', b.namespace, '-q'])).stdout.trim()).toBe('');
    // then custctl deletes what is left: the namespace (with custctl's own RoleBinding) and the row
    const d = await asSa(['delete', b.customerId, '--yes']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(await getNamespace(b.namespace)).toBeNull();
  });

  it('a cleanup-rbac sweep of a customer whose namespace went without custctl', async () => {
    await kubectl(['delete', 'namespace', c.namespace, '--wait=true'], { check: true });
    const r = await asSa(['cleanup-rbac', '--customer', c.customerId, '--yes']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`ClusterRole\\s+${openCostName(c.key)}\\s+${c.customerId}\\s+deleted`));
    expect((await kubectl(['get', 'clusterrole,clusterrolebinding', '-o', 'name'])).stdout).not.toContain(openCostName(c.key));
  });

  it('kubectl auth can-i: no Secrets outside the customer namespaces, no cluster RBAC it does not own', async () => {
    for (const kc of [saKubeconfig, saNoRestoreKubeconfig]) {
      expect(await canI(kc, 'get', 'secrets', '-n', 'kube-system')).toBe('no');
      expect(await canI(kc, 'list', 'secrets', '-n', 'default')).toBe('no');
      expect(await canI(kc, 'list', 'secrets', '--all-namespaces')).toBe('no');
      expect(await canI(kc, 'create', 'pods', '-n', 'kube-system')).toBe('no');
      expect(await canI(kc, 'bind', 'clusterroles/cluster-admin')).toBe('no');
      expect(await canI(kc, 'escalate', 'clusterroles')).toBe('no');
      expect(await canI(kc, 'update', 'clusterroles')).toBe('no');
      expect(await canI(kc, 'patch', 'clusterrolebindings')).toBe('no');
    }
    // inside a customer namespace (the chart's RoleBinding): what a deletion needs
    expect(await canI(saNoRestoreKubeconfig, 'list', 'secrets', '-n', (await provisionOne()).namespace)).toBe('yes');
    // without restore it creates no RBAC at all
    for (const what of ['clusterroles', 'clusterrolebindings']) expect(await canI(saNoRestoreKubeconfig, 'create', what)).toBe('no');
    expect(await canI(saNoRestoreKubeconfig, 'create', 'rolebindings', '-n', 'kube-system')).toBe('no');
    // the price of restore, which print-rbac states: it re-creates custctl's RoleBinding in the
    // namespace it re-creates, and RBAC cannot confine that to customer namespaces
    expect(await canI(saKubeconfig, 'create', 'rolebindings', '-n', 'kube-system')).toBe('yes');
    // restore re-creates customers' cluster RBAC, and RBAC still refuses what custctl does not hold
    const admin = await execa(testEnv().kubectlBin, ['--kubeconfig', saKubeconfig, 'create', 'clusterrolebinding', `${NAME}-evil`, '--clusterrole', 'cluster-admin', '--serviceaccount', `${SA_NS}:${SA}`], { reject: false });
    expect(admin.exitCode).not.toBe(0);
    expect(String(admin.stderr)).toMatch(/forbidden/i);
    const secretsRole = await execa(testEnv().kubectlBin, ['--kubeconfig', saKubeconfig, 'create', 'clusterrole', `${NAME}-evil`, '--verb', 'get', '--resource', 'secrets'], { reject: false });
    expect(secretsRole.exitCode).not.toBe(0);
    expect(String(secretsRole.stderr)).toMatch(/forbidden.*(escalat|not currently held)/is);
  });
});

let spare: ProvisionedCustomer | undefined;
async function provisionOne(): Promise<ProvisionedCustomer> {
  spare ??= await provisionCustomer(randomKey('lpd'), { custctlAccess: { ...access, name: NAME_NOREST, clusterRole: `${NAME_NOREST}-customer-namespace`, serviceAccount: `${SA}-norestore` } });
  return spare;
}
