/**
 * Chooses and opens the customer store (DESIGN "Customer store"):
 * - `embedded` when asked (`--store embedded` / CUSTCTL_STORE=embedded);
 * - `auto`: PostgreSQL when a database is configured (DATABASE_URL or PG* variables), else the
 *   embedded store for a simulated run, else a UsageError saying how to configure one;
 * - `postgres`: PostgreSQL, with libpq defaults for whatever is not configured.
 * The drivers (`pg`, PGlite) are imported only here, only for the store that is used.
 */

import path from 'node:path';
import { UsageError } from '../errors.js';
import { parseClusterColumn } from '../domain/clusters.js';
import type { CustomerStore } from './store.js';

export interface StoreConfig {
  store: 'auto' | 'embedded' | 'postgres';
  /** from a flag; beats env.DATABASE_URL */
  databaseUrl?: string;
  env: Record<string, string | undefined>;
  simulate: boolean;
  /** the state directory; the embedded store lives in `<stateDir>/embedded-pg` */
  stateDir: string;
  /** `db migrate`: open a real database before its schema exists */
  skipSchemaCheck?: boolean;
  /** how long to wait for another process holding the embedded store (default 10 s) */
  lockWaitMs?: number;
  /** who holds the embedded store (serve: its command and URL), for the others' messages */
  holder?: { command?: string; url?: string };
}

/** The libpq variables that, when set, mean "a database is configured". */
const PG_VARIABLES = ['PGHOST', 'PGHOSTADDR', 'PGDATABASE', 'PGUSER', 'PGSERVICE'] as const;

/** Is a PostgreSQL database configured in this environment (DATABASE_URL or a PG* variable)? */
export function storeConfigured(env: Record<string, string | undefined>): boolean {
  return [`DATABASE_URL`, ...PG_VARIABLES].some((k) => (env[k] ?? '') !== '');
}

export function embeddedStoreDir(stateDir: string): string {
  return path.join(stateDir, 'embedded-pg');
}

/** Which store `openStore` would use; throws the same UsageError it would. */
export function chooseStore(cfg: Pick<StoreConfig, 'store' | 'databaseUrl' | 'env' | 'simulate'>): 'embedded' | 'postgres' {
  if (cfg.store === 'embedded') return 'embedded';
  if (cfg.store === 'postgres') return 'postgres';
  if ((cfg.databaseUrl ?? '') !== '' || storeConfigured(cfg.env)) return 'postgres';
  if (cfg.simulate) return 'embedded';
  throw new UsageError('no customer database is configured: a real (non-simulated) run needs the billing database; '
    + 'set DATABASE_URL=postgres://… (or the PG* variables), or try custctl with --store embedded', [
    'set DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DATABASE (or PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)',
    'to try custctl without a database: --store embedded (or CUSTCTL_STORE=embedded), with SIMULATE_K8S_DEPLOYMENT=true to leave the cluster alone',
  ]);
}

export async function openStore(cfg: StoreConfig): Promise<CustomerStore> {
  // CUSTCTL_CLUSTER_COLUMN: which column names a customer's cluster (read when the table has it)
  const clusterColumn = parseClusterColumn(cfg.env.CUSTCTL_CLUSTER_COLUMN);
  if (chooseStore(cfg) === 'embedded') {
    const { openEmbeddedStore } = await import('./store-pglite.js');
    return openEmbeddedStore({
      dir: embeddedStoreDir(cfg.stateDir),
      clusterColumn,
      ...(cfg.lockWaitMs !== undefined ? { lockWaitMs: cfg.lockWaitMs } : {}),
      ...(cfg.holder ? { holder: cfg.holder } : {}),
    });
  }
  const { openPgStore } = await import('./store-pg.js');
  return openPgStore({
    env: cfg.env,
    clusterColumn,
    ...(cfg.databaseUrl !== undefined ? { connectionString: cfg.databaseUrl } : {}),
    ...(cfg.skipSchemaCheck !== undefined ? { skipSchemaCheck: cfg.skipSchemaCheck } : {}),
  });
}
