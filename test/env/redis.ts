import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './ports.js';
import { ManagedProcess, startProcess, waitUntil } from './process.js';

export const REDIS_BIN = process.env.CUSTCTL_TEST_REDIS ?? '/usr/bin/redis-server';

export interface Redis {
  url: string;
  port: number;
  password: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Sends AUTH + PING; true when both answer OK. */
function authPing(port: number, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(2000, () => done(false));
    s.once('error', () => done(false));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('+PONG')) done(buf.startsWith('+OK'));
      else if (buf.startsWith('-')) done(false);
    });
    s.once('connect', () => s.write(`AUTH ${password}\r\nPING\r\n`));
  });
}

/** redis-server on a free 127.0.0.1 port with a password, no persistence. */
export async function startRedis(runDir: string): Promise<Redis> {
  const dir = path.join(runDir, 'redis');
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const password = randomBytes(16).toString('hex');
  const conf = path.join(dir, 'redis.conf');
  await fs.writeFile(conf, [
    'bind 127.0.0.1', `port ${port}`, `requirepass ${password}`, 'protected-mode yes', 'save ""',
    'appendonly no', `dir ${dir}`, 'daemonize no', '',
  ].join('\n'), { mode: 0o600 });
  const proc = startProcess('redis-server', REDIS_BIN, [conf], { logFile: path.join(runDir, 'redis.log') });
  const stop = async (): Promise<void> => {
    await proc.stop('SIGTERM', 5000);
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(() => authPing(port, password), { timeoutMs: 15_000, intervalMs: 100, proc, what: 'redis AUTH+PING' });
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { url: `redis://:${password}@127.0.0.1:${port}/0`, port, password, process: proc, stop };
}
