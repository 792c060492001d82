/** Reads a backup archive (tar.gz) the way a person would check it: every entry by name. */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export function tarEntries(file: string): Promise<Map<string, Buffer>> {
  return tarEntriesOf(readFileSync(file));
}

/** Packs entries (in the order given) into a .tar.gz, as someone editing an archive by hand would. */
export async function repackArchive(entries: ReadonlyMap<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => { pack.on('data', (c: Buffer) => chunks.push(c)); pack.on('end', () => resolve()); });
  for (const [name, data] of entries) pack.entry({ name, size: data.length }, data);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

/**
 * The attacker's edit: entries changed, added or removed, and manifest.json rewritten to list
 * exactly them with recomputed sha256 sums and sizes (manifest fields changed by `manifest`).
 */
export async function forgeArchive(entries: ReadonlyMap<string, Buffer>, manifest: (m: Record<string, unknown>) => void = () => undefined): Promise<Buffer> {
  const m = JSON.parse((entries.get('manifest.json') as Buffer).toString('utf8')) as Record<string, unknown>;
  const rest = [...entries].filter(([n]) => n !== 'manifest.json');
  m.entries = rest.map(([name, data]) => ({ name, sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length }));
  manifest(m);
  return repackArchive(new Map([['manifest.json', Buffer.from(JSON.stringify(m, null, 2))], ...rest]));
}

/** The entries of a tar.gz held in memory (a download), by name. */
export function tarEntriesOf(gz: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  return new Promise((resolve, reject) => {
    ex.on('entry', (h, s, next) => {
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.on('end', () => { out.set(h.name, Buffer.concat(parts)); next(); });
    });
    ex.on('finish', () => resolve(out));
    ex.on('error', reject);
    ex.end(gunzipSync(gz));
  });
}
