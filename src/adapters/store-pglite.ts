/**
 * The embedded customer store: PGlite (PostgreSQL in WebAssembly) in a directory under the state
 * directory, for trying custctl with nothing installed. PGlite allows one process at a time, so the
 * directory is locked exclusively (proper-lockfile: `<dir>.lock`, kept fresh while open, stale after
 * LOCK_STALE_MS when its process died). Migrations are applied on open.
 *
 * PGlite costs ~0.9 s and ~340 MB to open: it is imported here lazily and nowhere else.
 */

import fs from 'node:fs/promises';
import os from 'node:os';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import { CliError, OperationError, errorMessage } from '../errors.js';
import { SqlCustomerStore, type SqlDriver } from './store-sql.js';
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

async function acquireLock(dir: string, waitMs: number, onCompromised: (e: Error) => void): Promise<() => Promise<void>> {
  const retries = Math.max(0, Math.ceil(waitMs / LOCK_RETRY_MS));
  try {
    return await lockfile.lock(dir, {
      realpath: false,
      stale: LOCK_STALE_MS,
      update: LOCK_UPDATE_MS,
      retries: { retries, minTimeout: LOCK_RETRY_MS, maxTimeout: LOCK_RETRY_MS, factor: 1, randomize: false },
      onCompromised,
    });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ELOCKED') {
      throw new OperationError(
        `the embedded store at ${dir} is in use by another custctl process${await describeOwner(dir)}; waited ${(waitMs / 1000).toFixed(1)} s`,
        [
          'wait for that process to finish and try again, or configure PostgreSQL (DATABASE_URL=postgres://…) for concurrent runs',
          `if no custctl is running, the lock ${dir}.lock is taken over automatically ${LOCK_STALE_MS / 1000} s after its process died`,
        ],
      );
    }
    throw new OperationError(`cannot lock the embedded store at ${dir}: ${errorMessage(e)}`,
      [`check that the state directory is writable (CUSTCTL_STATE_DIR)`]);
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
  const release = await acquireLock(dir, opts.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, (e) => { compromised = e; });
  let released = false;
  const unlock = async (): Promise<void> => {
    if (released) return;
    released = true;
    await fs.rm(ownerFile(dir), { force: true }).catch(() => undefined);
    await release().catch(() => undefined);
  };
  await fs.writeFile(ownerFile(dir), JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }) + '\n',
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
  const store = new SqlCustomerStore(driver, { kind: 'embedded', description: `embedded (${dir})` });
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
