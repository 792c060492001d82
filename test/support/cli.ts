/** Runs the BUILT custctl binary (bin/custctl.js → dist/) the way an operator does. */
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliEnv } from './env.js';

/** the binary under test: this tree's build, or another (CUSTCTL_TEST_BIN, e.g. main's build, to show a test fails there) */
export const BIN = process.env.CUSTCTL_TEST_BIN ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/custctl.js');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function tempStateDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'custctl-state-'));
}

/** `custctl ...args` with the test environment's KUBECONFIG, HELM_BIN and DATABASE_URL. */
export async function custctl(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; realParts?: boolean } = {}): Promise<CliResult> {
  const base = opts.realParts === false ? { ...process.env } : cliEnv();
  delete base.SIMULATE_K8S_DEPLOYMENT;
  delete base.CUSTCTL_API_URL;
  for (const k of ['REDIS_URL', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD']) delete base[k];
  const r = await execa('node', [BIN, ...args], {
    env: { ...base, NO_COLOR: '1', ...opts.env },
    extendEnv: false,
    input: opts.input ?? '',
    reject: false,
    timeout: opts.timeoutMs ?? 300_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `custctl ... -o json`, parsed. */
export async function custctlJson<T = unknown>(args: readonly string[], opts: Parameters<typeof custctl>[1] = {}): Promise<{ result: CliResult; json: T }> {
  const result = await custctl([...args, '-o', 'json'], opts);
  let json: T;
  try {
    json = JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`custctl ${args.join(' ')} -o json printed no JSON (exit ${result.exitCode}):\n${result.stdout}\n${result.stderr}`);
  }
  return { result, json };
}
