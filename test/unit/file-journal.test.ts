import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../src/errors.js';
import { FileJournal, UnreadableJobError, openFileJournal } from '../../src/adapters/file-journal.js';
import type { UnreadableJob } from '../../src/adapters/file-journal.js';
import { CorruptFileError, readJsonFile, writeFileAtomic } from '../../src/adapters/fs-atomic.js';
import { backoffDelay } from '../../src/domain/job.js';
import type { NewJob } from '../../src/domain/job.js';
import type { FailureInfo } from '../../src/adapters/queue.js';

const T0 = 1_700_000_000_000;
const LEASE = 30_000;
const W = 'w1';

function newJob(over: Partial<NewJob> = {}, attempts = 3): NewJob {
  return {
    name: 'delete',
    data: { customerId: 'cust_abc123', namespace: 'customer-abc123' },
    opts: { attempts, backoff: { type: 'exponential', delay: 60_000 }, timeoutMs: 600_000 },
    requestedBy: 'tester',
    simulated: false,
    previousStatus: 'deployed',
    ...over,
  };
}

const retryable: FailureInfo = { message: 'helm exploded', errorName: 'internal', final: false };

let dir: string;
let q: FileJournal;

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'custctl-journal-')), 'journal');
  q = await openFileJournal({ dir, worker: W });
});
afterEach(async () => {
  await q.close();
  await rm(dirname(dir), { recursive: true, force: true });
});

async function addJob(over: Partial<NewJob> = {}, attempts = 3, now = T0): Promise<string> {
  const id = await q.allocateId();
  await q.add(id, newJob(over, attempts), now);
  return id;
}

describe('backoff', () => {
  it.each([
    [1, 60_000],
    [2, 120_000],
    [3, 240_000],
    [4, 480_000],
  ])('after %i failed tries the next waits %i ms (delay 60000)', (made, expected) => {
    expect(backoffDelay(60_000, made)).toBe(expected);
  });

  it('delays each failed attempt by the backoff, and fails after the last try', async () => {
    const id = await addJob();
    let now = T0;
    const delays: number[] = [];
    for (let k = 1; k <= 2; k++) {
      expect(await q.claim(id, W, now, LEASE)).not.toBeNull();
      const j = await q.fail(id, W, retryable, now);
      expect(j.state).toBe('delayed');
      expect(j.attemptsMade).toBe(k);
      delays.push(j.delayUntil! - now);
      expect(await q.claim(id, W, j.delayUntil! - 1, LEASE)).toBeNull(); // not due yet
      now = j.delayUntil!;
    }
    expect(delays).toEqual([60_000, 120_000]);
    expect(await q.claim(id, W, now, LEASE)).not.toBeNull();
    const last = await q.fail(id, W, retryable, now + 5);
    expect(last).toMatchObject({ state: 'failed', attemptsMade: 3, failedReason: 'helm exploded', failedCode: 'internal', finishedOn: now + 5, delayUntil: null });
    expect(last.attempts.map((a) => [a.attempt, a.outcome])).toEqual([[1, 'failed'], [2, 'failed'], [3, 'failed']]);
    expect(last.stacktrace).toHaveLength(3);
  });
});

describe('file journal: states', () => {
  it('adds, claims, logs, completes', async () => {
    const id = await addJob();
    expect(id).toBe('1');
    const added = await q.get(id);
    expect(added).toMatchObject({ id, state: 'waiting', progress: 0, attemptsMade: 0, maxAttempts: 3, timestamp: T0, lease: null, previousStatus: 'deployed' });

    const claimed = await q.claim(id, W, T0 + 10, LEASE);
    expect(claimed).toMatchObject({ state: 'active', processedOn: T0 + 10, lease: { owner: W, pid: process.pid, expiresAt: T0 + 10 + LEASE } });
    expect(claimed!.attempts).toEqual([{ attempt: 1, startedOn: T0 + 10, finishedOn: null, worker: W, outcome: 'running', log: [] }]);
    expect(await q.claim(id, 'w2', T0 + 20, LEASE)).toBeNull(); // leased

    await q.update(id, W, { progress: 25, logLines: ['2026-01-01T00:00:00.000Z helm uninstall'] });
    await q.update(id, W, { logLines: ['line 2', 'line 3'] });
    const mid = await q.get(id);
    expect(mid!.progress).toBe(25);
    expect(mid!.attempts[0]!.log).toEqual(['2026-01-01T00:00:00.000Z helm uninstall', 'line 2', 'line 3']);
    // the job file itself stays small: logs are in the .log file
    expect(await readFile(q.jobPath(id), 'utf8')).not.toContain('line 2');

    const done = await q.complete(id, W, { ok: true }, T0 + 100);
    expect(done).toMatchObject({ state: 'completed', progress: 100, attemptsMade: 1, returnvalue: { ok: true }, finishedOn: T0 + 100, lease: null });
    expect(done.attempts[0]).toMatchObject({ outcome: 'completed', finishedOn: T0 + 100, log: ['2026-01-01T00:00:00.000Z helm uninstall', 'line 2', 'line 3'] });
    expect(await q.claim(id, W, T0 + 200, LEASE)).toBeNull();
  });

  it('a final failure fails at once', async () => {
    const id = await addJob();
    await q.claim(id, W, T0, LEASE);
    const j = await q.fail(id, W, { message: 'refused', errorName: 'conflict', final: true }, T0 + 1);
    expect(j).toMatchObject({ state: 'failed', attemptsMade: 1, failedCode: 'conflict', failedReason: 'refused' });
  });

  it('a superseded attempt completes with returnvalue {superseded} and progress unchanged', async () => {
    const id = await addJob();
    await q.claim(id, W, T0, LEASE);
    await q.update(id, W, { progress: 10 });
    const j = await q.complete(id, W, 'the customer was redeployed', T0 + 1, { superseded: true });
    expect(j).toMatchObject({ state: 'completed', progress: 10, returnvalue: { superseded: true, reason: 'the customer was redeployed' } });
    expect(j.attempts[0]!.outcome).toBe('superseded');
  });

  it('only the lease holder may update or finish', async () => {
    const id = await addJob();
    await q.claim(id, W, T0, LEASE);
    await expect(q.update(id, 'other', { progress: 5 })).rejects.toBeInstanceOf(ConflictError);
    await expect(q.update(id, 'other', { logLines: ['x'] })).rejects.toBeInstanceOf(ConflictError);
    await expect(q.complete(id, 'other', null, T0)).rejects.toBeInstanceOf(ConflictError);
    await expect(q.fail(id, 'other', retryable, T0)).rejects.toBeInstanceOf(ConflictError);
    expect(await q.renewLease(id, 'other', T0, LEASE)).toBe(false);
    expect(await q.renewLease(id, W, T0 + 1000, LEASE)).toBe(true);
    expect((await q.get(id))!.lease!.expiresAt).toBe(T0 + 1000 + LEASE);
  });

  it('release hands the job back without counting the attempt', async () => {
    const id = await addJob();
    await q.claim(id, W, T0, LEASE);
    const j = await q.release(id, W, T0 + 5);
    expect(j).toMatchObject({ state: 'waiting', attemptsMade: 0, lease: null });
    expect(j.attempts[0]).toMatchObject({ outcome: 'interrupted', finishedOn: T0 + 5 });
    const again = await q.claim(id, W, T0 + 6, LEASE);
    expect(again!.attempts.map((a) => a.attempt)).toEqual([1, 1]);
  });

  it('cancel: waiting or delayed only', async () => {
    const waiting = await addJob();
    expect(await q.cancel(waiting, T0 + 1)).toMatchObject({ state: 'failed', failedReason: 'cancelled', finishedOn: T0 + 1 });

    const delayed = await addJob();
    await q.claim(delayed, W, T0, LEASE);
    await q.fail(delayed, W, retryable, T0);
    const c = await q.cancel(delayed, T0 + 2);
    expect(c).toMatchObject({ state: 'failed', failedReason: 'cancelled', delayUntil: null });
    expect(await q.claim(delayed, W, T0 + 10_000_000, LEASE)).toBeNull(); // never runs again

    const active = await addJob();
    await q.claim(active, W, T0, LEASE);
    await expect(q.cancel(active, T0)).rejects.toBeInstanceOf(ConflictError);
    await q.complete(active, W, null, T0);
    await expect(q.cancel(active, T0)).rejects.toBeInstanceOf(ConflictError);
    await expect(q.cancel('999', T0)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('retry: failed only, a fresh set of attempts, history kept', async () => {
    const id = await addJob({}, 1);
    await expect(q.retry(id, T0)).rejects.toBeInstanceOf(ConflictError);
    await q.claim(id, W, T0, LEASE);
    await q.fail(id, W, retryable, T0);
    const r = await q.retry(id, T0 + 1);
    expect(r).toMatchObject({ state: 'waiting', attemptsMade: 0, maxAttempts: 1, failedReason: null, finishedOn: null });
    expect(r.attempts).toHaveLength(1);
    const c = await q.claim(id, W, T0 + 2, LEASE);
    expect(c!.attempts.map((a) => a.attempt)).toEqual([1, 1]);
    await expect(q.retry('424242', T0)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('claimNext takes the oldest due job and skips ones not due', async () => {
    const a = await addJob();
    const b = await addJob();
    const c = await addJob();
    await q.claim(a, W, T0, LEASE);
    await q.fail(a, W, retryable, T0); // delayed until T0+60s
    expect((await q.claimNext(W, T0 + 1, LEASE))!.id).toBe(b);
    expect((await q.claimNext(W, T0 + 2, LEASE))!.id).toBe(c);
    expect(await q.claimNext(W, T0 + 3, LEASE)).toBeNull();
    expect((await q.claimNext(W, T0 + 60_000, LEASE))!.id).toBe(a);
  });

  it('list filters by state, name and customer, newest first', async () => {
    const a = await addJob({ data: { customerId: 'cust_a' } });
    const b = await addJob({ data: { customerId: 'cust_b' } });
    const c = await addJob({ name: 'cleanup-rbac', data: {} });
    await q.claim(a, W, T0, LEASE);
    expect((await q.list()).map((j) => j.id)).toEqual([c, b, a]);
    expect((await q.list({ state: 'active' })).map((j) => j.id)).toEqual([a]);
    expect((await q.list({ customerId: 'cust_b' })).map((j) => j.id)).toEqual([b]);
    expect((await q.list({ name: 'cleanup-rbac' })).map((j) => j.id)).toEqual([c]);
  });

  it('get: unknown or malformed ids are null, never a path', async () => {
    expect(await q.get('7')).toBeNull();
    expect(await q.get('../seq')).toBeNull();
    expect(await q.get('0')).toBeNull();
  });

  it('add refuses an existing id and moves the counter past a given id', async () => {
    const id = await addJob();
    await expect(q.add(id, newJob(), T0)).rejects.toBeInstanceOf(ConflictError);
    await q.add('50', newJob(), T0); // a lost job recreated with the id its row holds
    expect(await q.allocateId()).toBe('51');
  });
});

describe('file journal: ids, prune, files', () => {
  it('never reuses ids, even after prune, and across reopen', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await addJob());
    for (const id of ids) {
      await q.claim(id, W, T0, LEASE);
      await q.complete(id, W, null, T0 + 1);
    }
    expect(await q.prune(T0 + 2)).toBe(3);
    expect(await q.list()).toEqual([]);
    expect(await readdir(q.jobsDir)).toEqual([]);
    expect(await q.allocateId()).toBe('4');
    const q2 = await openFileJournal({ dir });
    expect(await q2.allocateId()).toBe('5');
  });

  it('prune keeps unfinished and recent jobs', async () => {
    const old = await addJob();
    const recent = await addJob();
    const waiting = await addJob();
    await q.claim(old, W, T0, LEASE);
    await q.complete(old, W, null, T0);
    await q.claim(recent, W, T0, LEASE);
    await q.fail(recent, W, { ...retryable, final: true }, T0 + 10_000);
    expect(await q.prune(T0 + 5_000)).toBe(1);
    expect((await q.list()).map((j) => j.id).sort()).toEqual([recent, waiting].sort());
  });

  it('without a counter file, ids continue after the highest job file', async () => {
    await addJob();
    await addJob();
    await rm(join(dir, 'seq'));
    expect(await q.allocateId()).toBe('3');
  });

  it('creates 0700 directories and 0600 files, and tightens a looser directory', async () => {
    const id = await addJob();
    await q.claim(id, W, T0, LEASE);
    await q.update(id, W, { logLines: ['x'] });
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    expect(await mode(dir)).toBe(0o700);
    expect(await mode(q.jobsDir)).toBe(0o700);
    expect(await mode(join(dir, 'seq'))).toBe(0o600);
    expect(await mode(q.jobPath(id))).toBe(0o600);
    expect(await mode(q.logPath(id))).toBe(0o600);

    const loose = join(dirname(dir), 'loose');
    await mkdir(loose, { mode: 0o755 });
    await chmod(loose, 0o755);
    const j = await openFileJournal({ dir: loose });
    expect(await mode(loose)).toBe(0o700);
    expect(j.permissionsFixed).toEqual([loose]);
  });

  it('a torn or garbage job file is reported and the other jobs keep working', async () => {
    const good1 = await addJob();
    const torn = await addJob();
    const garbage = await addJob();
    const good2 = await addJob();
    const text = await readFile(q.jobPath(torn), 'utf8');
    await writeFile(q.jobPath(torn), text.slice(0, text.length / 2));
    await writeFile(q.jobPath(garbage), '\u0000\u0000garbage');

    await expect(q.get(torn)).rejects.toBeInstanceOf(UnreadableJobError);
    await expect(q.get(torn)).rejects.toThrow(new RegExp(`^job ${torn} is unreadable: .*${torn}\\.json: not valid JSON .*; other jobs are unaffected$`));
    await expect(q.cancel(garbage, T0)).rejects.toThrow(/unreadable/);

    const reported: UnreadableJob[] = [];
    const q2 = await openFileJournal({ dir, worker: W, onCorrupt: (p) => reported.push(p) });
    expect((await q2.list()).map((j) => j.id)).toEqual([good2, good1]);
    expect(reported.map((p) => p.id).sort()).toEqual([torn, garbage].sort());
    const scan = await q2.scan();
    expect(scan.unreadable.map((p) => p.path).sort()).toEqual([q.jobPath(torn), q.jobPath(garbage)].sort());

    expect((await q2.claimNext(W, T0, LEASE))!.id).toBe(good1);
    expect((await q2.claimNext(W, T0, LEASE))!.id).toBe(good2);
    expect(await q2.claimNext(W, T0, LEASE)).toBeNull();
    expect(await q2.prune(Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(await q2.get(good1)).not.toBeNull();
  });

  it('a wrong-shaped job file is unreadable too', async () => {
    const id = await addJob();
    await writeFile(q.jobPath(id), JSON.stringify({ id, state: 'sleeping', attempts: [] }));
    await expect(q.get(id)).rejects.toThrow(/not a job record \(unknown state\)/);
  });

  it('a torn last log line is skipped', async () => {
    const id = await addJob();
    await q.claim(id, W, T0, LEASE);
    await q.update(id, W, { logLines: ['one'] });
    await writeFile(q.logPath(id), `${await readFile(q.logPath(id), 'utf8')}{"i":0,"li`);
    expect((await q.get(id))!.attempts[0]!.log).toEqual(['one']);
  });

  it('fs-atomic: writes replace whole files; missing is null, corrupt is typed', async () => {
    const p = join(dir, 'x.json');
    expect(await readJsonFile(p)).toBeUndefined();
    await writeFileAtomic(p, '{"a":1}');
    await writeFileAtomic(p, '{"a":2}');
    expect(await readJsonFile(p)).toEqual({ a: 2 });
    expect((await stat(p)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await writeFile(p, '{"a":');
    const err = await readJsonFile(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptFileError);
    expect((err as CorruptFileError).path).toBe(p);
  });

  it('get reads only its own files (cost independent of the number of jobs)', async () => {
    const id = await addJob();
    const text = await readFile(q.jobPath(id), 'utf8');
    // 2,000 other job files, all garbage: get of the good one must not notice them
    const journal = q;
    for (let i = 2; i <= 2_001; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => writeFile(journal.jobPath(String(i + k)), 'garbage')));
    }
    const started = performance.now();
    expect((await journal.get(id))!.id).toBe(id);
    expect(performance.now() - started).toBeLessThan(1_000); // two small reads, even on a loaded machine
    expect(text).toContain('"state": "waiting"');
    expect((await journal.scan()).unreadable).toHaveLength(2_000);
  }, 60_000);
});

describe('file journal: leases', () => {
  it('an expired lease is taken over; the interrupted attempt counts', async () => {
    const other = await openFileJournal({ dir, worker: 'w2' });
    const id = await addJob();
    await q.claim(id, W, T0, 1_000);
    expect(await other.claim(id, 'w2', T0 + 999, 1_000)).toBeNull();
    const taken = await other.claim(id, 'w2', T0 + 1_000, 1_000);
    expect(taken).toMatchObject({ state: 'active', attemptsMade: 1, lease: { owner: 'w2' } });
    expect(taken!.attempts.map((a) => [a.attempt, a.outcome, a.worker])).toEqual([[1, 'interrupted', W], [2, 'running', 'w2']]);
    expect(taken!.attempts[0]!.error).toBe(`the worker running attempt 1 (${W}) stopped (lease expired)`);
    // the old holder finds out it lost the job
    await expect(q.complete(id, W, null, T0 + 1_001)).rejects.toBeInstanceOf(ConflictError);
    expect(await q.renewLease(id, W, T0 + 1_001, 1_000)).toBe(false);
    expect((await other.complete(id, 'w2', null, T0 + 2_000)).state).toBe('completed');
  });

  it('a lease that expires during the last allowed attempt fails the job', async () => {
    const id = await addJob({}, 1);
    await q.claim(id, W, T0, 1_000);
    expect(await q.claimNext('w2', T0 + 5_000, 1_000)).toBeNull();
    const j = await q.get(id);
    expect(j).toMatchObject({ state: 'failed', attemptsMade: 1, failedCode: 'internal', finishedOn: T0 + 5_000 });
    expect(j!.failedReason).toMatch(/^the worker running attempt 1 \(w1\) stopped \(lease expired\) during its last allowed attempt; run `custctl jobs retry 1`/);
  });

  it('a lease held by a dead process on this host is taken over at once', async () => {
    const id = await addJob();
    const dead = await openFileJournal({ dir, worker: 'dead', pid: 999_999_999 });
    await dead.claim(id, 'dead', T0, LEASE);
    const alive = await openFileJournal({ dir, worker: 'w2', isProcessAlive: () => true });
    expect(await alive.claim(id, 'w2', T0 + 1, LEASE)).toBeNull();
    const checker = await openFileJournal({ dir, worker: 'w3', isProcessAlive: (pid) => pid !== 999_999_999 });
    expect((await checker.claim(id, 'w3', T0 + 1, LEASE))!.lease!.owner).toBe('w3');
  });

  it('two journals on one directory claim each job once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await addJob());
    const a = await openFileJournal({ dir, worker: 'a' });
    const b = await openFileJournal({ dir, worker: 'b' });
    const claims: string[] = [];
    const loop = async (j: FileJournal, w: string) => {
      for (;;) {
        const job = await j.claimNext(w, T0, LEASE);
        if (!job) return;
        claims.push(job.id);
        await j.complete(job.id, w, null, T0);
      }
    };
    await Promise.all([loop(a, 'a'), loop(b, 'b'), loop(a, 'a'), loop(b, 'b')]);
    expect(claims.sort()).toEqual(ids.sort());
    expect((await q.list({ state: 'completed' })).length).toBe(30);
  });
});

describe('file journal: separate processes', () => {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  let built: string;

  beforeAll(async () => {
    // compile the journal alone into a private dir (inside node_modules so proper-lockfile resolves)
    built = join(root, 'node_modules', '.cache', `custctl-journal-test-${process.pid}-${Date.now()}`);
    await promisify(execFile)(process.execPath, [
      join(root, 'node_modules/typescript/bin/tsc'),
      '--outDir', built, '--rootDir', join(root, 'src'), '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
      '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node', '--declaration', 'false',
      join(root, 'src/adapters/file-journal.ts'),
    ], { cwd: root });
    await writeFile(join(built, 'package.json'), '{"type":"module"}\n');
  }, 60_000);
  afterAll(async () => {
    await rm(built, { recursive: true, force: true });
  });

  function child(script: string, args: string[]): { done: Promise<string>; kill: () => void; started: Promise<void> } {
    const p = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let markStarted: () => void = () => undefined;
    const started = new Promise<void>((r) => (markStarted = r));
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('CLAIMED')) markStarted();
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<string>((res, rej) =>
      p.on('exit', (code, signal) => (code === 0 ? res(out) : signal === 'SIGKILL' ? res(out) : rej(new Error(`child ${code}: ${err}`)))),
    );
    return { done, kill: () => p.kill('SIGKILL'), started };
  }

  it('four processes claiming in a loop run every job exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push(await addJob());
    const script = `
      const { openFileJournal } = await import(process.argv[1]);
      const w = 'p' + process.pid;
      const q = await openFileJournal({ dir: process.argv[2], worker: w });
      const mine = [];
      for (;;) {
        const job = await q.claimNext(w, Date.now(), 60000);
        if (!job) break;
        mine.push(job.id);
        await q.update(job.id, w, { progress: 50, logLines: ['by ' + w] });
        await q.complete(job.id, w, { by: w }, Date.now());
      }
      console.log(JSON.stringify(mine));`;
    const modulePath = join(built, 'adapters/file-journal.js');
    const outs = await Promise.all([1, 2, 3, 4].map(() => child(script, [modulePath, dir]).done));
    const claimed = outs.flatMap((o) => JSON.parse(o) as string[]);
    expect(claimed.sort()).toEqual(ids.sort());
    const jobs = await q.list();
    expect(jobs.every((j) => j.state === 'completed' && j.attempts.length === 1)).toBe(true);
    expect(jobs.every((j) => j.attempts[0]!.log.length === 1)).toBe(true);
  }, 60_000);

  it('a worker killed with SIGKILL mid-attempt: the job is taken over and completes', async () => {
    const id = await addJob();
    const script = `
      const { openFileJournal } = await import(process.argv[1]);
      const q = await openFileJournal({ dir: process.argv[2], worker: 'victim' });
      const job = await q.claim(process.argv[3], 'victim', Date.now(), 3600000);
      await q.update(job.id, 'victim', { logLines: ['started'] });
      console.log('CLAIMED');
      setInterval(() => undefined, 1000);`;
    const c = child(script, [join(built, 'adapters/file-journal.js'), dir, id]);
    await c.started;
    c.kill();
    await c.done;
    // the lease runs for an hour, but its holder is a dead process on this host
    const taken = await q.claim(id, W, Date.now(), LEASE);
    expect(taken).not.toBeNull();
    const done = await q.complete(id, W, null, Date.now());
    expect(done.state).toBe('completed');
    expect(done.attempts.map((a) => a.outcome)).toEqual(['interrupted', 'completed']);
    expect(done.attempts[0]!.log).toEqual(['started']);
  }, 60_000);
});

describe('issue 12 item 7: damaged job files on the real file system', () => {
  it('a file holding null is damaged (not "not found"), and the next job neither reuses its id nor replaces it', async () => {
    await writeFile(join(dir, 'seq'), '110\n');
    await writeFile(q.jobPath('111'), 'null\n');
    await expect(q.get('111')).rejects.toBeInstanceOf(UnreadableJobError);
    const id = await q.allocateId();
    expect(id).toBe('112');
    await q.add(id, newJob(), T0);
    expect(await readFile(q.jobPath('111'), 'utf8')).toBe('null\n');
    // recreating a lost job under a taken name fails instead of replacing what is there
    await expect(q.add('111', newJob(), T0)).rejects.toBeInstanceOf(UnreadableJobError);
  });

  it('add never replaces a file that appeared after allocateId (exclusive create)', async () => {
    const id = await q.allocateId();
    await mkdir(q.jobPath(id)); // anything taking the name: here a directory
    await expect(q.add(id, newJob(), T0)).rejects.toThrow(/unreadable|already exists/);
    expect((await stat(q.jobPath(id))).isDirectory()).toBe(true);
  });

  it('a symbolic link as a job file or a log is never followed; the reason never quotes content', async () => {
    const outside = join(dirname(dir), 'outside.json');
    const secret = JSON.stringify({ id: '5', secret: 'do-not-print-me' });
    await writeFile(outside, secret);
    const { symlink } = await import('node:fs/promises');
    await symlink(outside, q.jobPath('5'));
    const err = await q.get('5').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreadableJobError);
    expect((err as Error).message).toMatch(/a symbolic link/);
    expect((err as Error).message).not.toContain('do-not-print-me');
    // a log link: the job still reads, its lines are not taken from elsewhere, nothing is appended there
    const seen: UnreadableJob[] = [];
    const j = await openFileJournal({ dir, worker: W, onCorrupt: (p) => seen.push(p) });
    const id = await j.allocateId();
    await j.add(id, newJob(), T0);
    await symlink(outside, j.logPath(id));
    await j.list();
    await j.list();
    expect(seen.filter((p) => p.path === j.logPath(id))).toHaveLength(1); // reported once
    const claimed = await j.claim(id, W, T0, LEASE);
    expect(claimed?.attempts[0]?.log).toEqual([]);
    await expect(j.update(id, W, { logLines: ['x'] })).rejects.toThrow();
    expect(await readFile(outside, 'utf8')).toBe(secret);
  });

  it('garbage JSON: the reason gives the size, not the text', async () => {
    await writeFile(q.jobPath('7'), 'root:x:0:0:root:/root:/bin/bash\n');
    const err = await q.get('7').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/not valid JSON \(\d+ bytes\)/);
    expect((err as Error).message).not.toContain('root:');
  });
});
