/**
 * The embedded customer store: PGlite (PostgreSQL in WebAssembly) in a directory under the state
 * directory, for trying custctl with nothing installed. PGlite allows one process at a time, so the
 * directory is locked exclusively (proper-lockfile: `<dir>.lock`, kept fresh while open, with the
 * holder's pid and host in `<dir>.owner`). A lock whose holder on this host is gone (killed) is
 * taken over at once; one of another host, or without a note, after LOCK_STALE_MS without a
 * refresh. A lock held by a running `custctl serve` of this host is not waited for: serve keeps the
 * store while it runs, so the others are told at once to read through it (`--api-url`). Migrations
 * are applied on open.
 *
 * PGlite costs ~0.9 s and ~340 MB to open: it is imported here lazily and nowhere else.
 */

import fs from 'node:fs/promises';
import os from 'node:os';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { CliError, OperationError, errorMessage } from '../errors.js';
import { SqlCustomerStore, type SqlDriver } from './store-sql.js';
import { processIsAlive } from '../util/process-alive.js';
import type { CustomerStore } from './store.js';

export const DEFAULT_LOCK_WAIT_MS = 10_000;
/** A lock whose mtime is older than this belongs to a dead process and is taken over. */
const LOCK_STALE_MS = 15_000;
const LOCK_UPDATE_MS = 3_000;
const LOCK_RETRY_MS = 250;

export interface EmbeddedStoreOptions {
  /** PGlite's data directory, e.g. `<stateDir>/embedded-pg` (created 0700) */
  dir: string;
  /** how long a second process waits for the lock before failing (default 10 s) */
  lockWaitMs?: number;
  /** told when the lock of a process that is gone was taken over */
  onTakeOver?: (pid: number) => void;
  /**
   * Who holds the store, for the others' messages (read when the owner note is written, so a
   * field set later is in the next one; `recordHolder` writes it at once). `command: 'serve'`
   * makes other processes give up at once instead of waiting: serve keeps the store while it runs.
   */
  holder?: { command?: string; url?: string };
  /** the column naming a customer's cluster (CUSTCTL_CLUSTER_COLUMN; default `cluster`) */
  clusterColumn?: string;
}

type Queryable = Pick<PGlite | Transaction, 'query' | 'exec'>;

/** A SqlDriver over a PGlite instance (or one of its transactions). */
export function pgliteDriver(
  db: PGlite,
  hooks: { beforeQuery?: () => void; onClose?: () => Promise<void> } = {},
): SqlDriver {
  const over = (q: Queryable, inTx: boolean): SqlDriver => {
    const d: SqlDriver = {
      async query<T>(text: string, params?: unknown[]) {
        hooks.beforeQuery?.();
        const r = await q.query<T>(text, params);
        return { rows: r.rows, rowCount: r.rowCount ?? r.affectedRows ?? r.rows.length };
      },
      async exec(sql: string) {
        hooks.beforeQuery?.();
        await q.exec(sql);
      },
      async transaction<T>(fn: (d: SqlDriver) => Promise<T>): Promise<T> {
        // no nested transactions: an inner call joins the outer one
        if (inTx) return fn(d);
        return db.transaction((tx) => fn(over(tx, true)));
      },
      async close() {
        if (inTx) return;
        try {
          await db.close();
        } finally {
          await hooks.onClose?.();
        }
      },
    };
    return d;
  };
  return over(db, false);
}

function ownerFile(dir: string): string {
  return `${dir}.owner`;
}

async function describeOwner(dir: string): Promise<string> {
  try {
    const o = JSON.parse(await fs.readFile(ownerFile(dir), 'utf8')) as { pid?: number; host?: string; since?: string };
    const parts = [o.pid !== undefined ? `pid ${o.pid}` : '', o.host && o.host !== os.hostname() ? `on ${o.host}` : '', o.since ? `since ${o.since}` : '']
      .filter(Boolean);
    return parts.length > 0 ? ` (${parts.join(', ')})` : '';
  } catch {
    return '';
  }
}

interface Owner {
  pid?: number;
  host?: string;
  since?: string;
  /** `serve` when the holder is custctl serve (it keeps the store while it runs) */
  command?: string;
  /** serve's address, for the hint */
  url?: string;
}

async function readOwner(file: string): Promise<Owner | null> {
  try {
    const o = JSON.parse(await fs.readFile(file, 'utf8')) as unknown;
    return typeof o === 'object' && o !== null ? (o as Owner) : null;
  } catch {
    return null;
  }
}

/** The owner note names a process of this host that no longer exists. */
function deadHere(o: Owner | null, isAlive: (pid: number) => boolean): o is Owner & { pid: number } {
  return o !== null && typeof o.pid === 'number' && o.pid > 0 && o.pid !== process.pid && o.host === os.hostname() && !isAlive(o.pid);
}

/**
 * The lock's holder was killed (its owner note names a pid of this host that is gone): remove its
 * lock at once instead of waiting LOCK_STALE_MS for the mtime to age. One waiter wins: the owner
 * note is first renamed away (atomic; the others get ENOENT), re-read under its new name, and only
 * then is the lock directory removed. While that directory exists no live process can hold the
 * lock (mkdir fails), so what is removed is the dead holder's lock. Returns true when removed.
 */
async function takeOverDeadLock(dir: string, isAlive: (pid: number) => boolean): Promise<{ pid: number } | null> {
  const note = ownerFile(dir);
  if (!deadHere(await readOwner(note), isAlive)) return null;
  const claimed = `${note}.${process.pid}.${Date.now()}.stale`;
  try {
    await fs.rename(note, claimed);
  } catch {
    return null; // another waiter took it over first
  }
  const again = await readOwner(claimed);
  if (!deadHere(again, isAlive)) {
    // a live holder wrote its note meanwhile: put it back (unless it wrote a newer one)
    await fs.link(claimed, note).catch(() => undefined);
    await fs.rm(claimed, { force: true });
    return null;
  }
  await fs.rmdir(`${dir}.lock`).catch(() => undefined);
  await fs.rm(claimed, { force: true });
  return { pid: again.pid };
}

/**
 * The lock is held by a live `custctl serve` of this host: waiting cannot help (it keeps the store
 * while it runs), so say at once how to read through it.
 */
function heldByServe(dir: string, o: Owner | null, isAlive: (pid: number) => boolean): OperationError | null {
  if (o?.command !== 'serve' || typeof o.pid !== 'number' || o.pid === process.pid || o.host !== os.hostname() || !isAlive(o.pid)) return null;
  const url = typeof o.url === 'string' && /^https?:\/\/[^\s]+$/.test(o.url) ? o.url : 'URL';
  return new OperationError(`the embedded store at ${dir} is held by custctl serve (pid ${o.pid}${o.since ? `, since ${o.since}` : ''}), which keeps it open while it runs`, [
    `Read through the server: custctl customers list --api-url ${url} (every read command takes --api-url; CUSTCTL_API_TOKEN: a viewer token of that server).`,
    'Or stop that serve first; or use PostgreSQL (DATABASE_URL=postgres://…), which serve and the CLI share.',
  ]);
}

/** Adds fields (serve's URL) to this process's owner note of the store at `dir`. */
export async function recordHolder(dir: string, fields: { command?: string; url?: string }): Promise<void> {
  const note = ownerFile(dir);
  const o = await readOwner(note);
  if (o?.pid !== process.pid) return;
  await fs.writeFile(note, JSON.stringify({ ...o, ...fields }) + '\n', { mode: 0o600 }).catch(() => undefined);
}

async function acquireLock(
  dir: string,
  waitMs: number,
  onCompromised: (e: Error) => void,
  opts: { isAlive?: (pid: number) => boolean; onTakeOver?: (pid: number) => void } = {},
): Promise<() => Promise<void>> {
  const isAlive = opts.isAlive ?? processIsAlive;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await lockfile.lock(dir, { realpath: false, stale: LOCK_STALE_MS, update: LOCK_UPDATE_MS, retries: 0, onCompromised });
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ELOCKED') {
        throw new OperationError(`cannot lock the embedded store at ${dir}: ${errorMessage(e)}`,
          [`check that the state directory is writable (CUSTCTL_STATE_DIR)`]);
      }
    }
    const dead = await takeOverDeadLock(dir, isAlive);
    if (dead) {
      opts.onTakeOver?.(dead.pid);
      continue;
    }
    const serve = heldByServe(dir, await readOwner(ownerFile(dir)), isAlive);
    if (serve) throw serve;
    if (Date.now() >= deadline) {
      throw new OperationError(
        `the embedded store at ${dir} is in use by another custctl process${await describeOwner(dir)}; waited ${(waitMs / 1000).toFixed(1)} s`,
        [
          'wait for that process to finish and try again, or configure PostgreSQL (DATABASE_URL=postgres://…) for concurrent runs',
          `if no custctl is running, the lock ${dir}.lock is taken over at once when its process (on this host) is gone, else ${LOCK_STALE_MS / 1000} s after it stopped`,
        ],
      );
    }
    await new Promise((r) => setTimeout(r, Math.min(LOCK_RETRY_MS, Math.max(0, deadline - Date.now()))));
  }
}

/** Opens (creating if needed) the embedded store in `dir`, locked for this process, migrated. */
export async function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<CustomerStore> {
  const { dir } = opts;
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.chmod(dir, 0o700);
  } catch (e) {
    throw new OperationError(`cannot create the embedded store directory ${dir}: ${errorMessage(e)}`,
      ['set CUSTCTL_STATE_DIR to a writable directory']);
  }

  let compromised: Error | undefined;
  const release = await acquireLock(dir, opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, (e) => { compromised = e; }, opts.onTakeOver ? { onTakeOver: opts.onTakeOver } : {});
  let released = false;
  const unlock = async (): Promise<void> => {
    if (released) return;
    released = true;
    await fs.rm(ownerFile(dir), { force: true }).catch(() => undefined);
    await release().catch(() => undefined);
  };
  await fs.writeFile(ownerFile(dir), JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), ...opts.holder }) + '\n',
    { mode: 0o600 }).catch(() => undefined);

  let db: PGlite;
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    db = new PGlite(dir);
    await db.waitReady;
  } catch (e) {
    await unlock();
    throw new OperationError(`cannot open the embedded store at ${dir}: ${errorMessage(e)}`,
      [`if the directory is damaged, move it away (a fresh one is created on the next run; its customers are lost)`]);
  }

  const driver = pgliteDriver(db, {
    beforeQuery: () => {
      if (compromised) {
        throw new OperationError(`lost the lock on the embedded store at ${dir}: ${compromised.message}`,
          ['another process may have opened it; stop other custctl processes and run again']);
      }
    },
    onClose: unlock,
  });
  const store = new SqlCustomerStore(driver, { kind: 'embedded', description: `embedded (${dir})`, ...(opts.clusterColumn !== undefined ? { clusterColumn: opts.clusterColumn } : {}) });
  try {
    await store.migrate();
  } catch (e) {
    await store.close().catch(() => undefined);
    await unlock();
    if (e instanceof CliError) throw e;
    throw new OperationError(`cannot migrate the embedded store at ${dir}: ${errorMessage(e)}`);
  }
  return store;
}
