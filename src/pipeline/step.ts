/**
 * A pipeline step as data. `steps/index.ts` lists them in order; `run.ts` runs the list (and the
 * simulated run is derived from the same list). A new step is one file in steps/ plus one line
 * in that list.
 */
import type { ClusterTarget } from '../adapters/kube.js';
import type { PvcInfo } from '../adapters/kube.js';
import type { CustomerStore } from '../adapters/store.js';
import type { CustomerId } from '../domain/customer-id.js';
import type { Job } from '../domain/job.js';
import type { ErrorName } from '../domain/errors.js';
import type { DeleteResult, Inspection, PipelineEnv, StepLog } from './types.js';
import type { OutsideEnv } from './outside.js';

/** What a step works with: the attempt, what was inspected at its start, and the result it fills in. */
export interface StepContext {
  job: Job;
  customer: CustomerId;
  namespace: string;
  store: CustomerStore;
  signal: AbortSignal;
  log: StepLog;
  result: DeleteResult;
  /** step 2's wait and helm's --timeout, ms */
  timeoutMs: number;
  /** the attempt, 1-based (the deletion hooks send it) */
  attempt?: number;
  /** billing and the deletion hooks (absent: none configured) */
  outside?: OutsideEnv;
  /** absent in a simulated run (no cluster is contacted) */
  cluster?: Omit<PipelineEnv, 'store'> & { target: ClusterTarget };
  inspection?: Inspection;
  pvcs?: PvcInfo[];
  /** cluster RBAC the Helm releases removed themselves (`Kind/name`) */
  removedByHelm: Set<string>;
  /** records the job's progress now (a step that must mark its own end before the next starts) */
  progress?: (n: number) => Promise<void>;
  /** the pipeline's clock (ms); default Date.now */
  now?: () => number;
  /** set by a step that found the job no longer owns the customer: the run stops, touching nothing more */
  superseded?: string;
  /** hears how long each step took (metrics); absent: steps are not timed */
  timing?: { now: () => number; report: (t: StepTiming) => void };
}

/** How one step went, as `ctx.timing` hears it (custctl_step_duration_seconds). */
export interface StepTiming {
  step: string;
  seconds: number;
  ok: boolean;
  /** a failed step: the error's name (`timeout`: step 2 waited longer than --timeout) */
  errorName?: ErrorName;
  /** what step 2 did to the namespace, when the step is done */
  namespaceOutcome?: DeleteResult['namespaceOutcome'];
  /** the step's time is a wait for the namespace to go (customer_namespace_deletion_duration_seconds when it went or timed out) */
  waitedForNamespace?: boolean;
}

export interface Step {
  name: string;
  /** the job's progress once this step is done (none: it records no progress) */
  progress?: number;
  /** needs the cluster: in a simulated run it is skipped (with `simulatedAs`, a log line says so) */
  cluster: boolean;
  /** changes something outside the cluster and the row (billing, hooks): skipped in a simulated run like a cluster step, and said so */
  outside?: boolean;
  /** in a simulated run, the line `Simulated: <simulatedAs> skipped` */
  simulatedAs?: string;
  /** runs at the same time as the step before it (no order is needed between them) */
  besidePrevious?: boolean;
  /** false: this job asked for nothing this step does (`--backup` unset): not run, not timed, not logged */
  applies?(ctx: StepContext): boolean;
  run(ctx: StepContext): Promise<void>;
  /** what this step adds to its timing report, done or failed (the namespace step: that it waited for the namespace, and what it did to it) */
  report?(ctx: StepContext): Partial<StepTiming>;
  /**
   * The progress at which a job's page shows this step done, when it is not `progress` (a step
   * that records its own progress only for the jobs that ask for it); undefined: not shown.
   */
  shownAt?(job: Job): number | undefined;
}
