/** Deployments, StatefulSets and CronJobs of a namespace, and the patches that suspend and resume them (soft delete). */
import type { Kube, Workload, WorkloadKind } from '../../kube.js';
import type { Client } from '../client.js';
import { isNotFound } from '../errors.js';
import { listAll } from '../paging.js';

interface RawWorkload { metadata?: { name?: string; annotations?: Record<string, string>; resourceVersion?: string }; spec?: { replicas?: number; suspend?: boolean } }

export type WorkloadApi = Pick<Kube, 'listWorkloads' | 'patchWorkload'>;

export function workloadApi(c: Client): WorkloadApi {
  /** Where each workload kind lives in the API. */
  // CronJobs are batch/v1 from Kubernetes 1.21, batch/v1beta1 before (and on older servers only)
  const WORKLOAD_PATHS: Record<WorkloadKind, string> = { Deployment: 'apis/apps/v1/namespaces/%/deployments', StatefulSet: 'apis/apps/v1/namespaces/%/statefulsets', CronJob: 'apis/batch/v1/namespaces/%/cronjobs' };
  const workloadPath = (kind: WorkloadKind, namespace: string) => `/${WORKLOAD_PATHS[kind].replace('%', encodeURIComponent(namespace))}`;

  async function listWorkloadsOf(kind: WorkloadKind, namespace: string, signal?: AbortSignal): Promise<RawWorkload[]> {
    const op = { verb: 'list', what: `${kind}s in namespace ${namespace}` };
    try {
      return await listAll<RawWorkload>(c, op, signal, workloadPath(kind, namespace), { notFound: 'raw' });
    } catch (e) {
      if (!isNotFound(e) || kind !== 'CronJob' || WORKLOAD_PATHS.CronJob.includes('v1beta1')) throw e;
      WORKLOAD_PATHS.CronJob = 'apis/batch/v1beta1/namespaces/%/cronjobs';
      return listAll<RawWorkload>(c, op, signal, workloadPath(kind, namespace), { notFound: 'empty' });
    }
  }

  async function listWorkloads(namespace: string, signal?: AbortSignal): Promise<Workload[]> {
    const out: Workload[] = [];
    for (const kind of ['Deployment', 'StatefulSet', 'CronJob'] as const) {
      for (const item of await listWorkloadsOf(kind, namespace, signal)) {
        const w: Workload = { kind, name: item.metadata?.name ?? '', annotations: item.metadata?.annotations ?? {}, resourceVersion: item.metadata?.resourceVersion ?? '' };
        if (kind === 'CronJob') w.suspend = item.spec?.suspend ?? false;
        else w.replicas = item.spec?.replicas ?? 1;
        out.push(w);
      }
    }
    return out;
  }

  async function patchWorkload(namespace: string, w: Pick<Workload, 'kind' | 'name' | 'resourceVersion'>, patch: Record<string, unknown>, signal?: AbortSignal): Promise<'patched' | 'not-found'> {
    const meta = (patch.metadata ?? {}) as Record<string, unknown>;
    // the resourceVersion makes the patch a compare-and-set: a concurrent change answers 409 (ConflictError)
    const body = { ...patch, metadata: { ...meta, resourceVersion: w.resourceVersion } };
    const op = { verb: 'patch', what: `${w.kind} ${namespace}/${w.name}` };
    const r = await c.callOr(op, signal, 'not-found' as const, (s) =>
      c.send('PATCH', `${workloadPath(w.kind, namespace)}/${encodeURIComponent(w.name)}`, {}, { body, contentType: 'application/merge-patch+json', signal: s }));
    return r === 'not-found' ? r : 'patched';
  }

  return { listWorkloads, patchWorkload };
}
