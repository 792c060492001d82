/**
 * `custctl serve` (the built binary) as a child process on loopback, for tests that go through
 * the real server: its URL, its log (stderr and stdout in one file), and a stop that waits for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../env/ports.js';
import { BIN } from './cli.js';
import { cliEnv } from './env.js';
import { waitFor } from './fixtures.js';

export interface RunningServe {
  url: string;
  port: number;
  child: ChildProcess;
  /** what serve wrote so far */
  log(): string;
  stop(): Promise<number | null>;
}

export interface ServeOptions {
  stateDir: string;
  /** more flags after `serve --port N` */
  args?: readonly string[];
  /** on top of the test environment's (KUBECONFIG, DATABASE_URL…), without SIMULATE/API_URL/REDIS */
  env?: NodeJS.ProcessEnv;
  /** the variables to remove from the test environment (e.g. DATABASE_URL for the embedded store) */
  drop?: readonly string[];
}

export async function startServe(o: ServeOptions): Promise<RunningServe> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: o.stateDir };
  for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'CUSTCTL_API_TOKEN', 'CUSTCTL_API_TOKENS_FILE', 'REDIS_URL', 'REDIS_HOST', ...(o.drop ?? [])]) delete env[k];
  Object.assign(env, o.env);
  const logFile = path.join(o.stateDir, `serve-${port}.log`);
  writeFileSync(logFile, '');
  const child = spawn('node', [BIN, 'serve', '--port', String(port), ...(o.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stderr?.pipe(out);
  child.stdout?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const log = () => readFileSync(logFile, 'utf8');
  const url = `http://127.0.0.1:${port}`;
  let gone = false;
  void exited.then(() => (gone = true));
  // a serve that exits (a refused flag) ends the wait at once, with its words
  await waitFor(async () => gone || log().includes(`listening on ${url}`), 'custctl serve to listen', 90_000, 100);
  if (!log().includes(`listening on ${url}`)) throw new Error(`custctl serve exited ${child.exitCode}:\n${log()}`);
  return {
    url,
    port,
    child,
    log,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
