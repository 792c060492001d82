/**
 * The command line under bad input and damaged state (tokens, id flags, look-alike characters, the
 * state directory's mode, a damaged journal, a closed stdout): the BUILT binary
 * on the real file system, with the embedded store and simulated cluster steps (no servers).
 * `CUSTCTL_TEST_BIN=<other build>/bin/custctl.js` runs them against another build (main's).
 */
import { execa } from 'execa';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN } from '../support/cli.js';

// every test runs the binary (and some open the embedded store): seconds, not milliseconds
// each embedded-store command starts PGlite (~9 s of CPU): minutes on a loaded 2-core machine
vi.setConfig({ testTimeout: 180_000 });

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function freshState(): string {
  return mkdtempSync(path.join(tmpdir(), 'custctl-defects-'));
}

async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const r = await execa('node', [BIN, ...args], {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), NO_COLOR: '1', SIMULATE_K8S_DEPLOYMENT: 'true', ...env },
    input: '',
    timeout: 120_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

interface JobJson {
  id: string;
  state: string;
}

// one embedded store for the file (creating one costs seconds): customers and a waiting job
let state: string;
const A = 'cust_dfa1';
const B = 'cust_dfb1';
let waitingJob: string;

beforeAll(async () => {
  state = freshState();
  for (const id of [A, B]) {
    const r = await run(['customers', 'add', id, '--email', 'ops@example.test', '--company', 'Defects'], { CUSTCTL_STATE_DIR: state });
    expect(r.exitCode, r.stderr).toBe(0);
  }
  const q = await run(['delete', B, '--yes', '--detach', '-o', 'json'], { CUSTCTL_STATE_DIR: state });
  expect(q.exitCode, q.stderr).toBe(0);
  waitingJob = (JSON.parse(q.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId as string;
}, 120_000);

describe('an invalid character in CUSTCTL_API_TOKEN is described, the token never printed', () => {
  const secret = 'Sup3rSecretTokenValue0123456789';
  it.each([
    ['a CR/LF', `${secret}\r\nX`, /position 32 of 34 \(a carriage return \(CR\), U\+000D\)/],
    ['a Cyrillic letter', `${secret.slice(0, 5)}\u0430${secret.slice(5)}`, /position 6 of 32 \(a non-ASCII character, U\+0430\)/],
    ['a space', `${secret} x`, /a space, U\+0020/],
  ])('%s: exit 2, says which position and kind', async (_name, token, expected) => {
    const r = await run(['status', 'job', '1', '--api-url', 'http://127.0.0.1:9'], { CUSTCTL_API_TOKEN: token, CUSTCTL_STATE_DIR: freshState() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/CUSTCTL_API_TOKEN holds an invalid character/);
    expect(r.stderr).toMatch(expected);
    for (const part of [secret, secret.slice(0, 8), secret.slice(-8)]) {
      expect(r.stdout + r.stderr).not.toContain(part);
    }
  });

  it('serve refuses such a token without printing it', async () => {
    const r = await run(['serve', '--port', '0'], { CUSTCTL_API_TOKEN: `${secret}\n`, CUSTCTL_STATE_DIR: freshState() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/CUSTCTL_API_TOKEN holds an invalid character at position 32 of 32 \(a line feed \(LF\), U\+000A\)/);
    expect(r.stderr).not.toContain(secret.slice(0, 8));
  });
});

describe('every id flag validates what it gets, the empty string included', () => {
  it.each([
    [['jobs', 'resume', '--customer', '']],
    [['jobs', 'list', '--customer', '']],
    [['cleanup-rbac', '--dry-run', '--customer', '']],
    [['status', 'customer', '']],
    [['status', 'job', '']],
    [['jobs', 'retry', '']],
    [['jobs', 'cancel', '']],
    [['delete', '', '--yes']],
  ])('custctl %j exits 2 and acts on nothing', async (args) => {
    const r = await run(args, { CUSTCTL_STATE_DIR: state });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is not a (customer ID|job id)/);
    const { stdout } = await run(['status', 'job', waitingJob, '-o', 'json'], { CUSTCTL_STATE_DIR: state });
    expect((JSON.parse(stdout) as JobJson).state).toBe('waiting'); // `jobs resume --customer ""` ran nothing
  });

  it('with --api-url too: jobs list --customer "" exits 2 before any request', async () => {
    const r = await run(['jobs', 'list', '--customer', '', '--api-url', 'http://127.0.0.1:9'], { CUSTCTL_STATE_DIR: freshState() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).not.toMatch(/cannot reach/);
  });
});

describe('a look-alike character in an id is named by position and code point', () => {
  it.each([
    ['a Cyrillic а', 'cust_\u0430bc', /character 6 is a non-ASCII character, U\+0430 that may look like a Latin letter or digit/],
    ['a zero-width space', 'cust_ab\u200bc', /character 8 is a zero-width space, U\+200B/],
    ['an uppercase letter', 'cust_aBc', /character 7 is an uppercase letter "B", U\+0042/],
    ['a Cyrillic с in the prefix', '\u0441ust_abc', /character 1 is a non-ASCII character, U\+0441/],
  ])('%s', async (_name, id, expected) => {
    const r = await run(['status', 'customer', id], { CUSTCTL_STATE_DIR: freshState() });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(expected);
  });
});

describe('the state directory must be private', () => {
  it('a group- or world-writable state dir is refused (exit 2), nothing created in it', async () => {
    for (const mode of [0o777, 0o770]) {
      const dir = freshState();
      chmodSync(dir, mode);
      const r = await run(['jobs', 'list'], { CUSTCTL_STATE_DIR: dir });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`the state directory ${dir} is writable by (everyone|its group) \\(mode 0${mode.toString(8)}\\): refusing to use it`));
      expect(r.stderr).toContain(`chmod 700 ${dir}`);
      expect(() => statSync(path.join(dir, 'journal'))).toThrow();
    }
  });

  it('a state dir readable by others is tightened to 0700, and said so; a new one is created 0700', async () => {
    const dir = freshState();
    chmodSync(dir, 0o755);
    const r = await run(['jobs', 'list'], { CUSTCTL_STATE_DIR: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARN .*readable by others \(mode 0755\): changed to 0700/);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const fresh = path.join(freshState(), 'a', 'b');
    expect((await run(['jobs', 'list'], { CUSTCTL_STATE_DIR: fresh })).exitCode).toBe(0);
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
  });
});

describe('a damaged journal', () => {
  it('a directory 111.json, a link 112.json -> /etc/passwd and a file holding null: warned once each, nothing quoted, jobs list and worker work, no id reused', async () => {
    const dir = freshState();
    const env = { CUSTCTL_STATE_DIR: dir };
    expect((await run(['customers', 'add', 'cust_dmg1', '--email', 'a@example.test', '--company', 'D'], env)).exitCode).toBe(0);
    const jobs = path.join(dir, 'journal', 'jobs');
    mkdirSync(jobs, { recursive: true, mode: 0o700 });
    mkdirSync(path.join(jobs, '111.json'));
    symlinkSync('/etc/passwd', path.join(jobs, '112.json'));
    writeFileSync(path.join(jobs, '113.json'), 'null\n', { mode: 0o600 });
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n')[0] as string;

    const list = await run(['jobs', 'list'], env);
    expect(list.exitCode, list.stderr).toBe(0);
    for (const n of ['111', '112', '113']) {
      expect(list.stderr.split(`${path.join(jobs, `${n}.json`)}`).length - 1, `${n}.json warned once`).toBe(1);
    }
    expect(list.stderr).toMatch(/111\.json: not a regular file \(a directory\)/);
    expect(list.stderr).toMatch(/112\.json: a symbolic link/);
    expect(list.stderr).not.toContain(passwd);
    expect(list.stderr).not.toMatch(/EISDIR|root:/);

    const worker = await run(['worker', '--once'], env);
    expect(worker.exitCode, worker.stderr).toBe(0);
    expect(worker.stderr.split(path.join(jobs, '112.json')).length - 1).toBe(1);

    const link = await run(['status', 'job', '112'], env);
    expect(link.exitCode).toBe(1);
    expect(link.stderr).toMatch(/job 112 is unreadable: .*a symbolic link/);
    expect(link.stderr).not.toContain(passwd);
    const nul = await run(['status', 'job', '113'], env);
    expect(nul.exitCode).toBe(1); // damaged, not "not found" (3)
    expect(nul.stderr).toMatch(/job 113 is unreadable/);

    const q = await run(['delete', 'cust_dmg1', '--yes', '--detach', '-o', 'json'], env);
    expect(q.exitCode, q.stderr).toBe(0);
    const id = Number((JSON.parse(q.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId);
    expect(id).toBeGreaterThan(113);
    expect(readFileSync(path.join(jobs, '113.json'), 'utf8')).toBe('null\n'); // never replaced
  });
});

describe('a closed stdout ends the command quietly', () => {
  it.each([
    [['customers', 'list']],
    [['status', 'customer', A]],
    [['delete', A, '--dry-run']],
    [['jobs', 'list']],
  ])('custctl %j | true: exit 141 (like kubectl and gh), no EPIPE, no stack trace', async (args) => {
    const quoted = args.map((a) => `'${a}'`).join(' ');
    const r = await execa('bash', ['-c', `node '${BIN}' ${quoted} | true; echo "status=\${PIPESTATUS[0]}" >&2`], {
      reject: false,
      extendEnv: false,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), NO_COLOR: '1', SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_STATE_DIR: state },
      timeout: 120_000,
    });
    const stderr = String(r.stderr);
    expect(stderr).toMatch(/status=141/);
    expect(stderr).not.toMatch(/EPIPE|Unhandled|node:events|\n\s+at /);
  });
});
