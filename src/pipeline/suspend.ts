/**
 * Soft delete: suspending a customer's instance while its deletion waits for its time, and
 * restoring it exactly when the deletion is cancelled. Nothing of the data is touched: the
 * Deployments and StatefulSets in the namespace are scaled to 0 with the count they had kept in
 * an annotation, the CronJobs suspended with their previous `suspend` kept likewise. Both
 * directions are idempotent (a second suspend keeps the first count; a restore of an object
 * without the annotation leaves it alone), and every patch carries the object's resourceVersion,
 * so a concurrent change (billing redeploying) is re-read, never overwritten blindly.
 */
import type { Kube, Workload } from '../adapters/kube.js';
import { ConflictError } from '../errors.js';

/** The replica count (Deployment, StatefulSet) or `suspend` value (CronJob) before the suspension. */
export const SUSPENDED_ANNOTATION = 'custctl.io/suspended-from';

export interface SuspendChange {
  kind: Workload['kind'];
  name: string;
  /** replicas, or the CronJob's suspend, before → after */
  from: string;
  to: string;
}

/** How many times a patch that lost a race (409) is re-read and tried again. */
const TRIES = 3;

async function eachWorkload(
  kube: Kube,
  namespace: string,
  signal: AbortSignal | undefined,
  change: (w: Workload) => { patch: Record<string, unknown>; from: string; to: string } | null,
): Promise<SuspendChange[]> {
  const done: SuspendChange[] = [];
  let pending = await kube.listWorkloads(namespace, signal);
  for (let tryNo = 1; pending.length > 0; tryNo++) {
    const conflicted: Workload[] = [];
    for (const w of pending) {
      const c = change(w);
      if (!c) continue;
      try {
        if ((await kube.patchWorkload(namespace, w, c.patch, signal)) === 'patched') done.push({ kind: w.kind, name: w.name, from: c.from, to: c.to });
      } catch (e) {
        if (!(e instanceof ConflictError) || tryNo >= TRIES) throw e;
        conflicted.push(w);
      }
    }
    if (conflicted.length === 0) break;
    const again = await kube.listWorkloads(namespace, signal);
    pending = again.filter((w) => conflicted.some((c) => c.kind === w.kind && c.name === w.name));
  }
  return done;
}

/** Scales every Deployment and StatefulSet of the namespace to 0 and suspends its CronJobs. */
export function suspendInstance(kube: Kube, namespace: string, signal?: AbortSignal): Promise<SuspendChange[]> {
  return eachWorkload(kube, namespace, signal, (w) => {
    const kept = w.annotations[SUSPENDED_ANNOTATION];
    if (w.kind === 'CronJob') {
      if (kept !== undefined && w.suspend === true) return null; // already suspended by us
      const from = kept ?? String(w.suspend === true);
      return { patch: { metadata: { annotations: { [SUSPENDED_ANNOTATION]: from } }, spec: { suspend: true } }, from, to: 'true' };
    }
    if (kept !== undefined && w.replicas === 0) return null;
    const from = kept ?? String(w.replicas ?? 1);
    return { patch: { metadata: { annotations: { [SUSPENDED_ANNOTATION]: from } }, spec: { replicas: 0 } }, from, to: '0' };
  });
}

/** Puts back what suspendInstance kept: replicas and `suspend` exactly as they were; the annotation goes. */
export function restoreInstance(kube: Kube, namespace: string, signal?: AbortSignal): Promise<SuspendChange[]> {
  return eachWorkload(kube, namespace, signal, (w) => {
    const kept = w.annotations[SUSPENDED_ANNOTATION];
    if (kept === undefined) return null;
    const annotations = { [SUSPENDED_ANNOTATION]: null };
    if (w.kind === 'CronJob') return { patch: { metadata: { annotations }, spec: { suspend: kept === 'true' } }, from: 'true', to: kept };
    const replicas = /^\d+$/.test(kept) ? Number(kept) : 1;
    return { patch: { metadata: { annotations }, spec: { replicas } }, from: String(w.replicas ?? 0), to: String(replicas) };
  });
}
