/**
 * Helm: uninstall through its CLI (node:child_process); the release list and manifests from helm's
 * release Secrets through the API server when helm uses its default Secret driver, else from the
 * CLI too. The implementation lives in helm-cli.ts (and helm-storage.ts).
 */

export interface HelmRelease {
  name: string;
  namespace: string;
  /** deployed, failed, pending-install, uninstalling, ... */
  status: string;
  chart: string;
  revision: string;
}

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  name: string;
  /** as written in the manifest, if any */
  namespace?: string;
}

export interface UninstallOptions {
  /**
   * The release came from listReleases moments ago: skip the `helm history` probe that tells
   * "already gone" apart (one helm process less per release; a release that vanished in between
   * is then reported as uninstalled).
   */
  justListed?: boolean;
}

export interface Helm {
  /**
   * Starts `helm list` for the namespace and `helm get manifest` of its likely release at once,
   * so that the next listReleases / getManifestObjects of them (within a few seconds, once each)
   * answer from these reads instead of waiting for new ones. The list stays the authority: a
   * prefetched manifest is used only for a release the list names.
   */
  readAhead?(namespace: string, likelyRelease: string): void;
  /**
   * Every release in the namespace in any state (pending-install and uninstalling included): helm 4
   * dropped `list -a`, so the state flags are spelled out (`--deployed --failed --pending …`).
   */
  listReleases(namespace: string, signal?: AbortSignal): Promise<HelmRelease[]>;
  /** `helm get manifest NAME -n NS`, parsed into the objects it holds. */
  getManifestObjects(release: string, namespace: string, signal?: AbortSignal): Promise<ManifestObject[]>;
  /**
   * `helm uninstall NAME -n NS --timeout T --ignore-not-found --kubeconfig K --kube-context C`
   * (helm's default background cascade, no --wait: the namespace wait that follows is the proof
   * that the objects are gone). Resolves 'not-found' when helm says the release is gone.
   */
  uninstall(release: string, namespace: string, timeoutMs: number, signal?: AbortSignal, opts?: UninstallOptions): Promise<'uninstalled' | 'not-found'>;
}
