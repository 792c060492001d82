/**
 * A release that places objects in other namespaces (a ConfigMap in a monitoring namespace, a
 * Secret in a shared one) is refused like cluster-scoped objects: `helm uninstall` would delete
 * them outside the customer's namespace. The real cluster, real helm, the fixture chart
 * test/fixtures/charts/cross-namespace.
 */
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
});
