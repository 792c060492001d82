import { describe, expect, it } from 'vitest';
import { restoreInstance, suspendInstance, SUSPENDED_ANNOTATION } from '../../src/pipeline/suspend.js';
import type { Workload } from '../../src/adapters/kube.js';
import { FakeKube } from '../support/fakes.js';

function kubeWith() {
  const kube = new FakeKube();
  kube.workloads.set('customer-a', [
    { kind: 'Deployment', name: 'web', replicas: 3, annotations: {}, resourceVersion: '1' },
    { kind: 'StatefulSet', name: 'db', replicas: 0, annotations: {}, resourceVersion: '1' },
    { kind: 'CronJob', name: 'report', suspend: false, annotations: {}, resourceVersion: '1' },
    { kind: 'CronJob', name: 'paused', suspend: true, annotations: {}, resourceVersion: '1' },
  ]);
  return kube;
}

const state = (kube: FakeKube) => (kube.workloads.get('customer-a') ?? []).map((w) => [w.name, w.replicas ?? w.suspend, w.annotations[SUSPENDED_ANNOTATION]]);

describe('suspend and restore (soft delete)', () => {
  it('suspends with the previous values kept, and restores exactly (a 0-replica StatefulSet and a paused CronJob included)', async () => {
    const kube = kubeWith();
    await suspendInstance(kube, 'customer-a');
    expect(state(kube)).toEqual([['web', 0, '3'], ['db', 0, '0'], ['report', true, 'false'], ['paused', true, 'true']]);
    // a second suspend keeps the first values (idempotent)
    await suspendInstance(kube, 'customer-a');
    expect(state(kube)).toEqual([['web', 0, '3'], ['db', 0, '0'], ['report', true, 'false'], ['paused', true, 'true']]);
    await restoreInstance(kube, 'customer-a');
    expect(state(kube)).toEqual([['web', 3, undefined], ['db', 0, undefined], ['report', false, undefined], ['paused', true, undefined]]);
    // nothing annotated: a restore touches nothing
    const before = kube.calls.length;
    await restoreInstance(kube, 'customer-a');
    expect(kube.calls.slice(before).filter((c) => c.startsWith('patch'))).toEqual([]);
  });

  it('re-reads an object changed meanwhile (409 on its resourceVersion) instead of overwriting it', async () => {
    const kube = kubeWith();
    const patch = kube.patchWorkload.bind(kube);
    let raced = false;
    kube.patchWorkload = async (ns: string, w: Pick<Workload, 'kind' | 'name' | 'resourceVersion'>, p: Record<string, unknown>) => {
      if (!raced && w.name === 'web') {
        raced = true; // billing scales it to 5 between our read and our patch
        const it = (kube.workloads.get(ns) ?? []).find((x) => x.name === 'web');
        if (it) { it.replicas = 5; it.resourceVersion = '7'; }
      }
      return patch(ns, w, p);
    };
    await suspendInstance(kube, 'customer-a');
    expect(state(kube)[0]).toEqual(['web', 0, '5']);
  });
});
