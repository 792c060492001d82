/**
 * A clusters file's `inCluster: true` entry, on the real control plane with the real helm: custctl
 * as a pod's service account (a TokenRequest token in a token file, the control plane's CA, the
 * server from KUBERNETES_SERVICE_HOST/PORT), with a shell KUBECONFIG whose context is also named
 * `in-cluster` but is the admin's. helm must act as the service account, through the kubeconfig
 * custctl writes for it, and that file must be gone when the process closes.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { makeDeps } from '../../src/deps.js';
import { bufferIO } from '../support/buffer-io.js';
import { coreApi, helm as adminHelm, kubectl, provisionCustomer, randomKey } from '../support/fixtures.js';

interface KubeconfigDoc {
  clusters: Array<{ name: string; cluster: Record<string, string> }>;
  users: Array<{ name: string; user: Record<string, string> }>;
  contexts: Array<{ name: string; context: Record<string, string> }>;
  'current-context'?: string;
}

describe('an inCluster entry: helm acts as the pod\'s service account', () => {
  const sa = `incluster-${randomKey('s')}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-incluster-it-'));
  const saDir = path.join(dir, 'serviceaccount');
  const argvLog = path.join(dir, 'argv');
  let env: Record<string, string | undefined>;

  beforeAll(async () => {
    await kubectl(['create', 'serviceaccount', sa, '-n', 'default'], { check: true });
    // the release holds a ClusterRole and its binding: its uninstall needs cluster-wide rights
    await kubectl(['create', 'clusterrolebinding', sa, '--clusterrole=cluster-admin', `--serviceaccount=default:${sa}`], { check: true });
    const token = (await kubectl(['-n', 'default', 'create', 'token', sa, '--duration', '1h'], { check: true })).stdout.trim();
    const admin = parse(readFileSync(inject('kubeconfig'), 'utf8')) as KubeconfigDoc;
    const cluster = admin.clusters[0]!.cluster;
    // the pod's mount: /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}
    mkdirSync(saDir, { mode: 0o755 });
    writeFileSync(path.join(saDir, 'token'), token, { mode: 0o600 });
    writeFileSync(path.join(saDir, 'ca.crt'), Buffer.from(cluster['certificate-authority-data']!, 'base64'));
    // the shell's KUBECONFIG: the admin's credentials under a context named like the in-cluster one
    const decoy = path.join(dir, 'decoy-kubeconfig');
    writeFileSync(decoy, stringify({ ...admin, contexts: admin.contexts.map((c) => ({ ...c, name: 'in-cluster' })), 'current-context': 'in-cluster' }), { mode: 0o600 });
    const clustersFile = path.join(dir, 'clusters.yaml');
    writeFileSync(clustersFile, 'clusters:\n  - name: local\n    inCluster: true\n', { mode: 0o644 });
    // the real helm, behind a shim that records its command line
    const shim = path.join(dir, 'helm');
    writeFileSync(shim, `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec '${inject('helmBin')}' "$@"\n`);
    chmodSync(shim, 0o755);
    const server = new URL(inject('apiServer'));
    const helmHome = path.join(inject('runDir'), 'helm');
    env = {
      PATH: process.env.PATH, HOME: process.env.HOME,
      HELM_CONFIG_HOME: path.join(helmHome, 'config'), HELM_CACHE_HOME: path.join(helmHome, 'cache'), HELM_DATA_HOME: path.join(helmHome, 'data'),
      KUBECONFIG: decoy, HELM_BIN: shim, CUSTCTL_CLUSTERS_FILE: clustersFile, CUSTCTL_STATE_DIR: path.join(dir, 'state'),
      KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port,
    };
  });
  afterAll(async () => {
    await kubectl(['delete', 'clusterrolebinding', sa]);
    await kubectl(['delete', 'serviceaccount', sa, '-n', 'default']);
  });

  it('helm uninstall runs with the service account\'s token file, --kube-context in-cluster, and the written kubeconfig is removed at close', async () => {
    const c = await provisionCustomer(randomKey('ic'), { row: false });
    try {
      const deps = makeDeps({ io: bufferIO().io, env, flags: () => ({}), shutdown: new AbortController().signal, pid: process.pid, serviceAccountDir: saDir });
      const started = Date.now();
      const cluster = (await deps.clusters!()).named('local');
      const kube = await cluster.kube();
      expect(kube.target).toMatchObject({ context: 'in-cluster', server: inject('apiServer'), user: 'service-account' });
      expect(await (await cluster.helm()).uninstall(c.release, c.namespace, 120_000)).toBe('uninstalled');

      const lines = readFileSync(argvLog, 'utf8').trim().split('\n');
      expect(lines.map((l) => l.split(' ')[0])).toEqual(['history', 'uninstall']);
      const given = /--kubeconfig (\S+) --kube-context (\S+)$/.exec(lines[1]!);
      expect(given?.[2]).toBe('in-cluster');
      const kubeconfig = given![1]!;
      expect(kubeconfig).not.toBe(env.KUBECONFIG);
      expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
      expect(statSync(path.dirname(kubeconfig)).mode & 0o777).toBe(0o700);
      const written = parse(readFileSync(kubeconfig, 'utf8')) as KubeconfigDoc;
      expect(written.users).toEqual([{ name: 'service-account', user: { tokenFile: path.join(saDir, 'token') } }]);
      expect(written.clusters[0]?.cluster).toEqual({ server: inject('apiServer'), 'certificate-authority': path.join(saDir, 'ca.crt') });

      // helm's requests were the service account's (not the admin's of the shell's KUBECONFIG)
      await new Promise((r) => setTimeout(r, 1000));
      const helmUsers = new Set<string>();
      for (const line of readFileSync(inject('auditLog'), 'utf8').split('\n')) {
        if (!line.includes(c.namespace)) continue;
        const ev = JSON.parse(line) as { userAgent?: string; user?: { username?: string }; requestReceivedTimestamp?: string };
        if (/^helm\//i.test(ev.userAgent ?? '') && Date.parse(ev.requestReceivedTimestamp ?? '') >= started) helmUsers.add(ev.user?.username ?? '');
      }
      expect([...helmUsers]).toEqual([`system:serviceaccount:default:${sa}`]);
      // and the release is gone (the admin's helm looks)
      expect((await adminHelm(['list', '-n', c.namespace, '-q'], { check: true })).stdout.trim()).toBe('');

      await deps.close();
      expect(existsSync(kubeconfig)).toBe(false);
      expect(existsSync(path.dirname(kubeconfig))).toBe(false);
    } finally {
      await coreApi().deleteNamespace({ name: c.namespace }).catch(() => undefined);
    }
  });
});
