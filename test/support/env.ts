import { inject } from 'vitest';

/** What test/env/global-setup.ts provides to the integration and serial projects. */
export interface TestEnv {
  /** admin kubeconfig (client certificate in system:masters), context `custctl-test` */
  kubeconfig: string;
  kubeContext: string;
  /** https://127.0.0.1:<port> */
  apiServer: string;
  /** absolute paths: helm v4 and kubectl v1.35 (never /usr/bin/kubectl) */
  helmBin: string;
  kubectlBin: string;
  /** postgres://custctl_test@127.0.0.1:<port>/custctl_test */
  databaseUrl: string;
  /** redis://:<password>@127.0.0.1:<port>/0 */
  redisUrl: string;
  /** this run's directory: logs, certificates, env.json */
  runDir: string;
  /** kube-apiserver audit log (Metadata level, every request, JSON lines with userAgent) */
  auditLog: string;
  /** s3rver on 127.0.0.1 (test/env/s3.ts), bucket custctl-backups, path-style */
  s3Endpoint: string;
  /** pids of the servers this run started, by name (etcd, kube-apiserver, ...) */
  pids: Record<string, number>;
}

declare module 'vitest' {
  // every TestEnv field is provided under its own name: inject('kubeconfig'), inject('databaseUrl'), ...
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  export interface ProvidedContext extends TestEnv {}
}

export const TEST_ENV_KEYS = [
  'kubeconfig', 'kubeContext', 'apiServer', 'helmBin', 'kubectlBin', 'databaseUrl', 'redisUrl', 'runDir', 'auditLog', 's3Endpoint', 'pids',
] as const satisfies ReadonlyArray<keyof TestEnv>;

let cached: TestEnv | undefined;

/** The environment of this run; throws when called outside the integration/serial projects. */
export function testEnv(): TestEnv {
  if (cached) return cached;
  const env = Object.fromEntries(TEST_ENV_KEYS.map((k) => [k, inject(k)])) as unknown as TestEnv;
  const missing = TEST_ENV_KEYS.filter((k) => env[k] === undefined);
  if (missing.length > 0) {
    throw new Error(`test environment not provided (${missing.join(', ')}): run this file in the 'integration' or 'serial' vitest project`);
  }
  cached = env;
  return env;
}

/**
 * Environment variables for spawning the built CLI (or helm/kubectl) against this run's parts.
 * REDIS_URL is left out on purpose: with it the CLI switches to the BullMQ backend, which the
 * tests that want it ask for explicitly (`testEnv().redisUrl`).
 */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = testEnv();
  return {
    ...process.env,
    KUBECONFIG: env.kubeconfig,
    HELM_BIN: env.helmBin,
    KUBECTL_BIN: env.kubectlBin,
    DATABASE_URL: env.databaseUrl,
    ...extra,
  };
}
