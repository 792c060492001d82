// Helm's release list, manifests and hooks read from its release Secrets (or ConfigMaps) through custctl's own client
// (src/adapters/helm-storage.ts) must say exactly what `helm list` / `helm get manifest` say:
// the real helm v4 writes the records here, and the CLI adapter is the yardstick.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeHelm } from '../../src/adapters/helm-cli.js';
import { openKube } from '../../src/adapters/kube/index.js';
import type { Kube } from '../../src/adapters/kube.js';
import { CHART_DIR, coreApi, helm, provisionCustomer, randomKey, type ProvisionedCustomer } from '../support/fixtures.js';

function helmEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const home = path.join(inject('runDir'), 'helm');
  return {
    PATH: process.env.PATH, HOME: process.env.HOME,
    HELM_CONFIG_HOME: path.join(home, 'config'), HELM_CACHE_HOME: path.join(home, 'cache'), HELM_DATA_HOME: path.join(home, 'data'),
    ...extra,
  };
}

let kube: Kube;
let c: ProvisionedCustomer;
let reads = 0;
let smallChart: string;
const second = (key: string) => `extra-${key}`;

function adapters(extra: Record<string, string> = {}) {
  const common = { helmBin: inject('helmBin'), kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: helmEnv(extra) };
  return {
    cli: makeHelm(common),
    storage: makeHelm({ ...common, releaseRecords: (ns, resource, signal) => { reads++; return kube.listHelmReleaseRecords(ns, resource, signal); } }),
  };
}

describe('helm release records read through the API server', () => {
  beforeAll(async () => {
    kube = await openKube({ kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: {}, userAgent: 'custctl-it/helm-storage' });
    c = await provisionCustomer(randomKey('hs'), { row: false });
    // revision 2 of the customer's release (another manifest), and a second release in the namespace
    await helm(['upgrade', c.release, CHART_DIR, '-n', c.namespace, '--set', `customerKey=${c.key}`, '--set', 'extraConfigMaps=2', '--set', 'clusterRbac=false'], { check: true });
    // a second, small chart (the customer chart's object names are fixed)
    const chart = mkdtempSync(path.join(tmpdir(), 'custctl-chart-'));
    smallChart = chart;
    mkdirSync(path.join(chart, 'templates'));
    writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: extra\nversion: 1.2.3\n');
    writeFileSync(path.join(chart, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: b\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-s\nstringData:\n  k: v\n');
    await helm(['install', second(c.key), chart, '-n', c.namespace], { check: true });
  }, 180_000);
  afterAll(async () => {
    await coreApi().deleteNamespace({ name: c.namespace }).catch(() => undefined);
  });

  it('lists the latest revision of every release, as helm list does', async () => {
    const { cli, storage } = adapters();
    const fromCli = await cli.listReleases(c.namespace);
    const fromStorage = await storage.listReleases(c.namespace);
    expect(fromCli.map((r) => r.name).sort()).toEqual([c.release, second(c.key)].sort());
    expect([...fromStorage].sort((a, b) => a.name.localeCompare(b.name))).toEqual([...fromCli].sort((a, b) => a.name.localeCompare(b.name)));
    expect(fromStorage.find((r) => r.name === c.release)?.revision).toBe('2');
  }, 60_000);

  it('gives each release the manifest helm get manifest gives, from the same one read', async () => {
    const { cli, storage } = adapters();
    const before = reads;
    const releases = await storage.listReleases(c.namespace);
    for (const r of releases) {
      const mine = (await storage.readRelease(r.name, c.namespace)).objects;
      expect(mine).toEqual((await cli.readRelease(r.name, c.namespace)).objects);
      expect(mine.length).toBeGreaterThan(0);
    }
    // the list and both manifests: one request
    expect(reads - before).toBe(1);
    // revision 2 dropped the cluster RBAC (a manifest asked for again is read again)
    const { objects } = await storage.readRelease(c.release, c.namespace);
    expect(objects.some((o) => o.kind === 'ClusterRole')).toBe(false);
    expect(reads - before).toBe(2);
  }, 60_000);

  it('a release that is not there has no manifest, and an empty namespace no releases', async () => {
    const { storage } = adapters();
    expect(await storage.readRelease('no-such-release', c.namespace)).toEqual({ objects: [], unreadable: [], deleteHooks: [] });
    expect(await storage.listReleases('default')).toEqual([]);
  }, 60_000);

  it('with HELM_DRIVER=configmap the ConfigMap records are read, as helm reads them', async () => {
    const { cli, storage } = adapters({ HELM_DRIVER: 'configmap' });
    const name = `cm-${c.key}`;
    await helm(['install', name, smallChart, '-n', c.namespace], { check: true, env: { HELM_DRIVER: 'configmap' } });
    const before = reads;
    const fromStorage = await storage.listReleases(c.namespace);
    expect(fromStorage).toEqual(await cli.listReleases(c.namespace));
    expect(fromStorage.map((r) => r.name)).toEqual([name]);
    expect(reads - before).toBe(1);
    expect((await storage.readRelease(name, c.namespace)).objects).toEqual((await cli.readRelease(name, c.namespace)).objects);
    expect(storage.recordsInNamespace).toBe(true);
    // any other driver keeps its records elsewhere: the CLI is asked
    const sql = adapters({ HELM_DRIVER: 'sql' }).storage;
    expect(sql.recordsInNamespace).toBe(false);
    await helm(['uninstall', name, '-n', c.namespace], { check: true, env: { HELM_DRIVER: 'configmap' } });
  }, 120_000);

  it("reads the release's delete hooks as helm get hooks shows them", async () => {
    const { storage } = adapters();
    const chart = mkdtempSync(path.join(tmpdir(), 'custctl-chart-hooks-'));
    mkdirSync(path.join(chart, 'templates'));
    writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: hooks\nversion: 0.1.0\n');
    const hook = (name: string, events: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  annotations:\n    helm.sh/hook: ${events}\ndata:\n  a: b\n`;
    writeFileSync(path.join(chart, 'templates', 'hooks.yaml'), [hook('before', 'pre-delete'), hook('both', 'post-install,post-delete'), hook('tested', 'test')].join('---\n'));
    writeFileSync(path.join(chart, 'templates', 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain-{{ .Release.Name }}\n');
    const name = `hooks-${c.key}`;
    await helm(['install', name, chart, '-n', c.namespace], { check: true });
    const shown = (await helm(['get', 'hooks', name, '-n', c.namespace], { check: true })).stdout;
    for (const n of ['before', 'both', 'tested']) expect(shown).toContain(`name: ${n}`);
    const r = await storage.readRelease(name, c.namespace);
    expect(r.objects).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: `plain-${name}` }]);
    expect(r.deleteHooks).toEqual([
      { kind: 'ConfigMap', name: 'before', events: ['pre-delete'] },
      { kind: 'ConfigMap', name: 'both', events: ['post-delete'] },
    ]);
    await helm(['uninstall', name, '-n', c.namespace, '--no-hooks'], { check: true });
  }, 120_000);

  it('an uninstalled release is gone from the list and its manifest is empty', async () => {
    const { cli, storage } = adapters();
    expect(await cli.uninstall(second(c.key), c.namespace, 120_000)).toBe('uninstalled');
    expect((await storage.listReleases(c.namespace)).map((r) => r.name)).toEqual([c.release]);
    expect((await storage.readRelease(second(c.key), c.namespace)).objects).toEqual([]);
  }, 180_000);
});
