/**
 * Helm: uninstall through its CLI (node:child_process); the release list, manifests and hooks from
 * helm's release records through the API server when helm keeps them in the namespace (its
 * default Secret driver, or ConfigMaps), else from the CLI too. The implementation lives in
 * helm-cli.ts (helm-storage.ts, helm-manifest.ts).
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

/** A document of a release's manifest that could not be read as Kubernetes objects. */
export interface UnreadableDocument {
  /** 1-based position among the manifest's documents */
  index: number;
  /** the template it came from (helm's `# Source:` line), when written */
  source?: string;
  reason: string;
}

/** What a release holds and does on uninstall, as its latest record says. */
export interface ReleaseContents {
  objects: ManifestObject[];
  /** documents that could not be interpreted (their objects unknown: treated as possibly cluster-scoped) */
  unreadable: UnreadableDocument[];
  /** the hooks helm runs on uninstall (pre-delete, post-delete); null: not known (records read through the CLI) */
  deleteHooks: Array<{ kind: string; name: string; events: string[] }> | null;
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
   * Where helm keeps release records: in the release's namespace (its Secret or ConfigMap driver),
   * so that deleting the namespace deletes them too; false for a driver outside it (sql, memory).
   */
  readonly recordsInNamespace: boolean;
  /** Checks that the helm binary can be run (no process started): before a plan that needs it. */
  ensureAvailable(signal?: AbortSignal): Promise<void>;
  /**
   * Starts `helm list` for the namespace and `helm get manifest` of its likely release at once,
   * so that the next listReleases / readRelease of them (within a few seconds, once each)
   * answer from these reads instead of waiting for new ones. The list stays the authority: a
   * prefetched manifest is used only for a release the list names.
   */
  readAhead?(namespace: string, likelyRelease: string): void;
  /**
   * Every release in the namespace in any state (pending-install and uninstalling included): helm 4
   * dropped `list -a`, so the state flags are spelled out (`--deployed --failed --pending …`).
   */
  listReleases(namespace: string, signal?: AbortSignal): Promise<HelmRelease[]>;
  /** `helm get manifest NAME -n NS` read as helm reads it, and the release's delete hooks (empty for a release that is gone). */
  readRelease(release: string, namespace: string, signal?: AbortSignal): Promise<ReleaseContents>;
  /**
   * `helm uninstall NAME -n NS --timeout T --ignore-not-found --kubeconfig K --kube-context C`
   * (helm's default background cascade, no --wait: the namespace wait that follows is the proof
   * that the objects are gone). Resolves 'not-found' when helm says the release is gone.
   */
  uninstall(release: string, namespace: string, timeoutMs: number, signal?: AbortSignal, opts?: UninstallOptions): Promise<'uninstalled' | 'not-found'>;
}
