import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execConfigOf, makeExecCredentialSource, parseExecCredential } from '../../src/adapters/kube/exec-credentials.js';
import { OperationError, UsageError } from '../../src/errors.js';

const V1 = 'client.authentication.k8s.io/v1';

/** A plugin script that appends a line per run to `runs` and prints the credential in `answer` (after `sleep` s). */
function plugin(o: { answer?: string; exit?: number; sleep?: number } = {}): { dir: string; file: string; runs: () => number; info: () => unknown } {
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-exec-'));
  const file = path.join(dir, 'plugin.sh');
  writeFileSync(path.join(dir, 'answer'), o.answer ?? JSON.stringify({ apiVersion: V1, kind: 'ExecCredential', status: { token: 'tok-1' } }));
  writeFileSync(file, `#!/bin/sh
d="$(dirname "$0")"
echo run >> "$d/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$d/info"
printf '%s' "$EXTRA" > "$d/extra"
${o.sleep ? `sleep ${o.sleep}` : ''}
cat "$d/answer"
exit ${o.exit ?? 0}
`);
  chmodSync(file, 0o755);
  return {
    dir, file,
    runs: () => (existsSync(path.join(dir, 'runs')) ? readFileSync(path.join(dir, 'runs'), 'utf8').trim().split('\n').length : 0),
    info: () => JSON.parse(readFileSync(path.join(dir, 'info'), 'utf8')) as unknown,
  };
}

const source = (file: string, extra: Partial<Parameters<typeof makeExecCredentialSource>[0]> = {}, exec: Record<string, unknown> = {}) =>
  makeExecCredentialSource({
    exec: { apiVersion: V1, command: file, ...exec },
    kubeconfigFile: path.join(path.dirname(file), 'kubeconfig'),
    cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': 'Q0E=' },
    env: { PATH: process.env.PATH },
    ...extra,
  });

describe('exec credential plugins: once per process and expiry', () => {
  it('runs the plugin once for every request, those in flight at once included (no expiry: for the life of the process)', async () => {
    const p = plugin({ sleep: 0.2 });
    const s = source(p.file);
    const all = await Promise.all(Array.from({ length: 8 }, () => s.get()));
    expect(all.every((c) => c.token === 'tok-1')).toBe(true);
    await s.get();
    expect(p.runs()).toBe(1);
    expect(s.runs).toBe(1);
  });

  it('runs it again once the credential is about to expire, and after a 401 (once for all who saw it)', async () => {
    let t = Date.parse('2026-12-01T10:00:00Z');
    const p = plugin({ answer: JSON.stringify({ apiVersion: V1, kind: 'ExecCredential', status: { token: 'tok', expirationTimestamp: '2026-12-01T10:15:00Z' } }) });
    const s = source(p.file, { now: () => t });
    const first = await s.get();
    expect(first.expiresAt).toBe(Date.parse('2026-12-01T10:15:00Z'));
    t += 10 * 60_000;
    await s.get();
    expect(p.runs()).toBe(1);
    t += 4 * 60_000 + 45_000; // 15 s before the expiry: fetched again
    writeFileSync(path.join(p.dir, 'answer'), JSON.stringify({ apiVersion: V1, kind: 'ExecCredential', status: { token: 'tok2', expirationTimestamp: '2026-12-01T11:00:00Z' } }));
    const second = await s.get();
    expect(second.token).toBe('tok2');
    expect(p.runs()).toBe(2);
    s.invalidate(first); // a stale 401 does not throw away the new one
    await s.get();
    expect(p.runs()).toBe(2);
    s.invalidate(second);
    s.invalidate(second);
    await s.get();
    expect(p.runs()).toBe(3);
  });

  it('gives the plugin KUBERNETES_EXEC_INFO (with the cluster when asked), the kubeconfig env entries, no terminal', async () => {
    const p = plugin();
    await source(p.file, {}, { provideClusterInfo: true, env: [{ name: 'EXTRA', value: 'from-kubeconfig' }] }).get();
    expect(p.info()).toEqual({ apiVersion: V1, kind: 'ExecCredential', spec: { interactive: false, cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': 'Q0E=' } } });
    expect(readFileSync(path.join(p.dir, 'extra'), 'utf8')).toBe('from-kubeconfig');
    const q = plugin();
    await source(q.file).get();
    expect(q.info()).toEqual({ apiVersion: V1, kind: 'ExecCredential', spec: { interactive: false } });
  });

  it('resolves a relative command with a slash against the kubeconfig directory', async () => {
    const p = plugin();
    const s = makeExecCredentialSource({ exec: { apiVersion: V1, command: './plugin.sh' }, kubeconfigFile: path.join(p.dir, 'config'), cluster: {}, env: { PATH: process.env.PATH } });
    expect((await s.get()).token).toBe('tok-1');
  });

  it('a client certificate and key are a credential too', async () => {
    const p = plugin({ answer: JSON.stringify({ apiVersion: V1, kind: 'ExecCredential', status: { clientCertificateData: 'CERT', clientKeyData: 'KEY' } }) });
    expect(await source(p.file).get()).toEqual({ clientCertificateData: 'CERT', clientKeyData: 'KEY' });
  });

  it('refuses what client-go refuses, with the reason', async () => {
    expect(() => source('/bin/true', {}, { apiVersion: 'client.authentication.k8s.io/v1alpha1' })).toThrow(UsageError);
    expect(() => source('/bin/true', {}, { interactiveMode: 'Always' })).toThrow(/asks for a terminal/);
    expect(() => parseExecCredential('{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"x"}}', V1, 'p')).toThrow(/apiVersion/);
    expect(() => parseExecCredential(`{"apiVersion":"${V1}","kind":"ExecCredential","status":{}}`, V1, 'p')).toThrow(/neither a token/);
    expect(() => parseExecCredential('not json', V1, 'p')).toThrow(OperationError);
    const failing = plugin({ exit: 3, answer: '' });
    await expect(source(failing.file).get()).rejects.toThrow(/failed \(exit 3\)/);
    const missing = source(path.join(failing.dir, 'nope'), {}, { installHint: 'install it with: brew install nope' });
    const e = await missing.get().then(() => null, (x: unknown) => x as OperationError);
    expect(e?.message).toMatch(/cannot run the credential plugin .*ENOENT/);
    expect(e?.details).toEqual(['install it with: brew install nope']);
  });

  it('reads the exec entry of a kubeconfig user', () => {
    expect(execConfigOf({ token: 't' })).toBeNull();
    expect(execConfigOf({ exec: { apiVersion: V1, command: 'aws', args: ['eks', 'get-token'], env: null, provideClusterInfo: false } })).toEqual({ apiVersion: V1, command: 'aws', args: ['eks', 'get-token'], provideClusterInfo: false });
  });
});
