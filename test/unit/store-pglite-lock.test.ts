import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore } from '../../src/adapters/store-pglite.js';
import type { CustomerStore } from '../../src/adapters/store.js';
import { OperationError } from '../../src/errors.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// one store directory for the file: creating one (initdb) costs seconds, reopening it well under one
let tmp: string;
let dir: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'custctl-pglite-lock-'));
  dir = path.join(tmp, 'state', 'embedded-pg');
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * Another process holding the lock the way custctl does (proper-lockfile on `<dir>`, plus the
 * `<dir>.owner` note); it lets go when told on stdin.
 */
async function holdLockInChild(): Promise<{ child: ChildProcess; release(): Promise<void> }> {
  const script = `
    import { createRequire } from 'node:module';
    import fs from 'node:fs';
    const require = createRequire(${JSON.stringify(path.join(repoRoot, 'package.json'))});
    const lockfile = require('proper-lockfile');
    const dir = ${JSON.stringify(dir)};
    fs.mkdirSync(dir, { recursive: true });
    const release = await lockfile.lock(dir, { realpath: false, stale: 15000, update: 3000 });
    fs.writeFileSync(dir + '.owner', JSON.stringify({ pid: process.pid, host: ${JSON.stringify(os.hostname())} }));
    process.stdout.write('locked\\n');
    process.stdin.once('data', async () => { await release(); process.stdout.write('released\\n'); process.exit(0); });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waitFor = (line: string): Promise<void> => new Promise((resolve, reject) => {
    const check = (): void => { if (lines.includes(line)) resolve(); };
    child.stdout?.on('data', (b: Buffer) => { lines.push(...b.toString().split('\n').filter(Boolean)); check(); });
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${String(code)} before '${line}'`)));
    check();
  });
  await waitFor('locked');
  return {
    child,
    async release() {
      const done = waitFor('released');
      child.stdin?.write('go\n');
      await done;
    },
  };
}

describe('embedded store lock', () => {
  it('a second process waits, then fails clearly; after the holder lets go it opens', async () => {
    const holder = await holdLockInChild();
    try {
      const t0 = Date.now();
      const err = await openEmbeddedStore({ dir, lockWaitMs: 1_000 }).then(() => undefined, (e: unknown) => e);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(err).toBeInstanceOf(OperationError);
      expect((err as OperationError).message).toContain(`the embedded store at ${dir} is in use by another custctl process (pid ${String(holder.child.pid)}`);
      expect((err as OperationError).details.join('\n')).toContain('DATABASE_URL');
    } finally {
      await holder.release();
    }
    const store = await openEmbeddedStore({ dir, lockWaitMs: 1_000 });
    try {
      expect(store.description).toBe(`embedded (${dir})`);
      expect(store.kind).toBe('embedded');
      expect(await store.checkSchema()).toEqual([]); // migrated on open
    } finally {
      await store.close();
    }
  }, 90_000);

  it('issue 12 item 6: the lock of a killed holder (same host, pid gone) is taken over at once, not after a 10 s wait', async () => {
    const holder = await holdLockInChild();
    const pid = holder.child.pid as number;
    const gone = new Promise((resolve) => holder.child.once('exit', resolve));
    holder.child.kill('SIGKILL');
    await gone;
    expect(existsSync(`${dir}.lock`)).toBe(true); // the killed process left its lock behind
    const taken: number[] = [];
    const t0 = Date.now();
    const store = await openEmbeddedStore({ dir, lockWaitMs: 10_000, onTakeOver: (p) => taken.push(p) });
    try {
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(taken).toEqual([pid]);
      expect(await store.checkSchema()).toEqual([]);
    } finally {
      await store.close();
    }
    expect(existsSync(`${dir}.lock`)).toBe(false);
  }, 90_000);

  it('in one process too: a second open fails while the first is open; close releases the lock; data persists', async () => {
    const first = await openEmbeddedStore({ dir });
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    expect(existsSync(`${dir}.lock`)).toBe(true);
    await first.add({ customerId: 'cust_lock1', email: 'a@example.test', companyName: 'A', deploymentStatus: 'deployed', instanceNamespace: 'customer-lock1', instanceUrl: '' });
    await expect(openEmbeddedStore({ dir, lockWaitMs: 300 })).rejects.toThrow(/in use by another custctl process \(pid \d+/);
    await first.close();
    expect(existsSync(`${dir}.lock`)).toBe(false);
    expect(existsSync(`${dir}.owner`)).toBe(false);

    const second = await openEmbeddedStore({ dir, lockWaitMs: 300 });
    try {
      expect(await second.get('cust_lock1')).toMatchObject({ deploymentStatus: 'deployed', instanceNamespace: 'customer-lock1' });
    } finally {
      await second.close();
    }
  }, 90_000);

  it('a waiting open succeeds when the holder closes within the wait', async () => {
    const first = await openEmbeddedStore({ dir });
    const closing = new Promise<void>((resolve, reject) => {
      setTimeout(() => { first.close().then(resolve, reject); }, 500);
    });
    let second: CustomerStore | undefined;
    try {
      second = await openEmbeddedStore({ dir, lockWaitMs: 10_000 });
      expect(await second.get('cust_lock1')).not.toBeNull();
    } finally {
      await closing;
      await second?.close();
    }
  }, 90_000);
});
