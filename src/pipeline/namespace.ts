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
  const waited = await kube.waitNamespaceGone(namespace, timeoutMs, signal);
  if (waited === 'timeout') throw await diagnose(kube, namespace, timeoutMs, signal);
  log('ok', 'Namespace deleted successfully', { namespace, waited: formatDuration(Date.now() - started) });
  return 'deleted';
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
