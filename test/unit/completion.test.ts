/**
 * Shell completion: the committed scripts are the generated ones; `__complete` reads the command
 * tree the way commander parses a line (in-process, over the real command modules); the built
 * binary answers, hidden from help and without loading a heavy module. The real shells are in
 * test/integration/completion-shells.test.ts.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, Option } from '@commander-js/extra-typings';
import type { Command as PlainCommand } from 'commander';
import { describe, expect, it } from 'vitest';
import { answer, formatAnswer, makeCompleteCommand, readLine, runComplete, type IdSources } from '../../src/commands/complete.js';
import { completionScript, SHELLS } from '../../src/commands/completion.js';
import { makeDeleteCommand } from '../../src/commands/delete.js';
import { makeJobsCommand } from '../../src/commands/jobs.js';
import { makeStatusCommand } from '../../src/commands/status.js';
import { makeCustomersCommand } from '../../src/commands/customers.js';
import { makeCancelCommand } from '../../src/commands/cancel.js';
import { makeRestoreCommand } from '../../src/commands/restore.js';
import { makeAuditCommand } from '../../src/commands/audit.js';
import type { CustomerRow, DeploymentStatus } from '../../src/adapters/store.js';
import type { Deps } from '../../src/deps.js';
import { STATE_NAMES, type Job, type JobState } from '../../src/domain/job.js';
import { OUTPUT_FORMATS } from '../../src/output/print.js';
import { BIN } from '../support/cli.js';

const ROOT = path.resolve(path.dirname(BIN), '..');

// the tree is only walked here: no action runs, so the commands never touch these deps
const d = { env: {}, log: { debug: () => undefined } } as unknown as Deps;
const noop = () => undefined;

/** A program shaped like main's: its global options, the real command modules. */
function tree(): PlainCommand {
  const program = new Command('custctl')
    .version('0.0.0', '-V, --version')
    .option('--kubeconfig <path>', 'kubeconfig file')
    .option('--context <name>', 'kube context')
    .option('--api-url <url>', 'queue API')
    .addOption(new Option('--store <store>', 'customer store').choices(['embedded', 'postgres'] as const))
    .option('-v, --verbose', 'debug logging')
    .option('--no-color', 'no colour');
  for (const c of [makeDeleteCommand(d, noop), makeCancelCommand(d), makeRestoreCommand(d, noop), makeStatusCommand(d, noop), makeJobsCommand(d, noop), makeCustomersCommand(d), makeAuditCommand(d), makeCompleteCommand(d, async () => program)]) {
    program.addCommand(c as unknown as Command);
  }
  return program as unknown as PlainCommand;
}

function row(customerId: string, deploymentStatus: DeploymentStatus, scheduled = false): CustomerRow {
  return {
    id: 1, customerId, email: 'ops@example.com', companyName: `Company ${customerId}`, deploymentStatus, instanceNamespace: '', instanceUrl: '',
    deletionJobId: null, previousStatus: null, deletionScheduledAt: scheduled ? '2026-12-08T00:00:00.000Z' : null, deletedAt: null, createdAt: '', updatedAt: '',
  };
}

function job(id: string, state: JobState, customerId = `cust_j${id}`): Job {
  return { id, name: 'delete', state, data: { customerId, namespace: `customer-j${id}` } } as unknown as Job;
}

const sources: IdSources = {
  customers: async () => [
    row('cust_dep1', 'deployed'), row('cust_dep2', 'deployed'), row('cust_fail1', 'deletion_failed'), row('cust_pend1', 'pending'),
    row('cust_sched1', 'deleting', true), row('cust_busy1', 'deleting'), row('cust_new1', 'deploying'),
  ],
  jobs: async () => [job('7', 'failed'), job('6', 'waiting'), job('5', 'delayed'), job('4', 'completed'), job('3', 'active')],
  contexts: async () => ['kind-a', 'prod-eu'],
};

async function complete(...line: string[]): Promise<string[]> {
  return (await answer(readLine(tree(), line), sources)).candidates.map((c) => c.value);
}

/** The flags `command` itself declares (visible), derived from the tree, never a hard-coded list. */
function ownFlags(...names: string[]): string[] {
  let c = tree();
  for (const n of names) c = c.commands.find((s) => s.name() === n) as PlainCommand;
  return c.createHelp().visibleOptions(c).flatMap((o) => [o.long ?? o.short ?? '']);
}

const GLOBAL_LONG = ['--kubeconfig', '--context', '--api-url', '--store', '--verbose', '--no-color'];

describe('completion scripts', () => {
  it.each(SHELLS)('completions/custctl.%s is what `custctl completion` generates (run `npm run completions`)', (shell) => {
    expect(readFileSync(path.join(ROOT, 'completions', `custctl.${shell}`), 'utf8')).toBe(completionScript(shell));
  });

  it.each(SHELLS)('the %s script lists no command or flag itself: it asks `custctl __complete`', (shell) => {
    const script = completionScript(shell);
    expect(script).toMatch(/__complete --/);
    expect(script).not.toMatch(/cleanup-rbac|--dry-run|--state|deletion_failed/);
  });
});

describe('__complete reads the command tree', () => {
  it('offers the visible commands and help at the top, never __complete', async () => {
    const got = await complete('');
    expect(got).toEqual(expect.arrayContaining(['delete', 'cancel', 'restore', 'status', 'jobs', 'customers', 'audit', 'help']));
    expect(got).not.toContain('__complete');
  });

  it.each([
    [['de'], ['delete']],
    [['--store', 'embedded', 'de'], ['delete']], // a global option's value is skipped
    [['--store=embedded', 'de'], ['delete']],
    [['-v', '--kubeconfig', '/tmp/k', '--context', 'x', 'st'], ['status']],
    [['--store', ''], ['embedded', 'postgres']],
    [['--store', 'p'], ['postgres']],
    [['--store=e'], ['--store=embedded']],
    [['jobs', ''], ['list', 'retry', 'resume', 'cancel', 'prune', 'help']],
    [['--store', 'embedded', 'jobs', 're'], ['retry', 'resume']],
    [['status', ''], ['job', 'customer', 'help']],
    [['customers', ''], ['list', 'add', 'help']],
    [['audit', ''], ['list', 'verify', 'prune', 'help']],
    [['help', ''], ['delete', 'cancel', 'restore', 'status', 'jobs', 'customers', 'audit']],
    [['jobs', 'help', ''], ['list', 'retry', 'resume', 'cancel', 'prune']],
    [['jobs', 'list', '--state', ''], [...STATE_NAMES]],
    [['jobs', 'list', '--state', 'd'], ['delayed']],
    [['jobs', 'list', '--state=f'], ['--state=failed']],
    [['status', 'job', '12', '-o', ''], [...OUTPUT_FORMATS]],
    [['status', 'job', '12', '--output', 'j'], ['json']],
    [['customers', 'list', '--status', 'del'], ['deleting', 'deletion_failed']],
    [['customers', 'add', 'cust_x', '--status', 'dep'], ['deploying', 'deployed']],
    [['--context', ''], ['kind-a', 'prod-eu']],
    [['--context', 'p'], ['prod-eu']],
  ])('%j → %j', async (line, want) => {
    expect(await complete(...line)).toEqual(want);
  });

  it("offers each command's own flags and the global ones, never another command's", async () => {
    const prune = await complete('jobs', 'prune', '--');
    expect(prune).toEqual([...ownFlags('jobs', 'prune'), ...GLOBAL_LONG]);
    expect(prune).not.toContain('--state'); // jobs list's
    // whatever jobs prune accepts, and only that: --yes only if the command declares it
    expect(prune.includes('--yes')).toBe(ownFlags('jobs', 'prune').includes('--yes'));
    const del = await complete('delete', 'cust_a', '--');
    expect(del).toEqual(expect.arrayContaining(['--sync', '--dry-run', '--yes', '--after', '--backup', '--no-backup', '--store', '--no-color']));
    expect(del).not.toContain('--allow-outside-namespace'); // hidden
    expect(del).not.toContain('--version'); // the program's, not delete's
    expect(del.filter((f) => f === '--help')).toHaveLength(1);
    expect(await complete('delete', 'cust_a', '-')).toEqual(expect.arrayContaining(['-y', '--yes', '-o', '--output', '-v', '--verbose']));
  });

  it('does not offer a flag already given, and parses the hidden alias and glued values', async () => {
    const got = await complete('delete', '--dry-run', '-ojson', '--allow-outside-namespace', 'cust_a', '--d');
    expect(got).toEqual(['--detach']);
    // --no-backup is --backup's other side; the other --no- flags are still offered
    const no = await complete('delete', '--backup', 'file:///b', '--no-');
    expect(no).toContain('--no-color');
    expect(no).not.toContain('--no-backup');
  });

  it('completes flags where no operand can come, operands where one can', async () => {
    expect(await complete('jobs', 'list', '')).toEqual(ownFlags('jobs', 'list').filter((f) => f.startsWith('--')).concat(GLOBAL_LONG));
    expect(await complete('delete', '--', '-')).toEqual([]); // after --: operands only, no flags
    expect(await complete('delete', '--', 'cust_d')).toEqual(['cust_dep1', 'cust_dep2']);
  });

  it.each([
    [['delete', ''], ['cust_dep1', 'cust_dep2', 'cust_fail1']], // something to delete: not pending, deleting or deploying
    [['delete', '--force', ''], ['cust_dep1', 'cust_dep2', 'cust_fail1', 'cust_new1']],
    [['delete', 'cust_dep1', ''], ['cust_dep2', 'cust_fail1']], // not twice
    [['--store', 'embedded', 'delete', 'cust_d'], ['cust_dep1', 'cust_dep2']],
    [['cancel', ''], ['cust_sched1']], // a scheduled deletion
    [['restore', ''], ['cust_pend1']],
    [['status', 'customer', 'cust_p'], ['cust_pend1']],
    [['customers', 'add', ''], []], // a new id
    [['jobs', 'list', '--customer', 'cust_b'], ['cust_busy1']],
    [['audit', 'list', '--customer', 'cust_n'], ['cust_new1']],
    [['status', 'job', ''], ['7', '6', '5', '4', '3']],
    [['jobs', 'retry', ''], ['7']], // failed
    [['jobs', 'cancel', ''], ['6', '5']], // waiting or delayed
  ])('ids from the store and the journal: %j → %j', async (line, want) => {
    expect(await complete(...line)).toEqual(want);
  });

  it('describes the ids, and asks for files where a path goes', async () => {
    const a = await answer(readLine(tree(), ['jobs', 'retry', '']), sources);
    expect(formatAnswer(a)).toBe('7\tdelete cust_j7 (failed)\n:nofiles\n');
    const c = await answer(readLine(tree(), ['cancel', '']), sources);
    expect(formatAnswer(c)).toBe('cust_sched1\tCompany cust_sched1 (deleting)\n:nofiles\n');
    expect(formatAnswer(await answer(readLine(tree(), ['--kubeconfig', '']), sources))).toBe(':files\n');
    expect(formatAnswer(await answer(readLine(tree(), ['--kubeconfig=/tm']), sources))).toBe(':files\n');
  });

  it('reads the global flags on the line for the sources (--store, --api-url)', () => {
    expect(readLine(tree(), ['--store', 'embedded', 'jobs', 'list', '--api-url=http://127.0.0.1:1', '']).globals).toEqual({ store: 'embedded', apiUrl: 'http://127.0.0.1:1' });
  });

  it('gives up within its time limit, quietly, when a source does not answer', async () => {
    const never: IdSources = { customers: () => new Promise(() => undefined), jobs: () => new Promise(() => undefined), contexts: async () => [] };
    const quick = { ...d, env: { CUSTCTL_COMPLETE_TIMEOUT: '50ms' } } as unknown as Deps;
    const t0 = Date.now();
    expect(await runComplete(quick, tree(), ['delete', ''], never)).toEqual({ candidates: [], files: false });
    expect(Date.now() - t0).toBeLessThan(5_000);
    const failing: IdSources = { customers: async () => { throw new Error('connection refused'); }, jobs: async () => [], contexts: async () => [] };
    expect(await runComplete(quick, tree(), ['delete', ''], failing)).toEqual({ candidates: [], files: false });
  });

  it('waits longer for the embedded store (PGlite is slow to open) than for the others (2 s)', async () => {
    const late = (embedded: boolean): IdSources => ({
      embedded: async () => embedded,
      customers: () => new Promise((resolve) => setTimeout(() => resolve([row('cust_late1', 'deployed')]), 2_500)),
      jobs: async () => [],
      contexts: async () => [],
    });
    const got = await runComplete(d, tree(), ['delete', ''], late(true)); // within 5 s
    expect(got.candidates.map((c) => c.value)).toEqual(['cust_late1']);
    expect(await runComplete(d, tree(), ['delete', ''], late(false))).toEqual({ candidates: [], files: false }); // 2 s passed first
  }, 30_000);

  it('is hidden from help', () => {
    const root = tree();
    expect(root.helpInformation()).not.toMatch(/__complete/);
    expect(root.createHelp().visibleCommands(root).map((c) => c.name())).not.toContain('__complete');
  });
});

describe('custctl __complete (built binary)', () => {
  const state = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'complete-'));
    return { dir, env: { NO_COLOR: '1', CUSTCTL_STATE_DIR: path.join(dir, 'state'), REDIS_URL: '', DATABASE_URL: '', HOME: dir } };
  };
  const run = async (args: string[], env: Record<string, string>) => {
    const r = await execa('node', [BIN, ...args], { reject: false, env, input: '', timeout: 60_000, stripFinalNewline: false });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };

  it('answers from the whole tree, after global flags, with words that look like help or version', async () => {
    const { env } = state();
    const top = await run(['__complete', '--', ''], env);
    expect(top.exitCode, top.stderr).toBe(0);
    const names = top.stdout.split('\n').map((l) => l.split('\t')[0]);
    expect(names).toEqual(expect.arrayContaining(['delete', 'status', 'jobs', 'worker', 'cleanup-rbac', 'serve', 'customers', 'db', 'doctor', 'version', 'audit', 'completion', 'help']));
    expect(names).not.toContain('__complete');
    expect(top.stdout.endsWith('\n:nofiles\n')).toBe(true);
    expect((await run(['__complete', '--', '--store', 'embedded', 'de'], env)).stdout).toMatch(/^delete\t[^\n]+\n:nofiles\n$/);
    expect((await run(['__complete', '--', 'db', ''], env)).stdout).toMatch(/^migrate\t.*\ncheck\t.*\nhelp\t.*\n:nofiles\n$/);
    const flags = await run(['__complete', '--', 'jobs', 'list', '-h', '--version', '-V', '--help', '-'], env);
    expect(flags.exitCode).toBe(0);
    expect(flags.stdout).toMatch(/^--state\t/m);
    expect(flags.stdout).not.toMatch(/Usage:/);
    expect((await run(['__complete', '--', 'completion', ''], env)).stdout).toBe('bash\nzsh\nfish\n:nofiles\n');
    expect((await run(['__complete', '--', '--metrics-textfile', ''], env)).stdout).toBe(':files\n');
  }, 120_000);

  it('is not in the help, and a journal that does not exist is not created', async () => {
    const { dir, env } = state();
    const help = await run(['--help'], env);
    expect(help.stdout).toMatch(/completion/);
    expect(help.stdout).not.toMatch(/__complete/);
    const ids = await run(['__complete', '--', 'status', 'job', ''], env);
    expect(ids).toEqual({ exitCode: 0, stdout: ':nofiles\n', stderr: '' });
    expect(existsSync(path.join(dir, 'state'))).toBe(false);
  }, 60_000);

  it('--context offers the kubeconfig\'s contexts, read from the file', async () => {
    const { dir, env } = state();
    const kc = path.join(dir, 'kubeconfig');
    writeFileSync(kc, 'apiVersion: v1\nkind: Config\ncontexts:\n- name: kind-a\n  context: {cluster: a, user: a}\n- name: prod-eu\n  context: {cluster: b, user: b}\ncurrent-context: kind-a\n');
    expect((await run(['__complete', '--', '--kubeconfig', kc, '--context', ''], env)).stdout).toBe('kind-a\tkube context\nprod-eu\tkube context\n:nofiles\n');
  }, 60_000);

  it('loads neither the Kubernetes client nor a database driver nor the queue (flags, commands, choices)', async () => {
    const { dir, env } = state();
    const TRACE = path.join(ROOT, 'test/support/trace-imports.mjs');
    for (const [i, line] of [[''], ['jobs', 'list', '--state', ''], ['delete', 'cust_a', '--']].entries()) {
      const file = path.join(dir, `imports-${i}.txt`);
      const r = await execa('node', ['--import', TRACE, BIN, '__complete', '--', ...line], { reject: false, env: { ...env, CUSTCTL_TRACE_IMPORTS: file }, timeout: 60_000 });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const urls = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      expect(urls.some((u) => u.endsWith('/dist/commands/complete.js'))).toBe(true); // the tracer works
      expect(urls.filter((u) => /@kubernetes\/client-node|node_modules\/pg\/|@electric-sql\/pglite|bullmq|ioredis|fastify|prom-client/.test(u))).toEqual([]);
    }
  }, 120_000);
});
