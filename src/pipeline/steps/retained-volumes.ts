/** Report (no change): the PersistentVolumes whose reclaim policy keeps them, and their data, after the namespace. */
import type { Step } from '../step.js';

export const retainedVolumesStep: Step = {
  name: 'retained-volumes',
  cluster: true,
  async run(ctx) {
    ctx.result.retainedVolumes = (ctx.pvcs ?? [])
      .filter((p) => p.volumeName && p.reclaimPolicy && p.reclaimPolicy !== 'Delete')
      .map((p) => ({ pvc: p.name, volume: p.volumeName as string, reclaimPolicy: p.reclaimPolicy as string }));
    for (const v of ctx.result.retainedVolumes) {
      ctx.log('warn', 'PersistentVolume stays behind (reclaim policy keeps its data)', { pv: v.volume, pvc: v.pvc, reclaimPolicy: v.reclaimPolicy });
    }
  },
};
