// Loaded with `node --import` by the bench (never by custctl itself): records, into
// $BENCH_TRACE_FILE as JSON lines `{t, ev, what}` (t: ms since the process started), what one
// custctl process spends its wall time on — child processes (helm), HTTP requests (the API server),
// PostgreSQL queries, fsyncs (the journal), module loads of the heavy packages, and the exit.
// bench/run.ts turns these into the per-phase breakdown of one deletion.
import { syncBuiltinESMExports, register } from 'node:module';
import childProcess from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import fs from 'node:fs';
import tls from 'node:tls';
import { MessageChannel } from 'node:worker_threads';
import { createRequire } from 'node:module';
import path from 'node:path';

const file = process.env.BENCH_TRACE_FILE;
if (file) {
  const t0 = performance.timeOrigin;
  const lines = [];
  const rec = (ev, what = '') => { lines.push(JSON.stringify({ t: Math.round((Date.now() - t0) * 10) / 10, ev, what })); };
  rec('preload');

  // child processes (execa goes through child_process.spawn)
  const spawn = childProcess.spawn;
  childProcess.spawn = function tracedSpawn(cmd, args, ...rest) {
    const what = `${path.basename(String(cmd))} ${(Array.isArray(args) ? args : []).slice(0, 3).join(' ')}`;
    rec('spawn', what);
    const child = spawn.call(this, cmd, args, ...rest);
    child.once('exit', () => rec('spawn-exit', what));
    return child;
  };
  syncBuiltinESMExports();

  // HTTP requests (client-node 1.x: node-fetch over https)
  diagnostics.channel('http.client.request.start').subscribe(({ request }) => {
    const what = `${request.method} ${String(request.path).replace(/\?.*$/, '')}`;
    rec('http', what);
    request.once('response', (res) => res.once('end', () => rec('http-end', what)));
  });

  // TLS connections (node:https opens them through tls.connect): handshakes per deletion
  const tlsConnect = tls.connect;
  tls.connect = function tracedTlsConnect(...args) {
    const sock = tlsConnect.apply(this, args);
    sock.once('secureConnect', () => rec('tls', sock.isSessionReused() ? 'resumed' : 'full'));
    return sock;
  };

  // fsync (the journal's crash-safe writes)
  const fsync = fs.fsync;
  fs.fsync = function tracedFsync(fd, cb) { const t = Date.now(); return fsync.call(this, fd, (...a) => { rec('fsync', `${Date.now() - t}`); cb(...a); }); };
  fs.promises.open('/dev/null').then(async (fh) => {
    const proto = Object.getPrototypeOf(fh);
    const sync = proto.sync;
    proto.sync = async function tracedSync() { const t = Date.now(); try { return await sync.call(this); } finally { rec('fsync', `${Date.now() - t}`); } };
    await fh.close();
  });

  // PostgreSQL queries (pg resolved from custctl's own node_modules: the same module instance)
  try {
    const req = createRequire(path.resolve(process.argv[1] ?? 'x'));
    const pgPath = process.env.BENCH_PG_MODULE ?? req.resolve('pg');
    const pg = createRequire(import.meta.url)(pgPath);
    const query = pg.Client.prototype.query;
    pg.Client.prototype.query = function tracedQuery(config, values, cb) {
      const text = typeof config === 'string' ? config : config?.text ?? '';
      const what = text.trim().split(/\s+/).slice(0, 3).join(' ');
      rec('pg', what);
      // pg's Pool passes a callback (then query returns nothing): wrap whichever is the callback
      const done = (f) => (typeof f === 'function' ? (...a) => { rec('pg-end', what); return f(...a); } : f);
      if (typeof values === 'function') values = done(values);
      else if (typeof cb === 'function') cb = done(cb);
      else if (typeof config?.callback === 'function') config.callback = done(config.callback);
      const r = query.call(this, config, values, cb);
      if (r && typeof r.then === 'function') r.then(() => rec('pg-end', what), () => rec('pg-end', what));
      return r;
    };
    const connect = pg.Client.prototype.connect;
    pg.Client.prototype.connect = function tracedConnect(cb) {
      rec('pg-connect');
      const r = connect.call(this, cb);
      if (r && typeof r.then === 'function') r.then(() => rec('pg-connect-end'), () => rec('pg-connect-end'));
      return r;
    };
  } catch { /* pg not resolvable from here: no pg events */ }

  // module loads (BENCH_TRACE_LOADS=1; the hooks run in their own thread, post back, and slow
  // loading down noticeably, so the timed runs leave them off)
  if (process.env.BENCH_TRACE_LOADS === '1') {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (m) => rec('load', m));
    port1.unref();
    register(new URL('./trace-phases-hooks.mjs', import.meta.url), { data: { port: port2 }, transferList: [port2] });
  }

  process.on('exit', () => {
    rec('exit');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
  });
}
