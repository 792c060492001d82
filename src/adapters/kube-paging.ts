/**
 * Paged lists (`limit` + `continue`), read page by page without holding more than one page of raw
 * JSON at a time: the caller keeps what it needs of each item (a count, a few fields). Used for
 * every list custctl sends, so that a list of 100,000 ClusterRoles or a namespace of 10,000
 * ConfigMaps costs one page of memory, not the whole list.
 */

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
