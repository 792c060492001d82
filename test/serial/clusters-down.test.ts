/**
 * One of the two real control planes stopped (its kube-apiserver; etcd keeps the data), then
 * started again: `custctl clusters list` shows it unreachable and the other one reachable, exit 0,
 * and reachable again once it is back. Serial: the second cluster is shared by the run, and
 * nothing else may be using it while it is down.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClustersReport } from '../../src/commands/clusters.js';
import { custctlJson, tempStateDir } from '../support/cli.js';
import { ensureCustomersTable } from '../support/fixtures.js';
import {
  SECOND_CLUSTER_START_MS, firstCluster, secondCluster, startSecondApiServer, stopSecondApiServer, writeClustersFile, type SecondCluster,
} from '../support/second-cluster.js';

let second: SecondCluster;
let file: string;
let stateDir: string;

beforeAll(async () => {
  [second] = await Promise.all([secondCluster(), ensureCustomersTable()]);
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-fleet-down-'));
  stateDir = tempStateDir();
  file = await writeClustersFile(dir, [
    { name: 'first', kubeconfig: firstCluster().kubeconfig },
    { name: 'second', kubeconfig: second.kubeconfig },
  ]);
}, SECOND_CLUSTER_START_MS);

// whatever happens above, the shared cluster is up again for what runs after
afterAll(async () => {
  await startSecondApiServer();
}, SECOND_CLUSTER_START_MS);

const list = () => custctlJson<ClustersReport>(['clusters', 'list'], { env: { CUSTCTL_CLUSTERS_FILE: file, CUSTCTL_STATE_DIR: stateDir } });

describe('a control plane that stops', () => {
  it('is listed unreachable while it is down, the other reachable, exit 0; reachable again once it is back', async () => {
    const before = await list();
    expect(before.result.exitCode, before.result.stderr).toBe(0);
    expect(before.json.clusters.map((c) => [c.name, c.reachable])).toEqual([['first', true], ['second', true]]);

    await stopSecondApiServer();
    const down = await list();
    expect(down.result.exitCode, down.result.stderr).toBe(0);
    const [a, b] = down.json.clusters;
    expect(a).toMatchObject({ name: 'first', reachable: true, version: 'v1.20.2', error: null });
    expect(b).toMatchObject({ name: 'second', reachable: false, version: null, server: second.apiServer });
    expect(b?.error).toMatch(/ECONNREFUSED|refused/i);
    expect(down.result.stderr).toMatch(/WARN\s+cluster second is not reachable/);

    await startSecondApiServer();
    const back = await list();
    expect(back.result.exitCode, back.result.stderr).toBe(0);
    expect(back.json.clusters.map((c) => [c.name, c.reachable, c.server])).toEqual([
      ['first', true, firstCluster().apiServer], ['second', true, second.apiServer],
    ]);
  });
});
