/** The deletion pipeline, in order. A new step: one file in this folder, one line here. */
import type { Step } from '../step.js';
import { backupStep } from './backup.js';
import { billingStep } from './billing.js';
import { afterClusterHooksStep, beforeHooksStep } from './hooks.js';
import { helmUninstallStep } from './helm-uninstall.js';
import { namespaceStep } from './namespace.js';
import { rbacStep } from './rbac.js';
import { retainedVolumesStep } from './retained-volumes.js';
import { rowStep } from './row.js';
import { volumeSnapshotsStep } from './volume-snapshots.js';

export const DELETE_STEPS: readonly Step[] = [
  volumeSnapshotsStep, // before the backup (its manifest records them) and before anything is deleted
  backupStep, // before anything is deleted; a failure hands the row back
  beforeHooksStep, // before anything is deleted: a 4xx refuses, the row handed back
  billingStep, // before the cluster part: no charge follows a deletion that started
  helmUninstallStep,
  namespaceStep,
  rbacStep, // besidePrevious: while the namespace finalizes
  retainedVolumesStep,
  afterClusterHooksStep,
  rowStep,
];
