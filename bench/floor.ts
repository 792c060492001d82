/**
 * The floor for one customer deletion (bench item 1c): what any tool has to do, done by a minimal
 * Node script that pays the same @kubernetes/client-node import as custctl: `helm uninstall`, a
 * bare API delete of the namespace, and a watch until the namespace is gone (then a GET sees 404).
 * No checks, no journal, no RBAC sweep, no row update.
 *
 * Usage: node floor.js <key>   (KUBECONFIG and HELM_BIN set)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';

const run = promisify(execFile);

async function main(): Promise<void> {
  const key = process.argv[2];
  if (!key) throw new Error('usage: floor.js <key>');
  const ns = `customer-${key}`;
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);

  await run(process.env.HELM_BIN ?? 'helm', ['uninstall', ns, '--namespace', ns]);

  const deleted = await core.deleteNamespace({ name: ns }) as unknown as { metadata?: { resourceVersion?: string } };
  const rv = deleted.metadata?.resourceVersion;
  await new Promise<void>((resolve, reject) => {
    const watch = new k8s.Watch(kc);
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      void req.then((r) => r.abort()).catch(() => undefined);
      if (err) reject(err instanceof Error ? err : new Error(String(err))); else resolve();
    };
    const req = watch.watch('/api/v1/namespaces', { fieldSelector: `metadata.name=${ns}`, ...(rv ? { resourceVersion: rv } : {}) },
      (type) => { if (type === 'DELETED') finish(); },
      (err) => { if (!done) finish(err ?? new Error('watch ended before the namespace was deleted')); });
  }).catch(() => undefined); // a watch that ended early (e.g. 410 Gone): the GET loop below decides
  for (;;) {
    try {
      await core.readNamespace({ name: ns });
    } catch (err) {
      if (err instanceof k8s.ApiException && err.code === 404) return;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

main().catch((err: unknown) => {
  console.error(`floor: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
