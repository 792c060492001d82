/** `custctl customers list|add`: inspect and register rows without the billing API. */
import { Command, Option } from '@commander-js/extra-typings';
import { DEPLOYMENT_STATUSES, type CustomerRow, type DeploymentStatus } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { withCompletions } from '../completions.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { checkRowNamespace, namespaceFor } from '../domain/namespace-name.js';
import { formatRetention } from '../domain/duration.js';
import { rowStatusName } from '../domain/row-status.js';
import { UsageError } from '../errors.js';
import { durationFlag } from '../flags.js';
import { outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';
import { cliRequester } from '../jobs/actor.js';
import type { IO } from '../io.js';

/** A scheduled deletion (soft delete): `deleting` with a due time. */
export function isScheduled(r: CustomerRow): r is CustomerRow & { deletionScheduledAt: string } {
  return r.deploymentStatus === 'deleting' && r.deletionScheduledAt !== null;
}

export async function runCustomersList(d: Deps, o: { output: OutputFormat; status?: DeploymentStatus | 'scheduled'; scheduled?: boolean; withinMs?: number }): Promise<CustomerRow[]> {
  if (o.withinMs !== undefined && !o.scheduled) throw new UsageError('--within goes with --scheduled: custctl customers list --scheduled --within 7d');
  // the store here, or the server's with --api-url (a serve holding the embedded store is read through it)
  // a scheduled deletion is stored as deleting: ask for those, the filter below keeps the scheduled ones
  const { rows: all, where } = await (await d.client()).customers(o.status ? { status: o.status === 'scheduled' ? 'deleting' : o.status } : {});
  const until = o.withinMs !== undefined ? d.now().getTime() + o.withinMs : Infinity;
  const now = d.now().getTime();
  // the statuses as people read them: `scheduled` is a deletion waiting for its time (stored as deleting)
  const rows = all
    .filter((r) => !o.status || rowStatusName(r, now) === o.status)
    .filter((r) => !o.scheduled || (isScheduled(r) && Date.parse(r.deletionScheduledAt) <= until));
  if (o.scheduled) rows.sort((a, b) => Date.parse(a.deletionScheduledAt ?? '') - Date.parse(b.deletionScheduledAt ?? ''));
  const head = ['CUSTOMER', 'STATUS', 'NAMESPACE', 'DELETION JOB', 'DELETES AT', 'COMPANY', 'UPDATED'];
  const cells = (r: CustomerRow) => [r.customerId, rowStatusName(r, now), r.instanceNamespace || '-', r.deletionJobId ?? '-', isScheduled(r) ? r.deletionScheduledAt : '-', r.companyName, r.updatedAt];
  const table = (wide: boolean) => async (io: IO) => {
    if (rows.length === 0) d.log.info(o.scheduled ? `No scheduled deletions${o.withinMs !== undefined ? ` due within ${formatRetention(o.withinMs)}` : ''} in ${where}` : `No customers in ${where}`);
    else if (wide) await printTable(io, [...head, 'EMAIL', 'URL', 'CLUSTER'], rows.map((r) => [...cells(r), r.email || '-', r.instanceUrl || '-', r.cluster ?? '-']));
    else await printTable(io, head, rows.map(cells));
    if (rows.some(isScheduled)) d.log.info('Scheduled deletions are cancelled with: custctl cancel <customerId>');
  };
  await print(d.io, o.output, view(rows, table(false), { names: () => rows.map((r) => `customer/${r.customerId}`), wide: table(true) }));
  return rows;
}

export interface AddOptions {
  id: string;
  email: string;
  company: string;
  namespace?: string;
  url?: string;
  status: DeploymentStatus;
  output: OutputFormat;
}

export async function runCustomersAdd(d: Deps, o: AddOptions): Promise<CustomerRow> {
  const customer = parseCustomerId(o.id);
  const prefix = d.config().namespacePrefix;
  const namespace = o.namespace ?? (o.status === 'pending' ? '' : namespaceFor(customer, prefix));
  if (namespace) checkRowNamespace(customer, namespace, prefix);
  const store = await d.store();
  const row = await store.add({
    customerId: customer.id,
    email: o.email,
    companyName: o.company,
    deploymentStatus: o.status,
    instanceNamespace: namespace,
    instanceUrl: o.url ?? (namespace ? `https://${customer.key}.example.com` : ''),
  }, { action: 'customer-added', actor: cliRequester(d.worker), customerId: customer.id, namespace: namespace || null, outcome: 'added' });
  await print(d.io, o.output, view(row, (io) => void io.out.write(`customer ${row.customerId} added (${row.deploymentStatus}${row.instanceNamespace ? `, namespace ${row.instanceNamespace}` : ''}) to ${store.description}\n`)));
  return row;
}

export function makeCustomersCommand(d: Deps) {
  const cmd = new Command('customers')
    .description('Inspect and register customer rows (without the billing API)')
    .addHelpText('after', '\nExamples:\n  custctl customers list --status deletion_failed\n  custctl customers list --scheduled --within 7d\n  custctl customers add cust_abc123 --email ops@example.com --company "Example Corp"');
  cmd
    .command('list')
    .description('List customer rows')
    .addOption(new Option('--status <status>', 'only rows in this status (scheduled: a deletion waiting for its time)').choices([...DEPLOYMENT_STATUSES, 'scheduled'] as const))
    .option('--scheduled', 'only scheduled deletions (soft delete), soonest first')
    .addOption(new Option('--within <duration>', 'with --scheduled: only those due within this period (e.g. 7d)').argParser(durationFlag('--within')))
    .addOption(outputOption({ list: true }))
    .addHelpText('after', '\nExamples:\n  custctl customers list -o wide\n  custctl customers list --status deletion_failed -o name\n  custctl customers list --scheduled --within 7d -o json')
    .action(async (f) => {
      await runCustomersList(d, { output: f.output, status: f.status, scheduled: !!f.scheduled, ...(f.within !== undefined ? { withinMs: f.within } : {}) });
    });
  // a new id: no existing customer is offered at TAB
  withCompletions(cmd.command('add'), { customers: () => false })
    .description('Register a customer row')
    .argument('<customerId>', 'cust_… ID')
    .requiredOption('--email <email>', 'contact e-mail')
    .requiredOption('--company <name>', 'company name')
    .option('--namespace <ns>', 'instance namespace (default: <prefix><key>; must be exactly that)')
    .option('--url <url>', 'instance URL')
    .addOption(new Option('--status <status>', 'deployment status').choices(DEPLOYMENT_STATUSES).default('deployed' as DeploymentStatus))
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl customers add cust_abc123 --email ops@example.com --company "Example Corp"')
    .action(async (id, f) => {
      await runCustomersAdd(d, { id, email: f.email, company: f.company, namespace: f.namespace, url: f.url, status: f.status, output: f.output });
    });
  return cmd;
}
