/** `custctl db migrate|check`: the schema of a real database changes only on request. */
import { Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { outputOption, print, view, writeStyled, type OutputFormat } from '../output/print.js';
import { h } from '../output/text.js';

export async function runDbMigrate(d: Deps, output: OutputFormat = 'table'): Promise<string[]> {
  const store = await d.store({ skipSchemaCheck: true });
  const applied = await store.migrate();
  await print(d.io, output, view({ database: store.description, applied }, (io) => {
    if (applied.length === 0) io.out.write(`${store.description}: schema is up to date\n`);
    for (const name of applied) io.out.write(`${store.description}: applied ${name}\n`);
  }));
  return applied;
}

export async function runDbCheck(d: Deps, setExit: (code: number) => void, output: OutputFormat = 'table'): Promise<string[]> {
  const store = await d.store({ skipSchemaCheck: true });
  const missing = await store.checkSchema();
  await print(d.io, output, view({ database: store.description, upToDate: missing.length === 0, missing }, (io) => {
    if (missing.length === 0) io.out.write(`${store.description}: schema is up to date\n`);
    else writeStyled(io, h`${store.description}: missing ${missing.join(', ')}\nRun 'custctl db migrate' to apply.\n`);
  }));
  if (missing.length > 0) setExit(1);
  return missing;
}

export function makeDbCommand(d: Deps, setExit: (code: number) => void = () => undefined) {
  const cmd = new Command('db')
    .description('Database schema')
    .addHelpText('after', '\nExamples:\n  custctl db check     # read-only: what this version needs and the database lacks\n  custctl db migrate   # apply it');
  cmd
    .command('migrate')
    .description('Apply pending schema migrations to the customer database')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl db migrate                   # DATABASE_URL (or PG*) names the database\n  custctl db migrate --store embedded  # the embedded store (it migrates itself anyway)')
    .action(async (f) => {
      await runDbMigrate(d, f.output);
    });
  cmd
    .command('check')
    .description('Check (read-only) that the schema has what this version needs; exit 1 if not')
    .addOption(outputOption())
    .addHelpText('after', "\nExamples:\n  custctl db check\n  custctl db check -o json | jq -r '.missing[]'")
    .action(async (f) => {
      await runDbCheck(d, setExit, f.output);
    });
  return cmd;
}
