/**
 * A second control plane (etcd + kube-apiserver + kube-controller-manager, its own CA, ports and
 * run dir) for the tests of several clusters, started only when a test file asks for it: it costs
 * ~0.5 GB and a share of the 2 cores, which most runs do not need.
 *
 * The test files run in worker processes; the servers must outlive a file and be stopped at the
 * end of the run, so they belong to vitest's main process. The global setup starts this launcher
 * there (a loopback HTTP server behind a random path) and provides its URL; a test asks it
 * (test/support/second-cluster.ts), and the first ask starts the cluster, once per `vitest run`,
 * shared by every file that asks. The global teardown stops it with the rest.
 *
 * The launcher can also stop and start the second cluster's kube-apiserver alone (same port, same
 * data): a cluster that is down, as its clients see it, and back.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { generateCerts } from './certs.js';
import { startCluster, type Cluster } from './cluster.js';
import { KEEP_ENV } from './process.js';

/** The second cluster's kubeconfig context (and cluster) name. */
export const SECOND_CONTEXT = 'custctl-test-b';

/** What a test gets of the second cluster (JSON over the launcher). */
export interface SecondClusterValues {
  /** its own admin kubeconfig (context `custctl-test-b`) */
  kubeconfig: string;
  kubeContext: string;
  /** https://127.0.0.1:<port> */
  apiServer: string;
  /** its run dir: logs, certificates */
  runDir: string;
  auditLog: string;
  /** one kubeconfig holding both clusters: contexts `custctl-test` (current) and `custctl-test-b` */
  fleetKubeconfig: string;
  pids: Record<string, number>;
  /** seconds until ready, as the first start measured them */
  readyAfter: { etcd: number; apiServer: number; controllerManager: number };
}

export interface FleetLauncher {
  /** `http://127.0.0.1:<port>/<token>` */
  url: string;
  stop(): Promise<void>;
}

interface KubeconfigDoc {
  clusters?: unknown[];
  users?: unknown[];
  contexts?: unknown[];
  'current-context'?: string;
}

/** One kubeconfig with every cluster, user and context of `files` (their names are distinct), the first file's context current. */
export async function mergeKubeconfigs(files: readonly string[], into: string): Promise<void> {
  const docs = await Promise.all(files.map(async (f) => parse(await fs.readFile(f, 'utf8')) as KubeconfigDoc));
  const merged = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: docs.flatMap((d) => d.clusters ?? []),
    users: docs.flatMap((d) => d.users ?? []),
    contexts: docs.flatMap((d) => d.contexts ?? []),
    'current-context': docs[0]?.['current-context'] ?? '',
  };
  await fs.mkdir(path.dirname(into), { recursive: true, mode: 0o700 });
  await fs.writeFile(into, stringify(merged), { mode: 0o600 });
}

/**
 * The launcher, in the main process. `runDir` is the run's directory (the second cluster lives in
 * `<runDir>/cluster-b`); `binDir` holds kube-apiserver and kube-controller-manager; `firstKubeconfig`
 * is the first cluster's, for the merged kubeconfig.
 */
export async function startFleetLauncher(o: { runDir: string; binDir: string; firstKubeconfig: string }): Promise<FleetLauncher> {
  const token = randomBytes(16).toString('hex');
  let second: Promise<{ cluster: Cluster; values: SecondClusterValues }> | undefined;

  const start = async (): Promise<{ cluster: Cluster; values: SecondClusterValues }> => {
    const t0 = Date.now();
    const dir = path.join(o.runDir, 'cluster-b');
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const cluster = await startCluster({ runDir: dir, binDir: o.binDir, certs: generateCerts(path.join(dir, 'certs')), name: SECOND_CONTEXT });
    const fleetKubeconfig = path.join(o.runDir, 'fleet', 'kubeconfig');
    await mergeKubeconfigs([o.firstKubeconfig, cluster.kubeconfig], fleetKubeconfig);
    const pids: Record<string, number> = {};
    for (const p of cluster.processes) pids[p.name] = p.pid;
    const values: SecondClusterValues = {
      kubeconfig: cluster.kubeconfig, kubeContext: cluster.kubeContext, apiServer: cluster.apiServer, runDir: dir,
      auditLog: cluster.auditLog, fleetKubeconfig, pids, readyAfter: cluster.readyAfter,
    };
    await fs.writeFile(path.join(dir, 'env.json'), `${JSON.stringify(values, null, 2)}\n`, { mode: 0o600 });
    const r = cluster.readyAfter;
    console.log(`[custctl-test] second cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s (etcd ${r.etcd} s, kube-apiserver ${r.apiServer} s, controller-manager ${r.controllerManager} s): ${dir}`);
    return { cluster, values };
  };

  const routes: Record<string, () => Promise<unknown>> = {
    '/second-cluster': async () => (await (second ??= start())).values,
    '/second-cluster/api-server/stop': async () => {
      const s = await (second ??= start());
      await s.cluster.stopApiServer();
      return { stopped: true };
    },
    '/second-cluster/api-server/start': async () => {
      const s = await (second ??= start());
      await s.cluster.startApiServer();
      s.values.pids['kube-apiserver'] = s.cluster.processes.find((p) => p.name === 'kube-apiserver' && p.alive())?.pid ?? 0;
      return { started: true };
    },
  };

  const server = http.createServer((req, res) => {
    const prefix = `/${token}`;
    const route = req.method === 'POST' && req.url?.startsWith(`${prefix}/`) ? routes[req.url.slice(prefix.length)] : undefined;
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    route().then(
      (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(e instanceof Error ? e.message : String(e)),
    );
  });
  // a cold start of the second cluster takes a while on a loaded machine: no server-side timeouts
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  server.unref();
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/${token}`,
    async stop() {
      server.close();
      server.closeAllConnections();
      if (!second) return;
      const s = await second.catch(() => undefined);
      if (!s) return;
      if (KEEP_ENV) {
        console.log(`[custctl-test] CUSTCTL_TEST_KEEP=1: the second cluster keeps running (${s.values.runDir}/env.json); stop it with: kill ${Object.values(s.values.pids).join(' ')}`);
        return;
      }
      await s.cluster.stop();
      await fs.rm(s.values.auditLog, { force: true });
    },
  };
}
