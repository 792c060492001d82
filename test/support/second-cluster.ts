/**
 * The second control plane of the run, for tests of several clusters (test/env/second-cluster.ts):
 * `await secondCluster()` starts it on the first call of the run (a cold start takes 20-90 s on
 * the loaded test machine: give the hook time) and returns the same one to every file after.
 * Only integration and serial files can ask (the global setup provides the launcher).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import type { SecondClusterValues } from '../env/second-cluster.js';
import { testEnv } from './env.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** test/env/second-cluster.ts's launcher URL (a secret path on 127.0.0.1) */
    fleetLauncher: string;
  }
}

export type SecondCluster = SecondClusterValues;

/** Long enough for a cold start of the second control plane on a machine at load 30. */
export const SECOND_CLUSTER_START_MS = 300_000;

async function ask<T>(route: string): Promise<T> {
  const base = inject('fleetLauncher');
  if (!base) throw new Error("the second cluster's launcher is not provided: run this file in the 'integration' or 'serial' vitest project");
  const res = await fetch(`${base}${route}`, { method: 'POST', signal: AbortSignal.timeout(SECOND_CLUSTER_START_MS) });
  const text = await res.text();
  if (!res.ok) throw new Error(`the second cluster (${route}): ${text}`);
  return JSON.parse(text) as T;
}

let cached: Promise<SecondCluster> | undefined;

/** The run's second cluster: started on the first ask of the run, shared after. */
export function secondCluster(): Promise<SecondCluster> {
  cached ??= ask<SecondCluster>('/second-cluster').catch((e: unknown) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

/**
 * Stops the second cluster's kube-apiserver (connections refused; etcd keeps its data). Every file
 * using the second cluster sees it down: only tests of the serial project may call it, and they
 * must start it again (`startSecondApiServer`) before they end.
 */
export async function stopSecondApiServer(): Promise<void> {
  await ask('/second-cluster/api-server/stop');
}

/** Starts the second cluster's kube-apiserver again (same port, same data) and waits until it is ready. */
export async function startSecondApiServer(): Promise<void> {
  await ask('/second-cluster/api-server/start');
}

/** The first cluster as the second is described: kubeconfig, context and API server of the run's main cluster. */
export function firstCluster(): { kubeconfig: string; kubeContext: string; apiServer: string } {
  const e = testEnv();
  return { kubeconfig: e.kubeconfig, kubeContext: e.kubeContext, apiServer: e.apiServer };
}

/** The real kubectl against the second cluster (its own admin kubeconfig). */
export function kubectlArgsForSecond(second: SecondCluster, args: readonly string[]): string[] {
  return ['--kubeconfig', second.kubeconfig, '--cache-dir', path.join(second.runDir, 'kube-cache'), ...args];
}

/**
 * A clusters file (CUSTCTL_CLUSTERS_FILE) in `dir`, mode 0600 unless told: `clusters` as the file
 * holds them (`{ name, kubeconfig, context, ... }`).
 */
export async function writeClustersFile(dir: string, clusters: ReadonlyArray<Record<string, unknown>>, opts: { name?: string; mode?: number } = {}): Promise<string> {
  const file = path.join(dir, opts.name ?? 'clusters.yaml');
  await fs.writeFile(file, stringify({ clusters }), { mode: opts.mode ?? 0o600 });
  await fs.chmod(file, opts.mode ?? 0o600);
  return file;
}
