/**
 * `-o yaml` on every command that has `-o json`: the same document, field for field. Each command
 * runs twice on identical fresh state (the file journal in a temp dir, the shared fake store, a
 * simulated run, a frozen clock), once per format, through its commander definition.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CustomerRow, DeploymentStatus } from '../../src/adapters/store.js';
import { makeCleanupRbacCommand } from '../../src/commands/cleanup-rbac.js';
import { makeCustomersCommand } from '../../src/commands/customers.js';
import { makeDeleteCommand } from '../../src/commands/delete.js';
import { makeJobsCommand } from '../../src/commands/jobs.js';
import { makeStatusCommand } from '../../src/commands/status.js';
import { buildConfig } from '../../src/config.js';
import type { Deps } from '../../src/deps.js';
import { fakeDeps } from '../support/fake-deps.js';
import { parseCustomerId } from '../../src/domain/customer-id.js';
import { LocalJobsClient } from '../../src/service/local.js';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import { bufferIO } from '../support/buffer-io.js';
import { FakeKube, FakeStore } from '../support/fakes.js';

interface Harness { d: Deps; store: FakeStore; kube: FakeKube; queue: FileJournal; out: () => string }

const dirs: string[] = [];
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-06-01T12:00:00Z'));
});
afterEach(async () => {
  vi.useRealTimers();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function seed(store: FakeStore, customerId: string, status: DeploymentStatus, over: Partial<CustomerRow> = {}): void {
  store.rows.set(customerId, {
    id: store.rows.size + 1, customerId, email: `${customerId}@example.com`, companyName: 'Example Corp', deploymentStatus: status,
    instanceNamespace: `customer-${customerId.slice(5)}`, instanceUrl: 'https://x.example.com', deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null,
    createdAt: '2026-05-01T00:00:00.000Z', updatedAt: '2026-05-01T00:00:00.000Z', ...over,
  });
}

async function harness(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'custctl-formats-'));
  dirs.push(dir);
  const b = bufferIO();
  const queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test@host' });
  const store = new FakeStore();
  const kube = new FakeKube();
  const config = buildConfig({ CUSTCTL_STATE_DIR: dir, SIMULATE_K8S_DEPLOYMENT: 'true', QUEUE_MAX_RETRIES: '1', USER: 'tester' }, {});
  // no helm in a simulated run: the fake's default refuses it
  const d = fakeDeps({ io: b.io, config, queue, store, kube, client: (x) => new LocalJobsClient(x) });
  return { d, store, kube, queue, out: b.out };
}

type Factory = (d: Deps, setExit: (n: number) => void) => { parseAsync(argv: string[], o: { from: 'user' }): Promise<unknown>; exitOverride(): unknown };

async function run(h: Harness, make: Factory, args: string[]): Promise<string> {
  const cmd = make(h.d, () => undefined);
  cmd.exitOverride();
  await cmd.parseAsync(args, { from: 'user' });
  await h.queue.close();
  return h.out();
}

const deleteWaiting = async (h: Harness) => {
  seed(h.store, 'cust_abc123', 'deployed');
  await (await h.d.client()).submitDeletion(parseCustomerId('cust_abc123'), {});
};
const deleteDone = async (h: Harness) => {
  seed(h.store, 'cust_abc123', 'deployed');
  const c = await h.d.client();
  await c.follow(await c.submitDeletion(parseCustomerId('cust_abc123'), {}), { label: 'x', run: true });
};
const failedDeletion = async (h: Harness) => {
  seed(h.store, 'cust_abc123', 'deployed');
  const job = await (await h.d.client()).submitDeletion(parseCustomerId('cust_abc123'), {});
  await h.queue.claim(job.id, 'test@host', Date.now(), 30_000);
  await h.queue.fail(job.id, 'test@host', { message: 'helm uninstall failed', errorName: 'internal', final: true }, Date.now());
  await h.store.failDeletion('cust_abc123', job.id);
};

const CASES: Array<[string, Factory, (h: Harness) => Promise<void>, string[]]> = [
  ['delete --yes', makeDeleteCommand, async (h) => seed(h.store, 'cust_abc123', 'deployed'), ['cust_abc123', '--yes']],
  ['delete --dry-run', makeDeleteCommand, async (h) => seed(h.store, 'cust_abc123', 'deployed'), ['cust_abc123', '--dry-run']],
  ['delete --detach', makeDeleteCommand, async (h) => seed(h.store, 'cust_abc123', 'deployed'), ['cust_abc123', '--yes', '--detach']],
  ['status job', makeStatusCommand, deleteDone, ['job', '1']],
  ['status customer', makeStatusCommand, deleteDone, ['customer', 'cust_abc123']],
  ['jobs list', makeJobsCommand, deleteDone, ['list']],
  ['jobs retry', makeJobsCommand, failedDeletion, ['retry', '1']],
  ['jobs retry --detach', makeJobsCommand, failedDeletion, ['retry', '1', '--detach']],
  ['jobs resume', makeJobsCommand, deleteWaiting, ['resume']],
  ['jobs cancel', makeJobsCommand, deleteWaiting, ['cancel', '1']],
  ['customers list', makeCustomersCommand as Factory, async (h) => seed(h.store, 'cust_abc123', 'deployed'), ['list']],
  ['customers add', makeCustomersCommand as Factory, async () => undefined, ['add', 'cust_new1', '--email', 'a@example.com', '--company', 'New Co']],
  ['cleanup-rbac --dry-run', makeCleanupRbacCommand, async (h) => {
    h.kube.rbac.push({ kind: 'ClusterRole', name: 'cgone1-customer-instance-opencost', annotations: {} });
  }, ['--dry-run']],
];

/**
 * An attempt's log lines are journaled without waiting (the pipeline never waits on its log), so
 * two runs may store the same lines in another order: compare them as sets.
 */
function logsSorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(logsSorted);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'log' && Array.isArray(x) ? [...x].sort() : logsSorted(x)]));
}

describe('-o yaml prints the -o json document as YAML', () => {
  it.each(CASES)('%s', async (_name, make, setup, args) => {
    const outs: Record<string, string> = {};
    for (const format of ['json', 'yaml'] as const) {
      const h = await harness();
      await setup(h);
      outs[format] = await run(h, make, [...args, '-o', format]);
    }
    const json: unknown = JSON.parse(outs.json as string);
    expect(json).not.toEqual(null);
    expect(outs.yaml).not.toMatch(/^[{[]/); // YAML, not JSON
    expect(logsSorted(parse(outs.yaml as string))).toEqual(logsSorted(json));
  });

  it('a format the flag does not know is refused before anything runs', async () => {
    const h = await harness();
    seed(h.store, 'cust_abc123', 'deployed');
    await expect(run(h, makeDeleteCommand, ['cust_abc123', '--yes', '-o', 'xml'])).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    expect(h.store.rows.get('cust_abc123')?.deploymentStatus).toBe('deployed');
  });
});

describe('-o name and -o wide on listings', () => {
  it('jobs list -o name: job/<id> per line, nothing else on stdout', async () => {
    const h = await harness();
    await deleteDone(h);
    expect(await run(h, makeJobsCommand, ['list', '-o', 'name'])).toBe('job/1\n');
  });

  it('customers list -o name: customer/<id> per line; -o wide adds e-mail and URL to the table', async () => {
    const h = await harness();
    seed(h.store, 'cust_abc123', 'deployed');
    seed(h.store, 'cust_def456', 'deployed', { email: 'ops@def.example' });
    expect((await run(h, makeCustomersCommand as Factory, ['list', '-o', 'name'])).split('\n').filter(Boolean).sort()).toEqual(['customer/cust_abc123', 'customer/cust_def456']);
    const h2 = await harness();
    seed(h2.store, 'cust_def456', 'deployed', { email: 'ops@def.example' });
    const wide = await run(h2, makeCustomersCommand as Factory, ['list', '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(/^CUSTOMER\s+STATUS\s+.*\s+EMAIL\s+URL\s+CLUSTER$/);
    expect(wide).toContain('ops@def.example');
  });

  it('jobs list -o wide: namespace, who asked, when it started and how long it ran', async () => {
    const h = await harness();
    await deleteDone(h);
    const wide = await run(h, makeJobsCommand, ['list', '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(/NAMESPACE\s+REQUESTED BY\s+STARTED\s+DURATION\s+WORKER\s+REASON$/);
    expect(wide).toMatch(/customer-abc123\s+\S+ \(cli\)\s+2026-06-01T12:00:00\.000Z/);
  });

  it('cleanup-rbac --dry-run -o name: the objects it would delete, as kubectl names them', async () => {
    const h = await harness();
    h.kube.rbac.push({ kind: 'ClusterRole', name: 'cgone1-customer-instance-opencost', annotations: {} });
    expect(await run(h, makeCleanupRbacCommand, ['--dry-run', '-o', 'name'])).toBe('clusterrole.rbac.authorization.k8s.io/cgone1-customer-instance-opencost\n');
  });

  it('-o name is offered only where items have names (a delete is not a listing)', async () => {
    const h = await harness();
    seed(h.store, 'cust_abc123', 'deployed');
    await expect(run(h, makeDeleteCommand, ['cust_abc123', '--yes', '-o', 'name'])).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    expect(h.store.rows.get('cust_abc123')?.deploymentStatus).toBe('deployed');
  });
});
