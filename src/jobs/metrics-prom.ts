/**
 * The Prometheus series of custctl (prom-client), fed by the job lifecycle, the pipeline's step
 * timings and the cleanup-rbac scans (src/jobs/metrics.ts says how they arrive). Loaded only by
 * the commands that expose or write metrics.
 *
 * prom-client: the maintained Node client for Prometheus (counters, histograms, gauges with a
 * collect() run at scrape time, the text exposition format) with no native code.
 *
 * The three series of the original design keep their names exactly; custctl's own are prefixed `custctl_`.
 */
import { readFile } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { writeFileAtomic } from '../adapters/fs-atomic.js';
import type { JobQueue } from '../adapters/queue.js';
import { JOB_STATES, kindFacts, type Job, type JobState } from '../domain/job.js';
import type { RbacKind } from '../domain/rbac-owner.js';
import type { DeleteResult } from '../pipeline/types.js';
import type { JobEvent } from './events.js';
import type { Metrics, StepTiming } from './metrics.js';

/** Whole deletions: the namespace controller's 5 s floor, up to the 10 min job timeout and past it. */
export const DELETION_BUCKETS = [1, 2.5, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1800];
/**
 * Step 2 (delete + wait until gone). 300 is a boundary on purpose: the default --timeout (5 min),
 * so `histogram_quantile(0.95, …) > 300` says "p95 above the wait timeout" exactly.
 */
export const NAMESPACE_BUCKETS = [1, 2.5, 5, 6, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 360, 450, 600, 900];
/** One step: a row update takes milliseconds, helm and the namespace wait seconds to minutes. */
export const STEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 15, 30, 60, 120, 300, 600];

const RBAC_KINDS: readonly RbacKind[] = ['ClusterRole', 'ClusterRoleBinding'];

export interface PromMetricsOptions {
  now: () => number;
  /** the process's own series (CPU, memory, event loop): for the long-running serve and worker, not a textfile */
  processMetrics?: boolean;
  /** a scrape could not read the queue (the gauges keep their last values) */
  onError?: (message: string, error: unknown) => void;
}

export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly deletions: Counter<'status'>;
  private readonly deletionSeconds: Histogram;
  private readonly namespaceSeconds: Histogram;
  private readonly stepSeconds: Histogram<'step'>;
  private readonly attempts: Counter<'kind' | 'outcome'>;
  private readonly orphans: Gauge<'kind'>;
  private readonly lastSuccess: Gauge;
  private readonly queues: JobQueue[] = [];

  constructor(private readonly o: PromMetricsOptions) {
    const registers = [this.registry];
    this.deletions = new Counter({ name: 'customer_deletions_total', help: 'Customer deletions that ended: success (the row is reset) or failed (after the last attempt).', labelNames: ['status', 'cluster'], registers });
    for (const status of ['success', 'failed']) this.deletions.inc({ status }, 0);
    this.deletionSeconds = new Histogram({ name: 'customer_deletion_duration_seconds', help: 'Duration of the attempt that completed a customer deletion (all four steps), seconds.', buckets: DELETION_BUCKETS, registers });
    this.namespaceSeconds = new Histogram({ name: 'customer_namespace_deletion_duration_seconds', help: 'Step 2: from the namespace delete until it was gone (or the wait timed out), seconds.', buckets: NAMESPACE_BUCKETS, registers });
    this.stepSeconds = new Histogram({ name: 'custctl_step_duration_seconds', help: 'Duration of one pipeline step of a deletion attempt (done or failed), seconds.', labelNames: ['step'], buckets: STEP_BUCKETS, registers });
    this.attempts = new Counter({ name: 'custctl_job_attempts_total', help: 'Job attempts that ended, by job kind and outcome (completed, failed, superseded).', labelNames: ['kind', 'outcome', 'cluster'], registers });
    this.orphans = new Gauge({ name: 'custctl_orphaned_cluster_rbac', help: 'Orphaned customer ClusterRoles/ClusterRoleBindings left after the last cleanup-rbac scan (dry run or sweep) of this process.', labelNames: ['kind'], registers });
    this.lastSuccess = new Gauge({ name: 'custctl_last_successful_deletion_timestamp_seconds', help: 'When the last successful customer deletion of this process ended, Unix seconds (0: none yet).', registers });
    const queues = this.queues;
    const onError = o.onError;
    const depth = new Gauge({
      name: 'custctl_jobs', help: 'Jobs in the queue by state, read at scrape time.', labelNames: ['state'], registers,
      async collect() {
        const q = queues[0];
        if (!q) return;
        try {
          const counts = await countJobs(q);
          for (const s of JOB_STATES) this.set({ state: s }, counts.get(s) ?? 0);
        } catch (e) {
          onError?.('could not read the queue for custctl_jobs', e);
        }
      },
    });
    void depth;
    const now = o.now;
    new Gauge({
      name: 'custctl_jobs_past_timeout', help: 'Active jobs whose current attempt started longer ago than the job\'s own timeout (stuck), read at scrape time.', registers,
      async collect() {
        const q = queues[0];
        if (!q) return;
        try {
          const t = now();
          this.set((await q.list({ state: 'active' })).filter((j) => pastTimeout(j, t)).length);
        } catch (e) {
          onError?.('could not read the queue for custctl_jobs_past_timeout', e);
        }
      },
    });
    if (o.processMetrics) {
      this.process = new Registry();
      collectDefaultMetrics({ register: this.process });
    }
  }

  /** prom-client's process and Node.js series (CPU, memory, event loop, GC), when asked for */
  private process: Registry | null = null;

  readonly onJobEvent = (e: JobEvent): void => {
    // the `cluster` label: a fleet of several only (jobs record their cluster then; the values are
    // the clusters file's names, a bounded set); with one cluster the series are as they always were
    const named = 'job' in e ? e.job.data.cluster : undefined;
    const cluster = named !== undefined ? { cluster: named } : {};
    switch (e.type) {
      case 'attempt-failed':
        this.attempts.inc({ kind: e.job.name, outcome: 'failed', ...cluster });
        return;
      case 'superseded':
        this.attempts.inc({ kind: e.job.name, outcome: 'superseded', ...cluster });
        return;
      case 'completed': {
        this.attempts.inc({ kind: e.job.name, outcome: 'completed', ...cluster });
        if (!kindFacts(e.job.name).holdsCustomerRow) return;
        this.deletions.inc({ status: 'success', ...cluster });
        const r = e.job.returnvalue as Partial<DeleteResult> | null;
        if (typeof r?.durationMs === 'number') this.deletionSeconds.observe(r.durationMs / 1000);
        this.lastSuccess.set((e.job.finishedOn ?? this.o.now()) / 1000);
        return;
      }
      case 'failed':
        this.attempts.inc({ kind: e.job.name, outcome: 'failed', ...cluster });
        if (kindFacts(e.job.name).holdsCustomerRow) this.deletions.inc({ status: 'failed', ...cluster });
        return;
      default:
        return; // accepted, started, progress; a cancel ends no attempt and is no failed deletion
    }
  };

  readonly stepTimed = (t: StepTiming): void => {
    this.stepSeconds.observe({ step: t.step }, t.seconds);
    if ((t.ok && t.namespaceOutcome === 'deleted') || (t.waitedForNamespace === true && t.errorName === 'timeout')) this.namespaceSeconds.observe(t.seconds);
  };

  readonly orphansScanned = (remaining: ReadonlyArray<{ kind: RbacKind }>): void => {
    for (const kind of RBAC_KINDS) this.orphans.set({ kind }, remaining.filter((x) => x.kind === kind).length);
  };

  watchQueue(queue: JobQueue): void {
    if (!this.queues.includes(queue)) this.queues.unshift(queue);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async text(): Promise<string> {
    const own = await this.registry.metrics();
    if (!this.process) return own;
    return `${own.replace(/\n*$/, '\n')}${lintClean(await this.process.metrics())}`;
  }

  async writeTextfile(path: string): Promise<void> {
    const previous = await readFile(path, 'utf8').catch(() => '');
    await writeFileAtomic(path, mergeExposition(previous, await this.text()), 0o644);
  }
}

/**
 * prom-client's `nodejs_active_{handles,requests,resources}_total` are gauges named like counters,
 * which `promtool check metrics` rejects: those three families are left out.
 */
function lintClean(text: string): string {
  const keep: string[] = [];
  let drop = false;
  for (const line of text.split('\n')) {
    const h = /^# (?:HELP|TYPE) (\S+)/.exec(line);
    if (h) drop = /^nodejs_active_\w+_total$/.test(h[1] as string);
    else if (line && !line.startsWith('#')) drop = /^nodejs_active_\w+_total[{ ]/.test(line);
    if (!drop) keep.push(line);
  }
  return keep.join('\n');
}

function pastTimeout(j: Job, now: number): boolean {
  const started = j.processedOn ?? j.attempts.at(-1)?.startedOn;
  return started !== undefined && started !== null && j.opts.timeoutMs > 0 && now - started > j.opts.timeoutMs;
}

async function countJobs(q: JobQueue): Promise<Map<JobState, number>> {
  if (q.counts) return new Map(Object.entries(await q.counts()) as Array<[JobState, number]>);
  const m = new Map<JobState, number>();
  for (const j of await q.list()) m.set(j.state, (m.get(j.state) ?? 0) + 1);
  return m;
}

/**
 * A textfile accumulates over one-off runs: node_exporter reads the file as it is, so a counter
 * written as "1" by every run would never increase. Counters and histograms (`_total`, `_bucket`,
 * `_sum`, `_count`) of the previous file are added to this run's; a `…_timestamp_seconds` gauge keeps
 * the later of the two (the last success); other gauges are this run's. Series only in the previous
 * file are kept (e.g. the orphans of the last scan when this run scanned none). `# TYPE` says which
 * kind a sample is.
 */
export function mergeExposition(previous: string, current: string): string {
  const prev = samples(previous);
  if (prev.values.size === 0) return current;
  const cur = samples(current);
  const out: string[] = [];
  let family = '';
  const emitted = new Set<string>();
  const restOf = (fam: string) => {
    for (const [key, v] of prev.values) {
      if (prev.familyOf.get(key) !== fam || cur.values.has(key) || emitted.has(key)) continue;
      out.push(`${key} ${v}`);
      emitted.add(key);
    }
  };
  for (const line of current.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) {
      if (family) restOf(family);
      family = t[1] as string;
      out.push(line);
      continue;
    }
    if (line === '' || line.startsWith('#')) {
      out.push(line);
      continue;
    }
    const [key, raw] = splitSample(line);
    const type = cur.types.get(family);
    const before = prev.values.get(key);
    const value = Number(raw);
    if (before !== undefined && (type === 'counter' || type === 'histogram')) out.push(`${key} ${before + value}`);
    else if (before !== undefined && type === 'gauge' && family.endsWith('_timestamp_seconds')) out.push(`${key} ${Math.max(before, value)}`);
    else out.push(line);
    emitted.add(key);
  }
  if (family) restOf(family);
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}

function splitSample(line: string): [string, string] {
  const i = line.lastIndexOf(' ');
  return [line.slice(0, i), line.slice(i + 1)];
}

function samples(text: string): { values: Map<string, number>; familyOf: Map<string, string>; types: Map<string, string> } {
  const values = new Map<string, number>();
  const familyOf = new Map<string, string>();
  const types = new Map<string, string>();
  let family = '';
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) {
      family = t[1] as string;
      types.set(family, t[2] as string);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const [key, raw] = splitSample(line);
    const v = Number(raw);
    if (!Number.isFinite(v) || !family) continue;
    values.set(key, v);
    familyOf.set(key, family);
  }
  return { values, familyOf, types };
}
