/**
 * `status job <id>` in its plain forms runs without building commander's tree (scripts poll it);
 * it must answer exactly what the full parser answers. The built CLI (npm test builds first), on a
 * real file journal.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openFileJournal } from '../../src/adapters/file-journal.js';
import { statusJobShortcut } from '../../src/commands/status.js';

const BIN = path.resolve('bin/custctl.js');
const state = mkdtempSync(path.join(tmpdir(), 'custctl-shortcut-'));
/** a CommonJS preload that says, at exit, whether commander was loaded */
const probe = path.join(state, 'probe.cjs');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string; commander: boolean }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-r', probe, BIN, ...args], { env: { ...process.env, CUSTCTL_STATE_DIR: state, NO_COLOR: '1', CUSTCTL_API_URL: '', REDIS_URL: '', REDIS_HOST: '' }, timeout: 60_000 }, (e, stdout, stderr) => {
      const code = e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1) : 0;
      const loaded = /COMMANDER=(yes|no)/.exec(stderr)?.[1] === 'yes';
      resolve({ code, stdout, stderr: stderr.replace(/\n?COMMANDER=(yes|no)\n?/, ''), commander: loaded });
    });
  });
}

beforeAll(async () => {
  writeFileSync(probe, "process.on('exit', () => process.stderr.write('\\nCOMMANDER=' + (Object.keys(require.cache).some((k) => k.includes('/node_modules/commander/')) ? 'yes' : 'no') + '\\n'));\n");
  const q = await openFileJournal({ dir: path.join(state, 'journal'), worker: 'test' });
  const now = Date.now();
  const data = { customerId: 'cust_abc123', namespace: 'customer-abc123' };
  const opts = { attempts: 3, backoff: { type: 'exponential' as const, delay: 1000 }, timeoutMs: 60_000 };
  const done = await q.add(await q.allocateId(), { name: 'delete', data, opts, requestedBy: 'test', simulated: true }, now);
  await q.claim(done.id, 'test', now, 30_000);
  await q.complete(done.id, 'test', { outcome: 'deleted' }, now);
  const failed = await q.add(await q.allocateId(), { name: 'delete', data, opts: { ...opts, attempts: 1 }, requestedBy: 'test', simulated: true }, now);
  await q.claim(failed.id, 'test', now, 30_000);
  await q.fail(failed.id, 'test', { message: 'namespace still there', errorName: 'timeout', final: true }, now);
  await q.close();
}, 60_000);

describe('status job: the short path answers what the full parser answers', () => {
  it.each([
    [['status', 'job', '1']],
    [['status', 'job', '2']],
    [['status', 'job', '1', '-o', 'json']],
    [['status', 'job', '2', '--output=yaml']],
    [['status', 'job', '1', '--watch']],
    [['status', 'job', '99']],
    [['status', 'job', 'abc']],
  ])('%j', async (args) => {
    const short = await run(args);
    // a global flag first: the same command through commander
    const full = await run(['--no-color', ...args]);
    expect(short.commander).toBe(false);
    expect(full.commander).toBe(true);
    expect({ code: short.code, stdout: short.stdout, stderr: short.stderr }).toEqual({ code: full.code, stdout: full.stdout, stderr: full.stderr });
  }, 60_000);

  it('anything else goes to commander', () => {
    expect(statusJobShortcut(['status', 'job', '7'])).toEqual({ id: '7', output: 'table', watch: false });
    expect(statusJobShortcut(['status', 'job', '7', '-w', '-o', 'json'])).toEqual({ id: '7', output: 'json', watch: true });
    for (const argv of [['status', 'job'], ['status', 'job', '7', '--help'], ['status', 'job', '7', '-o', 'xml'], ['status', 'job', '7', '8'], ['status', 'customer', 'cust_a'], ['status', 'job', '7', '-v'], ['--api-url', 'x', 'status', 'job', '7'], ['status', 'job', '7', '-o']]) {
      expect(statusJobShortcut(argv)).toBeNull();
    }
  });
});
