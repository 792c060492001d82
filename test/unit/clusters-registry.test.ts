/**
 * The clusters registry (src/adapters/clusters.ts) and the deletion attempt over it: the row's
 * cluster is the one acted on, a row naming none in a fleet of several is refused and handed back,
 * the customer's namespace on another cluster refuses the attempt with nothing touched anywhere,
 * an unreachable other cluster is named and not waited for. The real-cluster proof is
 * test/integration/fleet-delete.test.ts.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { makeClusters, namespaceElsewhere, singleCluster, type Clusters } from '../../src/adapters/clusters.js';
import type { ClusterEntry, Fleet } from '../../src/domain/clusters.js';
import type { Job } from '../../src/domain/job.js';
import { exitCodeFor } from '../../src/errors.js';
import { runDeleteAttempt } from '../../src/pipeline/run.js';
import { FakeHelm, FakeKube, FakeStore, runningDeleteJob } from '../support/fakes.js';

const entry = (name: string): ClusterEntry => ({ name, kubeconfig: `/k/${name}`, inCluster: false, timeouts: {} });
const fleetOf = (...names: string[]): Fleet => ({ source: 'CUSTCTL_CLUSTERS_FILE /c.yaml', column: 'cluster', clusters: names.map(entry) });

describe('the clusters registry', () => {
  it("for(row) is the row's cluster, its adapters opened once; a failed open is tried again", async () => {
    const opened: string[] = [];
    let failNext = true;
    const clusters = makeClusters(fleetOf('eu', 'us'), {
      kube: async (e) => {
        opened.push(e.name);
        if (e.name === 'us' && failNext) {
          failNext = false;
          throw new Error('down');
        }
        return new FakeKube();
      },
      helm: async () => new FakeHelm(),
    });
    expect(clusters.several).toBe(true);
    const eu = clusters.for({ customerId: 'cust_a', cluster: 'eu' });
    expect(eu.name).toBe('eu');
    expect(await eu.kube()).toBe(await eu.kube());
    await expect(clusters.for({ customerId: 'cust_b', cluster: 'us' }).kube()).rejects.toThrow('down');
    await clusters.for({ customerId: 'cust_b', cluster: 'us' }).kube();
    expect(opened).toEqual(['eu', 'us', 'us']);
  });

  it('a row naming no cluster, or one not in the fleet, is refused (exit 2); in a fleet of one it is that cluster', () => {
    const two = makeClusters(fleetOf('eu', 'us'), { kube: async () => new FakeKube(), helm: async () => new FakeHelm() });
    for (const cluster of [null, '', undefined]) {
      const e = (() => { try { two.for({ customerId: 'cust_a', cluster }); } catch (x) { return x; } return null; })();
      expect(exitCodeFor(e)).toBe(2);
    }
    expect(() => two.for({ customerId: 'cust_a', cluster: 'ap' })).toThrow(/cluster "ap" \(customers.cluster\), which is not in the fleet/);
    expect(() => two.named('ap')).toThrow(/no cluster "ap"/);
    const one = singleCluster({ kube: async () => new FakeKube(), helm: async () => new FakeHelm() });
    expect(one.several).toBe(false);
    expect(one.for({ customerId: 'cust_a', cluster: null }).name).toBe('default');
  });
});

describe('a deletion attempt over two clusters (fakes)', () => {
  const KEY = 'abc123';
  const NS = `customer-${KEY}`;
  const ID = `cust_${KEY}`;
  let eu: FakeKube;
  let us: FakeKube;
  let store: FakeStore;
  let clusters: Clusters;
  let usDown: boolean;
  const lines: string[] = [];

  const run = (j: Job = runningDeleteJob(ID, NS)) => runDeleteAttempt(
    { job: j, attempt: 1, signal: new AbortController().signal, progress: async () => undefined, log: (_l, m) => void lines.push(m) },
    store, clusters, { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => 0 },
  );

  beforeEach(async () => {
    eu = new FakeKube();
    us = new FakeKube();
    usDown = false;
    lines.length = 0;
    const kubes: Record<string, FakeKube> = { eu, us };
    clusters = makeClusters(fleetOf('eu', 'us'), {
      kube: async (e) => {
        if (e.name === 'us' && usDown) throw new Error('connect ECONNREFUSED 127.0.0.1:6443');
        return kubes[e.name] as FakeKube;
      },
      helm: async (e) => new FakeHelm(kubes[e.name]),
    });
    store = new FakeStore();
  });

  async function seed(cluster: string | null): Promise<void> {
    await store.add({ customerId: ID, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
    if (cluster !== null) { const r = store.rows.get(ID); if (r) r.cluster = cluster; } else { const r = store.rows.get(ID); if (r) r.cluster = null; }
    await store.claimForDeletion(ID, '7', { force: false });
  }

  it("deletes on the row's cluster only; an unreachable other cluster is named in the log, not waited for", async () => {
    await seed('eu');
    eu.addNamespace(NS);
    usDown = true;
    const r = await run();
    expect(r.namespaceOutcome).toBe('deleted');
    expect(eu.calls).toContain(`delete ns/${NS}`);
    expect(us.calls).toEqual([]);
    expect(lines.some((l) => l.startsWith(`Could not look for ${NS} on cluster us: connect ECONNREFUSED`))).toBe(true);
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });

  it("the namespace on the other cluster refuses the attempt (exit 4): nothing deleted on either, the row handed back", async () => {
    await seed('eu');
    us.addNamespace(NS);
    const e = await run().catch((x: unknown) => x);
    expect(exitCodeFor(e)).toBe(4);
    expect(String((e as Error).message)).toContain(`namespace ${NS} exists on cluster us, but the row names cluster eu`);
    expect([...eu.calls, ...us.calls].filter((c) => c.startsWith('delete'))).toEqual([]);
    expect(us.namespaces.has(NS)).toBe(true);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
  });

  it('a row naming no cluster is refused (exit 2) before any cluster is asked, the row handed back', async () => {
    await seed(null);
    eu.addNamespace(NS);
    const e = await run().catch((x: unknown) => x);
    expect(exitCodeFor(e)).toBe(2);
    expect([...eu.calls, ...us.calls]).toEqual([]);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
  });

  it('namespaceElsewhere looks at every other cluster, never the home one', async () => {
    us.addNamespace(NS);
    const away = await namespaceElsewhere(clusters, clusters.named('eu'), NS);
    expect(away).toEqual({ found: ['us'], unreachable: [] });
    expect(eu.calls).toEqual([]);
  });
});

describe("the console's job list over a fleet", () => {
  it('a Cluster column when jobs name their cluster, never for an owner; the cluster filter lists the fleet', async () => {
    const { jobsTable, jobsPage } = await import('../../src/server/console/pages.js');
    const jobs = [runningDeleteJob('cust_a1', 'customer-a1', {}, { id: '1', data: { customerId: 'cust_a1', namespace: 'customer-a1', cluster: 'eu' } }), runningDeleteJob('cust_b1', 'customer-b1', {}, { id: '2', data: { customerId: 'cust_b1', namespace: 'customer-b1', cluster: 'us' } })];
    const admin = String(jobsTable(jobs, { role: 'admin', csrf: 'x' }));
    expect(admin).toContain('<th scope="col">Cluster</th>');
    expect(admin).toContain('<td data-label="Cluster">eu</td>');
    expect(admin).toContain('<td data-label="Cluster">us</td>');
    expect(String(jobsTable(jobs, { role: 'owner', csrf: 'x' }))).not.toContain('Cluster');
    // one cluster: jobs name none, no column
    expect(String(jobsTable([runningDeleteJob('cust_c1', 'customer-c1')], { role: 'admin', csrf: 'x' }))).not.toContain('Cluster');
    const page = String(jobsPage({ jobs, state: '', states: [], customer: '', viewer: { role: 'viewer', csrf: 'x' }, total: 2, page: 1, pages: 1, now: 0, clusters: ['eu', 'us'], cluster: 'us' }));
    expect(page).toContain('<select id="cluster" name="cluster">');
    expect(page).toContain('<option value="us" selected>us</option>');
  });
});
