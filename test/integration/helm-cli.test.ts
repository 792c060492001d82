// The Helm adapter (src/adapters/helm-cli.ts) driving the real helm v4 against the test cluster,
// with the test chart test/fixtures/charts/customer-instance.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { makeHelm } from '../../src/adapters/helm-cli.js';
import { OperationError } from '../../src/errors.js';
import { coreApi, openCostName, provisionCustomer, randomKey, rbacApi } from '../support/fixtures.js';

function helmEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const home = path.join(inject('runDir'), 'helm');
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_DATA_HOME: path.join(home, 'data'),
    ...extra,
  };
}

/** HELM_* settings of a shell pointed elsewhere: the adapter must ignore them. */
const hostileEnv = {
  HELM_KUBECONTEXT: 'no-such-context',
  HELM_NAMESPACE: 'kube-system',
  HELM_KUBEAPISERVER: 'https://127.0.0.1:1',
  KUBECONFIG: '/nonexistent/kubeconfig',
};

function adapter(extra: Record<string, string> = {}) {
  return makeHelm({ helmBin: inject('helmBin'), kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: helmEnv(extra) });
}

async function readClusterRole(name: string): Promise<boolean> {
  try {
    await rbacApi().readClusterRole({ name });
    return true;
  } catch (e) {
    if ((e as { code?: number }).code === 404) return false;
    throw e;
  }
}

describe('helm-cli against helm v4 and the test cluster', () => {
  it('lists, reads the manifest, uninstalls, then reports not-found (HELM_* of the shell ignored)', async () => {
    const c = await provisionCustomer(randomKey('hl'), { row: false });
    const helm = adapter(hostileEnv);
    try {
      const releases = await helm.listReleases(c.namespace);
      expect(releases).toEqual([{ name: c.release, namespace: c.namespace, status: 'deployed', chart: expect.stringMatching(/^customer-instance-/), revision: '1' }]);

      const { objects } = await helm.readRelease(c.release, c.namespace);
      expect(objects).toEqual(expect.arrayContaining([
        expect.objectContaining({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: openCostName(c.key) }),
        expect.objectContaining({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', name: openCostName(c.key) }),
        expect.objectContaining({ apiVersion: 'v1', kind: 'ConfigMap' }),
      ]));
      expect(objects.some((o) => o.kind === 'CustomResourceDefinition')).toBe(false);
      expect(await readClusterRole(openCostName(c.key))).toBe(true);

      expect(await helm.uninstall(c.release, c.namespace, 120_000)).toBe('uninstalled');
      expect(await helm.listReleases(c.namespace)).toEqual([]);
      expect(await readClusterRole(openCostName(c.key))).toBe(false);

      expect(await helm.uninstall(c.release, c.namespace, 30_000)).toBe('not-found');
      expect((await helm.readRelease(c.release, c.namespace)).objects).toEqual([]);
    } finally {
      await coreApi().deleteNamespace({ name: c.namespace }).catch(() => undefined);
    }
  });

  it('runs the real helm with exactly the DESIGN uninstall command line (no --wait, no --cascade)', async () => {
    const c = await provisionCustomer(randomKey('hw'), { row: false });
    const dir = mkdtempSync(path.join(tmpdir(), 'helm-argv-'));
    const argvLog = path.join(dir, 'argv');
    const shim = path.join(dir, 'helm');
    writeFileSync(shim, `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec '${inject('helmBin')}' "$@"\n`);
    chmodSync(shim, 0o755);
    const helm = makeHelm({ helmBin: shim, kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: helmEnv() });
    try {
      expect(await helm.uninstall(c.release, c.namespace, 90_000, undefined, { justListed: true })).toBe('uninstalled');
      expect(readFileSync(argvLog, 'utf8').trim().split('\n')).toEqual([
        `uninstall ${c.release} -n ${c.namespace} --timeout 90s --ignore-not-found --kubeconfig ${inject('kubeconfig')} --kube-context ${inject('kubeContext')}`,
      ]);
      expect(await adapter().listReleases(c.namespace)).toEqual([]);
      expect(await readClusterRole(openCostName(c.key))).toBe(false);
    } finally {
      await coreApi().deleteNamespace({ name: c.namespace }).catch(() => undefined);
    }
  });

  it('finds a CRD in a release manifest', async () => {
    const c = await provisionCustomer(randomKey('hc'), { row: false, crd: true });
    const helm = adapter();
    try {
      const { objects } = await helm.readRelease(c.release, c.namespace);
      expect(objects).toEqual(expect.arrayContaining([
        expect.objectContaining({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' }),
      ]));
    } finally {
      await helm.uninstall(c.release, c.namespace, 120_000).catch(() => undefined);
      await coreApi().deleteNamespace({ name: c.namespace }).catch(() => undefined);
    }
  });

  it('a namespace without releases lists none', async () => {
    expect(await adapter().listReleases(`customer-${randomKey('hn')}`)).toEqual([]);
  });

  it('a missing binary is an OperationError naming HELM_BIN', async () => {
    const helm = makeHelm({ helmBin: '/nonexistent/helm', kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: helmEnv() });
    await expect(helm.listReleases('customer-x')).rejects.toThrow(new OperationError('helm not found: HELM_BIN=/nonexistent/helm (set HELM_BIN to the helm binary, v3.8+ or v4)', [], { permanent: true }));
  });

  it('a wrong context fails with helm\'s message and the command', async () => {
    const helm = makeHelm({ helmBin: inject('helmBin'), kubeconfig: inject('kubeconfig'), context: 'no-such-context', env: helmEnv() });
    const err = await helm.listReleases('customer-x').catch((e: unknown) => e) as OperationError;
    expect(err).toBeInstanceOf(OperationError);
    expect(err.message).toMatch(/helm list failed \(exit 1\): .*no-such-context/);
    expect(err.details.join('\n')).toContain(`--kube-context no-such-context`);
    // a context helm cannot use: permanent, not re-run
    expect(err.permanent, err.message).toBe(true);
  });
});
