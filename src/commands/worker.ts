/** `custctl worker [--once] [--concurrency N] [--metrics-port N]`: runs due jobs from the journal (or BullMQ). */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { UsageError } from '../errors.js';
import type { WorkerSummary } from '../jobs/runner.js';
import { intFlag } from '../flags.js';
import { jobsEnv } from '../jobs/env.js';
import { runBullWorkerCommand, runFileWorker } from '../jobs/worker.js';
import { queueBackendOf } from '../jobs/backends.js';
import { outputOption, print, view, type OutputFormat } from '../output/print.js';

export interface WorkerOptions {
  once: boolean;
  concurrency: number;
  /** serve GET /metrics on this port (0: any free port) */
  metricsPort?: number;
  metricsHost?: string;
}

export async function runWorkerCommand(d: Deps, o: WorkerOptions): Promise<WorkerSummary> {
  const { backend } = await queueBackendOf(d);
  if (backend.separateWorkers && o.once) throw new UsageError(`--once is for the file journal: a BullMQ worker (${backend.title}) runs until stopped (SIGTERM)`);
  let metrics: { url: string; close(): Promise<void> } | null = null;
  if (o.metricsPort !== undefined) {
    d.wantMetrics();
    const m = await d.metrics();
    const { listenMetrics } = await import('../server/metrics-http.js');
    if (m) metrics = await listenMetrics(m, { host: o.metricsHost ?? '127.0.0.1', port: o.metricsPort });
    if (metrics) d.log.info(`metrics on ${metrics.url}`);
  }
  try {
    const env = await jobsEnv(d);
    if (backend.separateWorkers) return await runBullWorkerCommand(d, env, { concurrency: o.concurrency });
    env.notices?.startReminders(d.shutdown); // deletion reminders to the customer (src/jobs/customer-notices.ts)
    return await runFileWorker(d, env, o);
  } finally {
    await metrics?.close();
  }
}

function portFlag(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new UsageError('--metrics-port takes a port number from 0 to 65535');
  return Number(raw);
}

export function makeWorkerCommand(d: Deps, setExit: (code: number) => void) {
  return new Command('worker')
    .description('Run due jobs (waiting, delayed and due, abandoned by a dead worker) from the journal')
    .option('--once', 'stop when nothing is due (jobs delayed into the future are left for later)')
    .addOption(new Option('--concurrency <n>', 'jobs at once').argParser(intFlag('--concurrency', 1, 64)).default(4))
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics on GET /metrics at this port (no token; 0: any free port)').argParser(portFlag))
    .option('--metrics-host <address>', 'address of the metrics port', '127.0.0.1')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl worker              # run until SIGTERM/Ctrl-C\n  custctl worker --once       # drain what is due, then exit (cron)\n  custctl worker --once -o json   # the summary (attempts, completed, failed, …) as JSON\n  custctl worker --metrics-port 9464   # Prometheus scrapes http://127.0.0.1:9464/metrics')
    .action(async (f) => {
      const s = await runWorkerCommand(d, { once: !!f.once, concurrency: f.concurrency, ...(f.metricsPort !== undefined ? { metricsPort: f.metricsPort, metricsHost: f.metricsHost } : {}) });
      await printWorkerSummary(d, s, f.output);
      setExit(s.failed > 0 ? 1 : 0);
    });
}

/** The worker's summary on stdout: a line (table), or the summary itself (-o json|yaml). */
async function printWorkerSummary(d: Deps, s: WorkerSummary, format: OutputFormat): Promise<void> {
  await print(d.io, format, view(s, (io) => void io.out.write(`${s.attempts} attempt${s.attempts === 1 ? '' : 's'}: ${s.completed} completed, ${s.failed} failed, ${s.delayed} to be retried, ${s.released} handed back\n`)));
}
