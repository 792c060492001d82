/**
 * Step 0: the backup (`--backup URL`, CUSTCTL_BACKUP_URL), before Helm: written, read back and
 * verified before anything is deleted. A failure is a BackupError, which hands the row back
 * unchanged (src/pipeline/run.ts). Progress 5 (recorded only when a backup was written) marks it done, so a later attempt of the same job
 * (after something was deleted) never writes a second, partial backup.
 */
import { openBackupTarget } from '../../adapters/backup-target.js';
import { writeBackup } from '../backup.js';
import type { Step } from '../step.js';

export const BACKUP_PROGRESS = 5;

export const backupStep: Step = {
  name: 'backup',
  // progress 5 only when a backup was written (recorded by the step itself, below)
  cluster: true,
  simulatedAs: 'Backup',
  applies: (ctx) => Boolean(ctx.job.opts.backupUrl),
  shownAt: (job) => (job.opts.backupUrl ? BACKUP_PROGRESS : undefined),
  async run(ctx) {
    const url = ctx.job.opts.backupUrl;
    if (!url) return;
    if (ctx.job.progress >= BACKUP_PROGRESS) {
      ctx.log('info', 'Backup already written and verified by an earlier attempt of this job', { url });
      return;
    }
    const c = ctx.cluster!;
    const insp = ctx.inspection!;
    ctx.result.backup = await writeBackup({
      kube: c.kube,
      target: c.target,
      namespace: ctx.namespace,
      row: insp.row,
      releases: insp.releases.map((r) => r.name),
      rbac: insp.rbac.owned.map((o) => ({ kind: o.kind, name: o.name })),
      openTarget: c.backups ?? ((u) => openBackupTarget(u, {})),
      url,
      now: new Date(ctx.now?.() ?? Date.now()),
      log: ctx.log,
      signal: ctx.signal,
      ...(ctx.result.volumeSnapshots ? { volumeSnapshots: ctx.result.volumeSnapshots } : {}),
      recipients: ctx.job.opts.backupRecipients ?? [],
    });
    await ctx.progress?.(BACKUP_PROGRESS);
  },
};
