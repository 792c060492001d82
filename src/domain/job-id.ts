/** Job ids: numeric strings, never reused (every backend, the API, the CLI). */
import { UsageError } from './errors.js';
import { quoted } from './visible.js';

export const JOB_ID_PATTERN = /^[1-9]\d{0,15}$/;

export function isJobId(raw: string): boolean {
  return JOB_ID_PATTERN.test(raw);
}

/** Validates a job id from a user (CLI argument, URL parameter); `hint` says where to find one. */
export function parseJobId(raw: string, hint = " (see 'custctl jobs list')"): string {
  if (!isJobId(raw)) throw new UsageError(`${quoted(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw)} is not a job id: job ids are numbers, e.g. 12345${hint}`);
  return raw;
}
