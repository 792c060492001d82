#!/usr/bin/env node
/**
 * A flood of wrong API tokens against `custctl serve`, and one honest client beside it: what the
 * server writes to its log, and how fast it answers both. Loopback only; a simulated server on the
 * embedded store (no cluster, no database needed).
 *
 *   node bench/auth-flood.mjs                         # this checkout's bin/custctl.js (npm run build first)
 *   node bench/auth-flood.mjs --bin /other/checkout/bin/custctl.js --connections 50 --seconds 5
 *
 * The flood comes from 127.0.0.1 (each of --connections loops: a request with a wrong token, on a
 * new connection, as the server closes every refused one); the honest client (a valid token,
 * one request at a time) from 127.0.0.2, another client address. `--tty`: serve's log goes to a
 * terminal (a pty, through script(1)), as when it runs in a terminal window. Prints one JSON object:
 * the answers, their latencies, the log lines written and the CPU time serve used meanwhile.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, createWriteStream } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(opt('bin', path.join(here, '..', 'bin', 'custctl.js')));
const CONNECTIONS = Number(opt('connections', '50'));
const SECONDS = Number(opt('seconds', '5'));
const TTY = args.includes('--tty');
const TOKEN = 'flood-bench-valid-token-0123456789abcdef';
const WRONG = 'flood-bench-WRONG-token-0123456789abcdef';

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function request(port, token, localAddress) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, path: '/api/admin/jobs', method: 'GET', agent: false, localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', () => resolve({ status: 0, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    req.end();
  });
}

const pct = (xs, p) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 10) / 10;
};
const count = (rs) => rs.reduce((m, r) => ((m[r.status] = (m[r.status] ?? 0) + 1), m), {});

const dir = mkdtempSync(path.join(tmpdir(), 'custctl-auth-flood-'));
const port = await freePort();
const logFile = path.join(dir, 'serve.log');
writeFileSync(logFile, '');
const env = { ...process.env, NO_COLOR: '1', CUSTCTL_STATE_DIR: dir, CUSTCTL_STORE: 'embedded', SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_API_TOKEN: TOKEN };
for (const k of ['DATABASE_URL', 'REDIS_URL', 'REDIS_HOST', 'CUSTCTL_API_URL', 'CUSTCTL_API_TOKENS_FILE']) delete env[k];
const serveArgs = [BIN, 'serve', '--port', String(port)];
const child = TTY
  ? spawn('script', ['-qfec', [process.execPath, ...serveArgs].map((a) => `'${a}'`).join(' '), '/dev/null'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  : spawn(process.execPath, serveArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
const out = createWriteStream(logFile);
child.stdout.pipe(out);
child.stderr.pipe(out);
const exited = new Promise((resolve) => child.once('exit', resolve));
const url = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  if (readFileSync(logFile, 'utf8').includes(`listening on ${url}`)) break;
  if (child.exitCode !== null || i > 600) throw new Error(`serve did not start:\n${readFileSync(logFile, 'utf8')}`);
  await new Promise((r) => setTimeout(r, 100));
}
// warm up: one valid request
await request(port, TOKEN, '127.0.0.2');
/** serve's own process (under script(1) with --tty: its child) */
const servePid = TTY ? Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]) : child.pid;
/** CPU time of serve so far, ms (utime + stime, clock ticks of 10 ms) */
const cpuMs = () => {
  const f = readFileSync(`/proc/${servePid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const cpuBefore = cpuMs();
const linesBefore = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).length;

const until = Date.now() + SECONDS * 1000;
const flood = [];
const honest = [];
const workers = Array.from({ length: CONNECTIONS }, async () => {
  while (Date.now() < until) flood.push(await request(port, WRONG, '127.0.0.1'));
});
const good = (async () => {
  while (Date.now() < until) {
    honest.push(await request(port, TOKEN, '127.0.0.2'));
    await new Promise((r) => setTimeout(r, 20));
  }
})();
await Promise.all([...workers, good]);
const cpuDuring = cpuMs() - cpuBefore;
await new Promise((r) => setTimeout(r, 500));
const lines = readFileSync(logFile, 'utf8').split('\n').filter(Boolean).slice(linesBefore);
child.kill('SIGTERM');
await exited;

console.log(JSON.stringify({
  bin: BIN,
  connections: CONNECTIONS,
  seconds: SECONDS,
  logTo: TTY ? 'a terminal (pty)' : 'a pipe',
  serveCpuMs: cpuDuring,
  flood: { requests: flood.length, statuses: count(flood), p50ms: pct(flood.map((r) => r.ms), 50), p99ms: pct(flood.map((r) => r.ms), 99) },
  honestClient: { requests: honest.length, statuses: count(honest), p50ms: pct(honest.map((r) => r.ms), 50), p99ms: pct(honest.map((r) => r.ms), 99) },
  logLinesWritten: lines.length,
  warnLines: lines.filter((l) => / WARN /.test(l)).length,
  sampleLines: [...new Set(lines.map((l) => l.replace(/^\S+ /, '').slice(0, 160)))].slice(0, 4),
}, null, 2));
