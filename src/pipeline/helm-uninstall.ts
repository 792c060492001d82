/**
 * Step 1: every Helm release stored in the customer namespace is removed: by `helm uninstall` where
 * helm adds something (src/pipeline/helm-need.ts), otherwise with the namespace in step 2 (no helm
 * process; the result says so per release).
 */
import type { Helm } from '../adapters/helm.js';
import type { DeleteResult, ReleasePlan, StepLog } from './types.js';

export async function uninstallReleases(
  helm: Helm,
  namespace: string,
  releases: readonly ReleasePlan[],
  timeoutMs: number,
  log: StepLog,
  signal: AbortSignal,
): Promise<DeleteResult['releases']> {
  if (releases.length === 0) {
    log('warn', 'Helm release not found, continuing with namespace deletion', { namespace });
    return [];
  }
  const out: DeleteResult['releases'] = [];
  for (const r of releases) {
    signal.throwIfAborted();
    if (r.removal.by === 'namespace') {
      log('info', 'Helm release goes with the namespace: no helm process', { releaseName: r.name, namespace, status: r.status, why: r.removal.why });
      out.push({ name: r.name, outcome: 'removed-with-namespace', why: r.removal.why });
      continue;
    }
    log('info', 'Uninstalling Helm release', { releaseName: r.name, namespace, status: r.status, why: r.removal.why });
    const outcome = await helm.uninstall(r.name, namespace, timeoutMs, signal, { justListed: true });
    if (outcome === 'not-found') log('warn', 'Helm release not found (already uninstalled)', { releaseName: r.name });
    else log('ok', 'Helm release uninstalled', { releaseName: r.name });
    out.push({ name: r.name, outcome, why: r.removal.why });
  }
  return out;
}
