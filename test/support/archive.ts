/** Reads a backup archive (tar.gz) the way a person would check it: every entry by name. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

export function tarEntries(file: string): Promise<Map<string, Buffer>> {
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
    ex.end(gunzipSync(readFileSync(file)));
  });
}
