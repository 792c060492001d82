/**
 * The human view of a job (`status job`, `jobs list`). JSON output is the job itself, with ISO
 * times beside BullMQ's milliseconds (src/domain/json-times.ts). Everything the job carries from
 * outside (its failure, its log lines, who requested it, webhook errors) is made visible.
 */
import { hookResultLines } from '../domain/hook-result.js';
import type { HookPointResult } from '../domain/hooks.js';
import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../domain/duration.js';
import type { CustomerRow } from '../adapters/store.js';
import { deletionStarted, isCancelled, isScheduled, kindFacts, stateName, type AttemptRecord, type Job } from '../domain/job.js';
import { isScheduledRow, rowStatusName } from '../domain/row-status.js';
import type { CancelResult } from '../jobs/cancel.js';
import { deliveryJson, jobJson, type DeliveryJson, type JobJson } from '../domain/json-times.js';
import type { DeliveryView } from '../domain/webhook.js';
import type { IO } from '../io.js';
import { ago, printTable, view, writeStyled, type View } from './print.js';
import { h, paint, styled, Styled, type Paint } from './text.js';

export function stateWord(job: Job, c: Paint): Styled {
  const name = stateName(job);
  const color = { waiting: c.cyan, scheduled: c.magenta, active: c.blue, delayed: c.yellow, completed: c.green, failed: c.red, cancelled: c.yellow }[name];
  return color(name);
}

/** When a job that waits runs: a scheduled deletion's due time, a delayed job's next try (ISO); else '-'. */
export function dueOf(job: Job): string {
  if (isScheduled(job) && job.data.scheduledFor !== undefined) return new Date(job.data.scheduledFor).toISOString();
  if (job.state === 'delayed' && job.delayUntil) return new Date(job.delayUntil).toISOString();
  return '-';
}

/** Attempts oldest first, and each attempt's log lines in time order (`ISO-time message`; stable for equal times). */
export function attemptsInOrder(attempts: readonly AttemptRecord[]): AttemptRecord[] {
  const at = (line: string) => /^\d{4}-\d\d-\d\dT[\d:.]+Z/.exec(line)?.[0] ?? '';
  return [...attempts]
    .sort((a, b) => a.startedOn - b.startedOn || a.attempt - b.attempt)
    .map((a) => ({ ...a, log: a.log.map((l, i) => ({ l, i, t: at(l) })).sort((x, y) => (x.t && y.t && x.t !== y.t ? (x.t < y.t ? -1 : 1) : x.i - y.i)).map((x) => x.l) }));
}

export function renderJob(job: Job, chalk: ChalkInstance, now: number): Styled {
  const c = paint(chalk);
  const lines: Styled[] = [];
  const label = (s: string) => c.bold(s.padEnd(11));
  const indent = styled(' '.repeat(11));
  const at = (ms: number | null) => (ms ? new Date(ms).toISOString() : '-');
  lines.push(h`${label('Job')}${job.id} (${job.name})  ${stateWord(job, c)}  progress ${job.progress}%${job.simulated ? c.yellow('  simulated') : ''}`);
  if (job.data.customerId) lines.push(h`${label('Customer')}${job.data.customerId}${job.data.namespace ? `  namespace ${job.data.namespace}` : ''}`);
  lines.push(h`${label('Attempts')}${job.attemptsMade} of ${job.maxAttempts} made  (backoff ${formatDuration(job.opts.backoff.delay)} × 2^n, attempt timeout ${formatDuration(job.opts.timeoutMs)})`);
  lines.push(h`${label('Requested')}${at(job.timestamp)} by ${job.requestedBy}`);
  if (job.processedOn) lines.push(h`${label('Started')}${at(job.processedOn)}`);
  if (job.finishedOn) lines.push(h`${label('Finished')}${at(job.finishedOn)} (${formatDuration(job.finishedOn - job.timestamp)} after it was requested)`);
  if (isScheduled(job) && job.data.scheduledFor !== undefined) {
    const due = job.data.scheduledFor;
    const when = due > now ? `in ${formatDuration(due - now)}` : `${formatDuration(now - due)} ago: a worker runs it as soon as one is running`;
    lines.push(h`${label('Due')}${at(due)} (${when}); the instance is suspended until then${job.data.customerId ? h`; cancel: custctl cancel ${job.data.customerId}` : ''}`);
  } else if (job.state === 'delayed' && job.delayUntil) lines.push(h`${label('Next try')}${at(job.delayUntil)} (in ${formatDuration(Math.max(0, job.delayUntil - now))})`);
  if (job.state === 'active' && job.lease) {
    const expired = job.lease.expiresAt < now;
    lines.push(h`${label('Worker')}${job.lease.owner}, lease ${expired ? c.red(`expired ${formatDuration(now - job.lease.expiresAt)} ago: resume with 'custctl jobs resume'`) : `until ${at(job.lease.expiresAt)}`}`);
  }
  if (isCancelled(job)) {
    const after = !job.data.customerId || !kindFacts(job.name).holdsCustomerRow ? '' : deletionStarted(job) ? '; an attempt had run, so nothing was restored and the customer was left deletion_failed' : job.previousStatus ? `; the customer went back to ${job.previousStatus}` : '';
    lines.push(h`${label('Cancelled')}${at(job.finishedOn)}${after}`);
  } else if (job.failedReason) {
    const [first, ...rest] = job.failedReason.split('\n');
    // BullMQ keeps the last failure on a job that later completed: say which it is
    const what = job.state === 'failed' ? label('Failed') : label('Last error');
    lines.push(h`${what}${job.state === 'failed' ? c.red(first ?? '') : (first ?? '')}${job.failedCode ? ` (${job.failedCode})` : ''}`);
    for (const r of rest) lines.push(h`${indent}${r}`);
  }
  const rv = job.returnvalue as { outcome?: string; reason?: string; warnings?: string[]; billing?: { lines?: string[] }; hooks?: HookPointResult[]; certificate?: { signature?: { keyId?: string }; certificate?: { audit?: { seq?: string } } } } | null;
  if (rv && typeof rv === 'object') {
    if (rv.outcome) lines.push(h`${label('Result')}${rv.outcome}${rv.reason ? `: ${rv.reason}` : ''}`);
    for (const p of rv.hooks ?? []) for (const l of hookResultLines(p)) lines.push(h`${label('Hook')}${l}`);
    for (const l of rv.billing?.lines ?? []) lines.push(h`${label('Billing')}${l}`);
    for (const w of rv.warnings ?? []) lines.push(h`${label('Warning')}${c.yellow(w)}`);
    if (rv.certificate?.signature) lines.push(h`${label('Signed')}deletion certificate (key ${(rv.certificate.signature.keyId ?? '').slice(0, 16)}…, audit row ${rv.certificate.certificate?.audit?.seq ?? '?'}): custctl status job ${job.id} --certificate > cert.json`);
  }
  for (const a of attemptsInOrder(job.attempts)) {
    const took = a.finishedOn ? ` after ${formatDuration(a.finishedOn - a.startedOn)}` : '';
    lines.push(styled(''));
    lines.push(h`${c.bold(`Attempt ${a.attempt}`)}  ${a.outcome}${took}  (${a.worker}, started ${at(a.startedOn)})${a.error ? `: ${a.error.split('\n')[0]}` : ''}`);
    for (const l of a.log) lines.push(h`  ${l}`);
  }
  return Styled.join(lines);
}

/** `status job`, `jobs retry|cancel`: the job itself (ISO times beside the ms); the human view is `renderJob`. With `deliveries` (`status job`): the job and its webhook deliveries. */
export function jobView(job: Job, now: number): View<JobJson>;
export function jobView(job: Job, now: number, deliveries: readonly DeliveryView[]): View<JobJson & { deliveries: readonly DeliveryJson[] }>;
export function jobView(job: Job, now: number, deliveries?: readonly DeliveryView[]): View<JobJson> {
  const data = deliveries ? { ...jobJson(job), deliveries: deliveries.map(deliveryJson) } : jobJson(job);
  return view(data, (io) => writeStyled(io, h`${renderJob(job, io.chalk, now)}\n${deliveries?.length ? h`\n${renderDeliveries(deliveries, io.chalk, now)}\n` : ''}`));
}

/** The webhook deliveries of a job: one line each (endpoint, event, state, status code, attempts), the last error under it. */
export function renderDeliveries(ds: readonly DeliveryView[], chalk: ChalkInstance, now: number): Styled {
  const c = paint(chalk);
  const lines = [c.bold('Webhooks')];
  const at = (ms: number | null) => (ms ? new Date(ms).toISOString() : '-');
  for (const d of ds) {
    const code = d.statusCode !== null ? `HTTP ${d.statusCode}` : 'no answer';
    const tries = `${d.attempts} attempt${d.attempts === 1 ? '' : 's'}`;
    let what: Styled;
    if (d.state === 'delivered') what = h`${c.green('delivered')} ${code} at ${at(d.deliveredAt)} (${tries})`;
    else if (d.state === 'gave-up') what = h`${c.red('gave up')} after ${tries}, last ${code}`;
    else if (d.attempts === 0) what = h`${c.yellow('pending')} (not tried yet)`;
    else what = h`${c.yellow('pending')} ${tries}, last ${code}; next try ${at(d.nextAttemptAt)}${d.nextAttemptAt ? ` (in ${formatDuration(Math.max(0, d.nextAttemptAt - now))})` : ''}, gives up ${at(d.giveUpAt)}`;
    lines.push(h`  ${d.endpoint}  ${d.event}  ${what}  ${d.url}  delivery ${d.id}`);
    if (d.lastError && d.state !== 'delivered') lines.push(h`    last error: ${d.lastError}`);
  }
  return Styled.join(lines);
}

/** `jobs list`, local or remote. */
export function jobListView(jobs: readonly Job[], now: number, onEmpty: () => void): View<readonly JobJson[]> {
  const head = ['ID', 'NAME', 'STATE', 'DUE', 'PROGRESS', 'CUSTOMER', 'ATTEMPTS', 'AGE', 'REASON'];
  const row = (j: Job) => [j.id, j.name, stateName(j), dueOf(j), `${j.progress}%`, j.data.customerId ?? '-', `${j.attemptsMade}/${j.maxAttempts}`, ago(j.timestamp, now), isCancelled(j) ? '' : (j.failedReason ?? '').split('\n')[0] ?? ''];
  const at = (ms: number | null) => (ms ? new Date(ms).toISOString() : '-');
  return view(jobs.map(jobJson), async (io) => {
    if (jobs.length === 0) return onEmpty();
    await printTable(io, head, jobs.map(row));
  }, {
    names: () => jobs.map((j) => `job/${j.id}`),
    // wide: where and by whom, and how long it ran (the reason stays last: it is the longest)
    wide: async (io) => {
      if (jobs.length === 0) return onEmpty();
      await printTable(io, [...head.slice(0, -1), 'NAMESPACE', 'REQUESTED BY', 'STARTED', 'DURATION', 'WORKER', 'REASON'], jobs.map((j) => {
        const r = row(j);
        const ran = j.processedOn ? (j.finishedOn ?? now) - j.processedOn : null;
        return [...r.slice(0, -1), j.data.namespace ?? '-', j.requestedBy, at(j.processedOn), ran === null ? '-' : formatDuration(ran), j.lease?.owner ?? '-', r[r.length - 1] ?? ''];
      }));
    },
  });
}

/** `status customer`, local or remote: `{customer, jobs}`; the human view is the row and its latest jobs. */
export function customerStatusView<T extends { customer: CustomerRow; jobs: readonly Job[] }>(r: T, noJobs: string, now: number): View<Omit<T, 'jobs'> & { jobs: JobJson[] }> {
  return view({ ...r, jobs: r.jobs.map(jobJson) }, (io) => printCustomerStatus(io, r.customer, r.jobs, noJobs, now));
}

/** `status customer`, local or remote: the row and its latest jobs. */
export async function printCustomerStatus(io: IO, row: CustomerRow, jobs: readonly Job[], noJobs: string, now: number): Promise<void> {
  writeStyled(io, Styled.join([
    h`Customer     ${row.customerId}  (${row.companyName || '-'}, ${row.email || '-'})`,
    h`Status       ${rowStatusName(row, now)}${row.deletionJobId ? `  (deletion job ${row.deletionJobId})` : ''}`,
    ...scheduledLines(row, now),
    h`Namespace    ${row.instanceNamespace || '-'}`,
    h`URL          ${row.instanceUrl || '-'}`,
    h`Updated      ${row.updatedAt}`,
    styled(''),
  ]));
  if (jobs.length === 0) {
    writeStyled(io, h`${noJobs}\n`);
    return;
  }
  await printTable(io, ['JOB', 'NAME', 'STATE', 'DUE', 'PROGRESS', 'ATTEMPTS', 'REQUESTED', 'REASON'], jobs.map((j) => [j.id, j.name, stateName(j), dueOf(j), `${j.progress}%`, `${j.attemptsMade}/${j.maxAttempts}`, new Date(j.timestamp).toISOString(), isCancelled(j) ? '' : (j.failedReason ?? '').split('\n')[0] ?? '']));
}

/** Soft delete: when a scheduled deletion is due, which job holds it, how to cancel; when the last one completed. */
function scheduledLines(row: CustomerRow, now: number): Styled[] {
  const lines: Styled[] = [];
  if (isScheduledRow(row, now)) {
    lines.push(h`Due          ${row.deletionScheduledAt} (the deletion, by job ${row.deletionJobId ?? '-'}); instance suspended until then; cancel: custctl cancel ${row.customerId}`);
  } else if (row.deploymentStatus === 'deleting' && row.deletionScheduledAt) {
    lines.push(h`Due          ${row.deletionScheduledAt} (passed: the deletion runs, or waits for a worker; follow it with 'custctl status job ${row.deletionJobId ?? '-'} --watch')`);
  }
  if (row.deletedAt) lines.push(h`Deleted      ${row.deletedAt}`);
  return lines;
}

/** `--detach`: the job; the human view is its id alone (for scripts: `id=$(custctl … --detach)`). */
export function jobIdView(job: Job): View<JobJson> {
  return view(jobJson(job), (io) => writeStyled(io, h`${job.id}\n`));
}

/**
 * What a cancel did, in one line (`cancel`, `jobs cancel`): the job, the customer's status now, what
 * was put back; or that the deletion had started and nothing was put back.
 */
export function cancelLine(r: CancelResult): Styled {
  const restored = r.restored.map((c) => `${c.kind}/${c.name} ${c.kind === 'CronJob' ? `suspend=${c.to}` : `replicas ${c.to}`}`).join(', ');
  const simulated = r.simulated ? ' (simulated: cluster not touched)' : '';
  if (!r.customerId || r.status === null) return h`job ${r.jobId} cancelled`;
  if (r.deletionStarted) {
    return h`deletion of ${r.customerId} stopped: job ${r.jobId} cancelled after it had started; status ${r.status}; nothing restored (part of the instance may be gone)${simulated}`;
  }
  return h`deletion of ${r.customerId} cancelled (job ${r.jobId}${r.scheduledFor ? h`, was due ${r.scheduledFor}` : ''}); status ${r.status}${restored ? h`; restored ${restored}` : ''}${simulated}${r.billingResumed ? `\n${r.billingResumed.lines.join('\n')}` : ''}`;
}

/** `custctl cancel ID`: the cancel's result (JSON: CancelResult, the job inside with ISO times). */
export function cancelResultView(r: CancelResult): View<Omit<CancelResult, 'job'> & { job: JobJson }> {
  return view({ ...r, job: jobJson(r.job) }, (io) => writeStyled(io, h`${cancelLine(r)}\n`));
}

/** `jobs cancel`: the job as every job answer shows it, plus what the cancel did (`cancel`). */
export function cancelledJobView(r: CancelResult): View<JobJson & { cancel: Omit<CancelResult, 'job'> }> {
  const { job, ...done } = r;
  return view({ ...jobJson(job), cancel: done }, (io) => writeStyled(io, h`${cancelLine(r)}\n`));
}
