import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Certs, ClientCert } from './certs.js';
import { freePorts } from './ports.js';
import { ManagedProcess, startProcess, waitUntil } from './process.js';

export const K8S_VERSION = 'v1.20.2';
export const KUBE_CONTEXT = 'custctl-test';
const ETCD_BIN = process.env.CUSTCTL_TEST_ETCD ?? '/usr/bin/etcd';

export interface ClusterOptions {
  runDir: string;
  /** directory holding kube-apiserver and kube-controller-manager */
  binDir: string;
  /** may still be being generated: etcd starts meanwhile */
  certs: Certs | Promise<Certs>;
  /**
   * The kubeconfig's context and cluster name (default `custctl-test`); its user is `<name>-admin`.
   * A second cluster of the run takes another, so that one kubeconfig can hold both.
   */
  name?: string;
}

export interface Cluster {
  apiServer: string;
  kubeconfig: string;
  kubeContext: string;
  auditLog: string;
  processes: ManagedProcess[];
  ports: { etcdClient: number; etcdPeer: number; apiServer: number; controllerManager: number };
  /** seconds from startCluster() until each part was ready */
  readyAfter: { etcd: number; apiServer: number; controllerManager: number };
  /**
   * Stops kube-apiserver alone (etcd and the controller manager keep running): the cluster is
   * down for its clients, connections refused, until `startApiServer`.
   */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same data, and waits for /readyz. */
  startApiServer(): Promise<void>;
  stop(): Promise<void>;
}

function kubeconfigFor(server: string, caCert: string, client: ClientCert, user: string, name = KUBE_CONTEXT): string {
  const b64 = (file: string): string => readFileSync(file).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': b64(caCert) } }],
    users: [{ name: user, user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) } }],
    contexts: [{ name, context: { cluster: name, user } }],
    'current-context': name,
  });
}

/** GET `urlPath` on the API server with the admin certificate; resolves to the HTTP status. */
export function apiStatus(port: number, certs: Certs, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get({
      host: '127.0.0.1', port, path: urlPath, timeout: 3000,
      ca: readFileSync(certs.caCert), cert: readFileSync(certs.admin.cert), key: readFileSync(certs.admin.key),
    }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports, and waits
 * until the API answers /readyz and the service-account controller has created
 * default/default. On failure everything started is stopped and the error carries the log tail.
 */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const { runDir, binDir } = opts;
  const name = opts.name ?? KUBE_CONTEXT;
  const [etcdClient, etcdPeer, apiPort, cmPort] = await freePorts(4) as [number, number, number, number];
  const processes: ManagedProcess[] = [];
  const t0 = Date.now();
  const since = (): number => Math.round((Date.now() - t0) / 100) / 10;
  const readyAfter = { etcd: 0, apiServer: 0, controllerManager: 0 };
  const stop = async (): Promise<void> => {
    for (const p of [...processes].reverse()) await p.stop('SIGTERM', 5000);
    await fs.rm(path.join(runDir, 'etcd-data'), { recursive: true, force: true });
  };
  try {
    const etcd = startProcess('etcd', ETCD_BIN, [
      '--name', name,
      '--data-dir', path.join(runDir, 'etcd-data'),
      '--listen-client-urls', `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster', `${name}=http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster-state', 'new',
      '--snapshot-count', '100000',
      '--log-level', 'warn',
      '--logger', 'zap',
    ], { logFile: path.join(runDir, 'etcd.log') });
    processes.push(etcd);
    const [certs] = await Promise.all([
      opts.certs,
      waitUntil(async () => {
        const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
        return res.ok;
      }, { timeoutMs: 20_000, intervalMs: 100, proc: etcd, what: 'etcd /health' }).then(() => { readyAfter.etcd = since(); }),
    ]);

    const auditPolicy = path.join(runDir, 'audit-policy.yaml');
    const auditLog = path.join(runDir, 'audit.log');
    await fs.writeFile(auditPolicy, AUDIT_POLICY);
    const apiServer = `https://127.0.0.1:${apiPort}`;
    const apiArgs = [
      '--bind-address', '127.0.0.1',
      '--advertise-address', '127.0.0.1',
      '--secure-port', String(apiPort),
      '--insecure-port', '0',
      '--endpoint-reconciler-type', 'none',
      '--etcd-servers', `http://127.0.0.1:${etcdClient}`,
      '--storage-backend', 'etcd3',
      '--authorization-mode', 'RBAC',
      '--client-ca-file', certs.caCert,
      '--tls-cert-file', certs.serving.cert,
      '--tls-private-key-file', certs.serving.key,
      '--service-account-key-file', certs.serviceAccountPub,
      '--service-account-signing-key-file', certs.serviceAccountKey,
      '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range', '10.96.0.0/16',
      '--audit-policy-file', auditPolicy,
      '--audit-log-path', auditLog,
      '--audit-log-maxbackup', '0',
      '--cert-dir', path.join(runDir, 'apiserver-certs'),
      '--profiling=false',
      '--logtostderr', '-v', '1',
    ];
    const api = startProcess('kube-apiserver', path.join(binDir, 'kube-apiserver'), apiArgs, { logFile: path.join(runDir, 'kube-apiserver.log') });
    processes.push(api);

    const cmKubeconfig = path.join(runDir, 'controller-manager.kubeconfig');
    const kubeconfig = path.join(runDir, 'kubeconfig');
    await fs.writeFile(cmKubeconfig, kubeconfigFor(apiServer, certs.caCert, certs.controllerManager, 'system:kube-controller-manager', name), { mode: 0o600 });
    await fs.writeFile(kubeconfig, kubeconfigFor(apiServer, certs.caCert, certs.admin, `${name}-admin`, name), { mode: 0o600 });

    await waitUntil(async () => (await apiStatus(apiPort, certs, '/readyz')) === 200,
      { timeoutMs: 60_000, intervalMs: 250, proc: api, what: 'kube-apiserver /readyz' });
    readyAfter.apiServer = since();

    const cm = startProcess('kube-controller-manager', path.join(binDir, 'kube-controller-manager'), [
      '--kubeconfig', cmKubeconfig,
      '--controllers', 'namespace,garbagecollector,serviceaccount,serviceaccount-token,deployment,replicaset,pvc-protection,pv-protection',
      '--leader-elect=false',
      '--port', '0',
      '--bind-address', '127.0.0.1',
      '--secure-port', String(cmPort),
      '--cert-dir', path.join(runDir, 'controller-manager-certs'),
      '--concurrent-namespace-syncs', '10',
      '--service-account-private-key-file', certs.serviceAccountKey,
      '--root-ca-file', certs.caCert,
      '--use-service-account-credentials=false',
      '--profiling=false',
      '--logtostderr', '-v', '1',
    ], { logFile: path.join(runDir, 'kube-controller-manager.log') });
    processes.push(cm);

    await waitUntil(async () => (await apiStatus(apiPort, certs, '/api/v1/namespaces/default/serviceaccounts/default')) === 200,
      { timeoutMs: 60_000, intervalMs: 250, proc: cm, what: 'the service-account controller to create default/default' });
    readyAfter.controllerManager = since();

    const apiIndex = processes.indexOf(api);
    const stopApiServer = async (): Promise<void> => {
      await (processes[apiIndex] as ManagedProcess).stop('SIGTERM', 10_000);
    };
    const startApiServer = async (): Promise<void> => {
      const current = processes[apiIndex] as ManagedProcess;
      if (current.alive()) return;
      const again = startProcess('kube-apiserver', path.join(binDir, 'kube-apiserver'), apiArgs, { logFile: path.join(runDir, 'kube-apiserver.log') });
      processes[apiIndex] = again;
      await waitUntil(async () => (await apiStatus(apiPort, certs, '/readyz')) === 200,
        { timeoutMs: 120_000, intervalMs: 250, proc: again, what: 'kube-apiserver /readyz (started again)' });
    };

    return {
      apiServer, kubeconfig, kubeContext: name, auditLog, processes,
      ports: { etcdClient, etcdPeer, apiServer: apiPort, controllerManager: cmPort },
      readyAfter,
      stopApiServer,
      startApiServer,
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
