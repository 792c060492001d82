/** Step 1: uninstall every Helm release stored in the customer namespace. */
import type { Helm } from '../adapters/helm.js';
import type { ReleaseOutcome, ReleasePlan, StepLog } from './types.js';

export async function uninstallReleases(
  helm: Helm,
  namespace: string,
  releases: readonly ReleasePlan[],
  timeoutMs: number,
  log: StepLog,
  signal: AbortSignal,
): Promise<Array<{ name: string; outcome: ReleaseOutcome }>> {
  if (releases.length === 0) {
    log('warn', 'Helm release not found, continuing with namespace deletion', { namespace });
    return [];
  }
  const out: Array<{ name: string; outcome: ReleaseOutcome }> = [];
  for (const r of releases) {
    signal.throwIfAborted();
    log('info', 'Uninstalling Helm release', { releaseName: r.name, namespace, status: r.status });
    const outcome = await helm.uninstall(r.name, namespace, timeoutMs, signal, { justListed: true });
    if (outcome === 'not-found') log('warn', 'Helm release not found (already uninstalled)', { releaseName: r.name });
    else log('ok', 'Helm release uninstalled', { releaseName: r.name });
    out.push({ name: r.name, outcome });
  }
  return out;
}
