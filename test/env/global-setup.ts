import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import type { TestEnv } from '../support/env.js';
import { generateCerts } from './certs.js';
import { K8S_VERSION, startCluster, type Cluster } from './cluster.js';
import { startPostgres, type Postgres } from './postgres.js';
import { KEEP_ENV } from './process.js';
import { startRedis, type Redis } from './redis.js';
import { startS3 } from './s3.js';
import { startFleetLauncher } from './second-cluster.js';
import type {} from '../support/second-cluster.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUN_DIR_PREFIX = 'custctl-test-run-';

export function cacheDir(): string {
  return process.env.CUSTCTL_TEST_CACHE
    ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'custctl-test');
}

interface RunningEnv {
  values: TestEnv;
  /** the second cluster's launcher (test/env/second-cluster.ts): it starts only when a test asks */
  fleetLauncher: string;
  stop(): Promise<void>;
}

/** Binaries from prepare.sh; runs it when something is missing (a warm check is instant). */
async function binaries(): Promise<{ k8sDir: string; helmBin: string; kubectlBin: string }> {
  const cache = cacheDir();
  const k8sDir = path.join(cache, `k8s-${K8S_VERSION}`);
  const helmBin = path.join(cache, 'tools', 'helm');
  const kubectlBin = path.join(cache, 'tools', 'kubectl');
  const ready = (): boolean => [path.join(k8sDir, 'STAMP'), helmBin, kubectlBin].every((f) => existsSync(f));
  if (!ready()) {
    console.log('[custctl-test] control plane or tools missing: running test/env/prepare.sh (a cold build takes minutes)');
    try {
      await run('bash', [path.join(repoRoot, 'test/env/prepare.sh')], { maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`test/env/prepare.sh failed: ${e.stderr?.split('\n').slice(-30).join('\n') ?? e.message}`);
    }
    if (!ready()) throw new Error(`test/env/prepare.sh ran but ${k8sDir}/STAMP, ${helmBin} or ${kubectlBin} is missing`);
  }
  return { k8sDir, helmBin, kubectlBin };
}

/** Removes run dirs of earlier runs that were stopped (or whose servers are gone) a day ago or more. */
async function pruneOldRuns(): Promise<void> {
  const tmp = os.tmpdir();
  const cutoff = Date.now() - 24 * 3600 * 1000;
  for (const name of await fs.readdir(tmp).catch(() => [] as string[])) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = path.join(tmp, name);
    try {
      const st = await fs.stat(dir);
      if (st.mtimeMs > cutoff) continue;
      const env = JSON.parse(await fs.readFile(path.join(dir, 'env.json'), 'utf8')) as Partial<TestEnv>;
      const alive = Object.values(env.pids ?? {}).some((pid) => existsSync(`/proc/${pid}`));
      if (!alive) await fs.rm(dir, { recursive: true, force: true });
    } catch {
      // not ours or half-written: leave it
    }
  }
}

async function startEnvironment(): Promise<RunningEnv> {
  const t0 = Date.now();
  const [bins] = await Promise.all([binaries(), pruneOldRuns()]);
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), RUN_DIR_PREFIX));
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const s of stops.reverse()) await s().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, 'stopping the test environment failed');
  };
  const track = <T extends { stop(): Promise<void> }>(p: Promise<T>): Promise<T> => p.then((v) => { stops.push(() => v.stop()); return v; });

  let cluster: Cluster, postgres: Postgres, redis: Redis;
  try {
    const results = await Promise.allSettled([
      track(startCluster({ runDir, binDir: bins.k8sDir, certs: generateCerts(path.join(runDir, 'certs')) })),
      track(startPostgres(runDir)),
      track(startRedis(runDir)),
    ] as const);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) {
      throw new Error(`the test environment did not start (run dir ${runDir}):\n${failed.map((f) => String(f.reason instanceof Error ? f.reason.message : f.reason)).join('\n\n')}`);
    }
    [cluster, postgres, redis] = results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [Cluster, Postgres, Redis];
  } catch (err) {
    await stopAll().catch(() => undefined);
    throw err;
  }

  const s3 = await track(startS3(runDir)).catch(async (e: unknown) => { await stopAll().catch(() => undefined); throw e; });
  const launcher = await track(startFleetLauncher({ runDir, binDir: bins.k8sDir, firstKubeconfig: cluster.kubeconfig }))
    .catch(async (e: unknown) => { await stopAll().catch(() => undefined); throw e; });
  const pids: Record<string, number> = {};
  for (const p of [...cluster.processes, postgres.process, redis.process]) pids[p.name] = p.pid;
  const values: TestEnv = {
    kubeconfig: cluster.kubeconfig,
    kubeContext: cluster.kubeContext,
    apiServer: cluster.apiServer,
    helmBin: bins.helmBin,
    kubectlBin: bins.kubectlBin,
    databaseUrl: postgres.url,
    redisUrl: redis.url,
    runDir,
    auditLog: cluster.auditLog,
    s3Endpoint: s3.endpoint,
    pids,
  };
  await fs.writeFile(path.join(runDir, 'env.json'), `${JSON.stringify(values, null, 2)}\n`, { mode: 0o600 });
  const pidList = Object.values(pids).join(' ');
  const stopScript = [
    '#!/bin/sh', `# stops the servers of ${runDir} (kept with CUSTCTL_TEST_KEEP=1) and removes their data`,
    // SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for clients)
    `kill -INT ${pids.postgres ?? ''} 2>/dev/null; kill ${pidList} 2>/dev/null; sleep 3; kill -9 ${pidList} 2>/dev/null`,
    `rm -rf '${runDir}/etcd-data' '${runDir}/postgres' '${runDir}/redis' '${runDir}/audit.log'`,
    `date > '${runDir}/STOPPED'`, '',
  ].join('\n');
  await fs.writeFile(path.join(runDir, 'stop.sh'), stopScript, { mode: 0o700 });
  const r = cluster.readyAfter;
  console.log(`[custctl-test] environment up in ${((Date.now() - t0) / 1000).toFixed(1)} s `
    + `(cluster: etcd ${r.etcd} s, kube-apiserver ${r.apiServer} s, controller-manager ${r.controllerManager} s): `
    + `run dir ${runDir} (env.json, *.log, audit.log)`);

  return {
    values,
    fleetLauncher: launcher.url,
    async stop() {
      if (KEEP_ENV) {
        console.log([
          `[custctl-test] CUSTCTL_TEST_KEEP=1: the environment keeps running (${runDir}/env.json)`,
          `  export KUBECONFIG=${values.kubeconfig} HELM_BIN=${values.helmBin} KUBECTL_BIN=${values.kubectlBin}`,
          `  export DATABASE_URL=${values.databaseUrl} REDIS_URL='${values.redisUrl}'`,
          `  stop it with: sh ${runDir}/stop.sh`,
        ].join('\n'));
        await launcher.stop();
        return;
      }
      await stopAll();
      await fs.rm(values.auditLog, { force: true });
      await fs.writeFile(path.join(runDir, 'STOPPED'), new Date().toISOString());
    },
  };
}

/**
 * vitest 4 runs globalSetup once per project that lists it (here: integration and serial),
 * sequentially, in the one main process, and tears them down in reverse order at the end. The
 * environment is started once per `vitest run` and shared through globalThis with a refcount.
 */
interface Shared {
  env?: Promise<RunningEnv>;
  refs: number;
}
const SHARED = Symbol.for('custctl.test.environment');

function shared(): Shared {
  const g = globalThis as typeof globalThis & { [SHARED]?: Shared };
  g[SHARED] ??= { refs: 0 };
  return g[SHARED];
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const s = shared();
  s.env ??= startEnvironment();
  const env = await s.env;
  s.refs += 1;
  for (const [key, value] of Object.entries(env.values) as Array<[keyof TestEnv, TestEnv[keyof TestEnv]]>) {
    project.provide(key, value as never);
  }
  project.provide('fleetLauncher', env.fleetLauncher);
  return async () => {
    s.refs -= 1;
    if (s.refs > 0 || !s.env) return;
    const current = s.env;
    s.env = undefined;
    await (await current).stop();
  };
}
