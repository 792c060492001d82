/**
 * What each job kind is, as facts the domain, the views and the server read without loading the
 * jobs layer: whether a job of the kind holds its customer's row, its label, what a webhook body
 * says it deleted, and how to start one anew. The behaviour of a kind (its attempt, what its end
 * means for its row, its audit rows, its retry guard) is src/jobs/kinds/. Generic code asks these
 * facts, never compares a job's name: a new kind is one entry here and one module there.
 */
import type { Job, JobName } from './job.js';
import { releaseRemoved } from './release-outcome.js';

/** What a deletion removed (the audit row's `deleted`: src/pipeline/steps/row.ts). */
export interface DeletedSummary {
  releases?: string[];
  objects?: Record<string, number>;
  rbac?: string[];
}

export interface KindFacts {
  /**
   * A deletion: the job holds its customer's row (`deleting`, deletion_job_id = the job) while it
   * runs. Such a job is retried only while the row still points at it, a cancel hands the row
   * back, it sends the customer events, counts in the deletion metrics, shows its steps, and
   * ends with a certificate.
   */
  holdsCustomerRow: boolean;
  /** what a person calls a job of this kind */
  label: string;
  /** what a webhook body says a job of this kind deleted (names and counts) */
  deleted(job: Job): DeletedSummary;
  /** the hint of a cancelled job, which is not retried: how to start it anew */
  startAnew(job: Job): string;
}

interface RbacEntry { kind: string; name: string }

function resultOf(job: Job): { deleted?: unknown; releases?: Array<{ name: string; outcome: string }>; rbac?: { deleted?: RbacEntry[] } } {
  return (typeof job.returnvalue === 'object' && job.returnvalue !== null ? job.returnvalue : {}) as ReturnType<typeof resultOf>;
}

const plainAnew = (job: Job): string => `Start it anew (custctl ${job.name}).`;

export const JOB_KINDS: Readonly<Record<JobName, KindFacts>> = {
  delete: {
    holdsCustomerRow: true,
    label: 'deletion',
    deleted: (job) => {
      // the pipeline's summary (the audit row's `deleted`); older results: their releases and RBAC
      const rv = resultOf(job);
      const s = (rv.deleted && typeof rv.deleted === 'object' && !Array.isArray(rv.deleted) ? rv.deleted : null) as DeletedSummary | null;
      return {
        releases: s?.releases ?? (rv.releases ?? []).filter((r) => releaseRemoved(r.outcome)).map((r) => r.name),
        objects: { ...(s?.objects ?? {}) },
        rbac: s?.rbac ?? (rv.rbac?.deleted ?? []).map((x) => `${x.kind}/${x.name}`),
      };
    },
    startAnew: (job) => (job.data.customerId ? `Start a new deletion with 'custctl delete ${job.data.customerId}'.` : plainAnew(job)),
  },
  'cleanup-rbac': {
    holdsCustomerRow: false,
    label: 'RBAC sweep',
    deleted: (job) => {
      // the sweep's report: the RBAC objects it deleted
      const rv = resultOf(job);
      return { releases: [], objects: {}, rbac: Array.isArray(rv.deleted) ? (rv.deleted as RbacEntry[]).map((x) => `${x.kind}/${x.name}`) : [] };
    },
    startAnew: plainAnew,
  },
  restore: {
    holdsCustomerRow: false,
    label: 'restore',
    deleted: () => ({ releases: [], objects: {}, rbac: [] }),
    startAnew: plainAnew,
  },
};

/** A name this custctl does not know (a journal written by a newer one): a job that holds nothing and deleted nothing. */
const UNKNOWN: KindFacts = { holdsCustomerRow: false, label: 'job', deleted: () => ({ releases: [], objects: {}, rbac: [] }), startAnew: plainAnew };

/** The facts of a job's kind, by its name. */
export function kindFacts(name: string): KindFacts {
  return (JOB_KINDS as Record<string, KindFacts | undefined>)[name] ?? UNKNOWN;
}
