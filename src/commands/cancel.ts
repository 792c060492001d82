/**
 * `custctl cancel <customerId>`: cancels the deletion that holds a customer, as `jobs cancel` does
 * by job id (one operation, src/jobs/cancel.ts): a scheduled deletion's instance is restored
 * (replicas and CronJobs exactly as they were) and the row goes back to the status it had. While an
 * attempt runs it refuses (exit 4). Locally or through --api-url
 * (`POST /api/customers/:id/cancel-deletion`).
 */
import { Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { withCompletions } from '../completions.js';
import { parseCustomerId } from '../domain/customer-id.js';
import type { CancelResult } from '../service/service.js';
import { cancelResultView } from '../output/job-view.js';
import { outputOption, print, type OutputFormat } from '../output/print.js';

export async function runCancel(d: Deps, o: { id: string; output: OutputFormat }): Promise<CancelResult> {
  const customer = parseCustomerId(o.id);
  const r = await (await d.client()).cancel({ customer });
  await print(d.io, o.output, cancelResultView(r));
  return r;
}

export function makeCancelCommand(d: Deps) {
  // offered at TAB: a scheduled deletion (delete --after) not started yet
  return withCompletions(new Command('cancel'), { customers: (r) => r.deploymentStatus === 'deleting' && r.deletionScheduledAt !== null })
    .description('Cancel a scheduled deletion (delete --after) before it starts: restore the instance and the row')
    .argument('<customerId>', 'cust_… ID')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl cancel cust_abc123\n  custctl cancel cust_abc123 --api-url https://custctl.internal:3100 -o json')
    .action(async (id, f) => {
      await runCancel(d, { id, output: f.output });
    });
}
