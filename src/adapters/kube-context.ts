/**
 * The kube context a run acts on, found without loading @kubernetes/client-node (~0.7 s of
 * import): helm needs only its name (`--kube-context`), and its first reads can then run while
 * client-node loads. Same rules as loadKubeconfig in kube-client.ts (kubectl's): --context, else
 * the first of the kubeconfig files that names a current-context. deps.ts checks that the client
 * loadKubeconfig builds agrees before the kube client is used.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from 'js-yaml';

/** The context name, or null when it cannot be told cheaply (then the kube client decides). */
export function contextName(o: { kubeconfig?: string; context?: string; env: Record<string, string | undefined> }): string | null {
  if (o.context) return o.context;
  const home = o.env.HOME || os.homedir();
  const list = (o.kubeconfig || o.env.KUBECONFIG || path.join(home, '.kube', 'config')).split(path.delimiter).filter((f) => f !== '');
  // a missing --kubeconfig file is a usage error that loadKubeconfig words: leave it to it
  if (o.kubeconfig && list.some((f) => !existsSync(f))) return null;
  try {
    for (const file of list.filter((f) => existsSync(f))) {
      const doc = load(readFileSync(file, 'utf8')) as { 'current-context'?: unknown } | null;
      const current = doc?.['current-context'];
      if (typeof current === 'string' && current !== '') return current;
    }
  } catch {
    return null; // unreadable: loadKubeconfig reports it properly
  }
  return null;
}

/** The context names of the kubeconfig files (for shell completion of --context); none when unreadable. */
export function contextNames(o: { kubeconfig?: string; env: Record<string, string | undefined> }): string[] {
  const home = o.env.HOME || os.homedir();
  const list = (o.kubeconfig || o.env.KUBECONFIG || path.join(home, '.kube', 'config')).split(path.delimiter).filter((f) => f !== '' && existsSync(f));
  const names = new Set<string>();
  for (const file of list) {
    try {
      const doc = load(readFileSync(file, 'utf8')) as { contexts?: unknown } | null;
      for (const c of Array.isArray(doc?.contexts) ? doc.contexts : []) {
        const name = (c as { name?: unknown } | null)?.name;
        if (typeof name === 'string' && name !== '') names.add(name);
      }
    } catch {
      // unreadable: nothing to offer from it
    }
  }
  return [...names];
}
