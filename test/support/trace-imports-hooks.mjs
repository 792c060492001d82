import { appendFileSync, readFileSync } from 'node:fs';

let file;
/** dist/cli/modules.json (scripts/bundle.mjs) per bundle directory URL */
const manifests = new Map();

export function initialize(data) {
  file = data?.file;
}

/**
 * A chunk of the bundle (dist/cli/X.js) is recorded as the modules it holds, each by its URL under
 * dist/ (what the process loaded, as unbundled), and a `bundle-chunk cli/X.js` line; any other URL
 * as it is.
 */
function lines(url) {
  const m = /^(file:.*\/dist\/)cli\/([^/]+\.js)$/.exec(url);
  if (!m) return [url];
  const [, distUrl, chunk] = m;
  let manifest = manifests.get(distUrl);
  if (!manifest) manifests.set(distUrl, (manifest = JSON.parse(readFileSync(new URL('cli/modules.json', distUrl), 'utf8'))));
  const modules = manifest[chunk];
  if (!modules) throw new Error(`trace-imports: ${url} is not in ${distUrl}cli/modules.json`);
  return [`bundle-chunk cli/${chunk}`, ...modules.map((mod) => new URL(mod, distUrl).href)];
}

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (file) appendFileSync(file, `${lines(r.url).join('\n')}\n`);
  return r;
}
