/** Step 2: delete the namespace (uid precondition) and wait until it is gone. */
import type { Kube, NamespaceInfo } from '../adapters/kube.js';
import { formatDuration } from '../domain/duration.js';
import { WaitTimeoutError } from '../errors.js';
import type { StepLog } from './types.js';

export async function deleteNamespaceAndWait(
  kube: Kube,
  namespace: string,
  seen: NamespaceInfo | null,
  timeoutMs: number,
  log: StepLog,
  signal: AbortSignal,
  /** hears how long the wait took, once the namespace is gone */
  onWaited?: (ms: number) => void,
): Promise<'deleted' | 'already-gone'> {
  if (!seen) {
    log('warn', 'Namespace not found, continuing with database update', { namespace });
    return 'already-gone';
  }
  log('info', 'Deleting Kubernetes namespace', { namespace, uid: seen.uid, timeout: formatDuration(timeoutMs) });
  const r = await kube.deleteNamespace(namespace, seen.uid, signal);
  if (r === 'not-found') {
    log('warn', 'Namespace not found, continuing with database update', { namespace });
    return 'already-gone';
  }
  const started = Date.now();
  // the pods and PVCs go now, not at the namespace controller's first pass 5 s from now
  await kube.hastenNamespaceDeletion?.(namespace, signal);
  const progress = remainingProgress(kube, namespace, log, signal);
  const waited = await kube.waitNamespaceGone(namespace, timeoutMs, signal).finally(progress.stop);
  if (waited === 'timeout') throw await diagnose(kube, namespace, timeoutMs, signal);
  onWaited?.(Date.now() - started);
  log('ok', 'Namespace deleted successfully', { namespace, waited: formatDuration(Date.now() - started) });
  return 'deleted';
}

/** A namespace still there after this long gets a progress line: what it still holds, by kind. */
export const PROGRESS_AFTER_MS = 15_000;
/** Then every so often, counting only the kinds that still had objects. */
export const PROGRESS_EVERY_MS = 10_000;

/** `6000 configmaps, 2000 widgets.example.com` */
export function remainingText(counts: ReadonlyArray<{ resource: string; count: number }>): string {
  return [...counts].sort((a, b) => b.count - a.count || a.resource.localeCompare(b.resource)).map((c) => `${c.count} ${c.resource}`).join(', ');
}

/**
 * While a large namespace terminates (the namespace controller reports nothing while it deletes a
 * kind's objects), what it still holds is counted — one small request per kind, from the server's
 * own count (remainingItemCount), the kinds already empty left out after the first round — and
 * logged, so that the operator sees it move. A namespace gone within PROGRESS_AFTER_MS (most of
 * them) costs nothing.
 */
function remainingProgress(kube: Kube, namespace: string, log: StepLog, signal: AbortSignal): { stop: () => void } {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  let only: Set<string> | undefined;
  let last = '';
  const round = async (): Promise<void> => {
    try {
      const counts = (await kube.countNamespaceObjects(namespace, ac.signal, { finalizers: false, ...(only ? { only } : {}) })).filter((c) => c.count > 0);
      if (ac.signal.aborted) return;
      only = new Set(counts.map((c) => c.resource));
      const text = remainingText(counts);
      if (text && text !== last) log('info', 'Namespace terminating', { namespace, remaining: text, total: counts.reduce((n, c) => n + c.count, 0) });
      last = text;
      if (counts.length === 0) return;
    } catch {
      if (ac.signal.aborted) return;
      // a failed count is only a missed progress line
    }
    timer = setTimeout(() => void round(), PROGRESS_EVERY_MS);
    timer.unref();
  };
  timer = setTimeout(() => void round(), PROGRESS_AFTER_MS);
  timer.unref();
  return {
    stop() {
      clearTimeout(timer);
      ac.abort();
      signal.removeEventListener('abort', onAbort);
    },
  };
}

/** Why the namespace is still there: its conditions, its finalizers, and what still holds objects. */
async function diagnose(kube: Kube, namespace: string, timeoutMs: number, signal: AbortSignal): Promise<WaitTimeoutError> {
  const details: string[] = [];
  try {
    const ns = await kube.getNamespace(namespace, signal);
    if (!ns) return new WaitTimeoutError(`namespace ${namespace} went away just after the ${formatDuration(timeoutMs)} timeout`);
    details.push(`phase: ${ns.phase}${ns.deletionTimestamp ? ` (deletion requested ${ns.deletionTimestamp})` : ''}`);
    for (const c of ns.conditions.filter((c) => c.status === 'True')) {
      details.push(`condition ${c.type}: ${c.message ?? c.reason ?? ''}`.trimEnd());
    }
    if (ns.finalizers.length) details.push(`spec.finalizers: ${ns.finalizers.join(', ')}`);
    const remaining = await kube.countNamespaceObjects(namespace, signal);
    for (const r of remaining) {
      details.push(`still holds ${r.count} ${r.resource}${r.finalizers.length ? ` (finalizers: ${r.finalizers.join(', ')})` : ''}`);
    }
    if (ns.conditions.some((c) => c.type === 'NamespaceDeletionDiscoveryFailure' && c.status === 'True')) {
      details.push('An aggregated API is unavailable: fix or remove that APIService; removing finalizers would not help.');
    }
  } catch (e) {
    details.push(`(diagnosis incomplete: ${e instanceof Error ? e.message : String(e)})`);
  }
  details.push(`Inspect with: kubectl get namespace ${namespace} -o yaml. custctl never removes finalizers itself.`);
  return new WaitTimeoutError(`namespace ${namespace} still exists after waiting ${formatDuration(timeoutMs)}`, details);
}
