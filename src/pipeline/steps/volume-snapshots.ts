/**
 * Step 0a: volume snapshots (`--snapshot-volumes CLASS`, CUSTCTL_SNAPSHOT_CLASS), before the backup
 * (which records them in its manifest) and before Helm: one VolumeSnapshot per bound PVC, waited for
 * until ready. A failure is a BackupError, which hands the row back unchanged (src/pipeline/run.ts).
 * Idempotent: a retried attempt of the same job finds its snapshots by name and label; once they
 * were all ready (progress 3 recorded) a later attempt only re-reads what is still there and never
 * fails on them (Helm may have started).
 */
import { DEFAULT_SNAPSHOT_TIMEOUT_MS } from '../../domain/volume-snapshots.js';
import { rereadVolumeSnapshots, takeVolumeSnapshots } from '../volume-snapshots.js';
import type { Step } from '../step.js';

/** Recorded once the snapshots are ready (below the backup's 5): a later attempt of the job only re-reads them. */
export const SNAPSHOT_PROGRESS = 3;

export const volumeSnapshotsStep: Step = {
  name: 'volume-snapshots',
  cluster: true,
  simulatedAs: 'Volume snapshots',
  applies: (ctx) => Boolean(ctx.job.opts.snapshotClass),
  async run(ctx) {
    const className = ctx.job.opts.snapshotClass;
    if (!className) return;
    const c = ctx.cluster!;
    if (ctx.job.progress >= SNAPSHOT_PROGRESS) {
      ctx.log('info', 'Volume snapshots were taken by an earlier attempt of this job (its log has them); re-reading those still there', {});
      ctx.result.volumeSnapshots = await rereadVolumeSnapshots(c.kube, ctx.namespace, ctx.job.id, ctx.log, ctx.signal);
      return;
    }
    ctx.result.volumeSnapshots = await takeVolumeSnapshots({
      kube: c.kube,
      namespace: ctx.namespace,
      customerId: ctx.customer.id,
      jobId: ctx.job.id,
      className,
      pvcs: ctx.pvcs ?? [],
      timeoutMs: ctx.job.opts.snapshotTimeoutMs ?? DEFAULT_SNAPSHOT_TIMEOUT_MS,
      log: ctx.log,
      signal: ctx.signal,
      ...(ctx.now ? { now: ctx.now } : {}),
    });
    await ctx.progress?.(SNAPSHOT_PROGRESS);
  },
};
