/**
 * The connections to one API server: a pool of kept-alive HTTP/1.1 connections shared by every
 * request of the process (one Kube per process, src/deps.ts). A bulk run, `serve` and `worker`
 * send thousands of requests; without keep-alive each paid a TCP connect and a full TLS handshake
 * (the API server's CPU as much as ours). The pool grows to the number of requests in flight at
 * once (watches included) and reuses them; TLS sessions are resumed for new connections.
 *
 * Idle connections are unref'd by Node's agent, so they never keep a finished command alive, and
 * are closed after IDLE_MS, before the API server would close them under a request. A request that
 * still meets a connection the server just closed fails with ECONNRESET and is tried again
 * (src/adapters/retry.ts): every request custctl sends is safe to repeat.
 */
import http from 'node:http';
import https from 'node:https';

/** An idle connection is closed after this (Go's API server closes idle ones after 90 s or more). */
const IDLE_MS = 30_000;
/** Idle connections kept per server for the next requests. */
const MAX_FREE = 16;

export interface TransportOptions {
  /** false: a new connection per request (the behaviour before the pool; the bench compares both) */
  keepAlive?: boolean;
}

export interface Transport {
  /** The agent for a request to `url`: the pool, or false for a new connection each time. */
  agentFor(url: URL): http.Agent | false;
  /** Closes the idle connections (the open ones finish first). */
  close(): void;
}

export function makeTransport(o: TransportOptions = {}): Transport {
  if (o.keepAlive === false) return { agentFor: () => false, close: () => undefined };
  const common = { keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: MAX_FREE, timeout: IDLE_MS, scheduling: 'lifo' as const };
  let secure: https.Agent | undefined;
  let plain: http.Agent | undefined;
  return {
    agentFor: (url) => (url.protocol === 'http:' ? (plain ??= new http.Agent(common)) : (secure ??= new https.Agent(common))),
    close() {
      secure?.destroy();
      plain?.destroy();
    },
  };
}
