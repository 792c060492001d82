/**
 * The customer store: one interface over PostgreSQL (`pg`) and embedded PostgreSQL (PGlite),
 * with the same SQL for both. Implementations load their driver lazily (see openStore).
 */

export const DEPLOYMENT_STATUSES = ['pending', 'deploying', 'deployed', 'deleting', 'deletion_failed', 'failed'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** A deletion is accepted only from these (plus `deploying` with --force). */
export const DELETABLE_STATUSES: readonly DeploymentStatus[] = ['deployed', 'failed', 'deletion_failed', 'pending'];

export interface CustomerRow {
  id: number;
  customerId: string;
  email: string;
  companyName: string;
  deploymentStatus: DeploymentStatus;
  instanceNamespace: string;
  instanceUrl: string;
  /** the job that holds (or last held) the deletion */
  deletionJobId: string | null;
  /** the status the row had before the deletion claimed it (restored by `jobs cancel`) */
  previousStatus: DeploymentStatus | null;
  createdAt: string;
  updatedAt: string;
}

export interface NewCustomer {
  customerId: string;
  email: string;
  companyName: string;
  deploymentStatus: DeploymentStatus;
  instanceNamespace: string;
  instanceUrl: string;
}

export type ClaimResult =
  | { ok: true; before: CustomerRow; after: CustomerRow }
  | { ok: false; reason: 'not-found' }
  | { ok: false; reason: 'deploying' | 'deleting' | 'status'; row: CustomerRow };

export interface CustomerStore {
  /** What stderr shows as "database": `postgres://user@host:port/db` (never a password) or `embedded (<dir>)`. */
  readonly description: string;
  readonly kind: 'postgres' | 'embedded';

  get(customerId: string): Promise<CustomerRow | null>;
  list(): Promise<CustomerRow[]>;
  /** Inserts a row; a duplicate customer_id is a ConflictError. */
  add(row: NewCustomer): Promise<CustomerRow>;

  /**
   * The one compare-and-set that starts a deletion: from DELETABLE_STATUSES (or `deploying` when
   * `force`) to `deleting`, recording `jobId` in deletion_job_id and the old status in previous_status.
   * `expectJobId` (retry/resume of an existing job): also accepted when the row is in
   * `deletion_failed` or `deleting` with deletion_job_id = expectJobId.
   */
  claimForDeletion(customerId: string, jobId: string, opts: { force: boolean; expectJobId?: string }): Promise<ClaimResult>;
  /** `deployment_status='deleting' AND deletion_job_id=jobId` */
  isOwnedBy(customerId: string, jobId: string): Promise<boolean>;
  /** Step 4, compare-and-set on ownership: → pending, namespace and URL cleared. False when not owned. */
  completeDeletion(customerId: string, jobId: string): Promise<boolean>;
  /** After the last failed attempt, compare-and-set on ownership: → deletion_failed. */
  failDeletion(customerId: string, jobId: string): Promise<boolean>;
  /** `jobs cancel`: compare-and-set on ownership, back to previous_status. */
  releaseDeletion(customerId: string, jobId: string): Promise<boolean>;

  /** `restore`, compare-and-set from `pending`: → deployed with the namespace and URL. False when the row is not pending. */
  completeRestore(customerId: string, namespace: string, url: string): Promise<boolean>;

  /** The database server's own version string (`select version()`). For `version` and `doctor`. */
  serverVersion?(): Promise<string>;
  /** Read-only check that the schema has everything this version needs; lists what is missing. */
  checkSchema(): Promise<string[]>;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Can the store be reached? (readiness) */
  ping(): Promise<void>;
  close(): Promise<void>;
}
