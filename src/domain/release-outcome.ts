/**
 * Whether a release is gone after a deletion: uninstalled by helm, or removed with its namespace
 * (no helm process: its objects and records went with the namespace). What the audit row, the
 * webhook and the certificate count as deleted, one rule for the three.
 */
export function releaseRemoved(outcome: string): boolean {
  return outcome === 'uninstalled' || outcome === 'removed-with-namespace';
}
