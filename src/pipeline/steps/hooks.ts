/**
 * The deletion hooks' two points as steps: `before` (after the snapshots and the backup, before
 * billing and the cluster: a 4xx refuses with nothing deleted and the row handed back) and
 * `after-cluster` (after the cluster part, before the row). Each records its own progress once
 * passed, so a later attempt of the job does not ask again (src/domain/hooks.ts).
 */
import { endpointsAt, HOOK_POINT_INFO, type HookPoint } from '../../domain/hooks.js';
import { hookCallOf, passHookPoint } from '../hooks.js';
import type { Step } from '../step.js';

function hookStep(point: HookPoint): Step {
  return {
    name: `hooks-${point}`,
    // an outside effect: skipped in a simulated run (and said so)
    cluster: false,
    outside: true,
    simulatedAs: `The ${point} hooks (${HOOK_POINT_INFO[point].when})`,
    applies: (ctx) => endpointsAt(ctx.outside?.hooks?.endpoints ?? [], point).length > 0,
    async run(ctx) {
      const hooks = ctx.outside?.hooks;
      if (!hooks) return;
      const r = await passHookPoint(hooks, hookCallOf(ctx, point, ctx.attempt ?? 1));
      (ctx.result.hooks ??= []).push(r);
      if (r.outcome === 'continued') await ctx.progress?.(HOOK_POINT_INFO[point].progress);
    },
  };
}

export const beforeHooksStep = hookStep('before');
export const afterClusterHooksStep = hookStep('after-cluster');
