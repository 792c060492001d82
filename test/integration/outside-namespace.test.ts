/**
 * A release that places objects in other namespaces (a ConfigMap in a monitoring namespace, a
 * Secret in a shared one) is refused like cluster-scoped objects: `helm uninstall` would delete
 * them outside the customer's namespace. The real cluster, real helm, the fixture chart
 * test/fixtures/charts/cross-namespace.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { db, getNamespace, helm, kubectl, kubectlJson, provisionCustomer, randomKey } from '../support/fixtures.js';

const CHART = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/charts/cross-namespace');
const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };
const key = randomKey('o');
const monitoring = `monitoring-${key}`;
const shared = `shared-${key}`;

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, instance_url, deletion_job_id from customers where customer_id = $1', [customerId]);
  return r.rows[0] as Record<string, unknown> | undefined;
}

async function configMaps(namespace: string): Promise<string[]> {
  const l = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'configmaps', '-n', namespace]);
  return l.items.map((i) => i.metadata.name).filter((n) => n !== 'kube-root-ca.crt').sort();
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
  for (const ns of [monitoring, shared]) await kubectl(['create', 'namespace', ns], { check: true });
});
afterAll(async () => {
  for (const ns of [monitoring, shared]) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('a release with objects in other namespaces', () => {
  it('is listed in the plan and refused (exit 2) with nothing touched; --allow-outside-namespace deletes it', async () => {
    const c = await provisionCustomer(key);
    const extras = `extras-${key}`;
    await helm(['install', extras, CHART, '-n', c.namespace, '--set-string', `monitoringNamespace=${monitoring}`, '--set-string', `sharedNamespace=${shared}`], { check: true });
    expect(await configMaps(monitoring)).toEqual([`${extras}-dashboards`]);
    const before = await row(c.customerId);

    // the plan shows them
    const dry = await custctlJson<{ results: Array<{ plan: { releases: Array<{ name: string; outsideNamespace: string[]; clusterScoped: string[] }> } }> }>(['delete', c.customerId, '--dry-run'], { env });
    expect(dry.result.exitCode, dry.result.stderr).toBe(0);
    const plan = dry.json.results[0]?.plan.releases.find((r) => r.name === extras);
    expect(plan?.outsideNamespace.sort()).toEqual([`ConfigMap ${monitoring}/${extras}-dashboards`, `Secret ${shared}/${extras}-pull`]);
    // the objects helm puts in the release namespace (metadata.namespace omitted, or written out) are not listed
    expect(plan?.outsideNamespace.join(' ')).not.toMatch(/-plain|-named/);
    const text = await custctl(['delete', c.customerId, '--dry-run'], { env });
    expect(text.stdout).toContain(`outside the namespace ConfigMap ${monitoring}/${extras}-dashboards`);

    // refused, nothing touched
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`objects in namespaces other than ${c.namespace}`);
    expect(r.stderr).toContain(`release ${extras}: ConfigMap ${extras}-dashboards (v1) in namespace ${monitoring}`);
    expect(r.stderr).toContain(`release ${extras}: Secret ${extras}-pull (v1) in namespace ${shared}`);
    expect(r.stderr).not.toMatch(/-plain|-named \(/);
    expect(await row(c.customerId)).toEqual(before);
    expect(await configMaps(monitoring)).toEqual([`${extras}-dashboards`]);
    expect((await getNamespace(c.namespace))?.metadata?.deletionTimestamp).toBeUndefined();
    const releases = JSON.parse((await helm(['list', '-n', c.namespace, '-o', 'json'], { check: true })).stdout) as Array<{ name: string }>;
    expect(releases.map((x) => x.name).sort()).toEqual([c.release, extras].sort());

    // allowed: deleted, including what helm removes in the other namespaces; those namespaces stay
    const ok = await custctl(['delete', c.customerId, '--yes', '--allow-outside-namespace'], { env });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    expect(await configMaps(monitoring)).toEqual([]);
    expect(await getNamespace(monitoring)).not.toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  });

  it('a release naming cluster RBAC that exists and is not the customer\'s is refused (exit 4) whatever the flags, with nothing touched', async () => {
    // a release record in the namespace whose manifest names a ClusterRole and binding that are not
    // this customer's (no Helm annotation for its namespace, not its name): helm uninstall would delete them
    const k = randomKey('of');
    const c = await provisionCustomer(k);
    const victim = `victim-${k}`;
    const chart = mkdtempSync(path.join(tmpdir(), 'custctl-planted-'));
    mkdirSync(path.join(chart, 'templates'));
    writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: planted\nversion: 0.1.0\n');
    writeFileSync(path.join(chart, 'templates', 'rbac.yaml'), [
      'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRole', `metadata: { name: ${victim} }`, 'rules: [{ apiGroups: [""], resources: [nodes], verbs: [get] }]', '---',
      'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRoleBinding', `metadata: { name: ${victim} }`,
      `roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${victim} }`, 'subjects: [{ kind: Group, apiGroup: rbac.authorization.k8s.io, name: platform-admins }]', '',
    ].join('\n'));
    const planted = `planted-${k}`;
    await helm(['install', planted, chart, '-n', c.namespace], { check: true });
    for (const kind of ['clusterrole', 'clusterrolebinding']) {
      await kubectl(['annotate', kind, victim, 'meta.helm.sh/release-namespace-', 'meta.helm.sh/release-name-'], { check: true });
      await kubectl(['label', kind, victim, 'app.kubernetes.io/managed-by-'], { check: true });
    }
    const before = await row(c.customerId);
    const victims = async () => (await kubectl(['get', 'clusterrole,clusterrolebinding', victim, '-o', 'name', '--ignore-not-found'])).stdout.trim().split('\n').filter(Boolean).sort();
    expect(await victims()).toEqual([`clusterrole.rbac.authorization.k8s.io/${victim}`, `clusterrolebinding.rbac.authorization.k8s.io/${victim}`]);

    for (const args of [['--dry-run'], ['--yes'], ['--yes', '--allow-cluster-scoped'], ['--yes', '--helm-uninstall', 'always']]) {
      const r = await custctl(['delete', c.customerId, ...args], { env });
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain('names cluster RBAC that exists and is not this customer\'s');
      expect(r.stderr).toContain(`release ${planted}: ClusterRole ${victim}`);
      expect(r.stderr).toContain(`release ${planted}: ClusterRoleBinding ${victim}`);
    }
    expect(await victims()).toHaveLength(2);
    expect(await row(c.customerId)).toEqual(before);
    expect((await getNamespace(c.namespace))?.metadata?.deletionTimestamp).toBeUndefined();
    const releases = JSON.parse((await helm(['list', '-n', c.namespace, '-o', 'json'], { check: true })).stdout) as Array<{ name: string }>;
    expect(releases.map((x) => x.name).sort()).toEqual([c.release, planted].sort());

    // the same objects owned (Helm's annotation for this namespace back): the release goes, with them
    for (const kind of ['clusterrole', 'clusterrolebinding']) await kubectl(['annotate', kind, victim, `meta.helm.sh/release-namespace=${c.namespace}`], { check: true });
    const ok = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    expect(await victims()).toEqual([]);
  });

  it('a release naming another Namespace is refused (exit 4) even with --allow-cluster-scoped: that namespace stays', async () => {
    const k = randomKey('on');
    const c = await provisionCustomer(k);
    const other = `victimns-${k}`;
    const chart = mkdtempSync(path.join(tmpdir(), 'custctl-planted-ns-'));
    mkdirSync(path.join(chart, 'templates'));
    writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: planted-ns\nversion: 0.1.0\n');
    writeFileSync(path.join(chart, 'templates', 'ns.yaml'), `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${other}\n`);
    await helm(['install', `plantedns-${k}`, chart, '-n', c.namespace], { check: true });
    const before = await row(c.customerId);
    for (const args of [['--dry-run'], ['--yes', '--allow-cluster-scoped']]) {
      const r = await custctl(['delete', c.customerId, ...args], { env });
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(4);
      expect(r.stderr).toContain(`release plantedns-${k}: Namespace ${other} (only ${c.namespace} is ${c.customerId}'s)`);
    }
    expect((await getNamespace(other))?.metadata?.deletionTimestamp).toBeUndefined();
    expect((await getNamespace(c.namespace))?.metadata?.deletionTimestamp).toBeUndefined();
    expect(await row(c.customerId)).toEqual(before);
    // that release removed by whoever owns it, the customer deletes as usual
    await helm(['uninstall', `plantedns-${k}`, '-n', c.namespace, '--wait=false'], { check: true });
    const ok = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    await kubectl(['delete', 'namespace', other, '--wait=false', '--ignore-not-found']);
  });
});

