/**
 * A bulk delete over two real control planes while one of them is stopped (its kube-apiserver;
 * etcd keeps the data): the other cluster's customers complete, the stopped cluster's fail each
 * with the reason, and succeed on `jobs retry` once it is back. Serial: the second cluster is
 * shared by the run, and nothing else may be using it while it is down.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeleteReport } from '../../src/jobs/kinds/delete.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { db, ensureCustomersTable, kubectl, provisionCustomer, randomKey } from '../support/fixtures.js';
import {
  SECOND_CLUSTER_START_MS, firstCluster, secondCluster, startSecondApiServer, stopSecondApiServer, writeClustersFile, type SecondCluster,
} from '../support/second-cluster.js';

let second: SecondCluster;
let file: string;
let stateDir: string;
const tag = randomKey('d');
const A = `a-${tag}`;
const B = `b-${tag}`;
const ids: string[] = [];

beforeAll(async () => {
  [second] = await Promise.all([secondCluster(), ensureCustomersTable()]);
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-fleet-down-'));
  stateDir = tempStateDir();
  file = await writeClustersFile(dir, [
    { name: A, kubeconfig: firstCluster().kubeconfig },
    { name: B, kubeconfig: second.kubeconfig },
  ]);
}, SECOND_CLUSTER_START_MS);

// whatever happens above, the shared cluster is up again for what runs after
afterAll(async () => {
  await startSecondApiServer();
  if (ids.length > 0) await db().query('delete from customers where customer_id = any($1)', [ids]);
}, SECOND_CLUSTER_START_MS);

async function customerOn(on: 'A' | 'B') {
  const c = await provisionCustomer(randomKey('fd'), { cluster: on === 'A' ? A : B, ...(on === 'B' ? { kubeconfig: second.kubeconfig } : {}) });
  ids.push(c.customerId);
  return c;
}

const gone = async (namespace: string, kubeconfig?: string) => {
  const r = await kubectl(['get', 'namespace', namespace, '-o', 'jsonpath={.status.phase}'], kubeconfig ? { kubeconfig } : {});
  return r.exitCode !== 0 || r.stdout.trim() === 'Terminating';
};

describe('a control plane stopped during a bulk delete', () => {
  it("fails only its own customers, each with the reason; the other cluster's complete; a retry succeeds once it is back", async () => {
    const onA = [await customerOn('A'), await customerOn('A')];
    const onB = [await customerOn('B'), await customerOn('B')];
    const env = { CUSTCTL_CLUSTERS_FILE: file, CUSTCTL_STATE_DIR: stateDir, QUEUE_MAX_RETRIES: '1' };
    // the run starts, and B stops while it plans and runs
    const running = custctlJson<DeleteReport>(['delete', ...[...onA, ...onB].map((c) => c.customerId), '--yes'], { env, timeoutMs: 600_000 });
    await stopSecondApiServer();
    const { result, json } = await running;
    expect(result.exitCode, result.stderr).not.toBe(0);
    const by = Object.fromEntries(json.results.map((r) => [r.customerId, r]));
    for (const c of onA) expect(by[c.customerId]).toMatchObject({ cluster: A, state: 'completed', exitCode: 0 });
    for (const c of onB) {
      expect(by[c.customerId]).toMatchObject({ cluster: B, state: 'failed' });
      expect(by[c.customerId]?.error?.message).toMatch(/ECONNREFUSED|refused|reset|not reachable|unreachable/i);
    }
    for (const c of onA) expect(await gone(c.namespace)).toBe(true);

    await startSecondApiServer();
    // still there, untouched while the cluster was down
    for (const c of onB) expect(await gone(c.namespace, second.kubeconfig)).toBe(false);
    for (const c of onB) {
      const job = by[c.customerId]?.jobId as string;
      const retry = await custctl(['jobs', 'retry', job], { env, timeoutMs: 600_000 });
      expect(retry.exitCode, retry.stderr).toBe(0);
      expect(await gone(c.namespace, second.kubeconfig)).toBe(true);
    }
    const rows = await db().query<{ deployment_status: string }>('select deployment_status from customers where customer_id = any($1)', [[...onA, ...onB].map((c) => c.customerId)]);
    expect(rows.rows.map((r) => r.deployment_status)).toEqual(['pending', 'pending', 'pending', 'pending']);
  });
});
