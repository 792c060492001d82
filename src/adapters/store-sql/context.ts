/** What the statements of the SQL store (store-sql.ts) share: the driver, the store's names, and its guards. */
import type { Transport } from '../pg-connection.js';
import type { AuditEntry, CustomerRow, CustomerStore } from '../store.js';

/** The few things the store needs from a driver; `pg` and PGlite each get a small adapter. */
export interface SqlDriver {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[]; rowCount: number }>;
  /** One or more statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction on one connection (BEGIN/COMMIT, ROLLBACK on a throw). */
  transaction<T>(fn: (d: SqlDriver) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface SqlStoreInfo {
  kind: 'postgres' | 'embedded';
  /** `postgres://user@host:port/db` (never a password) or `embedded (<dir>)` */
  description: string;
  /** the column naming a customer's cluster (CUSTCTL_CLUSTER_COLUMN; default `cluster`), read when the table has it */
  clusterColumn?: string;
  /** how the connection is secured (PostgreSQL): `TLS 1.3, certificate and host name verified …` */
  transport?: Transport;
}

export interface SqlContext {
  readonly db: SqlDriver;
  readonly kind: 'postgres' | 'embedded';
  readonly description: string;
  readonly clusterColumn: string;
  /** The row's columns to select (rows.ts columns(p)), with the cluster column when the table has it. */
  rowColumns(p?: string): Promise<string>;
  /** The table's columns may have changed (a migration): rowColumns asks the catalog again. */
  columnsChanged(): void;
  /** Typed errors pass through; anything else (a driver or SQL error) becomes an OperationError naming `what`. */
  guard<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /**
   * A row change and its audit row in ONE transaction: a crash (or a failed insert) can never
   * leave one without the other. `statusOf` tells the row's new status, null when nothing changed
   * (a compare-and-set that lost): then no audit row is written.
   */
  audited<T>(audit: AuditEntry | undefined, change: (db: SqlDriver) => Promise<T>, statusOf: (v: T) => string | null): Promise<T>;
  get(customerId: string): Promise<CustomerRow | null>;
  /** The same store over another driver (a transaction). */
  on(db: SqlDriver): CustomerStore;
}
