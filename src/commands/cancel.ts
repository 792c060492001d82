/**
 * `custctl cancel <customerId>`: cancels a scheduled deletion (soft delete) before it has
 * started: its job is cancelled, the instance restored (replicas and CronJobs exactly as they
 * were) and the row goes back to the status it had. Once the hard deletion has started it refuses
 * (exit 4). Locally or through --api-url (`POST /api/customers/:id/cancel-deletion`).
 */
import { Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { parseCustomerId } from '../domain/customer-id.js';
import type { CancelDeletionResult } from '../jobs/client.js';
import { outputOption, print, view, type OutputFormat } from '../output/print.js';

export async function runCancel(d: Deps, o: { id: string; output: OutputFormat }): Promise<CancelDeletionResult> {
  const customer = parseCustomerId(o.id);
  const client = await d.client();
  const r = await client.cancelDeletion(customer);
  await print(d.io, o.output, view(r, (io) => {
    const restored = r.restored.length ? `; restored ${r.restored.map((c) => `${c.kind}/${c.name} ${c.kind === 'CronJob' ? `suspend=${c.to}` : `replicas ${c.to}`}`).join(', ')}` : '';
    io.out.write(`deletion of ${r.customerId} cancelled (job ${r.jobId}${r.scheduledFor ? `, was due ${r.scheduledFor}` : ''}); status ${r.status}${restored}${r.simulated ? ' (simulated: cluster not touched)' : ''}\n`);
  }));
  return r;
}

export function makeCancelCommand(d: Deps) {
  return new Command('cancel')
    .description('Cancel a scheduled deletion (delete --after) before it starts: restore the instance and the row')
    .argument('<customerId>', 'cust_… ID')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl cancel cust_abc123\n  custctl cancel cust_abc123 --api-url https://custctl.internal:3100 -o json')
    .action(async (id, f) => {
      await runCancel(d, { id, output: f.output });
    });
}
