/**
 * What the local jobs client needs to plan and run jobs: the pipeline, the job kinds, the runner.
 * Loaded on first use (src/jobs/local-client.ts), so that reading jobs (`status job`, `jobs list`)
 * starts as light as `--version`.
 */
export { inspect, refuseClusterScoped, refuseForeignRbac, refuseSuspiciousEmptiness } from '../pipeline/inspect.js';
export { coverVolumes, planView } from '../pipeline/plan.js';
export { outsidePlan } from '../pipeline/outside.js';
export { checkSnapshotClass, snapshotPlan } from '../pipeline/volume-snapshots.js';
export { runJobAttached } from './runner.js';
export { retryJob } from './actions.js';
export { cancel } from './cancel.js';
export { runAttached } from './attached.js';
export { cliRequester, jobsEnv, LEASE_MS, RETENTION_MS } from './env.js';
export { followJob } from './follow.js';
export { cleanupReportOf, newCleanupJob, scanFleet, scanOrphans } from './kinds/cleanup-rbac.js';
export { backupOption, jobOptions, snapshotOption, statusConflict, submitDeletion } from './kinds/delete.js';
export { makeProcessor, settle } from './kinds/index.js';
export { eventsOf, runnerEvents } from './lifecycle.js';
export { workerEvents } from './worker.js';
export { submitRestore } from './kinds/restore.js';
export { loadBackup } from '../pipeline/backup.js';
export { admitRestore, refuseRestore, restorePlan } from '../pipeline/restore.js';
export { openBackupTarget } from '../adapters/backup-target.js';
export { loadIdentities } from '../adapters/backup-age.js';
