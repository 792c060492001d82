import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeHelm, helmDuration } from '../../src/adapters/helm-cli.js';
import { parseManifest } from '../../src/adapters/helm-manifest.js';
import { OperationError } from '../../src/errors.js';

/**
 * A fake helm: records its argv (one per line) and env, prints canned stdout/stderr and exits with a
 * canned code, all read from files in its directory. `sleep` in `mode` makes it hang.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'custctl-fake-helm-'));
const helmBin = path.join(dir, 'helm');
writeFileSync(helmBin, `#!/bin/sh
d="$(dirname "$0")"
: > "$d/argv"
for a in "$@"; do printf '%s\\n' "$a" >> "$d/argv"; done
rec=""; for a in "$@"; do rec="$rec$a
"; done
printf '%s\n' "$rec" >> "$d/calls"
env > "$d/env"
[ -f "$d/mode" ] && [ "$(cat "$d/mode")" = sleep ] && exec sleep 30
sub="$1"
out="$d/stdout"; [ -f "$d/stdout.$sub" ] && out="$d/stdout.$sub"
err="$d/stderr"; [ -f "$d/stderr.$sub" ] && err="$d/stderr.$sub"
code="$d/exitcode"; [ -f "$d/exitcode.$sub" ] && code="$d/exitcode.$sub"
[ -f "$out" ] && cat "$out"
[ -f "$err" ] && cat "$err" >&2
c="$(cat "$code" 2>/dev/null || echo 0)"
echo "$sub" >> "$d/done"
exit "$c"
`);
chmodSync(helmBin, 0o755);

const kubeconfig = path.join(dir, 'kubeconfig');
const baseEnv = {
  PATH: process.env.PATH,
  HOME: dir,
  HELM_KUBECONTEXT: 'other-context',
  HELM_NAMESPACE: 'kube-system',
  HELM_KUBEAPISERVER: 'https://elsewhere:6443',
  HELM_KUBETOKEN: 'secret-token',
  HELM_KUBEASUSER: 'admin',
  HELM_KUBECAFILE: '/tmp/ca',
  HELM_DRIVER: 'secret',
  KUBECONFIG: '/somewhere/else',
};

function canned(o: { stdout?: string; stderr?: string; exitCode?: number; mode?: string }, sub?: string): void {
  const suffix = sub ? `.${sub}` : '';
  if (!sub) {
    for (const f of readdirSync(dir)) if (/^(stdout|stderr|exitcode)\./.test(f)) rmSync(path.join(dir, f));
    writeFileSync(path.join(dir, 'calls'), '');
    writeFileSync(path.join(dir, 'done'), '');
    writeFileSync(path.join(dir, 'mode'), o.mode ?? '');
  }
  writeFileSync(path.join(dir, `stdout${suffix}`), o.stdout ?? '');
  writeFileSync(path.join(dir, `stderr${suffix}`), o.stderr ?? '');
  writeFileSync(path.join(dir, `exitcode${suffix}`), String(o.exitCode ?? 0));
}
/** argv of every call since the last canned({}) */
function calls(): string[][] {
  return readFileSync(path.join(dir, 'calls'), 'utf8').split('\n\n').filter((c) => c !== '').map((c) => c.split('\n').filter((l) => l !== ''));
}
function argv(): string[] {
  return readFileSync(path.join(dir, 'argv'), 'utf8').split('\n').slice(0, -1);
}
function childEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(dir, 'env'), 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

const allStates = ['--deployed', '--failed', '--pending', '--superseded', '--uninstalled', '--uninstalling'];
const helm = makeHelm({ helmBin, kubeconfig, context: 'test-ctx', env: baseEnv });

beforeEach(() => canned({}));

describe('helm-cli: command lines', () => {
  it('lists releases in every state (helm 4 has no -a), json, no limit, and the explicit cluster', async () => {
    canned({ stdout: JSON.stringify([
      { name: 'customer-abc', namespace: 'customer-abc', revision: '2', updated: 'x', status: 'deployed', chart: 'customer-instance-0.1.0', app_version: '1' },
      { name: 'stuck', namespace: 'customer-abc', revision: 1, status: 'pending-install', chart: 'c-1' },
    ]) });
    const releases = await helm.listReleases('customer-abc');
    expect(argv()).toEqual(['list', ...allStates, '-n', 'customer-abc', '-o', 'json', '--max', '0', '--kubeconfig', kubeconfig, '--kube-context', 'test-ctx']);
    expect(releases).toEqual([
      { name: 'customer-abc', namespace: 'customer-abc', status: 'deployed', chart: 'customer-instance-0.1.0', revision: '2' },
      { name: 'stuck', namespace: 'customer-abc', status: 'pending-install', chart: 'c-1', revision: '1' },
    ]);
  });

  it('strips the HELM_* variables that redirect helm, and KUBECONFIG when --kubeconfig is given', async () => {
    canned({ stdout: '[]' });
    expect(await helm.listReleases('customer-abc')).toEqual([]);
    const env = childEnv();
    for (const k of ['HELM_KUBECONTEXT', 'HELM_NAMESPACE', 'HELM_KUBEAPISERVER', 'HELM_KUBETOKEN', 'HELM_KUBEASUSER', 'HELM_KUBECAFILE', 'KUBECONFIG']) {
      expect(env[k], k).toBeUndefined();
    }
    expect(env.HELM_DRIVER).toBe('secret');
    expect(env.PATH).toBe(process.env.PATH);
  });

  it('does not leak the parent process environment', async () => {
    process.env.CUSTCTL_TEST_LEAK = 'leaked';
    try {
      canned({ stdout: '[]' });
      await helm.listReleases('customer-abc');
      expect(childEnv().CUSTCTL_TEST_LEAK).toBeUndefined();
    } finally {
      delete process.env.CUSTCTL_TEST_LEAK;
    }
  });

  it('passes a KUBECONFIG list in the child env instead of --kubeconfig', async () => {
    const list = `${kubeconfig}:${kubeconfig}-2`;
    const h = makeHelm({ helmBin, kubeconfig: list, context: 'test-ctx', env: baseEnv });
    canned({ stdout: '[]' });
    await h.listReleases('customer-abc');
    expect(argv()).toEqual(['list', ...allStates, '-n', 'customer-abc', '-o', 'json', '--max', '0', '--kube-context', 'test-ctx']);
    expect(childEnv().KUBECONFIG).toBe(list);
  });

  it('falls back to env.KUBECONFIG, then ~/.kube/config, always explicit', async () => {
    canned({ stdout: '[]' });
    await makeHelm({ helmBin, context: 'c', env: { ...baseEnv, KUBECONFIG: '/k/one' } }).listReleases('ns');
    expect(argv().slice(-4)).toEqual(['--kubeconfig', '/k/one', '--kube-context', 'c']);
    await makeHelm({ helmBin, context: 'c', env: { ...baseEnv, KUBECONFIG: undefined } }).listReleases('ns');
    expect(argv().slice(-4)).toEqual(['--kubeconfig', path.join(dir, '.kube', 'config'), '--kube-context', 'c']);
  });

  it('uninstalls with the exact command line of DESIGN, after asking helm history whether the release exists', async () => {
    canned({ stdout: 'release "customer-abc" uninstalled\n' });
    canned({ stdout: '[{"revision":1,"status":"deployed"}]' }, 'history');
    expect(await helm.uninstall('customer-abc', 'customer-abc', 300_000)).toBe('uninstalled');
    expect(calls()).toEqual([
      ['history', 'customer-abc', '-n', 'customer-abc', '--max', '1', '-o', 'json', '--kubeconfig', kubeconfig, '--kube-context', 'test-ctx'],
      [
        'uninstall', 'customer-abc', '-n', 'customer-abc', '--timeout', '300s',
        '--ignore-not-found', '--kubeconfig', kubeconfig, '--kube-context', 'test-ctx',
      ],
    ]);
  });

  it('a release just listed is uninstalled without the history probe', async () => {
    canned({ stdout: 'release "customer-abc" uninstalled\n' });
    expect(await helm.uninstall('customer-abc', 'customer-abc', 60_000, undefined, { justListed: true })).toBe('uninstalled');
    expect(calls().map((c) => c[0])).toEqual(['uninstall']);
  });

  it('a release helm history does not know is not-found, and nothing is uninstalled', async () => {
    // what helm 3 and 4 say; `uninstall --ignore-not-found` would print "uninstalled" either way
    canned({ stdout: 'release "customer-abc" uninstalled\n' });
    canned({ stderr: 'Error: release: not found\n', exitCode: 1 }, 'history');
    expect(await helm.uninstall('customer-abc', 'customer-abc', 10_000)).toBe('not-found');
    expect(calls().map((c) => c[0])).toEqual(['history']);
  });

  it('a failing history probe is an error, not a silent not-found', async () => {
    canned({ stderr: 'Error: Kubernetes cluster unreachable: connection refused\n', exitCode: 1 }, 'history');
    // transient: re-run (HELM_RETRY) without waiting here, then reported
    const h = makeHelm({ helmBin, kubeconfig, context: 'test-ctx', env: baseEnv, retry: { sleep: async () => undefined } });
    await expect(h.uninstall('customer-abc', 'customer-abc', 10_000)).rejects.toThrow(/helm history failed \(exit 1\).*unreachable/);
  });

  it('helm saying not-found on uninstall itself is not-found too', async () => {
    canned({ stderr: 'Error: uninstall: Release not loaded: customer-abc: release: not found' });
    canned({ stdout: '[]' }, 'history');
    expect(await helm.uninstall('customer-abc', 'customer-abc', 10_000)).toBe('not-found');
  });

  it('rounds the timeout up to whole seconds', () => {
    expect(helmDuration(1)).toBe('1s');
    expect(helmDuration(1500)).toBe('2s');
    expect(helmDuration(300_000)).toBe('300s');
  });
});

describe('helm-cli: read-ahead', () => {
  const listed = JSON.stringify([{ name: 'customer-abc', namespace: 'customer-abc', revision: '1', status: 'deployed', chart: 'c-0.1.0' }]);
  const manifest = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n';

  it('the next list and manifest reads use the read-ahead, once; later reads run helm again', async () => {
    canned({ stdout: listed }, 'list');
    canned({ stdout: manifest }, 'get');
    const h = makeHelm({ helmBin, kubeconfig, context: 'test-ctx', env: baseEnv });
    h.readAhead?.('customer-abc', 'customer-abc');
    const releases = await h.listReleases('customer-abc');
    const { objects } = await h.readRelease('customer-abc', 'customer-abc');
    expect(releases.map((r) => r.name)).toEqual(['customer-abc']);
    expect(objects).toEqual([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cm' }]);
    expect(calls().map((c) => c.slice(0, 2).join(' ')).sort()).toEqual(['get manifest', 'list --deployed']);
    await h.listReleases('customer-abc');
    expect(calls().filter((c) => c[0] === 'list')).toHaveLength(2);
  });

  it('a failed read-ahead is read again, and the fresh answer is the one reported', async () => {
    canned({ stderr: 'Error: Kubernetes cluster unreachable', exitCode: 1 }, 'list');
    writeFileSync(path.join(dir, 'done'), '');
    const h = makeHelm({ helmBin, kubeconfig, context: 'test-ctx', env: baseEnv });
    h.readAhead?.('customer-abc', 'customer-abc');
    // the read-ahead's helm has read its canned answer (a fixed sleep raced with a loaded machine)
    const done = path.join(dir, 'done');
    while (!(existsSync(done) && readFileSync(done, 'utf8').split('\n').includes('list'))) await new Promise((r) => setTimeout(r, 20));
    canned({ stdout: listed }, 'list');
    expect((await h.listReleases('customer-abc')).map((r) => r.name)).toEqual(['customer-abc']);
  });

  it('a prefetched manifest of another namespace or release is not used', async () => {
    canned({ stdout: manifest }, 'get');
    canned({ stdout: '[]' }, 'list');
    const h = makeHelm({ helmBin, kubeconfig, context: 'test-ctx', env: baseEnv });
    h.readAhead?.('customer-abc', 'customer-abc');
    await h.readRelease('other-release', 'customer-abc');
    expect(calls().filter((c) => c[0] === 'get').map((c) => c[2]).sort()).toEqual(['customer-abc', 'other-release']);
  });
});

describe('helm-cli: manifests', () => {
  const manifest = `---
# Source: customer-instance/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
  namespace: customer-abc
---
# Source: customer-instance/templates/empty.yaml
---

---
apiVersion: v1
kind: List
items:
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata:
      name: cabc-customer-instance-opencost
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: cm
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
`;

  it('reads every object, skipping empty documents and opening Lists', async () => {
    canned({ stdout: manifest });
    const { objects, unreadable, deleteHooks } = await helm.readRelease('customer-abc', 'customer-abc');
    expect(argv()).toEqual(['get', 'manifest', 'customer-abc', '-n', 'customer-abc', '--kubeconfig', kubeconfig, '--kube-context', 'test-ctx']);
    // read through the CLI: the records are not in the namespace, so helm runs whatever its hooks are
    expect(unreadable).toEqual([]);
    expect(deleteHooks).toBeNull();
    expect(objects).toEqual([
      { apiVersion: 'v1', kind: 'ServiceAccount', name: 'sa', namespace: 'customer-abc' },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'cabc-customer-instance-opencost' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'cm' },
      { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' },
    ]);
  });

  it('an empty manifest has no objects', async () => {
    expect(await parseManifest('')).toEqual({ objects: [], unreadable: [] });
    expect(await parseManifest('---\n# only a comment\n---\n')).toEqual({ objects: [], unreadable: [] });
  });

  it('reads JSON and flow-style documents too (templates may render either)', async () => {
    const m = '{"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"}}\n---\n{apiVersion: v1, kind: Secret, metadata: {name: s, namespace: ns}}\n';
    expect((await parseManifest(m)).objects).toEqual([
      { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name: 'fast' },
      { apiVersion: 'v1', kind: 'Secret', name: 's', namespace: 'ns' },
    ]);
  });

  it('a release gone between list and get has no objects', async () => {
    canned({ stderr: 'Error: release: not found', exitCode: 1 });
    expect(await helm.readRelease('gone', 'customer-abc')).toEqual({ objects: [], unreadable: [], deleteHooks: [] });
  });
});

describe('helm-cli: failures', () => {
  it('a missing binary names HELM_BIN', async () => {
    const h = makeHelm({ helmBin: path.join(dir, 'no-such-helm'), kubeconfig, context: 'c', env: baseEnv });
    const err = await h.listReleases('ns').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toBe(`helm not found: HELM_BIN=${path.join(dir, 'no-such-helm')} (set HELM_BIN to the helm binary, v3.8+ or v4)`);
    expect((err as Error).stack === undefined || !(err as Error).message.includes('    at ')).toBe(true);
  });

  it('a helm that cannot be executed is an OperationError naming HELM_BIN', async () => {
    const notExecutable = path.join(dir, 'helm-not-executable');
    writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    const h = makeHelm({ helmBin: notExecutable, kubeconfig, context: 'c', env: baseEnv });
    await expect(h.listReleases('ns')).rejects.toThrow(`could not run helm (HELM_BIN=${notExecutable})`);
  });

  it('a non-zero exit is an OperationError with helm\'s stderr and the command, no secrets', async () => {
    canned({ stderr: 'line 1\nline 2\nError: uninstallation completed with 1 error(s): context deadline exceeded\n', exitCode: 1 });
    canned({ stdout: '[]' }, 'history');
    const err = await helm.uninstall('customer-abc', 'customer-abc', 5000).catch((e: unknown) => e) as OperationError;
    expect(err).toBeInstanceOf(OperationError);
    expect(err.message).toContain('helm uninstall failed (exit 1)');
    expect(err.message).toContain('context deadline exceeded');
    const all = [err.message, ...err.details].join('\n');
    expect(all).toContain(`command: helm uninstall customer-abc -n customer-abc --timeout 5s --ignore-not-found --kubeconfig ${kubeconfig} --kube-context test-ctx`);
    expect(all).toContain('line 2');
    expect(all).not.toContain('secret-token');
  });

  it('list output that is not JSON is an OperationError', async () => {
    canned({ stdout: 'NAME NAMESPACE\n' });
    await expect(helm.listReleases('ns')).rejects.toThrow(OperationError);
  });

  it('an abort stops helm and rejects promptly with the signal reason', async () => {
    canned({ mode: 'sleep' });
    const ac = new AbortController();
    const reason = new Error('job timed out');
    const started = Date.now();
    setTimeout(() => ac.abort(reason), 200);
    await expect(helm.uninstall('customer-abc', 'customer-abc', 60_000, ac.signal)).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an already aborted signal runs nothing', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    const argvFile = path.join(dir, 'argv');
    writeFileSync(argvFile, 'untouched\n');
    await expect(helm.listReleases('ns', ac.signal)).rejects.toThrow('stop');
    expect(existsSync(argvFile) && readFileSync(argvFile, 'utf8')).toBe('untouched\n');
  });
});
