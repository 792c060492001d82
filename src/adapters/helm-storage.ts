/**
 * Helm's release records, read where helm keeps them: one Secret (helm's default driver,
 * `pkg/storage/driver/secrets.go`) or one ConfigMap (HELM_DRIVER=configmap, `cfgmaps.go`) per
 * revision in the release's namespace, labelled `owner=helm`, `name`, `version` and `status`, whose
 * `release` key holds base64(gzip(JSON of the release)) (a Secret's data is base64 once more).
 *
 * Reading them through the API server is exactly what `helm list` and `helm get manifest` do
 * (both list the labelled records and decode them), without starting two helm processes per
 * deletion before `helm uninstall` can begin. One request answers both, from one snapshot, and
 * brings the release's hooks with it (which of them run on uninstall). With HELM_DRIVER set to
 * anything else (sql, memory) the records are not in the namespace and the CLI is asked
 * (src/adapters/helm-cli.ts).
 */
import { gunzipSync } from 'node:zlib';
import { OperationError } from '../errors.js';
import type { HelmRelease } from './helm.js';

/** The label selector helm's Secret driver lists with. */
export const RELEASE_SELECTOR = 'owner=helm';

/** A release Secret or ConfigMap as the API server returns it (only what is read). */
export interface ReleaseSecret {
  metadata?: { name?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

/** One hook of a release (`helm get hooks`): its object and the events it runs on. */
export interface ReleaseHook {
  kind: string;
  name: string;
  /** e.g. `pre-install`, `post-delete`, `test` */
  events: string[];
}

/** One revision of one release. */
export interface ReleaseRecord extends HelmRelease {
  /** the revision as a number, for ordering */
  version: number;
  /** the rendered manifest of this revision (`helm get manifest`); hooks are not in it */
  manifest: string;
  hooks: ReleaseHook[];
}

/** Where helm keeps release records in the release's namespace: `secrets` or `configmaps`; null for any other driver. */
export type RecordResource = 'secrets' | 'configmaps';

/** The namespace resource HELM_DRIVER keeps release records in (Secrets when unset or empty); null: not in the namespace (sql, memory). */
export function namespaceRecords(env: Record<string, string | undefined>): RecordResource | null {
  const d = (env.HELM_DRIVER ?? '').trim().toLowerCase();
  if (d === '' || d === 'secret' || d === 'secrets') return 'secrets';
  if (d === 'configmap' || d === 'configmaps') return 'configmaps';
  return null;
}

/** HELM_DRIVER names helm reads as its Secret driver (its default, when unset or empty). */
export function usesSecretDriver(env: Record<string, string | undefined>): boolean {
  return namespaceRecords(env) === 'secrets';
}

/** The events on which helm runs a hook while uninstalling. */
export const DELETE_HOOK_EVENTS = ['pre-delete', 'post-delete'] as const;

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * The most a release record may inflate to. A Secret holds at most 1 MiB, and a release's JSON
 * compresses perhaps 10×; a record that inflates past this is not helm's (a decompression bomb
 * planted as a Secret, or in a restored archive) and cannot be decoded, with memory bounded.
 */
export const MAX_RELEASE_JSON_BYTES = 128 * 1024 * 1024;

/**
 * Decodes one release record (helm's `decodeRelease`: base64, then gzip when it starts with gzip's
 * magic). A Secret's data comes base64-encoded by the API once more; a ConfigMap's does not.
 */
export function decodeReleaseSecret(s: ReleaseSecret, namespace: string, resource: RecordResource = 'secrets'): ReleaseRecord {
  const secretName = s.metadata?.name ?? '?';
  const encoded = s.data?.release;
  if (typeof encoded !== 'string') throw new OperationError(`Helm release record ${namespace}/${secretName} has no release data`);
  let release: Record<string, unknown>;
  try {
    const helmValue = resource === 'secrets' ? Buffer.from(encoded, 'base64').toString('latin1') : encoded;
    const inner = Buffer.from(helmValue, 'base64');
    const json = inner[0] === GZIP_MAGIC[0] && inner[1] === GZIP_MAGIC[1] ? gunzipSync(inner, { maxOutputLength: MAX_RELEASE_JSON_BYTES }) : inner;
    release = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new OperationError(`Helm release record ${namespace}/${secretName} cannot be decoded: ${e instanceof Error ? e.message : String(e)}`);
  }
  const info = (release.info ?? {}) as Record<string, unknown>;
  const chart = ((release.chart ?? {}) as Record<string, unknown>).metadata as Record<string, unknown> | undefined;
  const labels = s.metadata?.labels ?? {};
  const version = Number(release.version ?? labels.version);
  const name = String(release.name ?? labels.name ?? '');
  if (name === '' || !Number.isInteger(version)) throw new OperationError(`Helm release record ${namespace}/${secretName} names no release or revision`);
  return {
    name,
    namespace: String(release.namespace ?? namespace),
    // helm prints the status of the stored release (info.status); the label mirrors it
    status: String(info.status ?? labels.status ?? ''),
    // `helm list`'s chart column: name-version
    chart: chart ? `${String(chart.name ?? '')}-${String(chart.version ?? '')}` : '',
    revision: String(version),
    version,
    manifest: typeof release.manifest === 'string' ? release.manifest : '',
    hooks: hooksOf(release.hooks),
  };
}

function hooksOf(v: unknown): ReleaseHook[] {
  if (!Array.isArray(v)) return [];
  return v.filter((h): h is Record<string, unknown> => typeof h === 'object' && h !== null).map((h) => ({
    kind: typeof h.kind === 'string' ? h.kind : '',
    name: typeof h.name === 'string' ? h.name : '',
    events: Array.isArray(h.events) ? h.events.filter((e): e is string => typeof e === 'string') : [],
  }));
}

/**
 * The latest revision of every release, whatever its state: what `helm list` with every state
 * filter prints (helm's `filterLatestReleases`), in name order as helm sorts it. A record that
 * cannot be decoded is passed over, as helm's Secret driver does in its List (it logs and goes on).
 */
export function latestRevisions(secrets: readonly ReleaseSecret[], namespace: string, resource: RecordResource = 'secrets'): ReleaseRecord[] {
  const latest = new Map<string, ReleaseRecord>();
  for (const s of secrets) {
    // helm's driver lists by label; a Secret of another type under the same label is not a release
    if (resource === 'secrets' && s.type !== undefined && s.type !== 'helm.sh/release.v1') continue;
    let r: ReleaseRecord;
    try {
      r = decodeReleaseSecret(s, namespace, resource);
    } catch {
      continue;
    }
    const seen = latest.get(r.name);
    if (!seen || r.version > seen.version) latest.set(r.name, r);
  }
  return [...latest.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
