/**
 * Deletions over a fleet of two real control planes (the run's two clusters) and one PostgreSQL:
 * each customer deleted on the cluster its row names, nothing touched on the other; a row naming
 * one cluster whose namespace exists only on the other is refused with nothing deleted anywhere; a
 * row naming no cluster is refused; cleanup-rbac sweeps both and reports each cluster's orphans and
 * the stray namespace. (A cluster stopped mid-run: test/serial/fleet-down.test.ts.)
 */
import fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CleanupReport } from '../../src/commands/cleanup-rbac.js';
import type { DeleteReport } from '../../src/jobs/kinds/delete.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { clusterRbacManifest, db, ensureCustomersTable, kubectl, openCostName, provisionCustomer, randomKey } from '../support/fixtures.js';
import { SECOND_CLUSTER_START_MS, firstCluster, secondCluster, writeClustersFile, type SecondCluster } from '../support/second-cluster.js';

let second: SecondCluster;
let file: string;
let stateDir: string;
const tag = randomKey('f');
const A = `a-${tag}`;
const B = `b-${tag}`;
const ids: string[] = [];

/** Does `namespace` exist on the first cluster (A) or the second (B)? */
async function exists(on: 'A' | 'B', kind: string, name: string): Promise<boolean> {
  const r = await kubectl(['get', kind, name, '-o', 'name'], on === 'B' ? { kubeconfig: second.kubeconfig } : {});
  return r.exitCode === 0;
}

/** A namespace being deleted still exists (Terminating) for a moment: gone or terminating counts as deleted. */
async function goneOrGoing(on: 'A' | 'B', namespace: string): Promise<boolean> {
  const r = await kubectl(['get', 'namespace', namespace, '-o', 'jsonpath={.status.phase}'], on === 'B' ? { kubeconfig: second.kubeconfig } : {});
  return r.exitCode !== 0 || r.stdout.trim() === 'Terminating';
}

async function customerOn(on: 'A' | 'B', opts: { cluster?: string | null } = {}): Promise<{ customerId: string; key: string; namespace: string }> {
  const key = randomKey('fl');
  const cluster = opts.cluster === undefined ? (on === 'A' ? A : B) : opts.cluster;
  const c = await provisionCustomer(key, { ...(cluster !== null ? { cluster } : {}), ...(on === 'B' ? { kubeconfig: second.kubeconfig } : {}) });
  ids.push(c.customerId);
  return c;
}

/** Delete requests the second cluster's API server received for this namespace (its audit log). */
async function deletesOnB(namespace: string): Promise<number> {
  const text = await fs.readFile(second.auditLog, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.includes('"verb":"delete"') && l.includes(`"${namespace}"`)).length;
}

const env = () => ({ CUSTCTL_CLUSTERS_FILE: file, CUSTCTL_STATE_DIR: stateDir });

beforeAll(async () => {
  [second] = await Promise.all([secondCluster(), ensureCustomersTable()]);
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-fleet-delete-'));
  stateDir = tempStateDir();
  file = await writeClustersFile(dir, [
    { name: A, kubeconfig: firstCluster().kubeconfig, concurrency: 4 },
    { name: B, kubeconfig: second.kubeconfig, concurrency: 4 },
  ]);
}, SECOND_CLUSTER_START_MS);

afterAll(async () => {
  if (ids.length > 0) await db().query('delete from customers where customer_id = any($1)', [ids]);
});

describe('delete over two clusters', () => {
  it('a bulk delete removes each namespace on the cluster its row names and touches nothing on the other', async () => {
    const onA = [await customerOn('A'), await customerOn('A')];
    const onB = [await customerOn('B'), await customerOn('B')];
    // bystanders: one customer on each cluster, not in the run
    const keepA = await customerOn('A');
    const keepB = await customerOn('B');
    const all = [...onA, ...onB];
    const dry = await custctlJson<DeleteReport>(['delete', ...all.map((c) => c.customerId), '--dry-run'], { env: env() });
    expect(dry.result.exitCode, dry.result.stderr).toBe(0);
    expect(dry.json.results.map((r) => [r.customerId, r.plan?.cluster?.name, r.plan?.namespaceFound])).toEqual([
      ...onA.map((c) => [c.customerId, A, true]), ...onB.map((c) => [c.customerId, B, true]),
    ]);
    expect(dry.json.target.clusters?.map((c) => [c.name, c.server])).toEqual([[A, firstCluster().apiServer], [B, second.apiServer]]);
    const human = await custctl(['delete', onB[0]?.customerId ?? '', '--dry-run'], { env: env() });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toContain(`Cluster      ${B}  (context custctl-test-b, ${second.apiServer})`);

    const run = await custctlJson<DeleteReport>(['delete', ...all.map((c) => c.customerId), '--yes'], { env: env(), timeoutMs: 600_000 });
    expect(run.result.exitCode, run.result.stderr).toBe(0);
    expect(run.json.results.map((r) => [r.customerId, r.cluster, r.state, r.result?.namespaceOutcome])).toEqual([
      ...onA.map((c) => [c.customerId, A, 'completed', 'deleted']), ...onB.map((c) => [c.customerId, B, 'completed', 'deleted']),
    ]);
    for (const c of onA) expect(await goneOrGoing('A', c.namespace)).toBe(true);
    for (const c of onB) expect(await goneOrGoing('B', c.namespace)).toBe(true);
    // nothing of A's customers was ever asked of B (its API server's audit log), and the bystanders stand
    for (const c of onA) expect(await deletesOnB(c.namespace)).toBe(0);
    for (const c of onB) expect(await deletesOnB(c.namespace)).toBeGreaterThan(0); // the log is read: B's own deletions are in it
    expect(await exists('A', 'namespace', keepA.namespace)).toBe(true);
    expect(await exists('B', 'namespace', keepB.namespace)).toBe(true);
    const rows = await db().query<{ customer_id: string; deployment_status: string }>('select customer_id, deployment_status from customers where customer_id = any($1) order by customer_id', [[...all, keepA, keepB].map((c) => c.customerId)]);
    expect(Object.fromEntries(rows.rows.map((r) => [r.customer_id, r.deployment_status]))).toEqual({
      ...Object.fromEntries(all.map((c) => [c.customerId, 'pending'])), [keepA.customerId]: 'deployed', [keepB.customerId]: 'deployed',
    });
  });

  it("a row naming cluster A whose namespace exists only on B is refused (exit 4), nothing deleted on either cluster", async () => {
    // installed on B, the row says A
    const stray = await customerOn('B', { cluster: A });
    const other = await customerOn('A');
    for (const args of [['--dry-run'], ['--yes']]) {
      const r = await custctl(['delete', stray.customerId, other.customerId, ...args], { env: env() });
      expect(r.exitCode, r.stderr).toBe(4);
      expect(r.stderr).toContain(`namespace ${stray.namespace} exists on cluster ${B}, but the row names cluster ${A}`);
    }
    // the whole run refused: the other customer too, and nothing anywhere
    expect(await exists('B', 'namespace', stray.namespace)).toBe(true);
    expect(await exists('A', 'namespace', other.namespace)).toBe(true);
    expect(await deletesOnB(stray.namespace)).toBe(0);
    const rows = await db().query<{ deployment_status: string; deletion_job_id: string | null }>('select deployment_status, deletion_job_id from customers where customer_id = any($1)', [[stray.customerId, other.customerId]]);
    expect(rows.rows.map((r) => [r.deployment_status, r.deletion_job_id])).toEqual([['deployed', null], ['deployed', null]]);
  });

  it('a row naming no cluster in a fleet of two is refused (exit 2) before any cluster is asked', async () => {
    const none = await customerOn('A', { cluster: null });
    const r = await custctl(['delete', none.customerId, '--yes'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`customer ${none.customerId} names no cluster in customers.cluster, and the fleet has 2`);
    expect(await exists('A', 'namespace', none.namespace)).toBe(true);
    const row = await db().query<{ deployment_status: string }>('select deployment_status from customers where customer_id = $1', [none.customerId]);
    expect(row.rows[0]?.deployment_status).toBe('deployed');
  });

  it("cleanup-rbac sweeps both clusters: each cluster's orphans on that cluster, the stray namespace reported, never deleted", async () => {
    const goneA = randomKey('oa');
    const goneB = randomKey('ob');
    await kubectl(['apply', '-f', '-'], { input: clusterRbacManifest(goneA), check: true });
    await kubectl(['apply', '-f', '-'], { input: clusterRbacManifest(goneB), check: true, kubeconfig: second.kubeconfig });
    const stray = await customerOn('B', { cluster: A });

    const dry = await custctlJson<CleanupReport>(['cleanup-rbac', '--dry-run'], { env: env() });
    expect(dry.result.exitCode, dry.result.stderr).toBe(0);
    const mine = (xs: CleanupReport['orphans']) => xs.filter((x) => x.customerKey === goneA || x.customerKey === goneB).map((x) => [x.cluster, x.kind, x.name]).sort();
    expect(mine(dry.json.orphans)).toEqual([
      [A, 'ClusterRole', openCostName(goneA)], [A, 'ClusterRoleBinding', openCostName(goneA)],
      [B, 'ClusterRole', openCostName(goneB)], [B, 'ClusterRoleBinding', openCostName(goneB)],
    ]);
    expect(dry.json.clusters?.map((c) => [c.cluster, c.error])).toEqual([[A, null], [B, null]]);
    expect(dry.json.strays).toContainEqual({ cluster: B, namespace: stray.namespace, customerId: stray.customerId, rowCluster: A });
    expect(dry.result.stderr).toContain(`namespace ${stray.namespace} is on cluster ${B}, but ${stray.customerId}'s row names cluster ${A}`);

    // a real sweep of one customer on B, --cluster B: deleted there, A's orphan untouched
    const sweep = await custctlJson<CleanupReport>(['cleanup-rbac', '--cluster', B, '--customer', `cust_${goneB}`, '--yes'], { env: env() });
    expect(sweep.result.exitCode, sweep.result.stderr).toBe(0);
    expect(sweep.json.deleted.map((x) => [x.cluster, x.kind]).sort()).toEqual([[B, 'ClusterRole'], [B, 'ClusterRoleBinding']]);
    expect(await exists('B', 'clusterrole', openCostName(goneB))).toBe(false);
    expect(await exists('A', 'clusterrole', openCostName(goneA))).toBe(true);
    expect(await exists('B', 'namespace', stray.namespace)).toBe(true);
    await kubectl(['delete', 'clusterrole,clusterrolebinding', openCostName(goneA), '--ignore-not-found']);
  });

  it('doctor checks each cluster and reports the stray namespace; version lists each API server', async () => {
    const stray = await customerOn('B', { cluster: A });
    const doc = await custctlJson<{ ok: boolean; checks: Array<{ name: string; status: string; detail: string; cluster?: string }> }>(['doctor'], { env: env() });
    const per = doc.json.checks.filter((c) => c.cluster !== undefined && /: (kubeconfig|API server|permissions)$/.test(c.name));
    expect(per.map((c) => [c.cluster, c.name, c.status])).toEqual([
      [A, `${A}: kubeconfig`, 'ok'], [A, `${A}: API server`, 'ok'], [A, `${A}: permissions`, 'ok'],
      [B, `${B}: kubeconfig`, 'ok'], [B, `${B}: API server`, 'ok'], [B, `${B}: permissions`, 'ok'],
    ]);
    expect(per.find((c) => c.name === `${B}: API server`)?.detail).toContain(second.apiServer);
    const ns = doc.json.checks.find((c) => c.name === 'namespaces');
    expect(ns?.status).toBe('warn');
    expect(ns?.detail).toContain(`${stray.namespace} is on cluster ${B}, but ${stray.customerId}'s row names ${A}`);

    const v = await custctlJson<{ server: { version: string }; servers: Array<{ cluster: string; version: string; detail: string }> }>(['version'], { env: env() });
    expect(v.result.exitCode, v.result.stderr).toBe(0);
    expect(v.json.servers.map((x) => [x.cluster, x.version, x.detail.split(' ')[0]])).toEqual([[A, 'v1.20.2', firstCluster().apiServer], [B, 'v1.20.2', second.apiServer]]);
    expect(v.json.server.version).toBe('v1.20.2');
  });
});
