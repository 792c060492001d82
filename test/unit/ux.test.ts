/**
 * Issue 17 items 4–10, the parts whose logic is pure or runs in-process on fakes (the integration
 * file test/integration/ux.test.ts proves the same on the real parts): bulk refusals reported at
 * once, the closing summary, already-deleted pending rows, who is deleted, cancelled jobs,
 * durations, the attempt log's order, `jobs prune`, help, one error prefix, the prompt.
 */
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CustomerRow, DeploymentStatus } from '../../src/adapters/store.js';
import { makeDeleteCommand, summaryLine, type DeleteOutcome } from '../../src/commands/delete.js';
import { makeJobsCommand } from '../../src/commands/jobs.js';
import { makeStatusCommand, runStatusCustomer } from '../../src/commands/status.js';
import { buildConfig } from '../../src/config.js';
import type { Deps } from '../../src/deps.js';
import { fakeDeps } from '../support/fake-deps.js';
import { checkCustomerIds } from '../../src/domain/customer-id.js';
import { formatDuration, formatRetention } from '../../src/domain/duration.js';
import { ConflictError, InvalidNamespaceError, NotFoundError, RefusalsError, refuseAll, UsageError } from '../../src/errors.js';
import { jobExitCode, stateName, type Job } from '../../src/domain/job.js';
import { makeIO } from '../../src/io.js';
import { idleNotice, IDLE_NOTICE_MS } from '../../src/jobs/follow.js';
import { LocalJobsClient } from '../../src/service/local.js';
import { nothingLeft } from '../../src/service/plan-deletion.js';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import { commanderErrorText, errorText } from '../../src/output/error.js';
import { attemptsInOrder, renderJob } from '../../src/output/job-view.js';
import { planView, renderPlan } from '../../src/output/plan.js';
import { ABORTED, confirmOrRefuse } from '../../src/prompt.js';
import { BIN } from '../support/cli.js';
import { bufferIO } from '../support/buffer-io.js';
import { FakeHelm, FakeKube, FakeStore } from '../support/fakes.js';

// several tests run the built binary (one opens the embedded store): seconds each on a loaded machine
vi.setConfig({ testTimeout: 120_000 });

// ---- an in-process harness: the file journal in a temp dir, fake store/kube/helm ---------------

interface Harness { d: Deps; store: FakeStore; kube: FakeKube; helm: FakeHelm; queue: FileJournal; out: () => string; err: () => string }
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function seed(store: FakeStore, customerId: string, status: DeploymentStatus, over: Partial<CustomerRow> = {}): void {
  store.rows.set(customerId, {
    id: store.rows.size + 1, customerId, email: `${customerId.slice(5)}@example.com`, companyName: `Company ${customerId.slice(5)}`, deploymentStatus: status,
    instanceNamespace: status === 'pending' ? '' : `customer-${customerId.slice(5)}`, instanceUrl: '', deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null,
    createdAt: '2026-05-01T00:00:00.000Z', updatedAt: '2026-05-01T00:00:00.000Z', ...over,
  });
}

async function harness(o: { simulate?: boolean; tty?: boolean } = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'custctl-ux-'));
  dirs.push(dir);
  const b = bufferIO({ tty: o.tty ?? false });
  // what ora needs of a terminal stream
  if (o.tty) Object.assign(b.io.err, { columns: 100, cursorTo: (_x: number, cb?: () => void) => (cb?.(), true), clearLine: (_d: number, cb?: () => void) => (cb?.(), true), moveCursor: (_x: number, _y: number, cb?: () => void) => (cb?.(), true) });
  const queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test@host' });
  const store = new FakeStore();
  const kube = new FakeKube();
  const helm = new FakeHelm(kube);
  const config = buildConfig({ CUSTCTL_STATE_DIR: dir, SIMULATE_K8S_DEPLOYMENT: o.simulate === false ? 'false' : 'true', QUEUE_MAX_RETRIES: '1', USER: 'tester', DATABASE_URL: 'postgres://fake/db' }, {});
  const d = fakeDeps({ io: b.io, config, queue, store, kube, helm, client: (x) => new LocalJobsClient(x) });
  return { d, store, kube, helm, queue, out: b.out, err: b.err };
}

type Factory = (d: Deps, setExit: (n: number) => void) => { parseAsync(argv: string[], o: { from: 'user' }): Promise<unknown>; exitOverride(): unknown };

/** Runs one command in-process; resolves with its exit code (a thrown CliError's, else setExit's). */
async function run(h: Harness, make: Factory, args: string[]): Promise<number> {
  let code = 0;
  const cmd = make(h.d, (n) => (code = n));
  cmd.exitOverride();
  try {
    await cmd.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (typeof (e as { exitCode?: unknown }).exitCode !== 'number') throw e; // not a CLI error: a bug, show it
    return (e as { exitCode: number }).exitCode;
  }
  return code;
}

// ---- item 4: bulk --------------------------------------------------------------------------------

describe('item 4: a bulk run checks everything first and reports every problem at once', () => {
  it('checkCustomerIds keeps going past the first bad id', () => {
    const r = checkCustomerIds(['cust_a1', '12345', 'cust_B', 'cust_a1', 'cust_b2']);
    expect(r.ids.map((c) => c.id)).toEqual(['cust_a1', 'cust_b2']);
    expect(r.refusals.map((x) => x.error.message)).toEqual([
      expect.stringMatching(/"12345" looks like a database row id/),
      expect.stringMatching(/"cust_B" is not a customer ID/),
      'cust_a1 is named twice',
    ]);
  });

  it.each([
    ['all usage errors share exit 2', [new UsageError('a'), new InvalidNamespaceError('b')], 2],
    ['all not found share exit 3', [new NotFoundError('a'), new NotFoundError('b')], 3],
    ['mixed: exit 1', [new NotFoundError('a'), new ConflictError('b')], 1],
  ] as const)('refuseAll: %s', (_name, errors, code) => {
    let thrown: unknown;
    try {
      refuseAll('delete these 3 customers', errors.map((error, i) => ({ subject: `cust_${i}`, error })), 3);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(RefusalsError);
    const e = thrown as RefusalsError;
    expect(e.exitCode).toBe(code);
    expect(e.message).toBe(`refusing to delete these 3 customers: ${errors.length} of 3 cannot go ahead, so nothing was changed`);
    expect(e.details.filter((l) => /^cust_\d: /.test(l))).toHaveLength(errors.length);
  });

  it('one customer: its own refusal, unchanged; no refusal: nothing thrown', () => {
    const own = new NotFoundError('customer cust_a not found');
    expect(() => refuseAll('delete it', [{ subject: 'cust_a', error: own }], 1)).toThrow(own);
    expect(() => refuseAll('delete it', [], 1)).not.toThrow();
  });

  it('delete of 5 ids with 4 problems (bad id, unknown, deploying, wrong namespace) names all four, exit 1, and nothing changes', async () => {
    const h = await harness();
    seed(h.store, 'cust_ok1', 'deployed');
    seed(h.store, 'cust_dep1', 'deploying');
    seed(h.store, 'cust_ns1', 'deployed', { instanceNamespace: 'kube-system' });
    const before = JSON.stringify([...h.store.rows.values()]);
    const code = await run(h, makeDeleteCommand as unknown as Factory, ['cust_ok1', 'cust_X', 'cust_nope1', 'cust_dep1', 'cust_ns1', '--yes']);
    expect(code).toBe(1);
    expect(JSON.stringify([...h.store.rows.values()])).toBe(before);
    expect(await h.queue.list()).toEqual([]); // no job was created
  });

  it('the thrown error lists every problem, each under its customer', async () => {
    const h = await harness();
    seed(h.store, 'cust_ok1', 'deployed');
    seed(h.store, 'cust_dep1', 'deploying');
    const client = await h.d.client();
    const e = await client.planDeletion({ ids: ['cust_ok1', 'cust_X', 'cust_nope1', 'cust_dep1'], yes: true, dryRun: false, detach: false, concurrency: 4 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RefusalsError);
    const text = [(e as RefusalsError).message, ...(e as RefusalsError).details].join('\n');
    expect(text).toMatch(/3 of 4 cannot go ahead/);
    expect(text).toMatch(/"cust_X" is not a customer ID/);
    expect(text).toMatch(/cust_nope1: customer cust_nope1 not found/);
    expect(text).toMatch(/cust_dep1: .*deploying/);
    expect(text).not.toMatch(/cust_ok1:/);
  });

  it('the closing summary counts what happened: `8 deleted, 1 failed`', () => {
    const ok = (i: number): DeleteOutcome => ({ customerId: `cust_${i}`, namespace: 'n', jobId: String(i), state: 'completed', exitCode: 0, simulated: false, error: null, result: null });
    const results = [...Array.from({ length: 8 }, (_, i) => ok(i)), { ...ok(9), state: 'failed' as const, exitCode: 5 }];
    expect(summaryLine(results)).toBe('8 deleted, 1 failed');
    expect(summaryLine([ok(1), { ...ok(2), state: 'already-deleted', jobId: null }, { ...ok(3), state: 'waiting' }])).toBe('1 deleted, 0 failed, 1 already deleted, 1 queued');
  });

  it('a bulk run prints the summary under the table, and a live n/N line only on a terminal, not with -o json', async () => {
    const h = await harness();
    for (const id of ['cust_sa1', 'cust_sb1', 'cust_sc1']) seed(h.store, id, 'deployed');
    expect(await run(h, makeDeleteCommand as unknown as Factory, ['cust_sa1', 'cust_sb1', 'cust_sc1', '--yes']), h.err()).toBe(0);
    expect(h.out()).toMatch(/\n\n3 deleted, 0 failed\n$/);
    // not a terminal: plain log lines, one per customer, no spinner frames, no step lines without -v
    expect(h.err()).toMatch(/OK {4}3\/3 cust_s[abc]1 deleted \(simulated\)  job=\d/);
    expect(h.err().match(/\/3 cust_s[abc]1 deleted/g)).toHaveLength(3);
    expect(h.err()).not.toMatch(/Starting customer instance deletion|Deletion queued/);

    const t = await harness({ tty: true });
    for (const id of ['cust_ta1', 'cust_tb1']) seed(t.store, id, 'deployed');
    expect(await run(t, makeDeleteCommand as unknown as Factory, ['cust_ta1', 'cust_tb1', '--yes']), t.err() + t.out()).toBe(0);
    expect(t.err()).toMatch(/[0-2]\/2 deleted/); // the live line (the spinner's text; frames are drawn on a timer)
    expect(t.err()).not.toMatch(/INFO\s+\d\/2 deleted/);

    const j = await harness({ tty: true });
    for (const id of ['cust_ja1', 'cust_jb1']) seed(j.store, id, 'deployed');
    expect(await run(j, makeDeleteCommand as unknown as Factory, ['cust_ja1', 'cust_jb1', '--yes', '-o', 'json'])).toBe(0);
    expect(j.err()).not.toMatch(/\d\/2 deleted/); // no live count
    expect(j.err().match(/\/2 cust_j[ab]1 deleted/g)).toHaveLength(2); // the line per customer
    expect(JSON.parse(j.out()).results).toHaveLength(2);
  });
});

// ---- item 5: nobody runs the job -------------------------------------------------------------------

describe('item 5: a queued job nobody runs', () => {
  it('idleNotice: only a due job, only after IDLE_NOTICE_MS', () => {
    const w = { id: '7', state: 'waiting' as const, delayUntil: null };
    expect(idleNotice(w, 0, IDLE_NOTICE_MS - 1, 'X')).toBeNull();
    expect(idleNotice(w, 0, IDLE_NOTICE_MS, 'custctl worker')).toBe(`job 7 is still waiting after ${IDLE_NOTICE_MS / 1000}s: no worker has picked it up. It runs in custctl worker`);
    expect(idleNotice({ id: '7', state: 'delayed', delayUntil: 10 * IDLE_NOTICE_MS }, 0, IDLE_NOTICE_MS, 'X')).toBeNull(); // not due: a worker would wait too
    expect(idleNotice({ id: '7', state: 'active', delayUntil: null }, 0, 10 * IDLE_NOTICE_MS, 'X')).toBeNull();
  });

  it('--detach says who runs the job', async () => {
    const h = await harness();
    seed(h.store, 'cust_det1', 'deployed');
    expect(await run(h, makeDeleteCommand as unknown as Factory, ['cust_det1', '--yes', '--detach'])).toBe(0);
    expect(h.err()).toMatch(/Queued: the job runs in a 'custctl worker' or 'custctl serve' using this state directory; if none is running, 'custctl worker --once'/);
    expect(h.out()).toMatch(/cust_det1\s+customer-det1\s+\d+\s+waiting\s+queued: a worker runs it \(custctl worker, or custctl serve\)/);
  });
});

// ---- item 6: a pending row with nothing left ------------------------------------------------------

describe('item 6: a pending row with nothing left on the cluster is already deleted', () => {
  it('nothingLeft: no release, no namespace, no owned RBAC (objects kept by policy are never deleted anyway)', () => {
    const empty = { releases: [], ns: null, rbac: { owned: [], keptByPolicy: [{ kind: 'ClusterRole' as const, name: 'x', rule: 'opencost-name' as const }], keptUnowned: [] } };
    expect(nothingLeft(empty)).toBe(true);
    expect(nothingLeft({ ...empty, ns: { name: 'n', uid: 'u', phase: 'Active', conditions: [], finalizers: [] } })).toBe(false);
    expect(nothingLeft({ ...empty, rbac: { ...empty.rbac, owned: [{ kind: 'ClusterRole', name: 'c', rule: 'opencost-name' }] } })).toBe(false);
  });

  it('exit 0, "already deleted (by job N, DATE)", no job, nothing touched; a pending row with RBAC left is cleaned as before', async () => {
    const h = await harness({ simulate: false });
    seed(h.store, 'cust_pg1', 'pending', { deletionJobId: '41', deletedAt: '2026-11-30T10:00:00.000Z' });
    seed(h.store, 'cust_pl1', 'pending');
    h.kube.rbac.push({ kind: 'ClusterRole', name: 'cpl1-customer-instance-opencost', annotations: {} });
    const before = JSON.stringify(h.store.rows.get('cust_pg1'));
    const code = await run(h, makeDeleteCommand as unknown as Factory, ['cust_pg1', 'cust_pl1', '--yes', '-o', 'json']);
    const report = JSON.parse(h.out()) as { results: DeleteOutcome[] };
    expect(code, h.err()).toBe(0);
    expect(report.results[0]).toMatchObject({ customerId: 'cust_pg1', state: 'already-deleted', jobId: null, exitCode: 0, alreadyDeleted: { byJob: '41', at: '2026-11-30T10:00:00.000Z' } });
    expect(h.err()).toContain('cust_pg1: already deleted (by job 41, 2026-11-30T10:00:00.000Z)');
    expect(JSON.stringify(h.store.rows.get('cust_pg1'))).toBe(before);
    const jobs = await h.queue.list();
    expect(jobs.map((j) => j.data.customerId)).toEqual(['cust_pl1']); // the leftover's job only
    expect(report.results[1]).toMatchObject({ customerId: 'cust_pl1', state: 'completed', exitCode: 0 });
    expect(h.kube.rbac).toEqual([]);
    expect(h.kube.calls.filter((c) => c.startsWith('delete'))).toEqual(['delete ClusterRole/cpl1-customer-instance-opencost']);
  });

  it('a deployed row with nothing left is still refused as the wrong cluster (exit 3), not "already deleted"', async () => {
    const h = await harness({ simulate: false });
    seed(h.store, 'cust_dp1', 'deployed');
    expect(await run(h, makeDeleteCommand as unknown as Factory, ['cust_dp1', '--yes'])).toBe(3);
    expect(h.store.rows.get('cust_dp1')?.deploymentStatus).toBe('deployed');
  });
});

// ---- item 7: who is deleted ------------------------------------------------------------------------

describe('item 7: the plan names the company and the e-mail', () => {
  it('renderPlan: beside the id', () => {
    const row = { id: 1, customerId: 'cust_w1', email: 'ops@acme.test', companyName: 'Acme Corp', deploymentStatus: 'deployed' as const, instanceNamespace: 'customer-w1', instanceUrl: '', deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: '', updatedAt: '' };
    const text = renderPlan(planView(null, row, 'cust_w1', 'customer-w1', true), bufferIO().io.chalk).text;
    expect(text.split('\n')[0]).toMatch(/^Customer\s+cust_w1  \(Acme Corp, ops@acme\.test\)/);
  });
});

// ---- item 8: jobs ----------------------------------------------------------------------------------

function job(over: Partial<Job> = {}): Job {
  return {
    id: '12', name: 'delete', state: 'failed', progress: 0, data: { customerId: 'cust_a', namespace: 'customer-a' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 0 }, timeoutMs: 600_000 },
    attemptsMade: 0, maxAttempts: 3, delayUntil: null, failedReason: 'cancelled', failedCode: null,
    stacktrace: [], returnvalue: null, requestedBy: 'op (cli)', simulated: false, timestamp: 0, processedOn: null, finishedOn: 1000, previousStatus: 'deployed',
    attempts: [], lease: null, ...over,
  };
}

describe('item 8: jobs', () => {
  it.each([
    [0, '0s'], [500, '500ms'], [90_000, '1m30s'], [3_600_000, '1h'], [86_400_000, '1d'], [7 * 86_400_000, '7d'], [26 * 3_600_000, '1d2h'],
  ])('formatDuration(%d) = %s', (ms, s) => {
    expect(formatDuration(ms)).toBe(s);
  });
  it('formatRetention agrees', () => {
    expect(formatRetention(7 * 86_400_000)).toBe('7d');
    expect(formatRetention(36 * 3_600_000)).toBe('1d12h');
  });

  it('a cancelled job reads as cancelled, its JSON keeps BullMQ\'s shape, exit 4', () => {
    const j = job();
    const text = renderJob(j, bufferIO().io.chalk, 2000).text;
    expect(text).toMatch(/Job\s+12 \(delete\)\s+cancelled/);
    expect(text).toMatch(/Cancelled\s+1970-01-01T00:00:01.000Z; the customer went back to deployed/);
    expect(text).not.toMatch(/Failed/);
    expect(text).toMatch(/backoff 0s/);
    expect(stateName(j)).toBe('cancelled');
    expect(j.state).toBe('failed');
    expect(jobExitCode(j)).toBe(4);
  });

  it.each([
    ['completed', { state: 'completed' as const, failedReason: null }, 0],
    ['superseded', { state: 'completed' as const, failedReason: null, returnvalue: { outcome: 'superseded', superseded: true } }, 4],
    ['timed out', { failedReason: 'namespace still there', failedCode: 'timeout' as const }, 5],
    ['failed', { failedReason: 'boom', failedCode: 'internal' as const }, 1],
    ['waiting', { state: 'waiting' as const, failedReason: null }, 0],
  ])('jobExitCode: %s → %s', (_n, over, code) => {
    expect(jobExitCode(job(over))).toBe(code);
  });

  it('the attempt log is in time order (attempts oldest first, lines by their timestamps)', () => {
    const a = attemptsInOrder([
      { attempt: 2, startedOn: 200, finishedOn: 300, worker: 'w', outcome: 'completed', log: ['2026-01-01T00:00:03.000Z c', '2026-01-01T00:00:01.000Z a', '2026-01-01T00:00:02.000Z b'] },
      { attempt: 1, startedOn: 100, finishedOn: 150, worker: 'w', outcome: 'failed', log: [] },
    ]);
    expect(a.map((x) => x.attempt)).toEqual([1, 2]);
    expect(a[1]?.log).toEqual(['2026-01-01T00:00:01.000Z a', '2026-01-01T00:00:02.000Z b', '2026-01-01T00:00:03.000Z c']);
  });

  it('jobs cancel, then status job / jobs list say cancelled, retry says it was cancelled (exit 4); status job exits the same with and without --watch', async () => {
    const h = await harness();
    seed(h.store, 'cust_cx1', 'deployed');
    expect(await run(h, makeDeleteCommand as unknown as Factory, ['cust_cx1', '--yes', '--detach', '-o', 'json'])).toBe(0);
    const id = (JSON.parse(h.out()) as { results: Array<{ jobId: string }> }).results[0]?.jobId as string;
    const at = () => h.out().length;
    expect(await run(h, makeJobsCommand as unknown as Factory, ['cancel', id])).toBe(0);
    let from = at();
    expect(await run(h, makeStatusCommand as unknown as Factory, ['job', id])).toBe(4);
    expect(h.out().slice(from)).toMatch(/Job\s+\d+ \(delete\)\s+cancelled/);
    expect(await run(h, makeStatusCommand as unknown as Factory, ['job', id, '--watch'])).toBe(4);
    from = at();
    expect(await run(h, makeJobsCommand as unknown as Factory, ['list'])).toBe(0);
    expect(h.out().slice(from)).toMatch(new RegExp(`${id}\\s+delete\\s+cancelled`));
    expect(await run(h, makeJobsCommand as unknown as Factory, ['retry', id])).toBe(4);
    const e = await (await h.d.client()).retry(id).catch((x: unknown) => x);
    expect((e as Error).message).toBe(`job ${id} was cancelled: a cancelled job is not retried`);
    expect((e as ConflictError).details).toEqual(["Start a new deletion with 'custctl delete cust_cx1'."]);
    const json = await h.queue.get(id);
    expect(json).toMatchObject({ state: 'failed', failedReason: 'cancelled' });
  });
});

// ---- item 10: the prompt ---------------------------------------------------------------------------

/** A terminal-like IO over in-memory streams; `keys` are typed once the prompt is drawn. */
async function prompt(keys: string): Promise<{ result: string; screen: string }> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  for (const s of [stdin, stdout, stderr]) Object.assign(s, { isTTY: true, columns: 100, rows: 24 });
  Object.assign(stdin, { setRawMode: () => stdin });
  let screen = '';
  stderr.on('data', (b: Buffer) => {
    screen += b.toString();
    if (screen.includes('Type its customer ID') && keys) {
      const k = keys;
      keys = '';
      setImmediate(() => stdin.write(k));
    }
  });
  const io = makeIO({ stdin, stdout, stderr }, { NO_COLOR: '1' });
  const result = await confirmOrRefuse({ io }, 'Delete cust_p1? Type its customer ID to confirm', 'cust_p1', 'delete cust_p1').then(
    () => 'confirmed',
    (e: unknown) => `${(e as UsageError).exitCode} ${(e as Error).message}`,
  );
  // eslint-disable-next-line no-control-regex
  return { result, screen: screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') };
}

describe('item 10: the confirmation prompt', () => {
  it('the right answer: a tick, confirmed', async () => {
    const r = await prompt('cust_p1\r');
    expect(r.result).toBe('confirmed');
    expect(r.screen).toMatch(/✔ Delete cust_p1\?/);
  });
  it('a wrong answer is shown refused (a cross, no tick), exit 2, nothing changed', async () => {
    const r = await prompt('cust_p2\r');
    expect(r.result).toBe('2 confirmation refused: "cust_p2" is not "cust_p1"; nothing changed');
    expect(r.screen).toMatch(/✖ Delete cust_p1\?/);
    expect(r.screen).not.toContain('✔');
  });
  it('Ctrl-C: "aborted, nothing changed", exit 130 (the shell convention)', async () => {
    const r = await prompt('\x03');
    expect(r.result).toBe(`130 ${ABORTED}`);
    expect(r.screen).not.toContain('✔');
  });
  it('no terminal: refused before asking', async () => {
    const b = bufferIO();
    await expect(confirmOrRefuse({ io: b.io }, 'q', 'x', 'delete x')).rejects.toThrow(/no terminal to ask on. Pass --yes/);
  });
});

// ---- item 9: help and errors (the built binary) ----------------------------------------------------

async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await execa('node', [BIN, ...args], { reject: false, env: { NO_COLOR: '1', CUSTCTL_STATE_DIR: mkdtempSync(join(tmpdir(), 'ux-cli-')), SIMULATE_K8S_DEPLOYMENT: 'true', ...env }, input: '', timeout: 60_000 });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** The subcommands a help text lists under "Commands:" (hidden ones are not listed). */
function subcommandsOf(help: string): string[] {
  const section = /\nCommands:\n([\s\S]*?)(\n\n|$)/.exec(help)?.[1] ?? '';
  return section.split('\n').map((l) => /^\s{2}([a-z][\w-]*)/.exec(l)?.[1]).filter((x): x is string => !!x && x !== 'help');
}

describe('item 9: help', () => {
  it('every command in the tree (hidden ones aside) has examples; subcommands show inherited flags', async () => {
    const seen: string[] = [];
    const missing: string[] = [];
    const noInherited: string[] = [];
    const walk = async (path: string[]): Promise<void> => {
      const r = await cli([...path, '--help']);
      expect(r.exitCode, `${path.join(' ')} --help: ${r.stderr}`).toBe(0);
      seen.push(path.join(' '));
      if (!/\nExamples?:\n/.test(r.stdout)) missing.push(path.join(' ') || '(root)');
      if (path.length > 0 && !/\nInherited flags:\n(.|\n)*--kubeconfig <path>/.test(r.stdout)) noInherited.push(path.join(' '));
      for (const sub of subcommandsOf(r.stdout)) await walk([...path, sub]);
    };
    await walk([]);
    expect(seen).toEqual(expect.arrayContaining(['delete', 'status job', 'status customer', 'jobs list', 'jobs retry', 'jobs cancel', 'jobs prune', 'customers list', 'db migrate', 'db check', 'worker']));
    expect(missing).toEqual([]);
    expect(noInherited).toEqual([]);
  }, 180_000);

  it('required options are marked', async () => {
    const r = await cli(['customers', 'add', '--help']);
    expect(r.stdout).toMatch(/--email <email>\s+contact e-mail \(required\)/);
    expect(r.stdout).toMatch(/--company <name>\s+company name \(required\)/);
  });

  it('one error prefix: main, commander and a usage error all say "Error:"', async () => {
    const unknown = await cli(['delete', 'cust_a', '--bogus']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/^Error: unknown option '--bogus'/m);
    expect(unknown.stderr).not.toMatch(/^error:/m);
    const bad = await cli(['status', 'job', 'abc']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^Error: .*is not a job id/m);
    expect(commanderErrorText(bufferIO().io, "error: missing required argument 'x'\n")).toBe("Error: missing required argument 'x'\n");
    expect(errorText(bufferIO().io, 'm', ['d'])).toBe('Error: m\n  d\n');
  });

  it('status customer of an unknown id names the next step (exit 3)', async () => {
    const h = await harness();
    const e = await runStatusCustomer(h.d, { id: 'cust_nobody1', output: 'table' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NotFoundError);
    expect((e as NotFoundError).message).toBe('customer cust_nobody1 not found in fake://store');
    expect((e as NotFoundError).details).toEqual(["List customers with 'custctl customers list'; register one with 'custctl customers add'."]);
  });

  it('jobs prune with nothing to prune says so and exits 0, with or without a terminal or --yes; -o json', async () => {
    const env = { CUSTCTL_STATE_DIR: mkdtempSync(join(tmpdir(), 'ux-prune-')) };
    const dry = await cli(['jobs', 'prune', '--dry-run', '-o', 'json'], env);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, olderThan: '7d', jobs: [], pruned: 0 });
    // nothing to confirm: no refusal for want of a terminal
    const plain = await cli(['jobs', 'prune'], env);
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stdout).toBe('nothing to prune: no finished jobs older than 7d');
    expect(plain.stderr).not.toMatch(/refusing/);
    const yes = await cli(['jobs', 'prune', '--yes', '--older-than', '168h'], env);
    expect(yes.exitCode, yes.stderr).toBe(0);
    expect(yes.stdout).toBe('nothing to prune: no finished jobs older than 7d');
  });
});
