/**
 * A cluster's own settings over the fleet's two real control planes: a deletion on a cluster whose
 * clusters-file entry sets `timeouts.namespace` waits that long for the namespace (an explicit
 * --timeout wins), and `cleanup-rbac --cluster NAME` through a real `serve` sweeps that cluster
 * only (an unknown name is a 400 naming the server's clusters).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CleanupReport } from '../../src/commands/cleanup-rbac.js';
import type { DeleteReport } from '../../src/jobs/kinds/delete.js';
import { sha256Hex } from '../../src/server/auth.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { STUCK_FINALIZER, clusterRbacManifest, db, ensureCustomersTable, kubectl, openCostName, provisionCustomer, randomKey } from '../support/fixtures.js';
import { SECOND_CLUSTER_START_MS, firstCluster, secondCluster, writeClustersFile, type SecondCluster } from '../support/second-cluster.js';
import { startServe, type RunningServe } from '../support/serve.js';

let second: SecondCluster;
let file: string;
let dir: string;
let stateDir: string;
const tag = randomKey('t');
const A = `a-${tag}`;
const B = `b-${tag}`;
const ids: string[] = [];
const stuckOnB: string[] = [];

const env = () => ({ CUSTCTL_CLUSTERS_FILE: file, CUSTCTL_STATE_DIR: stateDir });

/** Removes the test finalizer from the ConfigMaps of `namespace` on the second cluster. */
async function unstickOnB(namespace: string): Promise<void> {
  const on = { kubeconfig: second.kubeconfig };
  const got = await kubectl(['get', 'configmaps', '--namespace', namespace, '-o', 'json'], on);
  if (got.exitCode !== 0) return;
  const list = JSON.parse(got.stdout) as { items: Array<{ metadata: { name: string; finalizers?: string[] } }> };
  for (const item of list.items) {
    const finalizers = item.metadata.finalizers ?? [];
    if (!finalizers.includes(STUCK_FINALIZER)) continue;
    await kubectl(['patch', 'configmap', item.metadata.name, '--namespace', namespace, '--type', 'merge', '-p', JSON.stringify({ metadata: { finalizers: finalizers.filter((f) => f !== STUCK_FINALIZER) } })], on);
  }
}

async function stuckCustomerOnB(): Promise<{ customerId: string; namespace: string }> {
  const c = await provisionCustomer(randomKey('ft'), { cluster: B, kubeconfig: second.kubeconfig, stuck: true });
  ids.push(c.customerId);
  stuckOnB.push(c.namespace);
  return c;
}

beforeAll(async () => {
  [second] = await Promise.all([secondCluster(), ensureCustomersTable()]);
  dir = mkdtempSync(path.join(tmpdir(), 'custctl-fleet-timeouts-'));
  stateDir = tempStateDir();
  file = await writeClustersFile(dir, [
    { name: A, kubeconfig: firstCluster().kubeconfig },
    { name: B, kubeconfig: second.kubeconfig, timeouts: { job: '10m', namespace: '5s' } },
  ]);
}, SECOND_CLUSTER_START_MS);

afterAll(async () => {
  for (const ns of stuckOnB) await unstickOnB(ns);
  if (ids.length > 0) await db().query('delete from customers where customer_id = any($1)', [ids]);
});

describe("a cluster's timeouts", () => {
  it("a namespace held by a finalizer on a cluster with timeouts.namespace 5s fails after 5s; an explicit --timeout wins", async () => {
    const c = await stuckCustomerOnB();
    // the plan says which timeouts apply and why
    const dry = await custctlJson<DeleteReport>(['delete', c.customerId, '--dry-run'], { env: env() });
    expect(dry.result.exitCode, dry.result.stderr).toBe(0);
    expect(dry.json.results[0]?.plan?.timeouts).toEqual({ jobMs: 600_000, namespaceMs: 5_000, from: { job: 'cluster', namespace: 'cluster' } });
    const asked = await custctlJson<DeleteReport>(['delete', c.customerId, '--dry-run', '--timeout', '8s'], { env: { ...env(), CUSTCTL_JOB_TIMEOUT: '2m' } });
    expect(asked.json.results[0]?.plan?.timeouts).toEqual({ jobMs: 120_000, namespaceMs: 8_000, from: { job: 'site', namespace: 'asked' } });
    const human = await custctl(['delete', c.customerId, '--dry-run'], { env: env() });
    expect(human.stdout).toContain("Timeouts     job 10m (the cluster's), namespace 5s (the cluster's)");
    const started = Date.now();
    const r = await custctl(['delete', c.customerId, '--yes'], { env: { ...env(), QUEUE_MAX_RETRIES: '1' } });
    const took = Date.now() - started;
    expect(r.exitCode, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/namespaceTimeout[=: "]+5s/);
    expect(r.stderr).toContain(`namespace ${c.namespace} still exists after waiting 5s`);
    expect(r.stderr).toContain(STUCK_FINALIZER);
    // the 5 minutes of the default would have been far past this (a loaded machine starts slowly)
    expect(took).toBeLessThan(120_000);
    const row = await db().query<{ deployment_status: string }>('select deployment_status from customers where customer_id = $1', [c.customerId]);
    expect(row.rows[0]?.deployment_status).toBe('deletion_failed');

    // explicit beats the cluster's: --timeout 8s
    const d = await stuckCustomerOnB();
    const e = await custctl(['delete', d.customerId, '--yes', '--timeout', '8s'], { env: { ...env(), QUEUE_MAX_RETRIES: '1' } });
    expect(e.exitCode, e.stderr).toBe(5);
    expect(e.stderr).toMatch(/namespaceTimeout[=: "]+8s/);
    expect(e.stderr).toContain(`namespace ${d.namespace} still exists after waiting 8s`);
  }, 300_000);
});

describe('cleanup-rbac --cluster through the queue API', () => {
  let serve: RunningServe;
  const ADMIN = 'a'.repeat(32);

  beforeAll(async () => {
    const tokens = path.join(dir, 'tokens');
    writeFileSync(tokens, `admin:admin:${sha256Hex(ADMIN)}\n`, { mode: 0o600 });
    serve = await startServe({ stateDir: tempStateDir(), env: { CUSTCTL_CLUSTERS_FILE: file, CUSTCTL_API_TOKENS_FILE: tokens } });
  }, 120_000);

  afterAll(async () => {
    await serve?.stop();
  });

  it("--cluster B with --api-url sweeps B only; an unknown cluster is a 400 naming the server's clusters", async () => {
    const goneA = randomKey('oa');
    const goneB = randomKey('ob');
    await kubectl(['apply', '-f', '-'], { input: clusterRbacManifest(goneA), check: true });
    await kubectl(['apply', '-f', '-'], { input: clusterRbacManifest(goneB), check: true, kubeconfig: second.kubeconfig });
    try {
      const api = { CUSTCTL_API_URL: serve.url, CUSTCTL_API_TOKEN: ADMIN, CUSTCTL_STATE_DIR: tempStateDir() };
      const mine = (xs: CleanupReport['orphans']) => xs.filter((x) => x.customerKey === goneA || x.customerKey === goneB).map((x) => [x.cluster, x.kind, x.name]).sort();
      const dry = await custctlJson<CleanupReport>(['cleanup-rbac', '--cluster', B, '--dry-run'], { env: api });
      expect(dry.result.exitCode, dry.result.stderr).toBe(0);
      expect(mine(dry.json.orphans)).toEqual([[B, 'ClusterRole', openCostName(goneB)], [B, 'ClusterRoleBinding', openCostName(goneB)]]);

      const sweep = await custctlJson<CleanupReport>(['cleanup-rbac', '--cluster', B, '--customer', `cust_${goneB}`, '--yes'], { env: api });
      expect(sweep.result.exitCode, sweep.result.stderr).toBe(0);
      expect(sweep.json.deleted.map((x) => [x.cluster, x.kind]).sort()).toEqual([[B, 'ClusterRole'], [B, 'ClusterRoleBinding']]);
      expect((await kubectl(['get', 'clusterrole', openCostName(goneB)], { kubeconfig: second.kubeconfig })).exitCode).not.toBe(0);
      expect((await kubectl(['get', 'clusterrole', openCostName(goneA)])).exitCode).toBe(0);

      // a cluster the server does not have: 400 naming its clusters, nothing swept
      const res = await fetch(`${serve.url}/api/admin/cleanup-rbac?cluster=nope&dryRun=false`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      const body = (await res.json()) as { message: string };
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(body.message).toContain(`no cluster "nope" in the fleet (${A}, ${B}`);
      const bad = await fetch(`${serve.url}/api/admin/cleanup-rbac?cluster=Not_A_Name&dryRun=true`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
      expect(bad.status).toBe(400);
      const cli = await custctl(['cleanup-rbac', '--cluster', 'nope', '--dry-run'], { env: api });
      expect(cli.exitCode, cli.stderr).toBe(2);
      expect(cli.stderr).toContain(`${A}, ${B}`);
      expect((await kubectl(['get', 'clusterrole', openCostName(goneA)])).exitCode).toBe(0);
    } finally {
      await kubectl(['delete', 'clusterrole,clusterrolebinding', openCostName(goneA), '--ignore-not-found']);
      await kubectl(['delete', 'clusterrole,clusterrolebinding', openCostName(goneB), '--ignore-not-found'], { kubeconfig: second.kubeconfig });
    }
  }, 180_000);
});
