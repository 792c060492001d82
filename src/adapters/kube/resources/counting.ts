/**
 * What is still in a namespace, by resource type (the plan; the diagnosis of a namespace that
 * does not go away): every listable namespaced type found by discovery, each counted from one
 * request (the server's remainingItemCount) or, when finalizers are wanted, paged through.
 */
import { runPool } from '../../../util/pool.js';
import type { CountOptions, NamespacedObjectCount } from '../../kube.js';
import type { Client } from '../client.js';
import { discoveryPath, namespacedListable, type ApiResource, type Discovery } from '../discovery.js';
import { isNotFound, shortReason } from '../errors.js';
import { countFromFirstPage, paginate, type ListPage } from '../paging.js';

/** Parallel discovery/list requests. */
const PARALLEL = 6;
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

interface ObjectMeta { name?: string; finalizers?: string[] }
interface Target { gv: string; resource: ApiResource; label: string }

export type CountNamespaceObjects = (namespace: string, signal?: AbortSignal, opts?: CountOptions) => Promise<NamespacedObjectCount[]>;

export function namespaceCounter(c: Client, d: Discovery): CountNamespaceObjects {
  /** whether this API server counts the rest of a metadata-only list (remainingItemCount); learned on the first that does not */
  let metadataListsCount = true;

  /** One resource counted from one request, or null when the server does not say how many. */
  async function countFromOneRequest(base: string, what: { verb: string; what: string }, signal?: AbortSignal): Promise<number | null> {
    // one item and the server's count of the rest: no list of every object. Some API servers
    // (1.20) leave remainingItemCount out of a PartialObjectMetadataList but not of a full
    // list: asked again as JSON once, and as JSON from then on in this process
    const op = { ...what, retry: c.diagnosisRetry };
    const firstAs = async (a: string) => countFromFirstPage(await c.get(base, { limit: 1 }, a, signal, op) as ListPage<unknown>);
    let n = metadataListsCount ? await firstAs(METADATA_LIST) : null;
    if (n === null) {
      n = await firstAs('application/json');
      if (n !== null && metadataListsCount) metadataListsCount = false;
    }
    return n;
  }

  async function countOne(namespace: string, { gv, resource, label }: Target, withFinalizers: boolean, signal?: AbortSignal): Promise<NamespacedObjectCount> {
    const base = `${discoveryPath(gv)}/namespaces/${encodeURIComponent(namespace)}/${resource.name}`;
    let count = 0;
    const finalizers = new Set<string>();
    const what = { verb: 'list', what: `${label} in namespace ${namespace}` };
    try {
      if (!withFinalizers) {
        const n = await countFromOneRequest(base, what, signal);
        if (n !== null) return { resource: label, kind: resource.kind, count: n, finalizers: [] };
      }
      await paginate<{ metadata?: ObjectMeta }>(c, { ...what, retry: c.diagnosisRetry }, signal, base, (items) => {
        for (const item of items) {
          count++;
          for (const f of item.metadata?.finalizers ?? []) finalizers.add(f);
        }
      }, { accept: METADATA_LIST, notFound: 'raw', onRestart: () => { count = 0; finalizers.clear(); } });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (isNotFound(e)) return { resource: label, kind: resource.kind, count: 0, finalizers: [] };
      return { resource: `${label} (list failed: ${shortReason(e)})`, kind: resource.kind, count: 0, finalizers: [] };
    }
    return { resource: label, kind: resource.kind, count, finalizers: [...finalizers].sort() };
  }

  return async function countNamespaceObjects(namespace, signal, opts = {}) {
    const withFinalizers = opts.finalizers ?? true;
    const gvs = await d.preferredGroupVersions(signal);
    const failed: NamespacedObjectCount[] = [];
    const perGv = await runPool(gvs, PARALLEL, async (gv) => {
      try {
        return { gv, resources: await d.discover(gv, signal, c.diagnosisRetry) };
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        failed.push({ resource: `${gv} (discovery failed: ${shortReason(e)})`, kind: '', count: 0, finalizers: [] });
        return { gv, resources: [] as ApiResource[] };
      }
    });
    const seen = new Set<string>();
    const targets: Target[] = [];
    for (const { gv, group, resource: r } of namespacedListable(perGv)) {
      // extensions/v1beta1 serves the same Ingresses (etc.) as their real groups on old servers: count once
      if (group === 'extensions' && seen.has(`${r.name}/${r.kind}`)) continue;
      seen.add(`${r.name}/${r.kind}`);
      const label = group ? `${r.name}.${group}` : r.name;
      if (!opts.only || opts.only.has(label)) targets.push({ gv, resource: r, label });
    }
    const counted = await runPool(targets, PARALLEL, (t) => countOne(namespace, t, withFinalizers, signal));
    return [
      ...counted.filter((x) => x.count > 0 || x.resource.includes('(list failed')),
      ...failed,
    ];
  };
}
