/**
 * What one process asks of the API server's connections and of the credential plugin, on the
 * real control plane: one pool of kept-alive connections for every request; an exec plugin run
 * once per process (custctl's requests and helm's alike).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { openKube } from '../../src/adapters/kube/index.js';
import { custctlJson, tempStateDir } from '../support/cli.js';
import { coreApi, getNamespace, kubectl, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';

/** Counts the TLS connections opened while `fn` runs (node:https opens them through tls.connect). */
async function tlsConnections(fn: () => Promise<unknown>): Promise<number> {
  const original = tls.connect;
  let n = 0;
  (tls as { connect: typeof tls.connect }).connect = ((...args: Parameters<typeof tls.connect>) => { n++; return original(...args); }) as typeof tls.connect;
  try {
    await fn();
  } finally {
    (tls as { connect: typeof tls.connect }).connect = original;
  }
  return n;
}

describe('one pool of kept-alive connections per API server', () => {
  it('60 requests (40 one after another, 20 at once) open at most 21 connections; without the pool, 60', async () => {
    const work = async (keepAlive: boolean) => {
      const kube = await openKube({ kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: {}, userAgent: 'custctl-it/transport', transport: { keepAlive } });
      for (let i = 0; i < 40; i++) expect(await kube.getNamespace('default')).not.toBeNull();
      await Promise.all(Array.from({ length: 20 }, () => kube.getNamespace('kube-system')));
    };
    const pooled = await tlsConnections(() => work(true));
    const unpooled = await tlsConnections(() => work(false));
    console.log(`[transport] 60 requests: ${pooled} TLS connections with the pool, ${unpooled} without`);
    expect(pooled).toBeGreaterThanOrEqual(1);
    expect(pooled).toBeLessThanOrEqual(21);
    expect(unpooled).toBe(60);
  });
});

describe('an exec credential plugin runs once per process, for custctl and helm', () => {
  const state = tempStateDir();
  const sa = `exec-${randomKey('x')}`;
  let kubeconfig: string;
  let runs: string;

  beforeAll(async () => {
    await kubectl(['create', 'serviceaccount', sa, '-n', 'default'], { check: true });
    await kubectl(['create', 'clusterrolebinding', sa, '--clusterrole=cluster-admin', `--serviceaccount=default:${sa}`], { check: true });
    const token = await waitFor(async () => {
      const secrets = await coreApi().listNamespacedSecret({ namespace: 'default' });
      const s = secrets.items.find((x) => x.type === 'kubernetes.io/service-account-token' && x.metadata?.annotations?.['kubernetes.io/service-account.name'] === sa);
      return s?.data?.token ? Buffer.from(s.data.token, 'base64').toString() : null;
    }, 'the service account token', 30_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-exec-it-'));
    runs = path.join(dir, 'runs');
    const plugin = path.join(dir, 'token-plugin');
    // a managed cluster's plugin takes 0.5–1 s; this one sleeps 0.5 s and records each run
    writeFileSync(plugin, `#!/bin/sh\necho run >> '${runs}'\nsleep 0.5\nprintf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' '${token}'\n`);
    chmodSync(plugin, 0o755);
    const admin = parse(readFileSync(inject('kubeconfig'), 'utf8')) as { clusters: Array<{ name: string }>; contexts: Array<{ name: string; context: Record<string, string> }> };
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'exec',
      clusters: admin.clusters,
      users: [{ name: 'exec', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: plugin, interactiveMode: 'Never' } } }],
      contexts: [{ name: 'exec', context: { cluster: admin.clusters[0]?.name ?? '', user: 'exec' } }],
    }), { mode: 0o600 });
  });
  afterAll(async () => {
    await kubectl(['delete', 'clusterrolebinding', sa]);
    await kubectl(['delete', 'serviceaccount', sa, '-n', 'default']);
  });

  const pluginRuns = () => (existsSync(runs) ? readFileSync(runs, 'utf8').trim().split('\n').length : 0);

  it('a bulk deletion of three customers with helm for every release runs the plugin once; helm acts as the plugin\'s user', async () => {
    const customers = await Promise.all([0, 1, 2].map(() => provisionCustomer(randomKey('xc'))));
    const before = pluginRuns();
    const started = Date.now();
    const { result, json } = await custctlJson<{ results: Array<{ state: string; result: { releases: Array<{ outcome: string }> } | null }> }>(
      ['delete', ...customers.map((c) => c.customerId), '--yes', '--helm-uninstall', 'always'], { env: { CUSTCTL_STATE_DIR: state, KUBECONFIG: kubeconfig } });
    console.log(`[exec plugin] 3 deletions with helm in ${((Date.now() - started) / 1000).toFixed(1)} s: ${pluginRuns() - before} plugin run(s)`);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.results.map((r) => r.result?.releases[0]?.outcome)).toEqual(['uninstalled', 'uninstalled', 'uninstalled']);
    for (const c of customers) expect(await getNamespace(c.namespace)).toBeNull();
    expect(pluginRuns() - before).toBe(1);
    // helm's requests were made with the plugin's token (the service account), not another credential
    await new Promise((r) => setTimeout(r, 1000));
    const helmUsers = new Set<string>();
    for (const line of readFileSync(inject('auditLog'), 'utf8').split('\n')) {
      if (!line.includes(customers[0]?.namespace ?? '?')) continue;
      const ev = JSON.parse(line) as { userAgent?: string; user?: { username?: string }; requestReceivedTimestamp?: string };
      // helm's requests during the deletion (the install before it was the admin's)
      if (/^helm\//i.test(ev.userAgent ?? '') && Date.parse(ev.requestReceivedTimestamp ?? '') >= started) helmUsers.add(ev.user?.username ?? '');
    }
    expect([...helmUsers]).toEqual([`system:serviceaccount:default:${sa}`]);
  });
});
