/**
 * The fleet's rules (src/domain/clusters.ts) and the clusters file's loader
 * (src/adapters/clusters-config.ts): strict, naming the file and the entry; and `clusterFor`, which
 * never chooses a cluster a row does not name in a fleet of several.
 */
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clusterKubeconfig, inClusterKubeconfig, loadFleet, openClusterKube } from '../../src/adapters/clusters-config.js';
import { makeDeps } from '../../src/deps.js';
import {
  clusterFor, concurrencyFor, describeCluster, groupByCluster, implicitClusterName, implicitFleet, parseClusterColumn,
  parseClustersDoc, sameServers, type ClusterEntry, type Fleet,
} from '../../src/domain/clusters.js';
import { UsageError } from '../../src/errors.js';
import { bufferIO } from '../support/buffer-io.js';

const WHERE = 'CUSTCTL_CLUSTERS_FILE /etc/custctl/clusters.yaml';
const DIR = '/etc/custctl';

const entry = (name: string, over: Partial<ClusterEntry> = {}): ClusterEntry => ({ name, kubeconfig: `/k/${name}.yaml`, inCluster: false, timeouts: {}, ...over });
const fleetOf = (...names: string[]): Fleet => ({ source: WHERE, clusters: names.map((n) => entry(n)), column: 'cluster' });
const one: Fleet = { source: 'KUBECONFIG', clusters: [entry('kind-dev')], column: 'cluster' };
const three = fleetOf('eu-1', 'us-1', 'ap-1');

function refusal(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('CUSTCTL_CLUSTER_COLUMN', () => {
  it.each([
    [undefined, 'cluster'], ['', 'cluster'], ['cluster', 'cluster'], ['k8s_cluster', 'k8s_cluster'], ['Region', 'Region'], ['_c1', '_c1'],
  ])('%j → %s', (raw, column) => {
    expect(parseClusterColumn(raw)).toBe(column);
  });

  it.each(['1cluster', 'cluster name', 'cluster;drop table customers', '"cluster"', 'a'.repeat(64), 'clüster', 'public.cluster'])('%j is refused (exit 2)', (raw) => {
    const e = refusal(() => parseClusterColumn(raw));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/^CUSTCTL_CLUSTER_COLUMN=.* is not a column name/);
  });
});

describe('one cluster configured the usual way', () => {
  it.each([
    ['kind-dev', 'kind-dev'],
    ['prod-eu-1', 'prod-eu-1'],
    ['custctl-test', 'custctl-test'],
    [null, 'default'],
    ['arn:aws:eks:eu-west-1:123456789012:cluster/prod', 'default'],
    ['gke_project_europe-west1_prod', 'default'],
    ['admin@prod', 'default'],
    ['Prod', 'default'],
    ['-prod', 'default'],
  ])('context %j: the one-entry fleet is named %s', (context, name) => {
    expect(implicitClusterName(context)).toBe(name);
  });

  it('keeps the flags as given (the usual lookup stays the kube adapter\'s) and says where the cluster came from', () => {
    expect(implicitFleet({ context: 'kind-dev', env: { KUBECONFIG: '/k/a' }, column: 'cluster' })).toEqual({
      source: 'KUBECONFIG', column: 'cluster', clusters: [{ name: 'kind-dev', inCluster: false, timeouts: {} }],
    });
    expect(implicitFleet({ context: 'x', kubeconfigFlag: '/k/b', contextFlag: 'x', env: {}, column: 'c' })).toEqual({
      source: '--context', column: 'c', clusters: [{ name: 'x', kubeconfig: '/k/b', context: 'x', inCluster: false, timeouts: {} }],
    });
    expect(implicitFleet({ context: null, kubeconfigFlag: '/k/b', env: {}, column: 'cluster' }).source).toBe('--kubeconfig');
    expect(implicitFleet({ context: null, env: {}, column: 'cluster' }).source).toBe('~/.kube/config');
  });
});

describe('the clusters file', () => {
  it('reads every field; a relative kubeconfig is read from the file\'s directory, an absolute one kept', () => {
    const entries = parseClustersDoc({
      clusters: [
        { name: 'eu-1', kubeconfig: 'eu-1.yaml', context: 'admin@eu-1', helmDriver: 'configmap', concurrency: 16, timeouts: { job: '15m', namespace: '90s' } },
        { name: 'us-1', kubeconfig: '/srv/kube/us-1.yaml' },
        { name: 'us-2', kubeconfig: '../shared/kubeconfig', context: 'us-2' },
        { name: 'local', inCluster: true },
      ],
    }, WHERE, DIR);
    expect(entries).toEqual([
      { name: 'eu-1', kubeconfig: '/etc/custctl/eu-1.yaml', context: 'admin@eu-1', inCluster: false, helmDriver: 'configmap', concurrency: 16, timeouts: { jobMs: 900_000, namespaceMs: 90_000 } },
      { name: 'us-1', kubeconfig: '/srv/kube/us-1.yaml', inCluster: false, timeouts: {} },
      { name: 'us-2', kubeconfig: '/etc/shared/kubeconfig', context: 'us-2', inCluster: false, timeouts: {} },
      { name: 'local', inCluster: true, timeouts: {} },
    ]);
    expect(entries.map(describeCluster)).toEqual([
      '/etc/custctl/eu-1.yaml (context admin@eu-1)', '/srv/kube/us-1.yaml (its current-context)', '/etc/shared/kubeconfig (context us-2)', 'in-cluster service account',
    ]);
  });

  it('one kubeconfig may serve several clusters through its contexts', () => {
    const entries = parseClustersDoc({ clusters: [{ name: 'a', kubeconfig: 'k.yaml', context: 'a' }, { name: 'b', kubeconfig: 'k.yaml', context: 'b' }] }, WHERE, DIR);
    expect(entries.map((e) => [e.kubeconfig, e.context])).toEqual([['/etc/custctl/k.yaml', 'a'], ['/etc/custctl/k.yaml', 'b']]);
  });

  it.each<[string, unknown, RegExp]>([
    ['not a mapping', ['eu-1'], /must hold a mapping with a clusters list/],
    ['an unknown top key', { clusters: [{ name: 'a', kubeconfig: 'k' }], column: 'x' }, /unknown key "column" \(known: clusters\)/],
    ['no clusters', { clusters: [] }, /clusters must be a list of at least one cluster/],
    ['clusters not a list', { clusters: { a: { kubeconfig: 'k' } } }, /clusters must be a list/],
    ['an entry not a mapping', { clusters: ['a'] }, /clusters\[0\] must be a mapping/],
    ['an unknown entry key', { clusters: [{ name: 'a', kubeconfig: 'k', namespace: 'x' }] }, /clusters\[0\]: unknown key "namespace" \(known: name, kubeconfig, context, inCluster, helmDriver, concurrency, timeouts\)/],
    ['a misspelt key', { clusters: [{ name: 'a', kubeConfig: 'k' }] }, /unknown key "kubeConfig"/],
    ['no name', { clusters: [{ kubeconfig: 'k' }] }, /clusters\[0\]: name is required and must be a DNS label/],
    ['an uppercase name', { clusters: [{ name: 'EU-1', kubeconfig: 'k' }] }, /must be a DNS label.*\(got "EU-1"\)/],
    ['a name with a dot', { clusters: [{ name: 'eu.1', kubeconfig: 'k' }] }, /DNS label/],
    ['a name with an underscore', { clusters: [{ name: 'eu_1', kubeconfig: 'k' }] }, /DNS label/],
    ['a name ending in -', { clusters: [{ name: 'eu-', kubeconfig: 'k' }] }, /DNS label/],
    ['a name of 64', { clusters: [{ name: 'a'.repeat(64), kubeconfig: 'k' }] }, /DNS label/],
    ['a number as name', { clusters: [{ name: 1, kubeconfig: 'k' }] }, /name is required/],
    ['a name twice', { clusters: [{ name: 'a', kubeconfig: 'k1' }, { name: 'a', kubeconfig: 'k2' }] }, /cluster a is named twice/],
    ['no kubeconfig', { clusters: [{ name: 'a', context: 'x' }] }, /cluster a: kubeconfig is required .* or inCluster: true/],
    ['an empty kubeconfig', { clusters: [{ name: 'a', kubeconfig: '' }] }, /cluster a: kubeconfig must be text/],
    ['a kubeconfig with ~', { clusters: [{ name: 'a', kubeconfig: '~/.kube/config' }] }, /starts with '~': custctl does not expand it/],
    ['a kubeconfig with a control character', { clusters: [{ name: 'a', kubeconfig: 'k\u001b[2J' }] }, /kubeconfig holds a control character/],
    ['inCluster and a kubeconfig', { clusters: [{ name: 'a', inCluster: true, kubeconfig: 'k' }] }, /either inCluster: true or kubeconfig/],
    ['inCluster not a boolean', { clusters: [{ name: 'a', inCluster: 'yes' }] }, /inCluster must be true or false/],
    ['a context not text', { clusters: [{ name: 'a', kubeconfig: 'k', context: 3 }] }, /context must be text/],
    ['the sql helm driver', { clusters: [{ name: 'a', kubeconfig: 'k', helmDriver: 'sql' }] }, /helmDriver must be one of secret, configmap \(sql is not offered per cluster/],
    ['an unknown helm driver', { clusters: [{ name: 'a', kubeconfig: 'k', helmDriver: 'memory' }] }, /helmDriver must be one of/],
    ['concurrency 0', { clusters: [{ name: 'a', kubeconfig: 'k', concurrency: 0 }] }, /concurrency must be a whole number from 1 to 64/],
    ['concurrency 65', { clusters: [{ name: 'a', kubeconfig: 'k', concurrency: 65 }] }, /from 1 to 64/],
    ['concurrency 2.5', { clusters: [{ name: 'a', kubeconfig: 'k', concurrency: 2.5 }] }, /whole number/],
    ['concurrency as text', { clusters: [{ name: 'a', kubeconfig: 'k', concurrency: '8' }] }, /whole number/],
    ['timeouts not a mapping', { clusters: [{ name: 'a', kubeconfig: 'k', timeouts: '5m' }] }, /timeouts must be a mapping \(job, namespace\)/],
    ['an unknown timeout', { clusters: [{ name: 'a', kubeconfig: 'k', timeouts: { request: '5s' } }] }, /timeouts: unknown key "request" \(known: job, namespace\)/],
    ['a timeout without a unit', { clusters: [{ name: 'a', kubeconfig: 'k', timeouts: { job: 600 } }] }, /timeouts.job must be a duration/],
    ['a timeout too short', { clusters: [{ name: 'a', kubeconfig: 'k', timeouts: { job: '1s' } }] }, /timeouts.job must be from 10s to 1d \(got 1s\)/],
    ['a timeout too long', { clusters: [{ name: 'a', kubeconfig: 'k', timeouts: { namespace: '2d' } }] }, /timeouts.namespace must be from 1s to 1d/],
    ['one context under two names', { clusters: [{ name: 'a', kubeconfig: 'k', context: 'x' }, { name: 'b', kubeconfig: './k', context: 'x' }] }, /cluster b and cluster a are the same kubeconfig context \(\/etc\/custctl\/k, context x\)/],
    ['one current-context under two names', { clusters: [{ name: 'a', kubeconfig: 'k' }, { name: 'b', kubeconfig: '/etc/custctl/k' }] }, /are the same kubeconfig context \(\/etc\/custctl\/k, its current-context\)/],
    ['the service account under two names', { clusters: [{ name: 'a', inCluster: true }, { name: 'b', inCluster: true }] }, /are the same in-cluster service account/],
  ])('%s: refused, naming the file and the entry', (_what, doc, message) => {
    const e = refusal(() => parseClustersDoc(doc, WHERE, DIR));
    expect(e.exitCode).toBe(2);
    expect(e.message.startsWith(WHERE)).toBe(true);
    expect(e.message).toMatch(message);
  });

  it('a hostile name is shown escaped, never raw', () => {
    const e = refusal(() => parseClustersDoc({ clusters: [{ name: 'a\u001b]0;owned\u0007', kubeconfig: 'k' }] }, WHERE, DIR));
    expect(e.message).not.toMatch(/\u001b/);
    expect(e.message).toContain('\\u001b');
  });
});

describe('clusterFor: which cluster holds a customer', () => {
  const row = (cluster?: string | null) => ({ customerId: 'cust_abc', ...(cluster !== undefined ? { cluster } : {}) });

  it.each<[string, Fleet, { customerId: string; cluster?: string | null }, string]>([
    ['one cluster, the row names none', one, row(null), 'kind-dev'],
    ['one cluster, an empty value', one, row(''), 'kind-dev'],
    ['one cluster, a table without the column', one, row(), 'kind-dev'],
    ['one cluster, the row names it', one, row('kind-dev'), 'kind-dev'],
    ['three clusters, the row names one', three, row('us-1'), 'us-1'],
    ['three clusters, the row names the last', three, row('ap-1'), 'ap-1'],
  ])('%s → %s', (_what, fleet, r, name) => {
    expect(clusterFor(r, fleet).name).toBe(name);
  });

  it.each<[string, Fleet, { customerId: string; cluster?: string | null }, RegExp]>([
    ['three clusters, the row names none', three, row(null), /customer cust_abc names no cluster in customers\.cluster, and the fleet has 3 \(eu-1, us-1, ap-1\): refused, nothing was changed/],
    ['three clusters, an empty value', three, row(''), /names no cluster in customers\.cluster/],
    ['three clusters, a table without the column', three, row(), /the customers table has no column cluster \(CUSTCTL_CLUSTER_COLUMN\), and with 3 clusters/],
    ['three clusters, an unknown name', three, row('eu-2'), /customer cust_abc is on cluster "eu-2" \(customers\.cluster\), which is not in the fleet \(eu-1, us-1, ap-1, from CUSTCTL_CLUSTERS_FILE/],
    ['three clusters, a name in another case', three, row('EU-1'), /on cluster "EU-1"/],
    ['three clusters, a name with spaces', three, row(' eu-1 '), /on cluster " eu-1 "/],
    ['one cluster, the row names another', one, row('prod-us'), /on cluster "prod-us" \(customers\.cluster\), which is not in the fleet \(kind-dev, from KUBECONFIG\)/],
  ])('%s: refused (exit 2)', (_what, fleet, r, message) => {
    const e = refusal(() => clusterFor(r, fleet));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(message);
  });

  it('says what to do: never a search of the clusters; a near miss is named; a one-cluster site is pointed at the clusters file', () => {
    expect(refusal(() => clusterFor(row(null), three)).details.join('\n')).toMatch(/set customers\.cluster to the cluster that holds it; custctl never searches the clusters/);
    expect(refusal(() => clusterFor(row(), three)).details.join('\n')).toMatch(/custctl db migrate.*or set CUSTCTL_CLUSTER_COLUMN/);
    expect(refusal(() => clusterFor(row('EU-1'), three)).details).toEqual(['did you mean eu-1? Cluster names are exact: fix the row']);
    expect(refusal(() => clusterFor(row('prod-us'), one)).details).toEqual(['fix the row, or add that cluster to a clusters file (CUSTCTL_CLUSTERS_FILE)']);
    expect(refusal(() => clusterFor(row('eu-9'), three)).details).toEqual(['fix the row, or add that cluster to the clusters file']);
  });

  it('a control character in the row is shown escaped', () => {
    expect(refusal(() => clusterFor(row('eu\u001b[31m'), three)).message).toContain('"eu\\u001b[31m"');
  });

  it('the column the fleet reads is the one named', () => {
    expect(refusal(() => clusterFor(row(null), { ...three, column: 'region' })).message).toMatch(/in customers\.region/);
  });

  it('groupByCluster: rows by cluster in fleet order, the refused apart with their reasons', () => {
    const rows = [
      { customerId: 'cust_a', cluster: 'us-1' }, { customerId: 'cust_b', cluster: 'eu-1' }, { customerId: 'cust_c', cluster: null },
      { customerId: 'cust_d', cluster: 'us-1' }, { customerId: 'cust_e', cluster: 'xx' },
    ];
    const g = groupByCluster(rows, three);
    expect(g.groups.map((x) => [x.cluster.name, x.rows.map((r) => r.customerId)])).toEqual([['eu-1', ['cust_b']], ['us-1', ['cust_a', 'cust_d']]]);
    expect(g.refused.map((r) => [r.row.customerId, r.error.message.match(/names no cluster|not in the fleet/)?.[0]])).toEqual([['cust_c', 'names no cluster'], ['cust_e', 'not in the fleet']]);
    expect(groupByCluster([{ customerId: 'cust_a', cluster: null }], one).groups.map((x) => x.cluster.name)).toEqual(['kind-dev']);
  });

  it('concurrencyFor: the cluster\'s own, else the run\'s', () => {
    expect(concurrencyFor(entry('a', { concurrency: 4 }), 32)).toBe(4);
    expect(concurrencyFor(entry('a'), 32)).toBe(32);
  });

  it('sameServers: two names for one API server, each pair once', () => {
    expect(sameServers([
      { name: 'a', server: 'https://10.0.0.1:6443' }, { name: 'b', server: 'https://10.0.0.2:6443' },
      { name: 'c', server: 'https://10.0.0.1:6443/' }, { name: 'd', server: null },
    ])).toEqual([['a', 'c']]);
  });
});

// ---------------------------------------------------------------------------------------------
// the loader: files, modes, flags

const KUBECONFIG_DOC = (ctx: string, server = 'https://127.0.0.1:1') => [
  'apiVersion: v1', 'kind: Config',
  `clusters: [{name: c, cluster: {server: "${server}"}}]`,
  'users: [{name: u, user: {token: t}}]',
  `contexts: [{name: ${ctx}, context: {cluster: c, user: u}}]`,
  `current-context: ${ctx}`, '',
].join('\n');

async function tempDir(): Promise<string> {
  return mkdtempSync(path.join(tmpdir(), 'custctl-clusters-'));
}

async function file(dir: string, name: string, text: string, mode = 0o600): Promise<string> {
  const p = path.join(dir, name);
  await fs.writeFile(p, text);
  await fs.chmod(p, mode);
  return p;
}

describe('loadFleet', () => {
  it('without a clusters file: the one cluster of KUBECONFIG, named after its context', async () => {
    const dir = await tempDir();
    const kc = await file(dir, 'kubeconfig', KUBECONFIG_DOC('kind-dev'));
    expect(await loadFleet({ env: { KUBECONFIG: kc } })).toEqual({
      source: 'KUBECONFIG', column: 'cluster', clusters: [{ name: 'kind-dev', inCluster: false, timeouts: {} }],
    });
    expect((await loadFleet({ env: { KUBECONFIG: kc, CUSTCTL_CLUSTER_COLUMN: 'region' }, context: 'other-ctx' })).clusters[0]).toMatchObject({ name: 'other-ctx', context: 'other-ctx' });
  });

  it('a clusters file: its entries, relative paths from its directory (the file named relative to the working directory)', async () => {
    const dir = await tempDir();
    const f = await file(dir, 'clusters.yaml', 'clusters:\n  - name: eu-1\n    kubeconfig: kube/eu-1.yaml\n  - {name: us-1, kubeconfig: /abs/us.yaml, context: us}\n', 0o644);
    const fleet = await loadFleet({ env: { CUSTCTL_CLUSTERS_FILE: f, KUBECONFIG: '/ignored' } });
    expect(fleet.source).toBe(`CUSTCTL_CLUSTERS_FILE ${f}`);
    expect(fleet.clusters.map((c) => [c.name, c.kubeconfig, c.context])).toEqual([['eu-1', path.join(dir, 'kube/eu-1.yaml'), undefined], ['us-1', '/abs/us.yaml', 'us']]);
    // JSON is YAML
    const j = await file(dir, 'clusters.json', JSON.stringify({ clusters: [{ name: 'a', inCluster: true }] }));
    expect((await loadFleet({ env: { CUSTCTL_CLUSTERS_FILE: j } })).clusters).toEqual([{ name: 'a', inCluster: true, timeouts: {} }]);
  });

  it.each([
    ['0666', 0o666, /is writable by everyone \(mode 0666\): refusing to use it, whoever can write it could send the deletions to another cluster/],
    ['0664', 0o664, /is writable by its group \(mode 0664\)/],
    ['0620', 0o620, /is writable by its group \(mode 0620\)/],
  ])('a file others can write (mode %s) is refused', async (_shown, mode, message) => {
    const dir = await tempDir();
    const f = await file(dir, 'clusters.yaml', 'clusters: [{name: a, kubeconfig: k}]\n', mode);
    const e = await loadFleet({ env: { CUSTCTL_CLUSTERS_FILE: f } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toMatch(message);
    expect((e as UsageError).details).toEqual([`chmod 644 ${f} (or 600)`]);
  });

  it.each([
    ['missing', async (dir: string) => path.join(dir, 'nope.yaml'), /cannot read CUSTCTL_CLUSTERS_FILE .*nope\.yaml: ENOENT/],
    ['a directory', async (dir: string) => dir, /is not a regular file/],
    ['not YAML', async (dir: string) => file(dir, 'c.yaml', 'clusters: [{name: a, kubeconfig: "secret-ish\n'), /is not valid YAML or JSON \(line \d+, column \d+\)/],
    ['empty', async (dir: string) => file(dir, 'c.yaml', ''), /must hold a mapping with a clusters list/],
  ])('a file that is %s is refused, naming it', async (_what, make, message) => {
    const dir = await tempDir();
    const f = await make(dir);
    const e = await loadFleet({ env: { CUSTCTL_CLUSTERS_FILE: f } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toMatch(message);
    expect((e as UsageError).message).not.toContain('secret-ish');
  });

  it('--kubeconfig or --context with a clusters file: refused (they choose one cluster)', async () => {
    const dir = await tempDir();
    const f = await file(dir, 'c.yaml', 'clusters: [{name: a, kubeconfig: k}]\n');
    await expect(loadFleet({ env: { CUSTCTL_CLUSTERS_FILE: f }, context: 'x' })).rejects.toThrow(/--context chooses one cluster, but CUSTCTL_CLUSTERS_FILE names the fleet/);
    await expect(loadFleet({ env: { CUSTCTL_CLUSTERS_FILE: f }, kubeconfig: '/k', context: 'x' })).rejects.toThrow(/--kubeconfig and --context choose one cluster/);
  });

  it('a bad CUSTCTL_CLUSTER_COLUMN is refused before the file is read', async () => {
    await expect(loadFleet({ env: { CUSTCTL_CLUSTER_COLUMN: 'a b', CUSTCTL_CLUSTERS_FILE: '/nope' } })).rejects.toThrow(/CUSTCTL_CLUSTER_COLUMN="a b" is not a column name/);
  });
});

describe('opening one cluster', () => {
  it('a kubeconfig named by the clusters file that is not there: refused, naming the cluster and the file', async () => {
    const e = await openClusterKube(entry('eu-1', { kubeconfig: '/nope/eu-1.yaml' }), { env: {}, userAgent: 't', source: WHERE }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toBe(`cluster eu-1: kubeconfig /nope/eu-1.yaml not found (${WHERE})`);
  });

  it('the kube adapter\'s own refusals are named after the cluster', async () => {
    const dir = await tempDir();
    const kc = await file(dir, 'kubeconfig', KUBECONFIG_DOC('a'));
    const e = await openClusterKube(entry('eu-1', { kubeconfig: kc, context: 'missing' }), { env: {}, userAgent: 't', source: WHERE }).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/^cluster eu-1: context "missing" not found in kubeconfig/);
  });

  it('an entry opens its own kubeconfig and context, whatever KUBECONFIG says', async () => {
    const dir = await tempDir();
    const kc = await file(dir, 'kubeconfig', KUBECONFIG_DOC('b', 'https://127.0.0.1:7443'));
    const other = await file(dir, 'other', KUBECONFIG_DOC('x', 'https://10.9.9.9:1'));
    const k = await openClusterKube(entry('b', { kubeconfig: kc, context: 'b' }), { env: { KUBECONFIG: other }, userAgent: 't', source: WHERE });
    expect(k.target).toMatchObject({ context: 'b', server: 'https://127.0.0.1:7443', kubeconfig: kc });
  });

  it('in-cluster: the service account\'s kubeconfig, as client-go reads it', async () => {
    const sa = await tempDir();
    await file(sa, 'token', 'tok\n');
    await file(sa, 'ca.crt', '-----BEGIN CERTIFICATE-----\n');
    const text = inClusterKubeconfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, sa);
    expect(text).toContain('server: https://10.96.0.1:443');
    expect(text).toContain(`tokenFile: ${path.join(sa, 'token')}`);
    expect(text).toContain(`certificate-authority: ${path.join(sa, 'ca.crt')}`);
    expect(inClusterKubeconfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa)).toContain('server: https://[fd00::1]:443');
    const k = await openClusterKube(entry('local', { inCluster: true, kubeconfig: undefined }), {
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, userAgent: 't', serviceAccountDir: sa,
    });
    expect(k.target).toMatchObject({ context: 'in-cluster', server: 'https://10.96.0.1:443', user: 'service-account' });
  });

  it('in-cluster: custctl\'s client and helm get the same kubeconfig file, 0600 in a private 0700 directory, until disposed', async () => {
    const sa = await tempDir();
    await file(sa, 'token', 'tok\n');
    await file(sa, 'ca.crt', '-----BEGIN CERTIFICATE-----\n');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: '/elsewhere/kubeconfig' };
    const kc = await clusterKubeconfig(entry('local', { inCluster: true, kubeconfig: undefined }), { env, serviceAccountDir: sa });
    expect(kc.context).toBe('in-cluster');
    const written = kc.kubeconfig!;
    expect(written).not.toBe(env.KUBECONFIG);
    expect(statSync(written).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(written)).mode & 0o777).toBe(0o700);
    expect(await fs.readFile(written, 'utf8')).toBe(inClusterKubeconfig(env, sa));
    await kc.dispose();
    expect(existsSync(path.dirname(written))).toBe(false);
    // an entry with a kubeconfig is that file and context; nothing is written or removed
    const plain = await clusterKubeconfig(entry('eu-1', { kubeconfig: written, context: 'admin@eu-1' }), { env });
    expect(plain).toMatchObject({ kubeconfig: written, context: 'admin@eu-1' });
    await expect(clusterKubeconfig(entry('eu-1', { kubeconfig: '/nope/eu-1.yaml' }), { env, source: WHERE })).rejects.toThrow(`cluster eu-1: kubeconfig /nope/eu-1.yaml not found (${WHERE})`);
    await expect(clusterKubeconfig(entry('local', { inCluster: true, kubeconfig: undefined }), { env: {}, serviceAccountDir: sa })).rejects.toThrow(/^cluster local: inCluster: true, but KUBERNETES_SERVICE_HOST/);
  });

  it('in-cluster, through the composition root: helm runs with the service account\'s kubeconfig and context in-cluster, never KUBECONFIG\'s; the file is removed at close', async () => {
    const dir = await tempDir();
    const sa = await tempDir();
    await file(sa, 'token', 'tok\n');
    await file(sa, 'ca.crt', '-----BEGIN CERTIFICATE-----\n');
    // KUBECONFIG of the shell, with a context of the same name on another cluster
    const decoy = await file(dir, 'decoy', KUBECONFIG_DOC('in-cluster', 'https://10.9.9.9:1'));
    const clustersFile = await file(dir, 'clusters.yaml', 'clusters:\n  - name: local\n    inCluster: true\n');
    await fs.chmod(clustersFile, 0o644);
    // a helm that records its command line and the kubeconfig it was given
    const argv = path.join(dir, 'argv');
    const seen = path.join(dir, 'seen');
    const helm = await file(dir, 'helm', [
      '#!/bin/sh',
      `printf '%s\\n' "$*" >> '${argv}'`,
      `prev=; for a in "$@"; do [ "$prev" = --kubeconfig ] && cat "$a" >> '${seen}'; prev=$a; done`,
      'case "$1" in history) echo "[]" ;; uninstall) echo "release \\"$2\\" uninstalled" ;; esac',
      '',
    ].join('\n'));
    await fs.chmod(helm, 0o755);
    const env = {
      PATH: process.env.PATH, HOME: dir, KUBECONFIG: decoy, HELM_BIN: helm, CUSTCTL_CLUSTERS_FILE: clustersFile, CUSTCTL_STATE_DIR: path.join(dir, 'state'),
      KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443',
    };
    const deps = makeDeps({ io: bufferIO().io, env, flags: () => ({}), shutdown: new AbortController().signal, pid: 1, serviceAccountDir: sa });
    const cluster = (await deps.clusters!()).named('local');
    expect((await cluster.kube()).target).toMatchObject({ context: 'in-cluster', server: 'https://10.96.0.1:443' });
    expect(await (await cluster.helm()).uninstall('customer-a', 'customer-a', 30_000)).toBe('uninstalled');
    const lines = (await fs.readFile(argv, 'utf8')).trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['history', 'uninstall']);
    const given = /--kubeconfig (\S+) --kube-context (\S+)$/.exec(lines[1]!);
    expect(given?.[2]).toBe('in-cluster');
    const kubeconfig = given![1]!;
    expect(kubeconfig).not.toBe(decoy);
    expect(lines[0]).toContain(`--kubeconfig ${kubeconfig} --kube-context in-cluster`);
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
    const text = await fs.readFile(seen, 'utf8');
    expect(text).toContain('server: https://10.96.0.1:443');
    expect(text).toContain(`tokenFile: ${path.join(sa, 'token')}`);
    expect(text).toContain(`certificate-authority: ${path.join(sa, 'ca.crt')}`);
    expect(text).not.toContain('10.9.9.9');
    await deps.close();
    expect(existsSync(kubeconfig)).toBe(false);
    expect(existsSync(path.dirname(kubeconfig))).toBe(false);
  });

  it.each([
    [{}, /KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: custctl is not running in a pod/],
    [{ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: 'https' }, /KUBERNETES_SERVICE_PORT="https" is not a port number/],
  ])('in-cluster outside a pod (%j): refused', (env, message) => {
    expect(() => inClusterKubeconfig(env, '/nope')).toThrow(message);
  });

  it('in-cluster without a service account token: refused, naming where it looked, and the cluster', async () => {
    const e = await openClusterKube(entry('local', { inCluster: true, kubeconfig: undefined }), {
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, userAgent: 't', serviceAccountDir: '/nope/sa',
    }).catch((x: unknown) => x);
    expect((e as Error).message).toBe('cluster local: inCluster: true, but there is no service account token at /nope/sa/token');
  });
});
