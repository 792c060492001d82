/** The built binary without any server: start-up, help, usage errors, completions. */
import { execa } from 'execa';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/cli.js';

const TRACE = path.resolve(path.dirname(BIN), '../test/support/trace-imports.mjs');

async function run(args: string[], env: Record<string, string> = {}) {
  const r = await execa('node', [BIN, ...args], { reject: false, env: { NO_COLOR: '1', CUSTCTL_STATE_DIR: mkdtempSync(path.join(tmpdir(), 'cli-')), ...env }, input: '' });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function importsOf(args: string[]): Promise<string[]> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'trace-')), 'imports.txt');
  const r = await execa('node', ['--import', TRACE, BIN, ...args], { reject: false, env: { CUSTCTL_TRACE_IMPORTS: file } });
  expect(r.exitCode).toBe(0);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

describe('custctl (built binary, no servers)', () => {
  it('--version prints the version', async () => {
    const r = await run(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([['--help'], ['delete', '--help']])('%s loads neither the Kubernetes client nor a database driver', async (...args) => {
    const urls = await importsOf(args);
    expect(urls.some((u) => u.endsWith('/dist/version.js'))).toBe(true); // the tracer works
    expect(urls.filter((u) => /@kubernetes\/client-node|node_modules\/pg\/|@electric-sql\/pglite|bullmq|ioredis|fastify|prom-client/.test(u))).toEqual([]);
  });

  it('a checkout that was not built says so and how to build it (exit 1)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'unbuilt-'));
    mkdirSync(path.join(dir, 'bin'));
    for (const f of ['bin/custctl.js', 'bin/package.json', 'package.json']) copyFileSync(path.resolve(path.dirname(BIN), '..', f), path.join(dir, f));
    const r = await execa('node', [path.join(dir, 'bin/custctl.js'), 'status', 'job', '1'], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toBe("Error: custctl is not built (dist/cli/main.js is missing)\n  Run 'npm run build' in the checkout, then try again.");
  });

  it.each([['--version'], ['-V']])('%s loads no module of dist/ (bin answers from package.json)', async (flag) => {
    const urls = await importsOf([flag]);
    expect(urls.some((u) => u.endsWith('/bin/custctl.js'))).toBe(true); // the tracer works
    expect(urls.filter((u) => u.includes('/dist/') || u.includes('/node_modules/'))).toEqual([]);
  });

  // Scripts poll `status job N`: every module on its path is paid at each poll (start-up within 1.5×
  // of `node -e 0`, docs/benchmarks.md). A module added here must be one the command needs. The
  // bundle puts them in one chunk: the tracer reports a chunk as the modules it holds.
  const STATUS_JOB_MODULES = [
    'adapters/dir-lock.js', 'adapters/file-journal-files.js', 'adapters/file-journal.js', 'adapters/fs-atomic.js', 'adapters/queue-config.js', 'adapters/queue.js',
    'adapters/retry.js', 'adapters/state-dir.js', 'commands/status.js', 'config.js', 'deps.js', 'domain/duration.js',
    'domain/errors.js', 'domain/hook-result.js', 'domain/job-id.js', 'domain/job-machine.js', 'domain/job.js', 'domain/json-times.js',
    'domain/namespace-name.js', 'domain/row-status.js', 'domain/visible.js', 'errors.js', 'io.js', 'jobs/backends.js',
    'jobs/interruption.js', 'main.js', 'output/error.js', 'output/job-view.js', 'output/print.js',
    'output/text.js', 'service/local.js', 'util/pool.js', 'util/process-alive.js', 'version.js',
  ];

  // their parsers load only when the variable is set (config-sections.ts): still checked on every command
  it.each([
    ['CUSTCTL_HELM_UNINSTALL', 'bogus'], ['CUSTCTL_BACKUP_URL', 'file:relative'], ['CUSTCTL_SNAPSHOT_CLASS', 'Bad_Class'],
    ['CUSTCTL_BACKUP_RECIPIENT', 'AGE-SECRET-KEY-1X'], ['CUSTCTL_PORTAL_URL', 'ftp://x'], ['CUSTCTL_ERASE_COLUMNS', '1bad'],
  ])('a malformed %s refuses status job N (exit 2), as every other setting', async (name, value) => {
    const r = await run(['status', 'job', '1'], { [name]: value, REDIS_URL: '' });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(name);
  });

  it('status job N (the file journal) loads only the modules it needs: no package, no node:crypto', async () => {
    const state = mkdtempSync(path.join(tmpdir(), 'trace-status-'));
    const file = path.join(state, 'imports.txt');
    const r = await execa('node', ['--import', TRACE, BIN, 'status', 'job', '1'], { reject: false, env: { CUSTCTL_TRACE_IMPORTS: file, CUSTCTL_STATE_DIR: path.join(state, 'state'), REDIS_URL: '', NO_COLOR: '1' } });
    expect(r.exitCode, r.stderr).toBe(3); // not found: the same modules as a found job's view
    const urls = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
    expect(urls.filter((u) => u.includes('/dist/')).map((u) => u.slice(u.lastIndexOf('/dist/') + '/dist/'.length)).sort()).toEqual(STATUS_JOB_MODULES);
    expect(urls.filter((u) => u.includes('/node_modules/') || u === 'node:crypto')).toEqual([]);
    // and they come in two files: the entry and the start-up chunk (scripts/bundle.mjs)
    expect(urls.filter((u) => u.startsWith('bundle-chunk ')).sort()).toEqual(['bundle-chunk cli/main.js', 'bundle-chunk cli/startup.js']);
  });

  it('a simulated delete does not load prom-client; --metrics-textfile loads it and writes the series', async () => {
    const state = mkdtempSync(path.join(tmpdir(), 'trace-metrics-'));
    const env = { CUSTCTL_STATE_DIR: path.join(state, 'state'), SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_STORE: 'embedded', REDIS_URL: '', NO_COLOR: '1' };
    const add = await execa('node', [BIN, 'customers', 'add', 'cust_trm1', '--email', 'a@b.c', '--company', 'X'], { reject: false, env });
    expect(add.exitCode, add.stderr).toBe(0);
    const traced = async (args: string[], file: string) => {
      const r = await execa('node', ['--import', TRACE, BIN, ...args], { reject: false, env: { ...env, CUSTCTL_TRACE_IMPORTS: file } });
      expect(r.exitCode, r.stderr).toBe(0);
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).filter((u) => /prom-client/.test(u));
    };
    expect(await traced(['delete', 'cust_trm1', '--yes'], path.join(state, 'plain.txt'))).toEqual([]);
    const prom = path.join(state, 'custctl.prom');
    expect((await traced(['--metrics-textfile', prom, 'jobs', 'list'], path.join(state, 'metrics.txt'))).length).toBeGreaterThan(0);
    const text = readFileSync(prom, 'utf8');
    expect(text).toMatch(/^customer_deletions_total\{status="success"\} 0$/m);
  }, 240_000);

  it('--metrics-textfile with --api-url is a usage error (the server runs the jobs: scrape it)', async () => {
    const r = await run(['--metrics-textfile', '/tmp/x.prom', '--api-url', 'http://127.0.0.1:1', 'jobs', 'list']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/scrape its \/metrics/);
  });

  it('jobs list (a read of the journal) loads neither the pipeline nor the runner nor the job lifecycle', async () => {
    const state = mkdtempSync(path.join(tmpdir(), 'trace-state-'));
    const file = path.join(state, 'imports.txt');
    const r = await execa('node', ['--import', TRACE, BIN, 'jobs', 'list'], { reject: false, env: { CUSTCTL_TRACE_IMPORTS: file, CUSTCTL_STATE_DIR: path.join(state, 'state'), REDIS_URL: '' } });
    expect(r.exitCode, r.stderr).toBe(0);
    const urls = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(urls.some((u) => u.endsWith('/dist/service/local.js'))).toBe(true); // the tracer works, and this is the local client
    expect(urls.filter((u) => /\/dist\/(pipeline\/|jobs\/(runner|lifecycle|worker|metrics-prom)|service\/(local-running|attached))|prom-client/.test(u))).toEqual([]);
  });

  it.each([['delete'], ['status'], ['status', 'job'], ['jobs'], ['cleanup-rbac'], ['worker'], ['serve'], ['completion'], ['customers'], ['customers', 'add'], ['db'], ['doctor'], ['version']].map((c) => [c.join(' '), c] as const))('%s --help has examples', async (_name, cmd) => {
    const r = await run([...cmd, '--help']);
    expect(r.exitCode, cmd.join(' ')).toBe(0);
    expect(r.stdout, cmd.join(' ')).toMatch(/Examples?:/);
  });

  it.each([
    [['delete'], 2, /missing required argument/],
    [['delete', 'cust_a', '--concurrency', '0'], 2, /--concurrency/],
    [['delete', 'cust_a', '--timeout', '5'], 2, /--timeout/],
    [['frobnicate'], 2, /unknown command/],
    [['delete', 'cust_a', '--bogus'], 2, /unknown option/],
    [['status', 'job', 'x1'], 2, /not a job id/],
    [['delete', 'cust_a', '--api-url', 'http://127.0.0.1:1', '--context', 'x'], 2, /--api-url/],
  ])('%j → exit %d', async (args, code, msg) => {
    const r = await run(args);
    expect(r.exitCode).toBe(code);
    expect(r.stderr).toMatch(msg);
  });

  it('a real (non-simulated) run with no database configured is refused with how to configure one', async () => {
    const r = await run(['delete', 'cust_abc', '--yes'], { PATH: process.env.PATH ?? '' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/DATABASE_URL/);
    expect(r.stderr).toMatch(/--store embedded/);
  });

  it.each(['bash', 'zsh', 'fish'])('completion %s prints the shipped script', async (shell) => {
    const r = await run(['completion', shell]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(readFileSync(path.resolve(path.dirname(BIN), `../completions/custctl.${shell}`), 'utf8').trimEnd());
    expect(r.stdout).toMatch(/ __complete -- /);
  });

  it('the bash completion parses and completes subcommands (asking the binary it names)', async () => {
    const script = readFileSync(path.resolve(path.dirname(BIN), '../completions/custctl.bash'), 'utf8');
    const r = await execa('bash', ['-c', `${script}\nCOMP_WORDS=("$0" del); COMP_CWORD=1; _custctl; echo "\${COMPREPLY[@]}"`, BIN], { reject: false, timeout: 60_000 });
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout).trim()).toBe('delete');
  });
});
