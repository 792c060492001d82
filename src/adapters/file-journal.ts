/**
 * The file job journal: the embedded `JobQueue` backend (one machine, any number of processes).
 *
 * Layout (under the caller's directory, normally `<state dir>/journal/`; directories 0700, files 0600;
 * a pre-existing directory with a looser mode is chmod'ed to 0700 and listed in `permissionsFixed`):
 *
 *   seq                 the last id handed out (a JSON number); ids are never reused, even after prune
 *   jobs/<id>.json      one file per job: the job JSON of DESIGN, with `attempts[].log` left empty
 *   jobs/<id>.log       the attempts' log lines, JSON lines `{"i": <attempt index>, "line": "…"}`
 *   journal.lock/       the cross-process lock (a directory, see below)
 *
 * `get(id)` reads `jobs/<id>.json` and `jobs/<id>.log` and nothing else, so `status job N` costs the
 * same with 10 or 100,000 jobs. `list`/`claimNext`/`prune` scan `jobs/` (O(#jobs), bounded by prune).
 *
 * Locking: proper-lockfile (maintained, already a dependency). It takes the lock with `mkdir`
 * (atomic on every local filesystem and on NFS), keeps the lock's mtime fresh while held and treats
 * a lock whose mtime is older than `stale` (5 s) as abandoned, so a process killed inside a locked
 * section delays the others by at most ~5 s and never wedges the journal. We prefer it to
 * hand-rolled `O_EXCL` files with pid checks because stale-lock *removal* is the racy part (two
 * waiters both deciding a lock is stale and one deleting the other's fresh lock); proper-lockfile
 * re-checks under its own protocol and we do not have to get that right again. The lock is held
 * only for short read-modify-write sections (allocateId, add, claim, renewLease, progress,
 * complete, fail, release, cancel, retry, prune), never while an attempt runs; inside one process
 * the sections of one journal are additionally queued behind each other.
 *
 * Crash safety (kill -9 at any instant):
 * - `seq` and `jobs/<id>.json` are only ever replaced by `writeFileAtomic` (temp file, fsync,
 *   rename, directory fsync): the path holds the old complete version or the new complete
 *   version, never a mix. A stray `.…tmp` file may remain; scans ignore it and prune removes it.
 * - Each state change is one job-file write, so a section killed before its rename changed
 *   nothing and one killed after it is complete. allocateId writes `seq` before returning, so a
 *   crash between allocateId and add loses only an id (a hole; the row's `deletion_job_id` may
 *   hold it and `jobs resume --customer` recreates the job with `add(id)`).
 * - Log lines are appended (and fsync'd) to `jobs/<id>.log`; a kill mid-append leaves a torn last
 *   line, which readers skip. Prune deletes the log before the job file, so no orphan logs.
 * - A worker killed mid-attempt leaves its job `active` with a lease that is no longer renewed.
 *   The next `claim` after the lease expired (or at once, when the lease names a dead process on
 *   this host) records that attempt as `interrupted`, counts it as a made attempt (so a job that
 *   kills its worker cannot loop forever), and starts the next attempt. If the interrupted attempt
 *   was the last allowed one the job becomes `failed` ("the worker running attempt N stopped
 *   (lease expired)…; run `custctl jobs retry N`"), as BullMQ fails a job that stalled too often.
 * - A leftover lock directory is stale after 5 s (above).
 *
 * State transitions (claim, stall recovery, lease renewal, progress, complete, fail with backoff,
 * release, cancel, retry) are src/domain/job-machine.ts: this file reads a job under the lock,
 * applies one transition and writes what it returns. Its files' formats are file-journal-files.ts.
 *
 * A torn or garbage job file (only possible through outside damage: a file holding `null`, a
 * directory or a symbolic link named like a job) makes `get(id)` throw a clear `UnreadableJobError`;
 * `list`, `claimNext` and `prune` skip it and report it once through `onCorrupt` /
 * `scan().unreadable`; every other job keeps working. Nothing in the journal is read or written
 * through a symbolic link, and no error quotes a file's content. `allocateId` skips an id whose
 * name is taken by anything, and `add` creates the job file exclusively: a job never replaces a file.
 */
import { hostname } from 'node:os';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, OperationError } from '../errors.js';
import { JOB_ID_PATTERN } from '../domain/job-id.js';
import { runPool } from '../util/pool.js';
import { processIsAlive } from '../util/process-alive.js';
import { isFinished } from '../domain/job.js';
import type { Job, Lease, NewJob } from '../domain/job.js';
import * as machine from '../domain/job-machine.js';
import type { FailureInfo, JobFilter, JobScrubber, LeasedQueue, QueueScrubResult } from './queue.js';
import { DirLock } from './dir-lock.js';
import { CorruptFileError, createFileExclusive, FileExistsError, fsyncDir, isTempFileName, readJsonFile, readTextNoFollow, writeFileAtomic } from './fs-atomic.js';
import {
  FILE_MODE, JOB_FILE, UnreadableJobError, appendNoFollow, checkId, counterError, ensurePrivateDir, jobNotFound, jobShapeProblem,
  logLines, logText, matchesFilter, pathExists, serializeJob, unlinkIfExists, withLogText, type UnreadableJob,
} from './file-journal-files.js';

export { UnreadableJobError, type UnreadableJob } from './file-journal-files.js';

const JOB_ID = JOB_ID_PATTERN;
const SCAN_PARALLELISM = 32;

export interface FileJournalOptions {
  /** the journal directory (created 0700 if missing) */
  dir: string;
  /** default worker name, `pid@host` */
  worker?: string;
  /** called once per unreadable job (or log) file met by a scan (list, claimNext, prune) or a log read */
  onCorrupt?: (problem: UnreadableJob) => void;
  /** how long to wait for the cross-process lock before giving up (default 30 s) */
  lockWaitMs?: number;
  /** this process, for leases (defaults: process.pid, os.hostname()) */
  pid?: number;
  host?: string;
  /** liveness of a lease holder on this host; default `process.kill(pid, 0)` */
  isProcessAlive?: (pid: number) => boolean;
}

export interface ScanResult {
  jobs: Job[];
  unreadable: UnreadableJob[];
}

export async function openFileJournal(opts: FileJournalOptions): Promise<FileJournal> {
  const fixed: string[] = [];
  await ensurePrivateDir(opts.dir, fixed);
  await ensurePrivateDir(join(opts.dir, 'jobs'), fixed);
  return new FileJournal(opts, fixed);
}

export class FileJournal implements LeasedQueue {
  readonly kind = 'file' as const;
  readonly dir: string;
  readonly jobsDir: string;
  /** default worker name of this process, `pid@host` */
  readonly worker: string;
  /** directories whose looser mode was tightened to 0700 when opening */
  readonly permissionsFixed: readonly string[];

  private readonly pid: number;
  private readonly host: string;
  private readonly isProcessAlive: (pid: number) => boolean;
  private readonly onCorrupt: ((problem: UnreadableJob) => void) | undefined;
  private readonly lock: DirLock;
  private readonly reported = new Set<string>();

  /** use openFileJournal */
  constructor(opts: FileJournalOptions, permissionsFixed: readonly string[] = []) {
    this.dir = opts.dir;
    this.jobsDir = join(opts.dir, 'jobs');
    this.pid = opts.pid ?? process.pid;
    this.host = opts.host ?? hostname();
    this.worker = opts.worker ?? `${this.pid}@${this.host}`;
    this.isProcessAlive = opts.isProcessAlive ?? processIsAlive;
    this.onCorrupt = opts.onCorrupt;
    this.lock = new DirLock(opts.dir, join(opts.dir, 'journal.lock'), 'the job journal', opts.lockWaitMs ?? 30_000);
    this.permissionsFixed = permissionsFixed;
  }

  jobPath(id: string): string {
    return join(this.jobsDir, `${id}.json`);
  }

  logPath(id: string): string {
    return join(this.jobsDir, `${id}.log`);
  }

  async allocateId(): Promise<string> {
    return this.locked(async () => {
      let next = (await this.readSeq()) + 1;
      // an id whose file exists (restored, damaged, or planted) is skipped: ids are never reused
      while ((await pathExists(this.jobPath(String(next)))) || (await pathExists(this.logPath(String(next))))) next += 1;
      await writeFileAtomic(this.seqPath(), `${next}\n`, FILE_MODE);
      return String(next);
    });
  }

  async add(id: string, newJob: NewJob, now: number): Promise<Job> {
    checkId(id);
    return this.locked(async () => {
      if ((await this.readJob(id)) !== null) {
        throw new ConflictError(`job ${id} already exists`, [`see it with \`custctl status job ${id}\``]);
      }
      // an id given by the caller (recreating a lost job) must never be handed out again
      if ((await this.readSeq()) < Number(id)) await writeFileAtomic(this.seqPath(), `${id}\n`, FILE_MODE);
      const job = machine.newJobRecord(id, newJob, now);
      try {
        // exclusive: a job file that appeared meanwhile (or a name taken by anything) is never replaced
        await createFileExclusive(this.jobPath(id), serializeJob(job), FILE_MODE);
      } catch (e) {
        if (e instanceof FileExistsError) throw new ConflictError(`job ${id} already exists`, [`see it with \`custctl status job ${id}\``]);
        throw e;
      }
      return this.withLogs(job);
    });
  }

  /** Null for an unknown (or non-numeric) id; UnreadableJobError for a damaged job file. */
  async get(id: string): Promise<Job | null> {
    if (!JOB_ID.test(id)) return null;
    const job = await this.readJob(id);
    return job === null ? null : this.withLogs(job);
  }

  /** Matching jobs, newest (highest id) first, logs filled; unreadable files are skipped and reported. */
  async list(filter: JobFilter = {}): Promise<Job[]> {
    return (await this.scan(filter)).jobs;
  }

  /** `list` plus the job files that could not be read. */
  async scan(filter: JobFilter = {}): Promise<ScanResult> {
    const { jobs, unreadable } = await this.scanRaw();
    const matching = jobs.filter((j) => matchesFilter(j, filter)).sort((a, b) => Number(b.id) - Number(a.id));
    return { jobs: await runPool(matching, SCAN_PARALLELISM, (j) => this.withLogs(j)), unreadable };
  }

  async claim(id: string, worker: string, now: number, leaseMs: number): Promise<Job | null> {
    checkId(id);
    return this.locked(async () => {
      const job = await this.mustReadJob(id);
      const { job: next, claimed } = machine.claim(job, { owner: worker, pid: this.pid, host: this.host }, now, leaseMs, this.holderGone);
      if (next !== job) await this.writeJob(next);
      return claimed === null ? null : this.withLogs(claimed);
    });
  }

  /** Active with an expired lease, or leased by a process of this host that is gone (no need to wait for expiry). */
  leaseAbandoned(job: Job, now: number): boolean {
    return job.state === 'active' && machine.dueReason(job, now, this.holderGone) === 'lease-expired';
  }

  /** Oldest (lowest id) due job first: waiting, delayed and due, or active with an expired lease. */
  async claimNext(worker: string, now: number, leaseMs: number): Promise<Job | null> {
    const { jobs } = await this.scanRaw();
    const due = jobs.filter((j) => machine.dueReason(j, now, this.holderGone) !== null).sort((a, b) => Number(a.id) - Number(b.id));
    for (const candidate of due) {
      // claim re-reads under the lock: another process may have taken it since the scan
      const claimed = await this.claim(candidate.id, worker, now, leaseMs);
      if (claimed) return claimed;
    }
    return null;
  }

  async renewLease(id: string, worker: string, now: number, leaseMs: number): Promise<boolean> {
    checkId(id);
    return this.locked(async () => {
      const job = await this.readJob(id);
      const renewed = job === null ? null : machine.renewLease(job, worker, now, leaseMs);
      if (renewed === null) return false;
      await this.writeJob(renewed);
      return true;
    });
  }

  async update(id: string, worker: string, patch: { progress?: number; logLines?: string[] }): Promise<void> {
    checkId(id);
    if (patch.logLines !== undefined && patch.logLines.length > 0) {
      // No lock: only the lease holder appends, and a line is keyed by its attempt's index, so a
      // line that races a takeover stays with the attempt that wrote it.
      const job = await this.mustReadJob(id);
      machine.assertHolds(job, worker);
      await appendNoFollow(this.logPath(id), logLines(job.attempts.length - 1, patch.logLines));
    }
    if (patch.progress !== undefined) {
      const progress = patch.progress;
      await this.mutate(id, (job) => machine.setProgress(job, worker, progress));
    }
  }

  async complete(id: string, worker: string, returnvalue: unknown, now: number, opts: { superseded?: boolean } = {}): Promise<Job> {
    return this.mutate(id, (job) => machine.complete(job, worker, returnvalue, now, opts));
  }

  async fail(id: string, worker: string, failure: FailureInfo, now: number): Promise<Job> {
    return this.mutate(id, (job) => machine.fail(job, worker, failure, now));
  }

  async release(id: string, worker: string, now: number): Promise<Job> {
    return this.mutate(id, (job) => machine.release(job, worker, now));
  }

  async cancel(id: string, now: number): Promise<Job> {
    return this.mutate(id, (job) => machine.cancel(job, now));
  }

  /** A failed job gets a fresh set of `opts.attempts` tries; its attempt history is kept. */
  async retry(id: string, _now: number): Promise<Job> {
    return this.mutate(id, (job) => machine.retry(job));
  }

  async prune(before: number): Promise<number> {
    return this.locked(async () => {
      let removed = 0;
      const { jobs } = await this.scanRaw();
      for (const job of jobs) {
        if (isFinished(job) && job.finishedOn !== null && job.finishedOn < before) {
          await unlinkIfExists(this.logPath(job.id));
          await unlinkIfExists(this.jobPath(job.id));
          removed += 1;
        }
      }
      // temp files left by a process killed mid-write
      for (const dir of [this.dir, this.jobsDir]) {
        for (const name of await readdir(dir)) {
          if (!isTempFileName(name)) continue;
          const st = await stat(join(dir, name)).catch(() => null);
          if (st && st.mtimeMs < before) await unlinkIfExists(join(dir, name));
        }
      }
      if (removed > 0) await fsyncDir(this.jobsDir);
      return removed;
    });
  }

  /**
   * Rewrites a finished job (completed or failed) and its log lines under the lock, e.g. to remove
   * personal data. `change` gets the job with its log lines in place and returns the job to keep
   * (its attempts' log lines included), or null when nothing changed. The log is rewritten first
   * (atomically), then the job file: a kill between the two leaves the job to be rewritten again.
   * A job that has not ended is not touched ('unfinished': its running attempt appends log lines
   * without the lock); nor is one that no longer exists ('missing').
   */
  async rewriteFinished(id: string, change: (job: Job) => Job | null): Promise<'rewritten' | 'unchanged' | 'unfinished' | 'missing'> {
    checkId(id);
    return this.locked(async () => {
      const stored = await this.readJob(id);
      if (stored === null) return 'missing';
      if (!isFinished(stored)) return 'unfinished';
      const next = change(await this.withLogs(stored));
      if (next === null) return 'unchanged';
      if (next.id !== id || next.state !== stored.state || next.attempts.length !== stored.attempts.length) {
        throw new OperationError(`rewriting job ${id}: only its content may change, not its id, state or attempts`);
      }
      const text = logText(next);
      if (text === '') await unlinkIfExists(this.logPath(id));
      else await writeFileAtomic(this.logPath(id), text, FILE_MODE);
      await this.writeJob(next);
      return 'rewritten';
    });
  }

  async scrubCustomer(customerId: string, scrub: JobScrubber): Promise<QueueScrubResult> {
    const jobs = await this.list({ customerId });
    const out: QueueScrubResult = { jobs: jobs.length, rewritten: [], unfinished: [] };
    for (const listed of jobs) {
      if (!isFinished(listed)) {
        out.unfinished.push(listed.id);
        continue;
      }
      let replaced = 0;
      const outcome = await this.rewriteFinished(listed.id, (job) => {
        const r = scrub(job);
        replaced = r.count;
        return r.count > 0 ? r.job : null;
      });
      if (outcome === 'rewritten') out.rewritten.push({ id: listed.id, replaced });
      else if (outcome === 'unfinished') out.unfinished.push(listed.id);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.lock.drain();
  }

  // ---------------------------------------------------------------- internals

  private seqPath(): string {
    return join(this.dir, 'seq');
  }

  /** The last id handed out; when `seq` is missing, the highest job file (a fresh or restored journal). */
  private async readSeq(): Promise<number> {
    const raw = await readJsonFile(this.seqPath()).catch((e: unknown) => {
      throw e instanceof CorruptFileError ? counterError(e.path, e.reason) : e;
    });
    if (raw === undefined) {
      let max = 0;
      for (const name of await readdir(this.jobsDir)) {
        const m = JOB_FILE.exec(name);
        if (m) max = Math.max(max, Number(m[1]));
      }
      return max;
    }
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) {
      throw counterError(this.seqPath(), 'not a non-negative integer');
    }
    return raw;
  }

  private async readJob(id: string): Promise<Job | null> {
    const path = this.jobPath(id);
    let raw: unknown;
    try {
      raw = await readJsonFile(path);
    } catch (e) {
      if (e instanceof CorruptFileError) throw new UnreadableJobError(id, path, e.reason);
      const code = (e as NodeJS.ErrnoException).code;
      if (code) throw new UnreadableJobError(id, path, `cannot be read (${code})`);
      throw e;
    }
    if (raw === undefined) return null;
    const problem = jobShapeProblem(raw, id);
    if (problem) throw new UnreadableJobError(id, path, problem);
    return raw as Job;
  }

  private async mustReadJob(id: string): Promise<Job> {
    const job = await this.readJob(id);
    if (job === null) throw jobNotFound(id);
    return job;
  }

  private async writeJob(job: Job): Promise<void> {
    await writeFileAtomic(this.jobPath(job.id), serializeJob(job), FILE_MODE);
  }

  /** Tells `onCorrupt` about a damaged file once per journal (a scan every second must not repeat it). */
  private report(problem: UnreadableJob): void {
    if (this.reported.has(problem.path)) return;
    this.reported.add(problem.path);
    this.onCorrupt?.(problem);
  }

  /** Read-modify-write of one job under the lock: `change` applies a transition, null when nothing changed. */
  private async mutate(id: string, change: (job: Job) => Job | null): Promise<Job> {
    checkId(id);
    return this.locked(async () => {
      const job = await this.mustReadJob(id);
      const next = change(job);
      if (next !== null) await this.writeJob(next);
      return this.withLogs(next ?? job);
    });
  }

  private async withLogs(job: Job): Promise<Job> {
    let text: string | undefined;
    try {
      text = await readTextNoFollow(this.logPath(job.id));
    } catch (e) {
      if (!(e instanceof CorruptFileError)) throw e;
      this.report({ id: job.id, path: e.path, reason: e.reason });
      return job; // the job itself is fine; only its log lines are not shown
    }
    return text === undefined ? job : withLogText(job, text);
  }

  /** Every readable job (logs not filled) and the unreadable files; never throws for one bad file. */
  private async scanRaw(): Promise<ScanResult> {
    const ids: string[] = [];
    for (const name of await readdir(this.jobsDir)) {
      const m = JOB_FILE.exec(name);
      if (m) ids.push(m[1]!);
    }
    const unreadable: UnreadableJob[] = [];
    const read = await runPool(ids, SCAN_PARALLELISM, async (id) => {
      try {
        return await this.readJob(id);
      } catch (e) {
        if (!(e instanceof UnreadableJobError)) throw e;
        const problem = { id, path: e.path, reason: e.reason };
        unreadable.push(problem);
        this.report(problem);
        return null;
      }
    });
    return { jobs: read.filter((j): j is Job => j !== null), unreadable };
  }

  /** A lease holder on this host that no longer exists will never renew: no need to wait for expiry. */
  private readonly holderGone = (lease: Lease): boolean => lease.host === this.host && lease.pid !== this.pid && !this.isProcessAlive(lease.pid);

  /** Runs `fn` holding this journal's in-process queue and the cross-process lock. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }
}
