/**
 * BullMQ on Redis, its default backend (`REDIS_URL`): where the connection comes from, the
 * `BullBackend` (src/adapters/bullmq-queue.ts) on Redis, and the queue opened after a probe that
 * says at once when Redis is not there. PostgreSQL, the other backend: src/adapters/bullmq-postgres.ts.
 */
import { Redis } from 'ioredis';
import { Queue, Worker, type Job as BullJob } from 'bullmq';
import { OperationError, UsageError } from '../errors.js';
import type { JobName } from '../domain/job.js';
import {
  BullQueue,
  QUEUE_NAME,
  type BullBackend,
  type BullData,
  type BullMQQueue,
  type BullMQWorker,
  type BullProcessor,
  type BullWorkerSettings,
  type CancelledRecords,
} from './bullmq-queue.js';
import type { FinishedFields } from './bullmq-scrub.js';

export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  /** BullMQ workers need blocking commands without a retry limit */
  maxRetriesPerRequest: null;
}

/** REDIS_URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS) or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD. */
export function redisConnectionFrom(env: Readonly<Record<string, string | undefined>>): RedisConnection {
  if (env.REDIS_URL) {
    let u: URL;
    try {
      u = new URL(env.REDIS_URL);
    } catch {
      throw new UsageError('REDIS_URL is not a URL: expected redis://[:password@]host:6379[/db]');
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`REDIS_URL must start with redis:// or rediss://, not ${u.protocol}`);
    const db = u.pathname.replace(/^\//, '');
    if (db !== '' && !/^\d+$/.test(db)) throw new UsageError('REDIS_URL: the path must be a database number, e.g. /0');
    return {
      host: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(db ? { db: Number(db) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
      maxRetriesPerRequest: null,
    };
  }
  const port = env.REDIS_PORT ? Number(env.REDIS_PORT) : 6379;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`REDIS_PORT=${JSON.stringify(env.REDIS_PORT)} is not a port number`);
  return {
    host: env.REDIS_HOST || '127.0.0.1',
    port,
    ...(env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The job hash's result fields rewritten only while the job is in the completed or failed set: one script, so a retry cannot come between. */
const REWRITE_FINISHED_LUA = `
if (redis.call('zscore', KEYS[2], ARGV[1]) or redis.call('zscore', KEYS[3], ARGV[1])) and redis.call('exists', KEYS[1]) == 1 then
  redis.call('hset', KEYS[1], 'returnvalue', ARGV[2], 'stacktrace', ARGV[5])
  if ARGV[3] == '1' then redis.call('hset', KEYS[1], 'failedReason', ARGV[4]) else redis.call('hdel', KEYS[1], 'failedReason') end
  return 1
end
return 0`;

/** BullMQ on Redis: its default backend. Ids from our INCR counter, due times from BullMQ's delayed zset. */
export class RedisBullBackend implements BullBackend {
  readonly name = 'redis' as const;
  readonly description: string;
  private redis: Redis | null = null;

  constructor(readonly connection: RedisConnection, readonly prefix = 'bull') {
    this.description = `redis://${connection.host}:${connection.port}${connection.db ? `/${connection.db}` : ''} (queue ${QUEUE_NAME})`;
  }

  createQueue(): BullMQQueue {
    return new Queue<BullData, unknown, JobName>(QUEUE_NAME, { connection: { ...this.connection }, prefix: this.prefix });
  }

  createWorker(processor: BullProcessor, opts: BullWorkerSettings): BullMQWorker {
    return new Worker<BullData, unknown, JobName>(QUEUE_NAME, processor, { connection: { ...this.connection }, prefix: this.prefix, ...opts });
  }

  /** our own connection for the id counter, delayed-until scores and ping */
  private async client(): Promise<Redis> {
    if (!this.redis) {
      this.redis = new Redis({ ...this.connection, lazyConnect: false });
      this.redis.on('error', () => undefined);
    }
    return this.redis;
  }

  async allocateId(): Promise<string> {
    const redis = await this.client();
    return String(await redis.incr(`${this.prefix}:${QUEUE_NAME}:custctl-id`));
  }

  async delayedUntil(bullId: string): Promise<number | null> {
    const score = await (await this.client()).zscore(`${this.prefix}:${QUEUE_NAME}:delayed`, bullId);
    return score !== null ? Math.floor(Number(score) / 0x1000) : null;
  }

  /** BullMQ's removeJob script refuses a job whose lock a worker holds; the script is atomic in Redis. */
  async remove(b: BullJob<BullData, unknown, JobName>): Promise<void> {
    await b.remove();
  }

  /** a hash of job JSON by id */
  readonly cancelled: CancelledRecords = (() => {
    const key = () => `${this.prefix}:${QUEUE_NAME}:custctl-cancelled`;
    return {
      get: async (id: string) => (await this.client()).hget(key(), id),
      all: async () => Object.values(await (await this.client()).hgetall(key())),
      count: async () => (await this.client()).hlen(key()),
      put: async (id: string, json: string) => void (await (await this.client()).hset(key(), id, json)),
      remove: async (ids: readonly string[]) => {
        if (ids.length) await (await this.client()).hdel(key(), ...ids);
      },
    };
  })();

  async rewriteFinished(bullId: string, f: FinishedFields): Promise<boolean> {
    const base = `${this.prefix}:${QUEUE_NAME}`;
    const done = await (await this.client()).eval(REWRITE_FINISHED_LUA, 3, `${base}:${bullId}`, `${base}:completed`, `${base}:failed`,
      bullId, JSON.stringify(f.returnvalue ?? null), f.failedReason === null ? '0' : '1', f.failedReason ?? '', JSON.stringify(f.stacktrace));
    return done === 1;
  }

  async ping(): Promise<void> {
    await (await this.client()).ping();
  }

  async close(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
    this.redis = null;
  }
}

/** How long the first connection to Redis may take before custctl says it got no answer. */
export const REDIS_CONNECT_TIMEOUT_MS = 10_000;

/**
 * One connection that does not retry, to learn whether Redis is there before the queue's own
 * connections (which reconnect forever, as a BullMQ worker must) are opened: a refused connection
 * or an unknown host fails at once with its cause instead of waiting, and nothing is left running.
 */
export async function probeRedis(conn: RedisConnection, description: string, timeoutMs = REDIS_CONNECT_TIMEOUT_MS): Promise<void> {
  const probe = new Redis({ ...conn, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  let lastError: unknown;
  probe.on('error', (e) => { lastError = e; });
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    const err = (lastError ?? e) as { code?: string; message?: string };
    const code = err.code ?? (e as { code?: string }).code;
    const reason = code === 'ECONNREFUSED' ? 'connection refused (ECONNREFUSED)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `host ${conn.host} not found (${code})`
        : code === 'ETIMEDOUT' || /timeout/i.test(err.message ?? '') ? `no answer within ${Math.round(timeoutMs / 1000)} s`
          : err.message ?? String(e);
    throw new OperationError(`cannot reach Redis at ${description}: ${reason}`, [
      code === 'ECONNREFUSED' ? `check that Redis runs there and listens on port ${conn.port}` : 'check the host and port',
      'Check REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD), or unset them to use the local file journal.',
    ]);
  } finally {
    probe.disconnect();
  }
}

export async function openBullQueue(env: Readonly<Record<string, string | undefined>>): Promise<BullQueue> {
  const conn = redisConnectionFrom(env);
  const backend = new RedisBullBackend(conn);
  await probeRedis(conn, backend.description);
  const q = new BullQueue(backend);
  try {
    await Promise.race([
      q.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${REDIS_CONNECT_TIMEOUT_MS / 1000} s`)), REDIS_CONNECT_TIMEOUT_MS).unref()),
    ]);
  } catch (e) {
    await q.close().catch(() => undefined);
    throw new OperationError(`cannot reach Redis at ${q.description}: ${e instanceof Error ? e.message : String(e)}`, [
      'Check REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD), or unset them to use the local file journal.',
    ]);
  }
  return q;
}
