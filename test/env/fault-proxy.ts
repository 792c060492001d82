/**
 * A fault-injecting TLS proxy in front of the test kube-apiserver (loopback only): it answers a
 * share of the requests with 429 (`Retry-After: 1`), 500, or a connection reset, optionally only
 * for one User-Agent, and logs every request. Everything else is forwarded to the real server.
 *
 * - HTTP/1.1 only (ALPN): a reset then hits one request, not every stream of an HTTP/2 connection;
 *   Go (helm) and node-fetch (custctl) both fall back to it.
 * - It serves the API server's own certificate (SAN 127.0.0.1, same CA), so a kubeconfig needs only
 *   its `server` changed (`kubeconfigFor`). Upstream it authenticates with the admin certificate:
 *   every client behind it acts as the test admin.
 * - Half of the resets come after the request reached the server (the answer is lost): a retried
 *   DELETE then meets its own earlier success (404, or a namespace already terminating).
 * - Faults are drawn from a seeded generator (`seed`, printed in failures through `describe()`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';

export type Fault = '429' | '500' | 'reset';

export interface LoggedRequest {
  /** ms since the proxy started */
  at: number;
  method: string;
  /** path and query */
  path: string;
  userAgent: string;
  fault: Fault | null;
  /** upstream status when forwarded; undefined for injected faults and failed forwards */
  status?: number;
}

export interface FaultSettings {
  /** share of matching requests that get a fault, 0..1 */
  rate: number;
  /** the faults drawn from (equally likely); default all three */
  faults: Fault[];
  /** only requests whose User-Agent starts with this (case-insensitive) get faults; null: all */
  userAgent: string | null;
}

export interface FaultUpdate extends Partial<FaultSettings> {
  /** restart the fault draws from this seed (a scenario gets the same draws whatever ran before) */
  seed?: number;
}

export interface FaultProxyOptions {
  /** https://127.0.0.1:<port> of the real API server */
  upstream: string;
  /** the test run's certificate directory (test/env/certs.ts): ca.crt, apiserver.*, admin.* */
  certDir: string;
  seed?: number;
  settings?: Partial<FaultSettings>;
}

export interface FaultProxy {
  /** https://127.0.0.1:<port> */
  url: string;
  log: LoggedRequest[];
  /** the seed of the current draws */
  seed: number;
  set(s: FaultUpdate): void;
  /** the next `faults.length` matching requests get these faults, in order (before any random ones) */
  failNext(faults: Fault[]): void;
  /** writes a copy of `kubeconfig` whose clusters point at the proxy; returns its path */
  kubeconfigFor(kubeconfig: string, file: string): string;
  /** `N requests, M faults (x 429, y 500, z reset), seed S` for messages */
  describe(filter?: (r: LoggedRequest) => boolean): string;
  stop(): Promise<void>;
}

/** mulberry32: small, fast, good enough to draw faults reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(o.upstream);
  if (upstream.hostname !== '127.0.0.1' && upstream.hostname !== 'localhost' && upstream.hostname !== '[::1]') {
    throw new Error(`fault proxy: loopback upstreams only, not ${o.upstream}`);
  }
  const file = (name: string): Buffer => readFileSync(path.join(o.certDir, name));
  const ca = file('ca.crt');
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca, cert: file('admin.crt'), key: file('admin.key') });
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  let random = prng(seed);
  const settings: FaultSettings = { rate: 0, faults: ['429', '500', 'reset'], userAgent: null, ...o.settings };
  const queued: Fault[] = [];
  const log: LoggedRequest[] = [];
  const t0 = Date.now();
  const sockets = new Set<Socket>();

  const pick = (ua: string): Fault | null => {
    if (settings.userAgent !== null && !ua.toLowerCase().startsWith(settings.userAgent.toLowerCase())) return null;
    if (queued.length > 0) return queued.shift() ?? null;
    if (settings.rate <= 0 || random() >= settings.rate) return null;
    return settings.faults[Math.floor(random() * settings.faults.length)] ?? null;
  };

  /** a TCP RST on the connection (the TLS socket's own resetAndDestroy throws: reset the TCP socket under it) */
  const reset = (req: IncomingMessage): void => {
    const tcp = (req.socket as Socket & { _parent?: Socket })._parent;
    try {
      if (tcp && typeof tcp.resetAndDestroy === 'function') tcp.resetAndDestroy();
      else req.socket.destroy();
    } catch {
      req.socket.destroy();
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const ua = String(req.headers['user-agent'] ?? '');
    const entry: LoggedRequest = { at: Date.now() - t0, method: req.method ?? 'GET', path: req.url ?? '/', userAgent: ua, fault: pick(ua) };
    log.push(entry);
    const lostAnswer = entry.fault === 'reset' && random() < 0.5;
    if (entry.fault === '429' || entry.fault === '500' || (entry.fault === 'reset' && !lostAnswer)) {
      req.resume();
      if (entry.fault === 'reset') { reset(req); return; }
      const body = entry.fault === '429'
        ? status(429, 'TooManyRequests', 'Too many requests, please try again later.')
        : status(500, 'InternalError', 'Internal error occurred: injected by the test fault proxy');
      res.writeHead(Number(entry.fault), { 'Content-Type': 'application/json', ...(entry.fault === '429' ? { 'Retry-After': '1' } : {}) });
      res.end(body);
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase()) && k.toLowerCase() !== 'authorization') headers[k] = v;
    }
    headers.host = upstream.host;
    const up = https.request({
      protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent,
    }, (ur) => {
      entry.status = ur.statusCode;
      if (lostAnswer) {
        // the server acted on it; the client never hears back
        ur.resume();
        reset(req);
        return;
      }
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP_BY_HOP.has(k.toLowerCase())) out[k] = v;
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
      ur.on('error', () => res.destroy());
    });
    up.on('error', () => {
      if (!res.headersSent) { res.writeHead(502, { 'Content-Type': 'application/json' }); res.end(status(502, 'BadGateway', 'fault proxy: upstream failed')); }
      else res.destroy();
    });
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    req.pipe(up);
  };

  const server = https.createServer({ ca, cert: file('apiserver.crt'), key: file('apiserver.key'), ALPNProtocols: ['http/1.1'] }, handle);
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('clientError', (_e, s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const proxy: FaultProxy = {
    url,
    log,
    seed,
    set({ seed: newSeed, ...s }) {
      Object.assign(settings, s);
      if (newSeed !== undefined) { random = prng(newSeed); proxy.seed = newSeed; }
    },
    failNext(faults) { queued.push(...faults); },
    kubeconfigFor(kubeconfig, out) {
      const kc = parse(readFileSync(kubeconfig, 'utf8')) as { clusters?: Array<{ cluster: { server: string } }> };
      for (const c of kc.clusters ?? []) c.cluster.server = url;
      writeFileSync(out, stringify(kc), { mode: 0o600 });
      return out;
    },
    describe(filter = () => true) {
      const rs = log.filter(filter);
      const n = (f: Fault) => rs.filter((r) => r.fault === f).length;
      return `${rs.length} requests, ${rs.filter((r) => r.fault).length} faults (${n('429')} × 429, ${n('500')} × 500, ${n('reset')} resets), seed ${proxy.seed}`;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
  return proxy;
}
