import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  loadKubeconfig, openKube, permissionDeniedMessage, plainCredentials, translateError, wellKnownScope,
} from '../../src/adapters/kube/index.js';
import { ConflictError, OperationError, UsageError, isPermanent } from '../../src/errors.js';
import { KUBE_RETRY, retryText } from '../../src/adapters/retry.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'custctl-kubeconfig-'));

function writeKubeconfig(name: string, o: { contexts: string[]; current?: string; server?: string; clusterPrefix?: string }): string {
  const file = path.join(dir, name);
  const prefix = o.clusterPrefix ?? name;
  writeFileSync(file, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: o.contexts.map((c) => ({
      name: `${prefix}-${c}`,
      // client-node refuses plain http unless TLS verification is off (the stand-in server is http)
      cluster: { server: o.server ?? 'https://127.0.0.1:1', ...(o.server?.startsWith('http:') ? { 'insecure-skip-tls-verify': true } : {}) },
    })),
    users: o.contexts.map((c) => ({ name: `${prefix}-user-${c}`, user: { token: 'not-a-real-token' } })),
    contexts: o.contexts.map((c) => ({ name: c, context: { cluster: `${prefix}-${c}`, user: `${prefix}-user-${c}` } })),
    ...(o.current ? { 'current-context': o.current } : {}),
  }));
  return file;
}

const emptyHome = path.join(dir, 'empty-home');
mkdirSync(emptyHome);

describe('kubeconfig selection', () => {
  const a = writeKubeconfig('a.yaml', { contexts: ['alpha', 'shared'], current: 'alpha' });
  const b = writeKubeconfig('b.yaml', { contexts: ['beta', 'shared'], current: 'beta', server: 'https://127.0.0.1:2' });

  it('uses --kubeconfig and its current context', () => {
    const { target } = loadKubeconfig({ kubeconfig: a, env: { HOME: emptyHome } });
    expect(target).toEqual({ context: 'alpha', server: 'https://127.0.0.1:1', user: 'a.yaml-user-alpha', kubeconfig: a });
  });

  it('--context selects another context', () => {
    expect(loadKubeconfig({ kubeconfig: a, context: 'shared', env: {} }).target.context).toBe('shared');
  });

  it('an unknown context is a UsageError listing the available ones', () => {
    expect(() => loadKubeconfig({ kubeconfig: a, context: 'prod', env: {} }))
      .toThrow(`context "prod" not found in kubeconfig ${a} (available: alpha, shared)`);
    try { loadKubeconfig({ kubeconfig: a, context: 'prod', env: {} }); } catch (e) { expect(e).toBeInstanceOf(UsageError); }
  });

  it('KUBECONFIG lists merge: first file wins, missing entries ignored', () => {
    const { target } = loadKubeconfig({ env: { KUBECONFIG: `${path.join(dir, 'missing.yaml')}:${a}:${b}`, HOME: emptyHome } });
    expect(target.context).toBe('alpha');
    expect(target.kubeconfig).toBe(`${a}:${b}`);
    const beta = loadKubeconfig({ env: { KUBECONFIG: `${a}:${b}` }, context: 'beta' }).target;
    expect(beta.server).toBe('https://127.0.0.1:2');
    // 'shared' is defined in both: a.yaml's definition wins
    expect(loadKubeconfig({ env: { KUBECONFIG: `${b}:${a}` }, context: 'shared' }).target.user).toBe('b.yaml-user-shared');
  });

  it('--kubeconfig beats KUBECONFIG', () => {
    expect(loadKubeconfig({ kubeconfig: b, env: { KUBECONFIG: a } }).target.context).toBe('beta');
  });

  it('falls back to ~/.kube/config', () => {
    const home = path.join(dir, 'home');
    mkdirSync(path.join(home, '.kube'), { recursive: true });
    writeFileSync(path.join(home, '.kube', 'config'), stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'h',
      clusters: [{ name: 'h', cluster: { server: 'https://127.0.0.1:3' } }],
      users: [{ name: 'h', user: {} }],
      contexts: [{ name: 'h', context: { cluster: 'h', user: 'h' } }],
    }));
    expect(loadKubeconfig({ env: { HOME: home } }).target).toMatchObject({ context: 'h', kubeconfig: path.join(home, '.kube', 'config') });
  });

  it('no kubeconfig at all: says to set KUBECONFIG or --kubeconfig', () => {
    expect(() => loadKubeconfig({ env: { HOME: emptyHome } })).toThrow(UsageError);
    expect(() => loadKubeconfig({ env: { HOME: emptyHome } })).toThrow(/set KUBECONFIG or pass --kubeconfig/);
    expect(() => loadKubeconfig({ env: { HOME: emptyHome, KUBECONFIG: '/nope/1:/nope/2' } })).toThrow(/KUBECONFIG=\/nope\/1:\/nope\/2/);
    expect(() => loadKubeconfig({ kubeconfig: '/nope/x', env: {} })).toThrow(/kubeconfig not found: \/nope\/x/);
  });

  it('no current context and no --context: asks for --context', () => {
    const none = writeKubeconfig('none.yaml', { contexts: ['one', 'two'] });
    expect(() => loadKubeconfig({ kubeconfig: none, env: {} })).toThrow(/has no current-context: pass --context \(available: one, two\)/);
  });

  it('a file that is not a kubeconfig is a UsageError naming it', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'clusters: [unclosed');
    expect(() => loadKubeconfig({ kubeconfig: bad, env: {} })).toThrow(new RegExp(`cannot read kubeconfig ${bad}`));
  });
});

describe('who sends the requests', () => {
  it.each([
    [{ server: 'https://x', 'certificate-authority-data': 'Y2E=' }, { 'client-certificate-data': 'Y2VydA==', 'client-key-data': 'a2V5' }, true],
    [{ server: 'https://x', 'insecure-skip-tls-verify': true }, { token: 't' }, true],
    [{ server: 'https://x' }, { tokenFile: '/run/token' }, true],
    [{ server: 'https://x' }, { username: 'u', password: 'p' }, true],
    [{ server: 'https://x' }, { exec: { command: 'aws' } }, true],
    [{ server: 'https://x' }, { 'auth-provider': { name: 'oidc' } }, false],
    [{ server: 'https://x' }, { token: 't', as: 'someone-else' }, false],
    [{ server: 'https://x', 'proxy-url': 'http://proxy:3128' }, { token: 't' }, false],
  ])('cluster %j, user %j: custctl itself: %s (else client-node)', (cluster, user, plain) => {
    expect(plainCredentials(cluster, user)).toBe(plain);
  });
});

describe('error translation', () => {
  const t = { server: 'https://10.0.0.1:6443', context: 'prod', user: 'bob' };

  it.each([
    [
      'clusterroles.rbac.authorization.k8s.io "cabc-customer-instance" is forbidden: User "x" cannot delete resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope',
      'permission denied: cannot delete clusterroles.rbac.authorization.k8s.io (user x)',
    ],
    [
      'namespaces "customer-abc" is forbidden: User "system:serviceaccount:ops:custctl" cannot delete resource "namespaces" in API group "" in the namespace "customer-abc"',
      'permission denied: cannot delete namespaces in namespace customer-abc (user system:serviceaccount:ops:custctl)',
    ],
    [
      'configmaps is forbidden: User "bob" cannot list resource "configmaps" in API group "" in the namespace "customer-abc"',
      'permission denied: cannot list configmaps in namespace customer-abc (user bob)',
    ],
    [
      'namespaces is forbidden: User "bob" cannot watch resource "namespaces" in API group "" at the cluster scope',
      'permission denied: cannot watch namespaces (user bob)',
    ],
  ])('403 %#', (message, expected) => {
    expect(permissionDeniedMessage(message)).toBe(expected);
    const e = translateError({ code: 403, body: JSON.stringify({ kind: 'Status', message, reason: 'Forbidden', code: 403 }) }, { verb: 'delete', what: 'x' }, t);
    expect(e).toBeInstanceOf(OperationError);
    expect(e.message).toBe(expected);
  });

  it('a 403 that is not an RBAC refusal still names the verb and object', () => {
    const e = translateError({ code: 403, body: '{"message":"admission webhook \\"deny\\" denied the request"}' }, { verb: 'delete', what: 'namespace customer-abc' }, t);
    expect(e.message).toBe('permission denied: cannot delete namespace customer-abc: admission webhook "deny" denied the request');
  });

  it('401 names the user and the server', () => {
    const e = translateError({ code: 401, body: '{"message":"Unauthorized"}' }, { verb: 'get', what: 'namespace x' }, t);
    expect(e).toBeInstanceOf(OperationError);
    expect(e.message).toContain('user bob');
    expect(e.message).toContain('https://10.0.0.1:6443');
  });

  it('409 is a ConflictError', () => {
    expect(translateError({ code: 409, body: '{"message":"conflict"}' }, { verb: 'delete', what: 'x' }, t)).toBeInstanceOf(ConflictError);
  });

  it('connection refused and TLS failures name the server and context', () => {
    const refused = translateError(Object.assign(new Error('request failed, reason: connect ECONNREFUSED 10.0.0.1:6443'), { code: 'ECONNREFUSED' }), { verb: 'get', what: 'x' }, t);
    expect(refused).toBeInstanceOf(OperationError);
    expect(refused.message).toBe('cannot reach the API server https://10.0.0.1:6443 (context prod): ECONNREFUSED');
    const tls = translateError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), { verb: 'get', what: 'x' }, t);
    expect(tls.message).toBe('TLS error talking to the API server https://10.0.0.1:6443 (context prod): DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});

describe('well-known scope table', () => {
  it.each([
    ['v1', 'Namespace', true], ['v1', 'PersistentVolume', true], ['v1', 'Node', true],
    ['rbac.authorization.k8s.io/v1', 'ClusterRole', true], ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', true],
    ['apiextensions.k8s.io/v1', 'CustomResourceDefinition', true], ['storage.k8s.io/v1', 'StorageClass', true],
    ['scheduling.k8s.io/v1', 'PriorityClass', true], ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', true],
    ['admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', true], ['apiregistration.k8s.io/v1', 'APIService', true],
    ['networking.k8s.io/v1', 'IngressClass', true], ['node.k8s.io/v1', 'RuntimeClass', true],
    ['policy/v1beta1', 'PodSecurityPolicy', true], ['certificates.k8s.io/v1', 'CertificateSigningRequest', true],
    ['flowcontrol.apiserver.k8s.io/v1beta1', 'FlowSchema', true],
    ['v1', 'ConfigMap', false], ['v1', 'Secret', false], ['v1', 'Service', false], ['v1', 'PersistentVolumeClaim', false],
    ['apps/v1', 'Deployment', false], ['rbac.authorization.k8s.io/v1', 'Role', false], ['rbac.authorization.k8s.io/v1', 'RoleBinding', false],
    ['networking.k8s.io/v1', 'NetworkPolicy', false], ['batch/v1', 'CronJob', false],
  ])('%s %s → cluster-scoped %s', (apiVersion, kind, expected) => {
    expect(wellKnownScope(apiVersion, kind)).toBe(expected);
  });

  it('unknown kinds are left to discovery', () => {
    expect(wellKnownScope('example.com/v1', 'Widget')).toBeUndefined();
    expect(wellKnownScope('other.io/v1', 'Namespace')).toBeUndefined();
  });
});

/**
 * A loopback HTTP stand-in for the API server, to check what goes over the wire (User-Agent,
 * request count) and that aborts are prompt. The real API server is exercised by
 * test/integration/kube-client.test.ts.
 */
describe('requests (loopback stand-in server)', () => {
  let server: http.Server;
  let base: string;
  const requests: Array<{ method: string; url: string; ua: string | undefined }> = [];
  /** the Authorization header of each request */
  const auths: Array<string | undefined> = [];
  let nsExists = true;
  const accepts: string[] = [];
  /** answers given to the next requests, in order, before the normal ones */
  const script: Array<{ code?: number; retryAfter?: string; reset?: boolean; message?: string }> = [];
  /** responses not finished yet (an idle kept-alive connection holds none) */
  const busy = new Set<http.ServerResponse>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      busy.add(res);
      res.on('close', () => busy.delete(res));
      requests.push({ method: req.method ?? '', url: req.url ?? '', ua: req.headers['user-agent'] });
      auths.push(req.headers.authorization);
      const next = script.shift();
      if (next?.reset) { req.socket.destroy(); return; }
      if (next) {
        res.writeHead(next.code ?? 500, { 'content-type': 'application/json', ...(next.retryAfter ? { 'retry-after': next.retryAfter } : {}) });
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: next.code, message: next.message ?? `scripted ${next.code}` }));
        return;
      }
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/hang') return; // never answers
      if (url.pathname === '/api/v1/namespaces' && url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        // ends each watch early, as a server (or a proxy) may: the client must reconnect
        const timer = setTimeout(() => res.end(), Math.min(700, Number(url.searchParams.get('timeoutSeconds')) * 1000));
        res.on('close', () => clearTimeout(timer));
        return;
      }
      if (url.pathname === '/api/v1/namespaces/hang') return;
      const json = (code: number, body: unknown): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.pathname === '/api/v1') {
        return json(200, { kind: 'APIResourceList', groupVersion: 'v1', resources: [
          { name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['list', 'get', 'delete'] },
          { name: 'events', namespaced: true, kind: 'Event', verbs: ['list'] },
          { name: 'pods', namespaced: true, kind: 'Pod', verbs: ['list'] },
          { name: 'pods/log', namespaced: true, kind: 'Pod', verbs: ['get'] },
          { name: 'nodes', namespaced: false, kind: 'Node', verbs: ['list'] },
          { name: 'bindings', namespaced: true, kind: 'Binding', verbs: ['create'] },
        ] });
      }
      if (url.pathname === '/apis') {
        return json(200, { kind: 'APIGroupList', groups: [
          { name: 'apps', versions: [{ groupVersion: 'apps/v1' }], preferredVersion: { groupVersion: 'apps/v1' } },
          { name: 'metrics.k8s.io', versions: [{ groupVersion: 'metrics.k8s.io/v1beta1' }], preferredVersion: { groupVersion: 'metrics.k8s.io/v1beta1' } },
        ] });
      }
      if (url.pathname === '/apis/apps/v1') {
        return json(200, { kind: 'APIResourceList', groupVersion: 'apps/v1', resources: [
          { name: 'deployments', namespaced: true, kind: 'Deployment', verbs: ['list'] },
          { name: 'deployments/scale', namespaced: true, kind: 'Scale', verbs: ['get'] },
        ] });
      }
      if (url.pathname === '/apis/metrics.k8s.io/v1beta1') {
        return json(503, { kind: 'Status', status: 'Failure', message: 'service unavailable', reason: 'ServiceUnavailable', code: 503 });
      }
      if (url.pathname === '/api/v1/namespaces/customer-abc/configmaps') {
        accepts.push(req.headers.accept ?? '');
        if (url.searchParams.get('continue') === 'page2') {
          return json(200, { kind: 'PartialObjectMetadataList', metadata: {}, items: [{ metadata: { name: 'c', finalizers: ['b/held'] } }] });
        }
        return json(200, { kind: 'PartialObjectMetadataList', metadata: { continue: 'page2' }, items: [
          { metadata: { name: 'a', finalizers: ['z/held', 'b/held'] } }, { metadata: { name: 'b' } },
        ] });
      }
      if (url.pathname === '/api/v1/namespaces/customer-abc/pods' || url.pathname === '/apis/apps/v1/namespaces/customer-abc/deployments') {
        return json(200, { kind: 'PartialObjectMetadataList', metadata: {}, items: [] });
      }
      if (url.pathname.startsWith('/api/v1/namespaces/')) {
        if (!nsExists) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'namespaces "x" not found' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'customer-abc', uid: 'u-1' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }));
        return;
      }
      res.writeHead(404);
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /**
   * The watch is closed once the wait settles: no request is left open. (Idle kept-alive
   * connections stay in the pool; they do not keep the process alive: see the child-process test.)
   */
  async function expectNoOpenConnections(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (busy.size === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(busy.size).toBe(0);
  }

  /** the retry waits asked for (no real waiting in unit tests) */
  const waits: number[] = [];
  const noSleep = async (ms: number): Promise<void> => { waits.push(ms); };

  async function kube() {
    const file = writeKubeconfig(`stand-in-${requests.length}.yaml`, { contexts: ['stand-in'], current: 'stand-in', server: base });
    return openKube({ kubeconfig: file, env: {}, userAgent: 'custctl/0.1.0-test', retry: { sleep: noSleep } });
  }

  it('requests share kept-alive connections, and idle ones do not keep a process alive', async () => {
    const before = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    const k = await kube();
    for (let i = 0; i < 5; i++) await k.getNamespace('customer-abc');
    const after = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    expect(after - before).toBeLessThanOrEqual(1);
    // a process that sent its requests exits at once, though its idle connection stays open on the server
    const file = writeKubeconfig('child.yaml', { contexts: ['stand-in'], current: 'stand-in', server: base });
    // the built module (npm test builds first)
    const modulePath = path.resolve('dist/adapters/kube/index.js');
    const script = `const { openKube } = await import(${JSON.stringify(modulePath)}); const k = await openKube({ kubeconfig: ${JSON.stringify(file)}, env: {}, userAgent: 'child' }); await k.getNamespace('customer-abc'); console.log('done');`;
    const started = Date.now();
    const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (e, stdout) => (e ? reject(e) : resolve(stdout))));
    expect(out.trim()).toBe('done');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('an exec plugin credential is fetched once, and again after a 401', async () => {
    const pdir = mkdtempSync(path.join(os.tmpdir(), 'custctl-exec-unit-'));
    const plugin = path.join(pdir, 'plugin');
    writeFileSync(plugin, `#!/bin/sh\necho run >> '${pdir}/runs'\nn=$(wc -l < '${pdir}/runs')\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s"}}' "$n"\n`);
    chmodSync(plugin, 0o755);
    const file = kubeconfigWithUser('exec.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin } });
    const k = await openKube({ kubeconfig: file, env: { PATH: process.env.PATH }, userAgent: 'custctl/0.1.0-test', retry: { sleep: noSleep } });
    nsExists = true;
    auths.length = 0;
    await Promise.all([k.getNamespace('customer-abc'), k.getNamespace('customer-abc'), k.getNamespace('customer-abc')]);
    expect(auths).toEqual(['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1']);
    expect(await k.pluginToken?.()).toBe('tok-1');
    script.push({ code: 401, message: 'Unauthorized' });
    auths.length = 0;
    expect(await k.getNamespace('customer-abc')).not.toBeNull();
    expect(auths).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(readFileSync(path.join(pdir, 'runs'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('sends the User-Agent and maps a namespace', async () => {
    nsExists = true;
    requests.length = 0;
    const k = await kube();
    expect(await k.getNamespace('customer-abc')).toEqual({ name: 'customer-abc', uid: 'u-1', phase: 'Active', conditions: [], finalizers: ['kubernetes'] });
    expect(requests).toEqual([{ method: 'GET', url: '/api/v1/namespaces/customer-abc', ua: 'custctl/0.1.0-test' }]);
  });

  /** A kubeconfig for the stand-in server with the given user entry. */
  function kubeconfigWithUser(name: string, user: Record<string, unknown>): string {
    const file = path.join(dir, name);
    writeFileSync(file, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'u',
      clusters: [{ name: 'u', cluster: { server: base, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'u', context: { cluster: 'u', user: 'u' } }],
    }));
    return file;
  }

  it('a token user: custctl sends the bearer token itself', async () => {
    nsExists = true;
    auths.length = 0;
    const k = await openKube({ kubeconfig: kubeconfigWithUser('token.yaml', { token: 'tok-123' }), env: {}, userAgent: 'custctl/test' });
    expect((await k.getNamespace('customer-abc'))?.uid).toBe('u-1');
    expect(auths).toEqual(['Bearer tok-123']);
  });

  it('a tokenFile relative to the kubeconfig is read from there, again on every request (it may rotate)', async () => {
    nsExists = true;
    auths.length = 0;
    const sub = path.join(dir, 'tokdir');
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, 'token'), 'first\n');
    const file = path.join(sub, 'kubeconfig.yaml');
    writeFileSync(file, readFileSync(kubeconfigWithUser('tokenfile.yaml', { tokenFile: 'token' }), 'utf8'));
    const k = await openKube({ kubeconfig: file, env: {}, userAgent: 'custctl/test' });
    await k.getNamespace('customer-abc');
    writeFileSync(path.join(sub, 'token'), 'second');
    await k.getNamespace('customer-abc');
    expect(auths).toEqual(['Bearer first', 'Bearer second']);
  });

  it('an exec plugin user goes through client-node: the plugin runs and its token is sent', async () => {
    nsExists = true;
    auths.length = 0;
    requests.length = 0;
    const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: 'from-exec-plugin' } });
    const file = kubeconfigWithUser('exec.yaml', {
      exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: ['-e', `process.stdout.write(${JSON.stringify(credential)})`], interactiveMode: 'Never' },
    });
    const k = await openKube({ kubeconfig: file, env: {}, userAgent: 'custctl/test' });
    expect((await k.getNamespace('customer-abc'))?.uid).toBe('u-1');
    expect(auths).toEqual(['Bearer from-exec-plugin']);
    expect(requests[0]?.ua).toBe('custctl/test');
  }, 20_000);

  it('404 is null, not an error', async () => {
    nsExists = false;
    const k = await kube();
    expect(await k.getNamespace('customer-abc')).toBeNull();
  });

  it('an abort rejects promptly with the signal reason while the server is silent', async () => {
    const k = await kube();
    const ac = new AbortController();
    const reason = new Error('job timed out');
    setTimeout(() => ac.abort(reason), 100);
    const started = Date.now();
    await expect(k.getNamespace('hang', ac.signal)).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('waitNamespaceGone: gone at the GET after connecting; two requests, both with the User-Agent', async () => {
    nsExists = false;
    requests.length = 0;
    const k = await kube();
    expect(await k.waitNamespaceGone('customer-abc', 5000)).toBe('gone');
    expect(requests.map((r) => [r.method, r.url.split('?')[0], r.ua])).toEqual([
      ['GET', '/api/v1/namespaces', 'custctl/0.1.0-test'],
      ['GET', '/api/v1/namespaces/customer-abc', 'custctl/0.1.0-test'],
    ]);
    const watchUrl = new URL(requests[0]!.url, 'http://x');
    expect(watchUrl.searchParams.get('fieldSelector')).toBe('metadata.name=customer-abc');
    expect(watchUrl.searchParams.get('watch')).toBe('true');
    expect(Number(watchUrl.searchParams.get('timeoutSeconds'))).toBeLessThanOrEqual(60);
    await expectNoOpenConnections();
  });

  it('waitNamespaceGone: timeout at the deadline, reconnecting with a GET after each watch', async () => {
    nsExists = true;
    requests.length = 0;
    const k = await kube();
    const started = Date.now();
    expect(await k.waitNamespaceGone('customer-abc', 2500)).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(4000);
    const kinds = requests.map((r) => (r.url.includes('watch=true') ? 'WATCH' : 'GET'));
    expect(kinds.slice(0, 4)).toEqual(['WATCH', 'GET', 'WATCH', 'GET']);
    expect(kinds.length).toBeLessThanOrEqual(10);
    await expectNoOpenConnections();
  });

  it('waitNamespaceGone: abort rejects with the reason', async () => {
    nsExists = true;
    const k = await kube();
    const ac = new AbortController();
    const reason = new Error('cancelled');
    setTimeout(() => ac.abort(reason), 100);
    await expect(k.waitNamespaceGone('customer-abc', 30_000, ac.signal)).rejects.toBe(reason);
    await expectNoOpenConnections();
  });

  it('countNamespaceObjects: pages, dedups finalizers, skips events and subresources, survives a broken group', async () => {
    requests.length = 0;
    accepts.length = 0;
    const k = await kube();
    expect(await k.countNamespaceObjects('customer-abc')).toEqual([
      { resource: 'configmaps', kind: 'ConfigMap', count: 3, finalizers: ['b/held', 'z/held'] },
      { resource: 'metrics.k8s.io/v1beta1 (discovery failed: HTTP 503: service unavailable)', kind: '', count: 0, finalizers: [] },
    ]);
    expect(accepts[0]).toContain('as=PartialObjectMetadataList');
    const paths = requests.map((r) => r.url.split('?')[0]);
    expect(paths).not.toContain('/api/v1/namespaces/customer-abc/events');
    expect(paths.some((p) => p?.includes('/log') || p?.includes('/scale') || p?.includes('nodes') || p?.includes('bindings'))).toBe(false);
    expect(requests.every((r) => r.ua === 'custctl/0.1.0-test')).toBe(true);
  });

  it('isClusterScoped: the table first (no request), then discovery, cached', async () => {
    requests.length = 0;
    const k = await kube();
    expect(await k.isClusterScoped('v1', 'Namespace')).toBe(true);
    expect(requests).toEqual([]);
    expect(await k.isClusterScoped('v1', 'Binding')).toBe(false);
    expect(await k.isClusterScoped('apps/v1', 'Scale')).toBe(true); // only a subresource: unknown, conservative
    expect(await k.isClusterScoped('v1', 'Binding')).toBe(false);
    expect(requests.map((r) => r.url)).toEqual(['/api/v1', '/apis/apps/v1']);
  });

  it('connection refused names the server and the context', async () => {
    const file = writeKubeconfig('refused.yaml', { contexts: ['dead'], current: 'dead', server: 'http://127.0.0.1:1' });
    waits.length = 0;
    const k = await openKube({ kubeconfig: file, env: {}, userAgent: 'custctl/test', retry: { sleep: noSleep } });
    const err = await k.getNamespace('customer-abc').catch((e: unknown) => e) as Error;
    expect(err).toBeInstanceOf(OperationError);
    expect(err.message).toBe('cannot reach the API server http://127.0.0.1:1 (context dead): ECONNREFUSED');
    // a server that never answered in this process: most likely the wrong address or a cluster that is down, said at once
    expect(waits).toHaveLength(0);
    expect(isPermanent(err)).toBe(false);
  });

  it('connection refused by a server that answered earlier in this process (restarting) is retried, each retry told', async () => {
    const srv = http.createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"metadata":{"name":"customer-abc","uid":"u-9"},"status":{"phase":"Active"}}'); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const file = writeKubeconfig('restarting.yaml', { contexts: ['r'], current: 'r', server: `http://127.0.0.1:${port}` });
    waits.length = 0;
    const told: string[] = [];
    const k = await openKube({ kubeconfig: file, env: {}, userAgent: 'custctl/test', retry: { sleep: noSleep }, onRetry: (e) => told.push(`${e.op}: ${retryText(e)}`) });
    expect((await k.getNamespace('customer-abc'))?.uid).toBe('u-9');
    await new Promise<void>((r) => srv.close(() => r()));
    const err = await k.getNamespace('customer-abc').catch((e: unknown) => e) as Error;
    expect(err.message).toBe(`cannot reach the API server http://127.0.0.1:${port} (context r): ECONNREFUSED`);
    expect(waits).toHaveLength(KUBE_RETRY.tries - 1);
    // the first try may meet the pooled connection the stopped server closed (a reset), then refusals
    expect(told[0]).toMatch(/^get namespace customer-abc: retrying \((ECONNREFUSED|ECONNRESET)\) 2\/8$/);
    expect(told.at(-1)).toBe('get namespace customer-abc: retrying (ECONNREFUSED) 8/8');
    expect(told).toHaveLength(KUBE_RETRY.tries - 1);
  });

  it('an unknown host fails at once (ENOTFOUND), naming the server', async () => {
    const file = writeKubeconfig('nohost.yaml', { contexts: ['n'], current: 'n', server: 'http://custctl-no-such-host.invalid:6443' });
    waits.length = 0;
    const k = await openKube({ kubeconfig: file, env: {}, userAgent: 'custctl/test', retry: { sleep: noSleep } });
    const err = await k.getNamespace('customer-abc').catch((e: unknown) => e) as Error;
    expect(err.message).toMatch(/^cannot reach the API server http:\/\/custctl-no-such-host.invalid:6443 \(context n\): (ENOTFOUND|EAI_AGAIN)$/);
    expect(waits).toHaveLength(0);
  });

  it('429 is tried again after its Retry-After, 500 and 503 after a backoff, a reset at once again; then it answers', async () => {
    nsExists = true;
    requests.length = 0;
    waits.length = 0;
    script.push({ code: 429, retryAfter: '2' }, { code: 500 }, { reset: true }, { code: 503 });
    const k = await kube();
    expect((await k.getNamespace('customer-abc'))?.uid).toBe('u-1');
    expect(requests).toHaveLength(5);
    expect(waits[0]).toBe(2000); // the server said when to come back: exactly that (client-go)
    expect(waits.slice(1)).toHaveLength(3);
    for (const [i, w] of waits.slice(1).entries()) {
      const step = Math.min(KUBE_RETRY.maxMs, KUBE_RETRY.baseMs * 2 ** (i + 1));
      expect(w).toBeGreaterThanOrEqual(step / 2);
      expect(w).toBeLessThanOrEqual(step);
    }
  });

  it('a 403 is permanent: one request, no retry', async () => {
    requests.length = 0;
    waits.length = 0;
    script.push({ code: 403, message: 'namespaces "customer-abc" is forbidden: User "bob" cannot get resource "namespaces" in API group "" in the namespace "customer-abc"' });
    const k = await kube();
    const err = await k.getNamespace('customer-abc').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect(isPermanent(err)).toBe(true);
    expect((err as Error).message).toMatch(/^permission denied: cannot get namespaces/);
    expect(requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('a delete whose answer was lost and whose retry meets 404 counts as deleted', async () => {
    requests.length = 0;
    script.push({ code: 503 }, { code: 404, message: 'clusterroles.rbac.authorization.k8s.io "x" not found' });
    const k = await kube();
    expect(await k.deleteClusterRbac('ClusterRole', 'x')).toBe('deleted');
    script.push({ code: 404, message: 'clusterroles.rbac.authorization.k8s.io "x" not found' });
    expect(await k.deleteClusterRbac('ClusterRole', 'x')).toBe('not-found');
  });

  it('the retries stop at the attempt\'s abort', async () => {
    requests.length = 0;
    script.push({ code: 429, retryAfter: '30' });
    const file = writeKubeconfig('stand-in-abort.yaml', { contexts: ['stand-in'], current: 'stand-in', server: base });
    const k = await openKube({ kubeconfig: file, env: {}, userAgent: 'custctl/test' }); // real sleep
    const ac = new AbortController();
    const reason = new Error('attempt timed out');
    setTimeout(() => ac.abort(reason), 200);
    const started = Date.now();
    await expect(k.getNamespace('customer-abc', ac.signal)).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(requests).toHaveLength(1);
  });
});
