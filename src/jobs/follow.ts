/** Following a job that runs elsewhere (the queue API, or BullMQ workers): poll, relay, stop on Ctrl-C. */
import type { Reporter } from '../io.js';
import { ConflictError } from '../errors.js';
import { isFinished, type Job } from '../domain/job.js';

export const POLL_MS = 500;

/** How long a watched job may sit waiting, due, with no attempt started, before the watch says nobody runs it. */
export const IDLE_NOTICE_MS = 5_000;

/**
 * The notice for a job nobody seems to run: waiting (or delayed and due) for `IDLE_NOTICE_MS`
 * since the watch began, with no attempt running. Null otherwise. Said once per watch.
 */
export function idleNotice(job: Pick<Job, 'id' | 'state' | 'delayUntil'>, watchingSinceMs: number, nowMs: number, whoRuns: string): string | null {
  const due = job.state === 'waiting' || (job.state === 'delayed' && (job.delayUntil ?? 0) <= nowMs);
  if (!due || nowMs - watchingSinceMs < IDLE_NOTICE_MS) return null;
  return `job ${job.id} is still ${job.state} after ${Math.round((nowMs - watchingSinceMs) / 1000)}s: no worker has picked it up. It runs in ${whoRuns}`;
}

/** Where a followed job lives: the queue API, or a queue this process does not run (BullMQ). */
export interface JobSource {
  get(id: string, signal?: AbortSignal): Promise<Job>;
  /** how to follow it again after Ctrl-C */
  hint: string;
  /** who runs its jobs, for the notice when nobody seems to (see idleNotice) */
  whoRuns?: string;
}

/** What following a job needs of the process (the caller's `Deps` is one). */
export interface FollowEnv {
  log: Pick<Reporter, 'step' | 'stepLine' | 'warn'>;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Ctrl-C: stop following; the job carries on */
  shutdown: AbortSignal;
  now: () => Date;
}

/**
 * Polls a job that runs elsewhere until it ends, relaying its pipeline log lines and state
 * changes on stderr. Ctrl-C stops following (the job carries on) and returns the job as last seen.
 */
export async function followJob(d: FollowEnv, source: JobSource, jobId: string, label: string, pollMs = POLL_MS): Promise<Job> {
  let last = '';
  const since = d.now().getTime();
  let noticed = false;
  const seen = new Map<number, number>();
  for (;;) {
    let job: Job;
    try {
      job = await source.get(jobId, d.shutdown);
    } catch (e) {
      if (d.shutdown.aborted) break;
      throw e;
    }
    for (const a of job.attempts ?? []) {
      const from = seen.get(a.attempt) ?? 0;
      for (const line of a.log.slice(from)) d.log.stepLine(`  ${label} | ${line}`);
      seen.set(a.attempt, a.log.length);
    }
    const attempt = Math.min(job.attemptsMade + (job.state === 'active' ? 1 : 0), job.maxAttempts) || 1;
    const line = `${label}: job ${job.id} ${job.state} ${job.progress}% (attempt ${attempt}/${job.maxAttempts})${job.state === 'delayed' && job.delayUntil ? `, next try ${new Date(job.delayUntil).toISOString()}` : ''}`;
    if (line !== last) d.log.step('info', line);
    last = line;
    if (isFinished(job)) return job;
    const idle = noticed || !source.whoRuns ? null : idleNotice(job, since, d.now().getTime(), source.whoRuns);
    if (idle) {
      d.log.warn(idle);
      noticed = true;
    }
    try {
      await d.sleep(pollMs, d.shutdown);
    } catch {
      break;
    }
  }
  const job = await source.get(jobId).catch(() => null);
  d.log.warn(`Stopped following job ${jobId}: it carries on. Follow it with 'custctl status job ${jobId} --watch${source.hint}'`);
  if (!job) throw new ConflictError(`stopped following job ${jobId}`);
  return job;
}
