// The console's customer page shows the plan the CLI's `delete --dry-run` shows: one builder in
// the service (LocalJobsClient.planCustomer and planDeletion share planOf), so the volume
// snapshots, what they cover and the backup's encryption are on both.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import { buildConfig } from '../../src/config.js';
import { parseCustomerId } from '../../src/domain/customer-id.js';
import { Reporter } from '../../src/io.js';
import { planSection } from '../../src/server/console/pages.js';
import { LocalJobsClient } from '../../src/service/local.js';
import type { ServiceEnv } from '../../src/service/env.js';
import { sleep } from '../../src/deps.js';
import { bufferIO } from '../support/buffer-io.js';
import { FakeHelm, FakeKube, FakeStore } from '../support/fakes.js';

const KEY = 'plan123';
const ID = `cust_${KEY}`;
const NS = `customer-${KEY}`;
const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

const dirs: string[] = [];
const queues: FileJournal[] = [];
afterEach(async () => {
  for (const q of queues.splice(0)) await q.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function service(): Promise<LocalJobsClient> {
  const dir = await mkdtemp(join(tmpdir(), 'custctl-console-plan-'));
  dirs.push(dir);
  const queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test@host' });
  queues.push(queue);
  const store = new FakeStore();
  await store.add({ customerId: ID, email: 'e@x', companyName: 'Co', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
  const kube = new FakeKube();
  kube.addNamespace(NS);
  kube.pvcs.set(NS, [
    { name: 'data', phase: 'Bound', volumeName: 'pv-1', reclaimPolicy: 'Delete', storage: '1Gi' },
    { name: 'unbound', phase: 'Pending' },
  ]);
  // a snapshot controller that serves a Retain class
  (kube as unknown as { volumeSnapshots: unknown }).volumeSnapshots = {
    served: async () => true,
    getClass: async (name: string) => (name === 'retain' ? { name, driver: 'd', deletionPolicy: 'Retain' } : null),
  };
  const helm = new FakeHelm(kube);
  const config = buildConfig({
    CUSTCTL_STATE_DIR: dir, SIMULATE_K8S_DEPLOYMENT: 'false', USER: 'tester', DATABASE_URL: 'postgres://fake/db',
    CUSTCTL_BACKUP_URL: `file://${dir}/backups`, CUSTCTL_BACKUP_RECIPIENT: RECIPIENT, CUSTCTL_SNAPSHOT_CLASS: 'retain',
  }, {});
  const b = bufferIO({ tty: false });
  const now = () => new Date();
  const env: ServiceEnv = {
    io: b.io, env: { USER: 'tester' }, now, sleep, log: new Reporter(b.io, now), worker: 'test@host', shutdown: new AbortController().signal,
    config: () => config, kube: async () => kube, helm: async () => helm, store: async () => store, jobs: async () => queue, metrics: async () => null,
  };
  return new LocalJobsClient(env, { mode: 'server' });
}

describe("the console's plan is the CLI's", () => {
  it('planCustomer (console) and planDeletion --dry-run (CLI) build the same plan, snapshots and encryption included', async () => {
    const s = await service();
    const cli = (await s.planDeletion({ ids: [ID], dryRun: true, yes: false, detach: false, concurrency: 1 })).items[0]?.plan;
    const { plan, target } = await s.planCustomer(parseCustomerId(ID));
    expect(plan).toEqual(cli);
    expect(target).toEqual({ context: 'fake', server: 'https://127.0.0.1:1', database: expect.any(String) });
    // what the console's own copy of the plan used to leave out
    expect(plan.backup?.encryptedTo).toEqual([RECIPIENT]);
    expect(plan.volumeSnapshots).toEqual({ class: 'retain', deletionPolicy: 'Retain', driver: 'd' });
    expect(plan.backup?.covers).toMatch(/the manifest records the volume snapshots/);
    expect(plan.pvcs?.find((p) => p.name === 'data')?.coverage).toBe('snapshot');
    expect(plan.backup?.notCovered).toEqual([expect.stringMatching(/PVC unbound/)]);
  });

  it('the customer page says it: the volume snapshots, each PVC\'s coverage, the encryption', async () => {
    const s = await service();
    const html = planSection(await s.planCustomer(parseCustomerId(ID))).text;
    expect(html).toMatch(/Volume snapshots<\/dt><dd>a VolumeSnapshot of every bound PVC is taken and waited for first \(class <code>retain<\/code>, Retain, driver d\)/);
    expect(html).toMatch(/encrypted to age age1ql3z7hjy…mcac8p/);
    expect(html).toMatch(/the manifest records the volume snapshots/);
    const cli = (await s.planDeletion({ ids: [ID], dryRun: true, yes: false, detach: false, concurrency: 1 })).items[0]?.plan;
    for (const v of cli?.pvcs ?? []) expect(html).toContain(v.coverageNote.replace(/&/g, '&amp;').replace(/'/g, '&#39;'));
  });

  it('a customer that cannot be deleted now has no plan: the refusal a deletion would get', async () => {
    const s = await service();
    await expect(s.planCustomer(parseCustomerId('cust_nope1'))).rejects.toThrow(/customer cust_nope1 not found/);
  });
});
