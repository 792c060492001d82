/**
 * The delivery journal in Redis, beside the BullMQ queue (same server, same database, under the
 * queue's key prefix), so that a delivery journaled by the worker that ran the job is resumed by
 * any worker or `serve` after a restart, and `status job N` (and serve's API) show it from any
 * machine. Keys (`<p>` = `bull:custctl-deletions:webhooks`):
 *
 *   <p>:job:<jobId>     hash: delivery id → the DeliveryRecord JSON (expires 8 days after its last write)
 *   <p>:keys:<jobId>    hash: delivery key → delivery id (one delivery per job end and endpoint)
 *   <p>:pending         sorted set: `<jobId>:<deliveryId>` scored by when the next try is due
 *   <p>:lease:<id>      SET NX PX: the process trying it now
 *
 * Nothing here holds a secret (the endpoint is named; signatures are made at each try). Redis'
 * own durability (RDB/AOF) applies, as it does to the queue.
 */
import { Redis } from 'ioredis';
import type { DeliveryRecord } from '../domain/webhook.js';
import { isDue } from '../domain/webhook.js';
import { QUEUE_NAME } from './bullmq-queue.js';
import type { RedisConnection } from './bullmq-redis.js';
import type { DeliveryJournal } from './webhook-journal.js';

const KEEP_SECONDS = 8 * 24 * 3600;

export class RedisDeliveryJournal implements DeliveryJournal {
  readonly kind = 'redis';
  readonly description: string;
  private redis: Redis | null = null;
  private readonly p: string;

  constructor(
    private readonly connection: RedisConnection,
    prefix = 'bull',
  ) {
    this.p = `${prefix}:${QUEUE_NAME}:webhooks`;
    this.description = `redis://${connection.host}:${connection.port}${connection.db ? `/${connection.db}` : ''} (${this.p})`;
  }

  private client(): Redis {
    if (!this.redis) {
      // commands fail after a few tries instead of queueing forever: a delivery pass must end
      this.redis = new Redis({ ...this.connection, maxRetriesPerRequest: 3, lazyConnect: false });
      this.redis.on('error', () => undefined);
    }
    return this.redis;
  }

  private jobKey(jobId: string): string {
    return `${this.p}:job:${jobId}`;
  }

  async add(records: readonly DeliveryRecord[]): Promise<DeliveryRecord[]> {
    const r = this.client();
    const added: DeliveryRecord[] = [];
    for (const rec of records) {
      const keys = `${this.p}:keys:${rec.jobId}`;
      // one end of a job is emitted by one process, once: a check, then one transaction (a crash leaves all or nothing)
      if ((await r.hexists(keys, rec.key)) === 1) continue;
      await r
        .multi()
        .hset(keys, rec.key, rec.id)
        .expire(keys, KEEP_SECONDS)
        .hset(this.jobKey(rec.jobId), rec.id, JSON.stringify(rec))
        .expire(this.jobKey(rec.jobId), KEEP_SECONDS)
        .zadd(`${this.p}:pending`, rec.nextAttemptAt ?? rec.createdAt, `${rec.jobId}:${rec.id}`)
        .exec();
      added.push(rec);
    }
    return added;
  }

  async forJob(jobId: string): Promise<DeliveryRecord[]> {
    const all = await this.client().hgetall(this.jobKey(jobId));
    return Object.values(all)
      .map((v) => JSON.parse(v) as DeliveryRecord)
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  private async get(jobId: string, id: string): Promise<DeliveryRecord | null> {
    const v = await this.client().hget(this.jobKey(jobId), id);
    return v ? (JSON.parse(v) as DeliveryRecord) : null;
  }

  async pending(): Promise<DeliveryRecord[]> {
    const r = this.client();
    const members = await r.zrange(`${this.p}:pending`, 0, 999);
    const out: DeliveryRecord[] = [];
    for (const m of members) {
      const [jobId, id] = m.split(':') as [string, string];
      const rec = await this.get(jobId, id);
      if (!rec || rec.state !== 'pending') {
        await r.zrem(`${this.p}:pending`, m);
        continue;
      }
      const lease = await r.pttl(`${this.p}:lease:${id}`);
      out.push(lease > 0 ? { ...rec, lease: { owner: '(another process)', expiresAt: Date.now() + lease } } : { ...rec, lease: null });
    }
    return out;
  }

  async claim(jobId: string, id: string, owner: string, now: number, leaseMs: number): Promise<DeliveryRecord | null> {
    const r = this.client();
    const lease = `${this.p}:lease:${id}`;
    if ((await r.set(lease, owner, 'PX', leaseMs, 'NX')) !== 'OK') return null;
    const rec = await this.get(jobId, id);
    if (!rec || !isDue({ ...rec, lease: null }, now)) {
      if ((await r.get(lease)) === owner) await r.del(lease);
      return null;
    }
    return { ...rec, lease: { owner, expiresAt: now + leaseMs } };
  }

  async finish(jobId: string, id: string, owner: string, patch: Parameters<DeliveryJournal['finish']>[3]): Promise<boolean> {
    const r = this.client();
    const lease = `${this.p}:lease:${id}`;
    if ((await r.get(lease)) !== owner) return false;
    const rec = await this.get(jobId, id);
    if (!rec) return false;
    const next: DeliveryRecord = { ...rec, ...patch, lease: null };
    const m = r.multi().hset(this.jobKey(jobId), id, JSON.stringify(next)).expire(this.jobKey(jobId), KEEP_SECONDS);
    if (next.state === 'pending') m.zadd(`${this.p}:pending`, next.nextAttemptAt ?? Date.now(), `${jobId}:${id}`);
    else m.zrem(`${this.p}:pending`, `${jobId}:${id}`);
    await m.del(lease).exec();
    return true;
  }

  /** Redis expires a job's deliveries 8 days after their last write: nothing to do here. */
  async prune(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
    this.redis = null;
  }
}
