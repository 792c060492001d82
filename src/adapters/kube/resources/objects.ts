/**
 * Objects of any type, for backups and restores: every object of a namespace (export), one
 * cluster-scoped object (read), any object (create). Types are found by discovery.
 */
import { ConflictError, OperationError } from '../../../errors.js';
import type { KubeObject } from '../../../domain/backup.js';
import { runPool } from '../../../util/pool.js';
import type { Kube } from '../../kube.js';
import type { Client } from '../client.js';
import { discoveryPath, namespacedListable, type ApiResource, type Discovery } from '../discovery.js';
import { isNotFound } from '../errors.js';
import { paginate } from '../paging.js';

/** Parallel discovery/list requests. */
const PARALLEL = 6;

export type ObjectApi = Pick<Kube, 'exportNamespaceObjects' | 'readClusterObject' | 'createObject'>;

export function objectApi(c: Client, d: Discovery): ObjectApi {
  return {
    exportNamespaceObjects: (namespace, signal) => exportNamespaceObjects(c, d, namespace, signal),
    readClusterObject: (apiVersion, kind, name, signal) => readClusterObject(c, d, apiVersion, kind, name, signal),
    createObject: (o, signal) => createObject(c, d, o, signal),
  };
}

/**
 * Every object of every listable namespaced resource type in the namespace (CRDs included, events
 * left out), as full JSON with apiVersion and kind set. A type that fails to list fails the call:
 * a backup must not silently miss objects.
 */
async function exportNamespaceObjects(c: Client, d: Discovery, namespace: string, signal?: AbortSignal): Promise<KubeObject[]> {
  const gvs = await d.preferredGroupVersions(signal);
  const perGv = await runPool(gvs, PARALLEL, async (gv) => ({ gv, resources: await d.discover(gv, signal) }));
  const seen = new Set<string>();
  const targets: Array<{ gv: string; resource: ApiResource }> = [];
  for (const { gv, resource } of namespacedListable(perGv)) {
    if (seen.has(resource.kind)) continue; // the same kind served by two groups (extensions/v1beta1, events.k8s.io): once
    seen.add(resource.kind);
    targets.push({ gv, resource });
  }
  const lists = await runPool(targets, PARALLEL, async ({ gv, resource }) => {
    const items: KubeObject[] = [];
    await paginate<KubeObject>(c, { verb: 'list', what: `${resource.name} in namespace ${namespace}` }, signal,
      `${discoveryPath(gv)}/namespaces/${encodeURIComponent(namespace)}/${resource.name}`,
      (page) => { for (const item of page) items.push({ ...item, apiVersion: gv, kind: resource.kind }); },
      { notFound: 'raw', onRestart: () => { items.length = 0; } });
    return items;
  });
  return lists.flat();
}

async function readClusterObject(c: Client, d: Discovery, apiVersion: string, kind: string, name: string, signal?: AbortSignal): Promise<KubeObject | null> {
  const r = await d.resourceOf(apiVersion, kind, signal);
  try {
    const o = await c.get(`${discoveryPath(apiVersion)}/${r.name}/${encodeURIComponent(name)}`, {}, 'application/json', signal, { verb: 'get', what: `${r.name} ${name}` }) as KubeObject;
    return { ...o, apiVersion, kind };
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** POST the object; 'exists' on 409 AlreadyExists (a retry whose first answer was lost counts as created). */
async function createObject(c: Client, d: Discovery, o: KubeObject, signal?: AbortSignal): Promise<'created' | 'exists'> {
  const r = await d.resourceOf(o.apiVersion, o.kind, signal);
  const ns = r.namespaced ? o.metadata.namespace : undefined;
  if (r.namespaced && !ns) throw new OperationError(`${o.kind} ${o.metadata.name} has no namespace`);
  const path = `${discoveryPath(o.apiVersion)}${ns ? `/namespaces/${encodeURIComponent(ns)}` : ''}/${r.name}`;
  try {
    await c.request('POST', path, {}, 'application/json', o, signal, { verb: 'create', what: `${r.name} ${ns ? `${ns}/` : ''}${o.metadata.name}` });
    return 'created';
  } catch (e) {
    if (e instanceof ConflictError) return 'exists';
    throw e;
  }
}
