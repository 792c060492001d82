import type { Job } from '../domain/job.js';

/** A job of this journal that has not ended (Ctrl-C, shutdown): it stays resumable. */
export function localInterruption(job: Job): { error: string; message: string; details: string[] } {
  return { error: 'internal', message: `interrupted: job ${job.id} is ${job.state}`, details: [`Resume it with 'custctl jobs resume' or 'custctl worker --once'.`] };
}
