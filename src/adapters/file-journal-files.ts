/**
 * The file journal's files (see src/adapters/file-journal.ts for the layout): how a job file and
 * a log file are written, read and checked, and the journal's errors. No state transitions here:
 * those are src/domain/job-machine.ts.
 */
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, stat, unlink } from 'node:fs/promises';
import { NotFoundError, OperationError } from '../errors.js';
import { JOB_ID_PATTERN } from '../domain/job-id.js';
import { JOB_STATES, type Job } from '../domain/job.js';
import type { JobFilter } from './queue.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
/** `jobs/<id>.json` */
export const JOB_FILE = /^([1-9][0-9]{0,15})\.json$/;

export interface UnreadableJob {
  id: string;
  path: string;
  reason: string;
}

/** `job 12 is unreadable: <path>: <reason>; other jobs are unaffected`. */
export class UnreadableJobError extends OperationError {
  readonly jobId: string;
  readonly path: string;
  readonly reason: string;

  constructor(jobId: string, path: string, reason: string) {
    super(`job ${jobId} is unreadable: ${path}: ${reason}; other jobs are unaffected`, [
      `move the file away (or delete it) to drop job ${jobId}; \`custctl jobs list\` still shows the others`,
    ]);
    this.jobId = jobId;
    this.path = path;
    this.reason = reason;
  }
}

export function checkId(id: string): void {
  if (!JOB_ID_PATTERN.test(id)) throw jobNotFound(id);
}

export function jobNotFound(id: string): NotFoundError {
  return new NotFoundError(`job ${JSON.stringify(id)} not found`, ['list the jobs with `custctl jobs list`']);
}

export function counterError(path: string, reason: string): OperationError {
  return new OperationError(`the job id counter ${path} is unreadable: ${reason}`, [
    'move it away: custctl then continues after the highest job file (ids of pruned jobs could be reused)',
  ]);
}

/** The job file's text: the job without its log lines (they live in `jobs/<id>.log`). */
export function serializeJob(job: Job): string {
  const stored: Job = { ...job, attempts: job.attempts.map((a) => ({ ...a, log: [] })) };
  return `${JSON.stringify(stored, null, 2)}\n`;
}

/** Log lines of attempt `index` as appended to `jobs/<id>.log`: JSON lines `{"i": index, "line": "…"}`. */
export function logLines(index: number, lines: readonly string[]): string {
  return lines.map((line) => `${JSON.stringify({ i: index, line })}\n`).join('');
}

/** The whole log file of a job whose attempts carry their lines. */
export function logText(job: Job): string {
  return job.attempts.map((a, i) => logLines(i, a.log)).join('');
}

/** The job with the log file's lines added to its attempts; a torn or foreign line is skipped. */
export function withLogText(job: Job, text: string): Job {
  const byAttempt = new Map<number, string[]>();
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    let entry: unknown;
    try {
      entry = JSON.parse(raw);
    } catch {
      continue; // a torn last line from a killed writer
    }
    const { i, line } = (entry ?? {}) as { i?: unknown; line?: unknown };
    if (typeof i !== 'number' || typeof line !== 'string') continue;
    const bucket = byAttempt.get(i) ?? [];
    bucket.push(line);
    byAttempt.set(i, bucket);
  }
  return { ...job, attempts: job.attempts.map((a, i) => ({ ...a, log: [...a.log, ...(byAttempt.get(i) ?? [])] })) };
}

/** Appends (and fsyncs) to a log file, never through a link: O_NOFOLLOW (a planted link fails with ELOOP). */
export async function appendNoFollow(path: string, text: string): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, FILE_MODE);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function matchesFilter(job: Job, f: JobFilter): boolean {
  return (f.state === undefined || job.state === f.state)
    && (f.name === undefined || job.name === f.name)
    && (f.customerId === undefined || job.data.customerId === f.customerId);
}

/** Null when `raw` looks like a stored job with this id, else what is wrong. */
export function jobShapeProblem(raw: unknown, id: string): string | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'not a job record (not a JSON object)';
  const j = raw as Partial<Record<keyof Job, unknown>>;
  // the reasons name fields, never their values: the file's content is not ours to show
  if (j.id !== id) return `not a job record for id ${id} (its id field differs)`;
  if (typeof j.state !== 'string' || !(JOB_STATES as readonly string[]).includes(j.state)) return 'not a job record (unknown state)';
  if (!Array.isArray(j.attempts)) return 'no attempts list';
  if (typeof j.opts !== 'object' || j.opts === null) return 'no options';
  if (typeof j.attemptsMade !== 'number' || typeof j.maxAttempts !== 'number') return 'no attempt counters';
  return null;
}

/** Creates `dir` 0700, or tightens a looser existing one (listed in `fixed`). */
export async function ensurePrivateDir(dir: string, fixed: string[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new OperationError(`the job journal path ${dir} is not a directory`);
  if ((st.mode & 0o077) !== 0) {
    await chmod(dir, DIR_MODE);
    fixed.push(dir);
  }
}

/** Anything at `path` (a file, a directory, a dangling link), without following links. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

export async function unlinkIfExists(path: string): Promise<void> {
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
}
