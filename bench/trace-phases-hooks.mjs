// Module hooks for bench/trace-phases.mjs: posts the first load of a few packages and of
// custctl's own modules (dist/…) back to the main thread.
let port;
const seen = new Set();
const WATCH = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/|\/dist\/([^/]+(?:\/[^/]+)?\.js)$/;

export function initialize(data) {
  port = data.port;
}

export async function load(url, context, next) {
  const m = WATCH.exec(url);
  const key = m ? (m[1] ?? `dist/${m[2]}`) : null;
  if (key && !seen.has(key)) {
    seen.add(key);
    port?.postMessage(key);
  }
  return next(url, context);
}
