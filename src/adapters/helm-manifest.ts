/**
 * A release's rendered manifest, read as helm reads it (helm's `releaseutil.SplitManifests`, then
 * sigs.k8s.io/yaml per document), so that a release helm installed is never unreadable here:
 *
 * - documents are split where helm splits them: a line starting with `---` (trailing spaces or a
 *   comment after it allowed), not by a YAML stream parser; whitespace-only documents are skipped,
 *   comment-only documents hold no object;
 * - a key written twice in one mapping is not an error: the last value wins, as in helm's YAML
 *   decoder (what helm sent to the API server is the last value, so that is what is checked);
 * - `kind: List` (and `*List`) documents are opened, as helm's resource builder does.
 *
 * js-yaml reads first (fast; on the path to step 1). A document it refuses is read again by `yaml`
 * in YAML 1.1 mode without strictness (unknown tags, old-style booleans), which is closer to helm's
 * go-yaml. A document neither can read, or one that is not an object with a kind, is reported as
 * unreadable with its position and `# Source:` template: never a failure of the whole deletion.
 */
import { load } from 'js-yaml';
import type { ManifestObject, UnreadableDocument } from './helm.js';

/** helm's separator: `(?:^|\s*\n)---\s*` (pkg/releaseutil/manifest.go). */
const SEPARATOR = /(?:^|\s*\n)---\s*/;
/** The `# Source: chart/templates/x.yaml` line helm writes at the top of every document it stores. */
const SOURCE = /^#\s*Source:\s*(.+?)\s*$/m;

export interface ParsedManifest {
  objects: ManifestObject[];
  unreadable: UnreadableDocument[];
}

/** The documents helm would see, whitespace-only ones left out, in order. */
export function splitManifest(manifest: string): string[] {
  return manifest.split(SEPARATOR).filter((d) => d.trim() !== '');
}

type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

function reasonOf(e: unknown): string {
  if (e instanceof Error) return ((e as { reason?: string }).reason ?? e.message.split('\n')[0] ?? e.message).trim();
  return String(e);
}

/** js-yaml with `json: true`: a duplicated key overrides (last wins) instead of throwing. */
function readFast(doc: string): Parsed {
  try {
    return { ok: true, value: load(doc, { json: true }) };
  } catch (e) {
    return { ok: false, reason: reasonOf(e) };
  }
}

type YamlModule = typeof import('yaml');
let yamlModule: Promise<YamlModule> | undefined;

/** `yaml` in YAML 1.1 mode, duplicate keys allowed (last wins), unknown tags kept as plain values. */
async function readLenient(doc: string): Promise<Parsed> {
  const { parseDocument } = await (yamlModule ??= import('yaml'));
  try {
    const d = parseDocument(doc, { version: '1.1', uniqueKeys: false, strict: false, prettyErrors: false });
    if (d.errors.length > 0) return { ok: false, reason: reasonOf(d.errors[0]) };
    return { ok: true, value: d.toJS({ maxAliasCount: -1 }) };
  } catch (e) {
    return { ok: false, reason: reasonOf(e) };
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The objects of one parsed document; what cannot be an object is returned as a reason. */
function objectsOf(value: unknown, out: ManifestObject[]): string | null {
  if (value === null || value === undefined) return null; // comments only: nothing for helm either
  if (!isObj(value)) return `not a mapping (a ${Array.isArray(value) ? 'list' : typeof value})`;
  const kind = typeof value.kind === 'string' ? value.kind : '';
  if (kind === '') return 'no kind';
  if (typeof value.apiVersion !== 'string' || value.apiVersion === '') return `${kind} without an apiVersion`;
  if (Array.isArray(value.items) && kind.endsWith('List')) {
    const bad: string[] = [];
    value.items.forEach((item, i) => {
      const r = objectsOf(item, out);
      if (r) bad.push(`item ${i}: ${r}`);
    });
    return bad.length > 0 ? bad.join('; ') : null;
  }
  const meta = isObj(value.metadata) ? value.metadata : {};
  const o: ManifestObject = {
    apiVersion: value.apiVersion,
    kind,
    name: typeof meta.name === 'string' ? meta.name : '',
  };
  if (typeof meta.namespace === 'string' && meta.namespace !== '') o.namespace = meta.namespace;
  out.push(o);
  return null;
}

/** Every object of a release's manifest, and each document that could not be read as one (with why). */
export async function parseManifest(manifest: string): Promise<ParsedManifest> {
  const objects: ManifestObject[] = [];
  const unreadable: UnreadableDocument[] = [];
  const docs = splitManifest(manifest);
  for (const [i, doc] of docs.entries()) {
    let parsed = readFast(doc);
    if (!parsed.ok) {
      const lenient = await readLenient(doc);
      if (lenient.ok) parsed = lenient;
    }
    const reason = parsed.ok ? objectsOf(parsed.value, objects) : `not valid YAML: ${parsed.reason}`;
    if (reason) {
      const source = SOURCE.exec(doc)?.[1];
      unreadable.push({ index: i + 1, ...(source ? { source } : {}), reason });
    }
  }
  return { objects, unreadable };
}
