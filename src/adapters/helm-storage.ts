/**
 * Helm's release records, read where helm keeps them by default: one Secret per revision in the
 * release's namespace (helm's `pkg/storage/driver/secrets.go`), labelled `owner=helm`, `name`,
 * `version` and `status`, whose `release` key holds base64(gzip(JSON of the release)).
 *
 * Reading them through the API server is exactly what `helm list` and `helm get manifest` do
 * (both list the labelled Secrets and decode them), without starting two helm processes per
 * deletion before `helm uninstall` can begin. One request answers both, from one snapshot.
 * Only the Secret driver is read here: with HELM_DRIVER set to anything else (configmap, sql,
 * memory) the CLI is asked, as before (src/adapters/helm-cli.ts).
 */
import { gunzipSync } from 'node:zlib';
import { OperationError } from '../errors.js';
import type { HelmRelease } from './helm.js';

/** The label selector helm's Secret driver lists with. */
export const RELEASE_SELECTOR = 'owner=helm';

/** A release Secret as the API server returns it (only what is read). */
export interface ReleaseSecret {
  metadata?: { name?: string; labels?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

/** One revision of one release. */
export interface ReleaseRecord extends HelmRelease {
  /** the revision as a number, for ordering */
  version: number;
  /** the rendered manifest of this revision (`helm get manifest`) */
  manifest: string;
}

/** HELM_DRIVER names helm reads as its Secret driver (its default, when unset or empty). */
export function usesSecretDriver(env: Record<string, string | undefined>): boolean {
  const d = (env.HELM_DRIVER ?? '').trim().toLowerCase();
  return d === '' || d === 'secret' || d === 'secrets';
}

const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * The most a release record may inflate to. A Secret holds at most 1 MiB, and a release's JSON
 * compresses perhaps 10×; a record that inflates past this is not helm's (a decompression bomb
 * planted as a Secret, or in a restored archive) and cannot be decoded, with memory bounded.
 */
export const MAX_RELEASE_JSON_BYTES = 128 * 1024 * 1024;

/** Decodes one release Secret (helm's `decodeRelease`: base64, then gzip when it starts with gzip's magic). */
export function decodeReleaseSecret(s: ReleaseSecret, namespace: string): ReleaseRecord {
  const secretName = s.metadata?.name ?? '?';
  const encoded = s.data?.release;
  if (typeof encoded !== 'string') throw new OperationError(`Helm release record ${namespace}/${secretName} has no release data`);
  let release: Record<string, unknown>;
  try {
    // the API returns Secret data base64-encoded; helm's own value inside is base64 again
    const inner = Buffer.from(Buffer.from(encoded, 'base64').toString('latin1'), 'base64');
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
  };
}

/**
 * The latest revision of every release, whatever its state: what `helm list` with every state
 * filter prints (helm's `filterLatestReleases`), in name order as helm sorts it. A record that
 * cannot be decoded is passed over, as helm's Secret driver does in its List (it logs and goes on).
 */
export function latestRevisions(secrets: readonly ReleaseSecret[], namespace: string): ReleaseRecord[] {
  const latest = new Map<string, ReleaseRecord>();
  for (const s of secrets) {
    // helm's driver lists by label; a Secret of another type under the same label is not a release
    if (s.type !== undefined && s.type !== 'helm.sh/release.v1') continue;
    let r: ReleaseRecord;
    try {
      r = decodeReleaseSecret(s, namespace);
    } catch {
      continue;
    }
    const seen = latest.get(r.name);
    if (!seen || r.version > seen.version) latest.set(r.name, r);
  }
  return [...latest.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
