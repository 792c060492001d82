/**
 * The test environment's second control plane (test/env/second-cluster.ts): started on demand,
 * a cluster of its own (its own CA, etcd and API server), and one kubeconfig that holds both.
 */
import { execa } from 'execa';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { testEnv } from '../support/env.js';
import { kubectl, randomKey } from '../support/fixtures.js';
import { SECOND_CLUSTER_START_MS, firstCluster, kubectlArgsForSecond, secondCluster, type SecondCluster } from '../support/second-cluster.js';

let second: SecondCluster;

function kubectlB(args: readonly string[]) {
  return execa(testEnv().kubectlBin, kubectlArgsForSecond(second, args), { reject: false, timeout: 120_000 });
}

function kubectlFleet(context: string, args: readonly string[]) {
  return execa(testEnv().kubectlBin, ['--kubeconfig', second.fleetKubeconfig, '--context', context, '--cache-dir', path.join(second.runDir, 'kube-cache-fleet'), ...args], { reject: false, timeout: 120_000 });
}

beforeAll(async () => {
  second = await secondCluster();
}, SECOND_CLUSTER_START_MS);

describe('the second cluster', () => {
  it('is another API server, with its own context, answering beside the first', async () => {
    const first = firstCluster();
    expect(second.apiServer).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(second.apiServer).not.toBe(first.apiServer);
    expect(second.kubeContext).toBe('custctl-test-b');
    expect(second.kubeContext).not.toBe(first.kubeContext);
    const [a, b] = await Promise.all([kubectl(['get', '--raw', '/readyz']), kubectlB(['get', '--raw', '/readyz'])]);
    expect(a.stdout.trim()).toBe('ok');
    expect(b.stdout.trim()).toBe('ok');
    // the service-account controller runs there too
    expect((await kubectlB(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name'])).stdout.trim()).toBe('serviceaccount/default');
  });

  it('is asked for again: the same cluster, not a new one', async () => {
    expect(await secondCluster()).toEqual(second);
  });

  it('has its own CA: the first cluster\'s credentials are not accepted there', async () => {
    const r = await execa(testEnv().kubectlBin, ['--kubeconfig', testEnv().kubeconfig, '--server', second.apiServer, 'get', 'namespaces'], { reject: false, timeout: 60_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/certificate|x509|tls/i);
  });

  it('a namespace created on one cluster is absent on the other', async () => {
    const onA = `fleet-a-${randomKey()}`;
    const onB = `fleet-b-${randomKey()}`;
    try {
      expect((await kubectl(['create', 'namespace', onA])).exitCode).toBe(0);
      expect((await kubectlB(['create', 'namespace', onB])).exitCode).toBe(0);
      expect((await kubectl(['get', 'namespace', onA, '-o', 'name'])).stdout.trim()).toBe(`namespace/${onA}`);
      expect((await kubectlB(['get', 'namespace', onB, '-o', 'name'])).stdout.trim()).toBe(`namespace/${onB}`);
      const missingOnB = await kubectlB(['get', 'namespace', onA]);
      expect(missingOnB.exitCode).toBe(1);
      expect(missingOnB.stderr).toMatch(/NotFound/);
      const missingOnA = await kubectl(['get', 'namespace', onB]);
      expect(missingOnA.exitCode).toBe(1);
      expect(missingOnA.stderr).toMatch(/NotFound/);
    } finally {
      await kubectl(['delete', 'namespace', onA, '--wait=false', '--ignore-not-found']);
      await kubectlB(['delete', 'namespace', onB, '--wait=false', '--ignore-not-found']);
    }
  });

  it('the fleet kubeconfig holds both contexts, each reaching its own cluster', async () => {
    const contexts = await kubectlFleet('custctl-test', ['config', 'get-contexts', '-o', 'name']);
    expect(contexts.stdout.trim().split('\n').sort()).toEqual(['custctl-test', 'custctl-test-b']);
    const ns = `fleet-k-${randomKey()}`;
    try {
      expect((await kubectlFleet('custctl-test-b', ['create', 'namespace', ns])).exitCode).toBe(0);
      expect((await kubectlFleet('custctl-test-b', ['get', 'namespace', ns, '-o', 'name'])).stdout.trim()).toBe(`namespace/${ns}`);
      expect((await kubectlFleet('custctl-test', ['get', 'namespace', ns])).stderr).toMatch(/NotFound/);
    } finally {
      await kubectlB(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
    }
  });
});
