/**
 * `custctl clusters list` on two real control planes (the run's two clusters) and the run's
 * PostgreSQL: each cluster's server, version and reachability, the customers its rows give it;
 * a cluster that does not answer is shown as such (exit 0); a clusters file others can write is
 * refused. (The serial project stops the second API server itself: test/serial/clusters-down.test.ts.)
 */
import fs from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClustersReport } from '../../src/commands/clusters.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { db, ensureCustomersTable, randomKey } from '../support/fixtures.js';
import { freePort } from '../env/ports.js';
import { SECOND_CLUSTER_START_MS, firstCluster, secondCluster, writeClustersFile, type SecondCluster } from '../support/second-cluster.js';

let second: SecondCluster;
let dir: string;
let stateDir: string;
const tag = randomKey('f');
const A = `a-${tag}`;
const B = `b-${tag}`;
const ids: string[] = [];

async function seed(cluster: string | null): Promise<void> {
  const id = `cust_${randomKey('cl')}`;
  ids.push(id);
  await db().query(`insert into customers (customer_id, deployment_status, cluster) values ($1, 'deployed', $2)`, [id, cluster]);
}

beforeAll(async () => {
  [second] = await Promise.all([secondCluster(), ensureCustomersTable()]);
  dir = mkdtempSync(path.join(tmpdir(), 'custctl-fleet-'));
  stateDir = tempStateDir();
  for (const c of [A, A, B, B, B, `gone-${tag}`]) await seed(c);
}, SECOND_CLUSTER_START_MS);

afterAll(async () => {
  if (ids.length > 0) await db().query('delete from customers where customer_id = any($1)', [ids]);
});

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => custctl(['clusters', 'list', ...args], { env: { CUSTCTL_STATE_DIR: stateDir, ...env } });
const runJson = (env: NodeJS.ProcessEnv = {}) => custctlJson<ClustersReport>(['clusters', 'list'], { env: { CUSTCTL_STATE_DIR: stateDir, ...env } });

describe('custctl clusters list', () => {
  it('two clusters from a clusters file: each reachable, its own server and version, its customers counted', async () => {
    const file = await writeClustersFile(dir, [
      { name: A, kubeconfig: firstCluster().kubeconfig },
      { name: B, kubeconfig: path.relative(dir, second.kubeconfig), concurrency: 8, timeouts: { job: '15m' } },
    ], { name: 'two.yaml' });
    const { result, json } = await runJson({ CUSTCTL_CLUSTERS_FILE: file });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.source).toBe(`CUSTCTL_CLUSTERS_FILE ${file}`);
    expect(json.column).toBe('cluster');
    expect(json.clusters.map((c) => [c.name, c.server, c.version, c.reachable, c.error, c.customers])).toEqual([
      [A, firstCluster().apiServer, 'v1.20.2', true, null, 2],
      [B, second.apiServer, 'v1.20.2', true, null, 3],
    ]);
    expect(json.clusters[1]).toMatchObject({ kubeconfig: second.kubeconfig, context: 'custctl-test-b', concurrency: 8, timeouts: { jobMs: 900_000, namespaceMs: null } });
    // the row naming a cluster this fleet lacks is counted apart, and said on stderr
    expect(json.unknown).toContainEqual({ cluster: `gone-${tag}`, customers: 1 });
    expect(result.stderr).toContain(`1 customer names cluster "gone-${tag}", which is not in this fleet`);
    expect(json.databaseError).toBeNull();
  });

  it('one kubeconfig holding both clusters, chosen by context; the table and YAML say the same', async () => {
    const file = await writeClustersFile(dir, [
      { name: A, kubeconfig: second.fleetKubeconfig, context: 'custctl-test' },
      { name: B, kubeconfig: second.fleetKubeconfig, context: 'custctl-test-b' },
    ], { name: 'merged.yaml' });
    const table = await run([], { CUSTCTL_CLUSTERS_FILE: file });
    expect(table.exitCode, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+SERVER\s+VERSION\s+REACHABLE\s+CUSTOMERS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      [A, firstCluster().apiServer, 'v1.20.2', 'yes', '2'],
      [B, second.apiServer, 'v1.20.2', 'yes', '3'],
    ]);
    const yaml = await run(['-o', 'yaml'], { CUSTCTL_CLUSTERS_FILE: file });
    expect(yaml.exitCode).toBe(0);
    const doc = parse(yaml.stdout) as ClustersReport;
    expect(doc.clusters.map((c) => [c.name, c.context, c.server, c.reachable])).toEqual([
      [A, 'custctl-test', firstCluster().apiServer, true],
      [B, 'custctl-test-b', second.apiServer, true],
    ]);
  });

  it('a cluster that does not answer is shown unreachable, with why; the others are listed; exit 0', async () => {
    // the second cluster's kubeconfig, pointed at a loopback port nothing listens on
    const port = await freePort();
    const text = (await fs.readFile(second.kubeconfig, 'utf8')).replace(second.apiServer, `https://127.0.0.1:${port}`);
    const down = path.join(dir, 'down.kubeconfig');
    await fs.writeFile(down, text, { mode: 0o600 });
    const file = await writeClustersFile(dir, [
      { name: A, kubeconfig: firstCluster().kubeconfig },
      { name: B, kubeconfig: down },
    ], { name: 'down.yaml' });
    const started = Date.now();
    const { result, json } = await runJson({ CUSTCTL_CLUSTERS_FILE: file });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(60_000);
    const [a, b] = json.clusters;
    expect(a).toMatchObject({ name: A, reachable: true, version: 'v1.20.2', customers: 2 });
    expect(b).toMatchObject({ name: B, reachable: false, version: null, server: `https://127.0.0.1:${port}`, customers: 3 });
    expect(b?.error).toMatch(/ECONNREFUSED|refused/i);
    expect(result.stderr).toMatch(new RegExp(`WARN\\s+cluster ${B} is not reachable: .*(ECONNREFUSED|refused)`, 'i'));
    const table = await run([], { CUSTCTL_CLUSTERS_FILE: file });
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${B}\\s+https://127\\.0\\.0\\.1:${port}\\s+-\\s+no\\s+3$`, 'm'));
  });

  it('without a clusters file: the one cluster of KUBECONFIG, named after its context, holding the rows that name none', async () => {
    const { result, json } = await runJson();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.source).toBe('KUBECONFIG');
    expect(json.clusters).toHaveLength(1);
    expect(json.clusters[0]).toMatchObject({ name: 'custctl-test', context: 'custctl-test', server: testEnv().apiServer, reachable: true, version: 'v1.20.2' });
    // other test files add and remove rows meanwhile: their number is not this file's to know
    expect(json.clusters[0]?.customers).toEqual(expect.any(Number));
    expect(json.unassigned).toBe(0);
    // the rows of this file name clusters this fleet of one does not have
    expect(json.unknown).toEqual(expect.arrayContaining([{ cluster: A, customers: 2 }, { cluster: B, customers: 3 }]));
  });

  it('a clusters file others can write is refused (exit 2), naming it; nothing is listed', async () => {
    const file = await writeClustersFile(dir, [{ name: A, kubeconfig: firstCluster().kubeconfig }], { name: 'open.yaml', mode: 0o666 });
    const r = await run([], { CUSTCTL_CLUSTERS_FILE: file });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`CUSTCTL_CLUSTERS_FILE ${file} is writable by everyone (mode 0666): refusing to use it`);
  });

  it('a clusters file with an unknown key is refused (exit 2), naming the entry', async () => {
    const file = path.join(dir, 'typo.yaml');
    await fs.writeFile(file, `clusters:\n  - name: ${A}\n    kubeconfig: ${firstCluster().kubeconfig}\n    contxt: custctl-test\n`, { mode: 0o600 });
    const r = await run([], { CUSTCTL_CLUSTERS_FILE: file });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`CUSTCTL_CLUSTERS_FILE ${file}: clusters[0]: unknown key "contxt"`);
  });

  it('--context with a clusters file is refused (exit 2)', async () => {
    const file = await writeClustersFile(dir, [{ name: A, kubeconfig: firstCluster().kubeconfig }], { name: 'ctx.yaml' });
    const r = await custctl(['--context', 'custctl-test', 'clusters', 'list'], { env: { CUSTCTL_CLUSTERS_FILE: file, CUSTCTL_STATE_DIR: stateDir } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--context chooses one cluster, but CUSTCTL_CLUSTERS_FILE names the fleet');
  });
});
