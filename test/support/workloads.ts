/** A customer instance with workloads to suspend (soft delete), and how they stand: for the soft-delete and cancel tests. */
import { kubectl, kubectlJson, provisionCustomer, randomKey } from './fixtures.js';

export const SUSPENDED_ANNOTATION = 'custctl.io/suspended-from';

/** A customer with the chart's Deployment (1 replica) plus a 3-replica Deployment, a StatefulSet and two CronJobs (one already suspended). */
export async function provisionWithWorkloads(prefix: string, opts: Parameters<typeof provisionCustomer>[1] = {}) {
  const c = await provisionCustomer(randomKey(prefix), opts);
  const objects = [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web3', namespace: c.namespace }, spec: { replicas: 3, selector: { matchLabels: { app: 'web3' } }, template: { metadata: { labels: { app: 'web3' } }, spec: { containers: [{ name: 'a', image: 'registry.invalid/pause:3' }] } } } },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: c.namespace }, spec: { replicas: 2, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'a', image: 'registry.invalid/pause:3' }] } } } },
    { apiVersion: 'batch/v1beta1', kind: 'CronJob', metadata: { name: 'report', namespace: c.namespace }, spec: { schedule: '*/5 * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'registry.invalid/pause:3' }] } } } } } },
    { apiVersion: 'batch/v1beta1', kind: 'CronJob', metadata: { name: 'paused', namespace: c.namespace }, spec: { suspend: true, schedule: '0 1 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'registry.invalid/pause:3' }] } } } } } },
  ];
  await kubectl(['apply', '-f', '-'], { input: objects.map((o) => JSON.stringify(o)).join('\n'), check: true });
  return c;
}

/** What provisionWithWorkloads creates, as it stands before any suspension. */
export const AS_DEPLOYED = {
  replicas: { 'Deployment/customer-instance': 1, 'Deployment/web3': 3, 'StatefulSet/db': 2 },
  suspend: { 'CronJob/report': false, 'CronJob/paused': true },
};
/** ... and suspended (soft delete). */
export const SUSPENDED = {
  replicas: { 'Deployment/customer-instance': 0, 'Deployment/web3': 0, 'StatefulSet/db': 0 },
  suspend: { 'CronJob/report': true, 'CronJob/paused': true },
};

export interface Workloads { replicas: Record<string, number>; suspend: Record<string, boolean>; annotations: Record<string, string | undefined> }

export async function workloads(namespace: string): Promise<Workloads> {
  const list = await kubectlJson<{ items: Array<{ kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: { replicas?: number; suspend?: boolean } }> }>(['get', 'deployments,statefulsets,cronjobs', '-n', namespace, '-o', 'json']);
  const w: Workloads = { replicas: {}, suspend: {}, annotations: {} };
  for (const i of list.items) {
    const k = `${i.kind}/${i.metadata.name}`;
    if (i.kind === 'CronJob') w.suspend[k] = i.spec.suspend ?? false;
    else w.replicas[k] = i.spec.replicas ?? 1;
    w.annotations[k] = i.metadata.annotations?.[SUSPENDED_ANNOTATION];
  }
  return w;
}
