/** Namespaces: read, delete (uid precondition), hasten, wait until gone (a watch), list names. */
import { ConflictError, isPermanent } from '../../../errors.js';
import { backoffMs } from '../../retry.js';
import type { Kube, NamespaceInfo } from '../../kube.js';
import type { Client } from '../client.js';
import { translateError } from '../errors.js';
import { listAll } from '../paging.js';

/** Longest single watch; an abandoned watch ends by itself server-side after this. */
const WATCH_CHUNK_SECONDS = 60;
/** Re-establishing a watch that failed: the request backoff, capped lower (a watch is cheap to redo). */
const WATCH_BACKOFF = { baseMs: 500, maxMs: 5_000 };

const enc = encodeURIComponent;

interface RawNamespace {
  metadata?: { name?: string; uid?: string; deletionTimestamp?: string };
  spec?: { finalizers?: string[] };
  status?: { phase?: string; conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> };
}

function namespaceInfo(ns: RawNamespace): NamespaceInfo {
  const info: NamespaceInfo = {
    name: ns.metadata?.name ?? '',
    uid: ns.metadata?.uid ?? '',
    phase: ns.status?.phase ?? 'Active',
    conditions: (ns.status?.conditions ?? []).map((c) => {
      const out: NamespaceInfo['conditions'][number] = { type: c.type, status: c.status };
      if (c.reason) out.reason = c.reason;
      if (c.message) out.message = c.message;
      return out;
    }),
    finalizers: ns.spec?.finalizers ?? [],
  };
  if (typeof ns.metadata?.deletionTimestamp === 'string' && ns.metadata.deletionTimestamp) info.deletionTimestamp = ns.metadata.deletionTimestamp;
  return info;
}

export type NamespaceApi = Pick<Kube, 'getNamespace' | 'deleteNamespace' | 'waitNamespaceGone' | 'listNamespaceNames'> & Required<Pick<Kube, 'hastenNamespaceDeletion'>>;

export function namespaceApi(c: Client): NamespaceApi {
  async function getNamespace(name: string, signal?: AbortSignal): Promise<NamespaceInfo | null> {
    const ns = await c.callOr({ verb: 'get', what: `namespace ${name}` }, signal, null, (s) => c.send<RawNamespace>('GET', `/api/v1/namespaces/${enc(name)}`, {}, { signal: s }));
    return ns ? namespaceInfo(ns) : null;
  }

  async function deleteNamespace(name: string, uid: string, signal?: AbortSignal): Promise<'deleted' | 'not-found'> {
    const op = { verb: 'delete', what: `namespace ${name}` };
    try {
      const body = { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid }, propagationPolicy: 'Background' };
      const r = await c.callOr(op, signal, 'not-found' as const, (s) => c.send('DELETE', `/api/v1/namespaces/${enc(name)}`, {}, { body, signal: s }));
      return r === 'not-found' ? r : 'deleted';
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      // 409: either the uid precondition failed (the namespace was recreated), or the namespace
      // is already terminating ("the system is ensuring all content is removed"). Look.
      const now = await getNamespace(name, signal);
      if (!now) return 'not-found';
      if (now.uid !== uid) {
        throw new ConflictError(`namespace ${name} was recreated (uid changed from ${uid} to ${now.uid}): refusing to delete the new one`, [
          'the customer was probably redeployed; check its row and start a new deletion if it should go',
        ]);
      }
      if (now.deletionTimestamp) return 'deleted';
      throw e;
    }
  }

  async function hastenNamespaceDeletion(name: string, signal?: AbortSignal): Promise<void> {
    const body = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' };
    await Promise.allSettled(['pods', 'persistentvolumeclaims'].map((resource) =>
      // one try: the namespace controller does it anyway
      c.call({ verb: 'deletecollection', what: `${resource} in namespace ${name}`, retry: { ...c.retryPolicy, tries: 1 } }, signal,
        (s) => c.send('DELETE', `/api/v1/namespaces/${enc(name)}/${resource}`, {}, { body, signal: s }))));
  }

  async function listNamespaceNames(signal?: AbortSignal): Promise<string[]> {
    const items = await listAll<{ metadata?: { name?: string } }>(c, { verb: 'list', what: 'namespaces' }, signal, '/api/v1/namespaces');
    return items.map((n) => n.metadata?.name ?? '').filter((n) => n !== '');
  }

  return {
    getNamespace,
    deleteNamespace,
    hastenNamespaceDeletion,
    waitNamespaceGone: (name, timeoutMs, signal) => waitNamespaceGone(c, getNamespace, name, timeoutMs, signal),
    listNamespaceNames,
  };
}

/**
 * Waits until GET namespace answers 404, with a watch on fieldSelector=metadata.name=NAME and
 * timeoutSeconds, re-checking with a GET after every reconnect. Resolves 'timeout' at the deadline.
 */
function waitNamespaceGone(c: Client, getNamespace: Kube['getNamespace'], name: string, timeoutMs: number, signal?: AbortSignal): Promise<'gone' | 'timeout'> {
  signal?.throwIfAborted();
  const deadline = Date.now() + timeoutMs;

  return new Promise((resolve, reject) => {
    let finished = false;
    let controller: AbortController | undefined;
    let reconnects = 0;
    let retryTimer: NodeJS.Timeout | undefined;

    const finish = (settle: () => void): void => {
      if (finished) return;
      finished = true;
      clearTimeout(deadlineTimer);
      clearTimeout(retryTimer);
      signal?.removeEventListener('abort', onAbort);
      controller?.abort(); // closes the watch's connection: nothing keeps the process alive
      settle();
    };
    const onAbort = (): void => finish(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    const deadlineTimer = setTimeout(() => finish(() => resolve('timeout')), Math.max(0, timeoutMs));

    const reconnectLater = (): void => {
      if (finished) return;
      reconnects += 1;
      retryTimer = setTimeout(connect, Math.min(backoffMs(reconnects, WATCH_BACKOFF), Math.max(0, deadline - Date.now())));
    };

    const connect = (): void => {
      if (finished) return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) { finish(() => resolve('timeout')); return; }
      const timeoutSeconds = Math.max(1, Math.min(WATCH_CHUNK_SECONDS, Math.ceil(remaining / 1000)));
      let ended = false;
      const ctl = new AbortController();
      controller = ctl;
      const onEvent = (type: string): void => {
        if (type === 'DELETED') finish(() => resolve('gone'));
      };
      const onDone = (err: unknown): void => {
        if (ended || finished) return;
        ended = true;
        const status = typeof err === 'object' && err !== null ? (err as { statusCode?: unknown }).statusCode : undefined;
        if (typeof status === 'number' && status >= 400 && status < 500 && status !== 410 && status !== 429) {
          // the watch's error body is not kept: a GET tells more (and its 403 names the user)
          const e = Object.assign(new Error(`HTTP ${status}`), { code: status, body: '' });
          getNamespace(name, signal).then(
            (ns) => finish(() => (ns ? reject(translateError(e, { verb: 'watch', what: 'namespaces' }, c.errCtx)) : resolve('gone'))),
            (ge: unknown) => finish(() => reject(ge)),
          );
          return;
        }
        if (err) reconnectLater();
        else connect();
      };
      c.watchOnce('/api/v1/namespaces', { watch: 'true', fieldSelector: `metadata.name=${name}`, timeoutSeconds, allowWatchBookmarks: 'false' }, ctl.signal, onEvent, onDone)
        .then(async (running) => {
          if (!running || finished || ended) return;
          // connected: a namespace that went before the watch started shows up only here
          try {
            const ns = await getNamespace(name, signal);
            if (!ns) finish(() => resolve('gone'));
            else reconnects = 0;
          } catch (e) {
            if (finished || signal?.aborted) return;
            // refused outright: waiting longer will not help
            if (isPermanent(e)) finish(() => reject(e));
            // otherwise (a flaky server) the watch's end brings the next GET; the deadline bounds it
          }
        });
    };
    connect();
  });
}
