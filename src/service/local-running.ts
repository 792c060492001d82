/**
 * What the local jobs client needs to plan and run jobs: the pipeline, the job kinds, the runner.
 * Loaded on first use (src/service/local.ts), so that reading jobs (`status job`, `jobs list`)
 * starts as light as `--version`.
 */
export { inspect } from '../pipeline/inspect.js';
export { runJobAttached } from '../jobs/runner.js';
export { retryJob } from '../jobs/actions.js';
export { cancel } from '../jobs/cancel.js';
export { runAttached } from './attached.js';
export { cliRequester, jobsEnv, JOB_TTL_MS, LEASE_MS } from '../jobs/env.js';
export { followJob } from '../jobs/follow.js';
export { cleanupReportOf, newCleanupJob, scanFleet } from '../jobs/kinds/cleanup-rbac.js';
export { jobOptions, planTimeouts, statusConflict, submitDeletion } from '../jobs/kinds/delete.js';
export { makeProcessor, settle } from '../jobs/kinds/index.js';
export { eventsOf, runnerEvents } from '../jobs/lifecycle.js';
export { workerEvents } from '../jobs/worker.js';
export { submitRestore } from '../jobs/kinds/restore.js';
export { loadBackup } from '../pipeline/backup.js';
export { admitRestore, refuseRestore, restorePlan } from '../pipeline/restore.js';
export { ownGrantOf } from '../domain/permissions.js';
export { parseCustomerId } from '../domain/customer-id.js';
export { DELETABLE_STATUSES } from '../adapters/store.js';
export { openBackupTarget } from '../adapters/backup-target.js';
export { singleCluster } from '../adapters/clusters.js';
export { loadIdentities } from '../adapters/backup-age.js';
export { planOf } from './plan.js';
export { planDeletion } from './plan-deletion.js';
