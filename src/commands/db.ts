/** `custctl db migrate|check`: the schema of a real database changes only on request. */
import { Command } from '@commander-js/extra-typings';
import type { TableCheck } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { outputOption, print, view, writeStyled, type OutputFormat } from '../output/print.js';
import { h } from '../output/text.js';
import { queueBackendOf } from '../jobs/backends.js';

/**
 * The customers database's migrations, then the queue's own schema when the queue backend has one
 * (BullMQ on PostgreSQL: BullMQ's migrations and custctl's objects in the queue schema).
 */
export async function runDbMigrate(d: Deps, output: OutputFormat = 'table'): Promise<string[]> {
  const { backend, ctx } = await queueBackendOf(d); // a malformed queue setting is refused before anything changes
  const store = await d.store({ skipSchemaCheck: true });
  const applied = await store.migrate();
  const queue = await backend.migrate(ctx);
  await print(d.io, output, view({ database: store.description, applied, ...(queue ? { queue: { database: queue.where, applied: queue.applied } } : {}) }, (io) => {
    if (applied.length === 0) io.out.write(`${store.description}: schema is up to date\n`);
    for (const name of applied) io.out.write(`${store.description}: applied ${name}\n`);
    if (queue && queue.applied.length === 0) io.out.write(`${queue.where}: queue schema is up to date\n`);
    for (const name of queue?.applied ?? []) io.out.write(`${queue?.where}: applied ${name}\n`);
  }));
  return [...applied, ...(queue?.applied ?? [])];
}

export interface DbCheckReport {
  database: string;
  /** nothing is missing that `db migrate` would add */
  upToDate: boolean;
  missing: string[];
  /** the customers table judged for what a deletion needs; null when the store has no SQL table */
  table: TableCheck | null;
  /** a deletion would pass on this database: up to date, no table problem, the tried statements passed */
  ok: boolean;
}

/**
 * What this version needs and the database lacks, and whether a deletion would pass on its
 * customers table: the columns judged from the catalog and, unless `readOnly`, a deletion's row
 * statements run on one row in a transaction that is rolled back (the table's triggers and CHECK
 * constraints judge them). Exit 1 when anything would stop a deletion.
 */
export async function runDbCheck(d: Deps, setExit: (code: number) => void, output: OutputFormat = 'table', o: { readOnly?: boolean } = {}): Promise<DbCheckReport> {
  const store = await d.store({ skipSchemaCheck: true });
  const missing = await store.checkSchema();
  const table = store.reviewTable ? await store.reviewTable({ tryStatements: !o.readOnly && missing.length === 0 }) : null;
  if (table?.tried && missing.length > 0 && !o.readOnly) table.tried.note = "not tried: apply what is missing first ('custctl db migrate')";
  const ok = missing.length === 0 && (table === null || (table.problems.length === 0 && (table.tried?.ok ?? true)));
  const report: DbCheckReport = { database: store.description, upToDate: missing.length === 0, missing, table, ok };
  await print(d.io, output, view(report, (io) => {
    if (missing.length === 0) writeStyled(io, h`${store.description}: schema is up to date\n`);
    else writeStyled(io, h`${store.description}: missing ${missing.join(', ')}\nRun 'custctl db migrate' to apply.\n`);
    if (!table) return;
    for (const p of table.problems) writeStyled(io, h`${p.column} ${p.problem}\n  fix: ${p.fix}\n`);
    const t = table.tried;
    if (t?.ran && t.ok) writeStyled(io, h`a deletion's row statements pass on customers (tried on ${t.on})\n`);
    else if (t?.ran) writeStyled(io, h`a deletion would fail on customers: ${t.statement}: ${t.error}\n  fix: ${t.fix}\n  (tried on ${t.on})\n`);
    else if (t && missing.length === 0) writeStyled(io, h`a deletion's row statements: ${t.note}\n`);
    for (const n of table.notes) io.err.write(h`note: ${n}\n`.text);
  }));
  if (!ok) setExit(1);
  return report;
}

export function makeDbCommand(d: Deps, setExit: (code: number) => void = () => undefined) {
  const cmd = new Command('db')
    .description('Database schema')
    .addHelpText('after', '\nExamples:\n  custctl db check     # what this version needs and the database lacks; whether a deletion would pass\n  custctl db migrate   # apply it');
  cmd
    .command('migrate')
    .description('Apply pending schema migrations to the customer database (and the status values an ENUM status column lacks), and to the queue schema with CUSTCTL_QUEUE=postgres')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl db migrate                   # DATABASE_URL (or PG*) names the database\n  custctl db migrate --store embedded  # the embedded store (it migrates itself anyway)')
    .action(async (f) => {
      await runDbMigrate(d, f.output);
    });
  cmd
    .command('check')
    .description("Check that the schema has what this version needs and that a deletion would pass on the customers table (its row statements are tried and rolled back); exit 1 if not")
    .option('--read-only', 'only read the catalog: do not try the row statements (triggers and CHECK constraints are then not judged)')
    .addOption(outputOption())
    .addHelpText('after', "\nExamples:\n  custctl db check\n  custctl db check --read-only\n  custctl db check -o json | jq -r '.missing[], .table.problems[].fix'")
    .action(async (f) => {
      await runDbCheck(d, setExit, f.output, { readOnly: !!f.readOnly });
    });
  return cmd;
}
