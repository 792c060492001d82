/**
 * Paged lists (`limit` + `continue`), read page by page without holding more than one page of raw
 * JSON at a time: the caller keeps what it needs of each item (a count, a few fields). Every list
 * custctl sends goes through `paginate` (or `listAll`), so that a list of 100,000 ClusterRoles or
 * a namespace of 10,000 ConfigMaps costs one page of memory, not the whole list. (The cluster
 * RBAC is read differently, in one streamed request from the watch cache: resources/rbac.ts.)
 */
import type { Client } from './client.js';
import { isExpired, isNotFound, translateError, type Op } from './errors.js';
import type { Query } from './transport.js';

/** Items per page. The API server reads one page from etcd per request; larger pages mean fewer round trips for big lists. */
export const PAGE_SIZE = 500;

export interface ListPage<T> {
  items?: T[];
  metadata?: { continue?: string; resourceVersion?: string; remainingItemCount?: number };
}

export interface PagedResult {
  /** the list's resourceVersion (from the first page: the snapshot every page was read at) */
  resourceVersion?: string;
  items: number;
}

/**
 * Fetches every page (`fetchPage(continueToken)`) and hands each page's items to `onItems`, in
 * order. A continue token the API server no longer accepts (410 Gone: the list took longer than
 * etcd keeps its snapshot) restarts the list once from the first page, after `onRestart`.
 */
export async function forEachPage<T>(
  fetchPage: (cont: string | undefined) => Promise<ListPage<T>>,
  onItems: (items: T[]) => void,
  o: { isExpired?: (e: unknown) => boolean; onRestart?: () => void } = {},
): Promise<PagedResult> {
  for (let attempt = 0; ; attempt++) {
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    let items = 0;
    try {
      do {
        const page = await fetchPage(cont);
        resourceVersion ??= page.metadata?.resourceVersion;
        const got = page.items ?? [];
        items += got.length;
        onItems(got);
        cont = page.metadata?.continue || undefined;
      } while (cont);
      return { ...(resourceVersion !== undefined ? { resourceVersion } : {}), items };
    } catch (e) {
      if (attempt > 0 || cont === undefined || !o.isExpired?.(e)) throw e;
      o.onRestart?.();
    }
  }
}

/**
 * How many items a list holds, from its first page: `items.length + metadata.remainingItemCount`
 * (the API server counts the rest without sending it). null when the server did not say (an old
 * server, or a list it cannot count ahead): the caller pages through instead.
 */
export function countFromFirstPage(page: ListPage<unknown>): number | null {
  const got = page.items?.length ?? 0;
  if (!page.metadata?.continue) return got;
  const rest = page.metadata.remainingItemCount;
  return typeof rest === 'number' && rest >= 0 ? got + rest : null;
}

export interface PaginateOptions {
  query?: Query;
  accept?: string;
  /**
   * What a 404 means: 'error' (the default) the API server does not serve the path (a translated,
   * permanent error); 'empty' no items (a type that may be missing); 'raw' the 404 itself, for the
   * caller to decide.
   */
  notFound?: 'error' | 'empty' | 'raw';
  /** the list restarts from its first page (an expired continue token): forget what was kept */
  onRestart?: () => void;
}

/**
 * Every page of the list at `urlPath` (limit PAGE_SIZE, continue), each page's items to
 * `onItems`, every request through the client's retries.
 */
export function paginate<T>(c: Client, op: Op, signal: AbortSignal | undefined, urlPath: string, onItems: (items: T[]) => void, o: PaginateOptions = {}): Promise<PagedResult> {
  const notFound = o.notFound ?? 'error';
  const fetchPage = (cont: string | undefined): Promise<ListPage<T>> =>
    c.call(op, signal, (s) => c.send<ListPage<T>>('GET', urlPath, { ...o.query, limit: PAGE_SIZE, continue: cont }, { signal: s, ...(o.accept ? { accept: o.accept } : {}) }))
      .catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
        if (notFound === 'empty') return {};
        throw notFound === 'raw' ? e : translateError(e, op, c.errCtx);
      });
  return forEachPage(fetchPage, onItems, { isExpired, ...(o.onRestart ? { onRestart: o.onRestart } : {}) });
}

/** Every item of the list at `urlPath`, page by page (`paginate`). */
export async function listAll<T>(c: Client, op: Op, signal: AbortSignal | undefined, urlPath: string, o: Omit<PaginateOptions, 'onRestart'> = {}): Promise<T[]> {
  const out: T[] = [];
  await paginate<T>(c, op, signal, urlPath, (items) => { for (const i of items) out.push(i); }, { ...o, onRestart: () => { out.length = 0; } });
  return out;
}
