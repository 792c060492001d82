import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contextName } from '../../src/adapters/kube/kubeconfig.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'custctl-kctx-'));
const file = (name: string, text: string): string => {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
};
const a = file('a', 'apiVersion: v1\nkind: Config\ncurrent-context: ctx-a\n');
const none = file('none', 'apiVersion: v1\nkind: Config\n');
const b = file('b', 'apiVersion: v1\nkind: Config\ncurrent-context: ctx-b\n');
const broken = file('broken', 'current-context: [unclosed\n');

describe('contextName (helm\'s --kube-context without client-node; the same rules as loadKubeconfig)', () => {
  it.each([
    ['--context wins', { context: 'flag', kubeconfig: a, env: {} }, 'flag'],
    ['--kubeconfig file', { kubeconfig: a, env: { KUBECONFIG: b } }, 'ctx-a'],
    ['first file of KUBECONFIG naming one', { env: { KUBECONFIG: `${none}:${b}:${a}` } }, 'ctx-b'],
    ['missing KUBECONFIG entries are skipped', { env: { KUBECONFIG: `${path.join(dir, 'missing')}:${a}` } }, 'ctx-a'],
    ['~/.kube/config when nothing else', { env: { HOME: path.join(dir, 'nohome') } }, null],
    ['a missing --kubeconfig file: left to the kube client', { kubeconfig: `${a}:${path.join(dir, 'missing')}`, env: {} }, null],
    ['unparsable: left to the kube client', { kubeconfig: broken, env: {} }, null],
    ['no current-context anywhere', { env: { KUBECONFIG: none } }, null],
  ] as const)('%s', (_name, o, expected) => {
    expect(contextName(o)).toBe(expected);
  });
});
