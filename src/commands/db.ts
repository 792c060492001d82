/** `custctl db migrate|check`: the schema of a real database changes only on request. */
import { Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';

export async function runDbMigrate(d: Deps): Promise<string[]> {
  const store = await d.store({ skipSchemaCheck: true });
  const applied = await store.migrate();
  if (applied.length === 0) d.io.out.write(`${store.description}: schema is up to date\n`);
  for (const name of applied) d.io.out.write(`${store.description}: applied ${name}\n`);
  return applied;
}

export async function runDbCheck(d: Deps, setExit: (code: number) => void): Promise<string[]> {
  const store = await d.store({ skipSchemaCheck: true });
  const missing = await store.checkSchema();
  if (missing.length === 0) d.io.out.write(`${store.description}: schema is up to date\n`);
  else {
    d.io.out.write(`${store.description}: missing ${missing.join(', ')}\nRun 'custctl db migrate' to apply.\n`);
    setExit(1);
  }
  return missing;
}

export function makeDbCommand(d: Deps, setExit: (code: number) => void = () => undefined) {
  const cmd = new Command('db')
    .description('Database schema')
    .addHelpText('after', '\nExamples:\n  custctl db check     # read-only: what this version needs and the database lacks\n  custctl db migrate   # apply it');
  cmd
    .command('migrate')
    .description('Apply pending schema migrations to the customer database')
    .action(async () => {
      await runDbMigrate(d);
    });
  cmd
    .command('check')
    .description('Check (read-only) that the schema has what this version needs; exit 1 if not')
    .action(async () => {
      await runDbCheck(d, setExit);
    });
  return cmd;
}
