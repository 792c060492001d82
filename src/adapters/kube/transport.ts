/**
 * The wire to one API server: requests sent with node:http(s) (custctl makes a handful of REST
 * calls, so it sends them itself: importing @kubernetes/client-node costs ~0.7–1 s of start-up),
 * read whole, read as a stream (lists too large to hold) or as a watch. No retries here
 * (client.ts), no translation of failures (errors.ts): a non-2xx answer is an ApiStatusError.
 *
 * The connections: a pool of kept-alive HTTP/1.1 connections shared by every
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
import { OperationError, errorMessage } from '../../errors.js';
import type { ExecCredential, ExecCredentialSource } from './exec-credentials.js';
import type { RequestOptionsFn } from './credentials.js';
import { ApiStatusError } from './errors.js';
import { ListStreamParser } from './list-stream.js';

/** An idle connection is closed after this (Go's API server closes idle ones after 90 s or more). */
const IDLE_MS = 30_000;
/** Idle connections kept per server for the next requests. */
const MAX_FREE = 16;

export interface TransportOptions {
  /** false: a new connection per request (the behaviour before the pool; the bench compares both) */
  keepAlive?: boolean;
}

export interface ConnectionPool {
  /** The agent for a request to `url`: the pool, or false for a new connection each time. */
  agentFor(url: URL): http.Agent | false;
  /** Closes the idle connections (the open ones finish first). */
  close(): void;
}

export function makePool(o: TransportOptions = {}): ConnectionPool {
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

export type Query = Record<string, string | number | boolean | undefined>;

/** `body` is sent as JSON; `contentType` says which (default application/json; a PATCH names its patch type). */
export interface SendOptions {
  body?: unknown;
  accept?: string;
  contentType?: string;
  signal: AbortSignal;
  /** its connection does not keep the process alive (a background watch) */
  unref?: boolean;
}

export interface Wire {
  /**
   * One request to completion: the parsed JSON of a 2xx answer, else an ApiStatusError. A 401 on
   * an exec plugin's credential fetches a new one and sends the request once more.
   */
  send<T>(method: string, urlPath: string, query: Query, o: SendOptions): Promise<T>;
  /**
   * A list read as it arrives (list-stream.ts's ListStreamParser): each item to `onItem`, the
   * list's other top-level fields (metadata) returned. For lists too large to hold whole.
   */
  sendStreamed(urlPath: string, query: Query, o: SendOptions, onItem: (item: unknown) => void): Promise<Record<string, unknown>>;
  /**
   * One watch request: `onEvent` for each event line, `onDone` once when it ends (null: the server
   * closed it; else why). Resolves true once the server answered 200 (the watch is running).
   */
  watchOnce(urlPath: string, query: Query, signal: AbortSignal, onEvent: (type: string, object: unknown) => void, onDone: (err: unknown) => void, o?: { accept?: string; unref?: boolean }): Promise<boolean>;
  /** the API server answered a request of this process (any status): a later refusal is a restart */
  answered(): boolean;
  /** Closes the idle connections. */
  close(): void;
}

export interface WireOptions {
  /** the API server's URL, as the kubeconfig gives it */
  server: string;
  userAgent: string;
  /** the TLS options and credentials of each request (credentials.ts) */
  requestOptions: RequestOptionsFn;
  /** the exec plugin the credentials come from, if any (a 401 refreshes it) */
  exec: ExecCredentialSource | null;
  pool?: TransportOptions;
}

interface WireState {
  readonly o: WireOptions;
  readonly base: string;
  readonly pool: ConnectionPool;
  answered: boolean;
}

export function openWire(o: WireOptions): Wire {
  const w: WireState = { o, base: o.server.replace(/\/+$/, ''), pool: makePool(o.pool), answered: false };
  return {
    send: <T>(method: string, urlPath: string, query: Query, so: SendOptions) => send<T>(w, method, urlPath, query, so),
    sendStreamed: (urlPath, query, so, onItem) => sendStreamed(w, urlPath, query, so, onItem),
    watchOnce: (urlPath, query, signal, onEvent, onDone, wo) => watchOnce(w, urlPath, query, signal, onEvent, onDone, wo),
    answered: () => w.answered,
    close: () => w.pool.close(),
  };
}

function urlOf(w: WireState, urlPath: string, query: Query): URL {
  const url = new URL(w.base + urlPath);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  return url;
}

/**
 * Starts one request; `onResponse` gets the response once its headers are in. A failure before
 * that (refused, reset, TLS, the signal) rejects with Node's error (its `code`, or AbortError).
 */
async function start(w: WireState, method: string, url: URL, o: SendOptions, onResponse: (res: http.IncomingMessage) => void, onError: (e: unknown) => void): Promise<ExecCredential | undefined> {
  const { options: ro, exec: usedExec } = await w.o.requestOptions(o.signal);
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: http.OutgoingHttpHeaders = {
    ...(ro.headers as http.OutgoingHttpHeaders | undefined),
    'User-Agent': w.o.userAgent,
    Accept: o.accept ?? 'application/json',
    ...(payload !== undefined ? { 'Content-Type': o.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
  };
  // a proxy's agent (client-node) as given; else this process's pool for the server
  const agent = ro.agent ?? w.pool.agentFor(url);
  const req = (url.protocol === 'http:' ? http : https).request(url, { ...ro, agent, method, headers, signal: o.signal }, (res) => {
    w.answered = true;
    onResponse(res);
  });
  req.on('error', onError);
  if (o.unref) req.on('socket', (sock) => sock.unref());
  req.end(payload);
  return usedExec;
}

async function send<T>(w: WireState, method: string, urlPath: string, query: Query, o: SendOptions): Promise<T> {
  let used: ExecCredential | undefined;
  try {
    return await sendOnce<T>(w, method, urlPath, query, o, (c) => { used = c; });
  } catch (e) {
    const exec = w.o.exec;
    if (!(exec && used && e instanceof ApiStatusError && e.code === 401)) throw e;
    exec.invalidate(used);
    return sendOnce<T>(w, method, urlPath, query, o, () => undefined);
  }
}

const midAnswer = (): Error => Object.assign(new Error('the API server closed the connection mid-answer'), { code: 'ECONNRESET' });

function sendOnce<T>(w: WireState, method: string, urlPath: string, query: Query, o: SendOptions, usedExec: (c: ExecCredential | undefined) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start(w, method, urlOf(w, urlPath, query), o, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('error', reject);
      res.on('aborted', () => reject(midAnswer()));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const code = res.statusCode ?? 0;
        if (code >= 400 || code < 200) return reject(new ApiStatusError(code, text, res.headers));
        try {
          resolve((text === '' ? {} : JSON.parse(text)) as T);
        } catch {
          reject(new OperationError(`${method} ${urlPath}: the API server ${w.o.server} answered with something that is not JSON: ${text.slice(0, 200)}`));
        }
      });
    }, reject).then(usedExec, reject);
  });
}

function sendStreamed(w: WireState, urlPath: string, query: Query, o: SendOptions, onItem: (item: unknown) => void): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    start(w, 'GET', urlOf(w, urlPath, query), o, (res) => {
      const code = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (code >= 400 || code < 200) {
        let text = '';
        res.on('data', (d: string) => { text += d; });
        res.on('end', () => reject(new ApiStatusError(code, text, res.headers)));
        res.on('error', reject);
        return;
      }
      const parser = new ListStreamParser(onItem);
      res.on('data', (d: string) => {
        try {
          parser.push(d);
        } catch (e) {
          res.destroy();
          reject(new OperationError(`GET ${urlPath}: the API server ${w.o.server} answered with a list that is not JSON: ${errorMessage(e)}`));
        }
      });
      res.on('error', reject);
      res.on('aborted', () => reject(midAnswer()));
      res.on('end', () => resolve(parser.fields));
    }, reject).catch(reject);
  });
}

function watchOnce(w: WireState, urlPath: string, query: Query, signal: AbortSignal, onEvent: (type: string, object: unknown) => void, onDone: (err: unknown) => void, o: { accept?: string; unref?: boolean } = {}): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    start(w, 'GET', urlOf(w, urlPath, query), { signal, ...o }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        onDone(Object.assign(new Error(`HTTP ${res.statusCode ?? 0}`), { statusCode: res.statusCode ?? 0 }));
        resolve(false);
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line === '') continue;
          let ev: { type?: unknown; object?: unknown };
          try {
            ev = JSON.parse(line) as typeof ev;
          } catch { continue; /* not an event line */ }
          onEvent(String(ev.type ?? ''), ev.object);
        }
      });
      res.on('aborted', () => onDone(new Error('watch connection lost')));
      res.on('error', (e) => onDone(e));
      res.on('end', () => onDone(null));
      resolve(true);
    }, (e) => { onDone(e); resolve(false); }).catch((e: unknown) => { onDone(e); resolve(false); });
  });
}
