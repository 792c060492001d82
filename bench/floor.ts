/**
 * The floor for one customer deletion: what any tool has to do, done by a minimal Node script with
 * the usual client (@kubernetes/client-node): a bare API delete of the namespace and a watch until
 * it is gone (then a GET sees 404). No helm (a release with no delete hooks goes with its
 * namespace), no checks, no journal, no RBAC sweep, no row update.
 *
 * Usage: node floor.js <key> [namespace]   (KUBECONFIG set)
 */
import * as k8s from '@kubernetes/client-node';

async function main(): Promise<void> {
  const key = process.argv[2];
  if (!key) throw new Error('usage: floor.js <key>');
  const ns = process.argv[3] ?? `customer-${key}`;
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);

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
