/** `custctl worker [--once] [--concurrency N]`: runs due jobs from the journal. */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { UsageError } from '../errors.js';
import type { WorkerSummary } from '../jobs/runner.js';
import { intFlag } from '../flags.js';
import { jobsEnv } from '../jobs/env.js';
import { runBullWorkerCommand, runFileWorker } from '../jobs/worker.js';
import { redisConfigured } from '../config.js';

export async function runWorkerCommand(d: Deps, o: { once: boolean; concurrency: number }): Promise<WorkerSummary> {
  if (redisConfigured(d.env)) {
    if (o.once) throw new UsageError('--once is for the file journal: a BullMQ worker runs until stopped (SIGTERM)');
    return runBullWorkerCommand(d, { concurrency: o.concurrency });
  }
  return runFileWorker(d, await jobsEnv(d), o);
}

export function makeWorkerCommand(d: Deps, setExit: (code: number) => void) {
  return new Command('worker')
    .description('Run due jobs (waiting, delayed and due, abandoned by a dead worker) from the journal')
    .option('--once', 'stop when nothing is due (jobs delayed into the future are left for later)')
    .addOption(new Option('--concurrency <n>', 'jobs at once').argParser(intFlag('--concurrency', 1, 64)).default(4))
    .addHelpText('after', '\nExamples:\n  custctl worker              # run until SIGTERM/Ctrl-C\n  custctl worker --once       # drain what is due, then exit (cron)')
    .action(async (f) => {
      const s = await runWorkerCommand(d, { once: !!f.once, concurrency: f.concurrency });
      setExit(s.failed > 0 ? 1 : 0);
    });
}
