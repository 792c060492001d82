/**
 * The delivery journal: where a webhook delivery is recorded before its first try and after each
 * one, so a delivery survives a restart and `status job N` shows it. Three backends, one interface:
 *
 * - the file journal (here), beside the job journal: `<state dir>/webhooks/`;
 * - Redis (src/adapters/webhook-journal-redis.ts) or PostgreSQL (webhook-journal-pg.ts) beside
 *   BullMQ's queue on that backend, so that every worker and `serve` (on any machine) see and
 *   resume the same deliveries.
 *
 * File layout (directories 0700, files 0600, every write through `writeFileAtomic`):
 *
 *   jobs/<jobId>.json   `{"deliveries": [DeliveryRecord, …]}` — every delivery of one job
 *   pending/<jobId>     an empty marker while the job has a pending delivery (a scan reads only these)
 *   webhooks.lock/      the cross-process lock (proper-lockfile, as the job journal's)
 *
 * Order of writes: the marker before the record that needs it, the record before the marker goes:
 * a kill -9 between two writes leaves at worst a marker without a pending delivery, which the next
 * scan removes. A delivery is never lost once `add` returned. Nothing here holds a secret: the
 * endpoint is named, its URL is shown without its query, and signatures are made at each try.
 */
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { JOB_ID_PATTERN } from '../domain/job-id.js';
import { isDue, type DeliveryRecord } from '../domain/webhook.js';
import { OperationError } from '../errors.js';
import { DirLock } from './dir-lock.js';
import { createFileExclusive, FileExistsError, isTempFileName, readJsonFile, writeFileAtomic } from './fs-atomic.js';

export interface DeliveryJournal {
  readonly kind: 'file' | 'redis' | 'postgres';
  readonly description: string;
  /** Records new deliveries (pending); one whose `key` is journaled already is skipped. Returns the ones added. */
  add(records: readonly DeliveryRecord[]): Promise<DeliveryRecord[]>;
  /** Every delivery of a job, oldest first. */
  forJob(jobId: string): Promise<DeliveryRecord[]>;
  /** The pending deliveries (due or not). */
  pending(): Promise<DeliveryRecord[]>;
  /** Takes a due delivery for one try (a lease until now + leaseMs); null when it is not due or held by another. */
  claim(jobId: string, id: string, owner: string, now: number, leaseMs: number): Promise<DeliveryRecord | null>;
  /** Records the end of a try (the lease is dropped); a delivery no longer held by `owner` is left alone. */
  finish(jobId: string, id: string, owner: string, patch: Pick<DeliveryRecord, 'state' | 'attempts' | 'statusCode' | 'lastError' | 'lastAttemptAt' | 'nextAttemptAt' | 'deliveredAt'>): Promise<boolean>;
  /** Removes the deliveries of jobs whose deliveries all ended before `before` (ms); returns how many jobs. */
  prune(before: number): Promise<number>;
  close(): Promise<void>;
}

const DIR_MODE = 0o700;

interface JobFile {
  deliveries: DeliveryRecord[];
}

export function openFileDeliveryJournal(dir: string, o: { lockWaitMs?: number } = {}): FileDeliveryJournal {
  return new FileDeliveryJournal(dir, o.lockWaitMs ?? 30_000);
}

export class FileDeliveryJournal implements DeliveryJournal {
  readonly kind = 'file';
  readonly description: string;
  private readonly lock: DirLock;
  private ready: Promise<void> | null = null;

  constructor(
    readonly dir: string,
    lockWaitMs: number,
  ) {
    this.description = `${dir} (file)`;
    this.lock = new DirLock(dir, join(dir, 'webhooks.lock'), 'the webhook journal', lockWaitMs);
  }

  private jobPath(jobId: string): string {
    if (!JOB_ID_PATTERN.test(jobId)) throw new OperationError(`not a job id: ${JSON.stringify(jobId.slice(0, 24))}`);
    return join(this.dir, 'jobs', `${jobId}.json`);
  }

  private markerPath(jobId: string): string {
    return join(this.dir, 'pending', jobId);
  }

  /** Created on the first write: reading (`status job`) never creates anything. */
  private ensureDirs(): Promise<void> {
    return (this.ready ??= (async () => {
      for (const d of [this.dir, join(this.dir, 'jobs'), join(this.dir, 'pending')]) {
        await mkdir(d, { recursive: true, mode: DIR_MODE });
        const st = await stat(d);
        if (!st.isDirectory()) throw new OperationError(`the webhook journal path ${d} is not a directory`);
      }
    })().catch((e: unknown) => {
      this.ready = null;
      throw e;
    }));
  }

  private async read(jobId: string): Promise<DeliveryRecord[]> {
    const raw = (await readJsonFile(this.jobPath(jobId))) as JobFile | undefined;
    if (raw === undefined) return [];
    if (typeof raw !== 'object' || raw === null || !Array.isArray(raw.deliveries)) throw new OperationError(`${this.jobPath(jobId)} is not a webhook delivery file`);
    return raw.deliveries;
  }

  private async write(jobId: string, deliveries: DeliveryRecord[]): Promise<void> {
    const marker = this.markerPath(jobId);
    const pending = deliveries.some((d) => d.state === 'pending');
    if (pending) await createFileExclusive(marker, '').catch((e: unknown) => {
      if (!(e instanceof FileExistsError)) throw e;
    });
    await writeFileAtomic(this.jobPath(jobId), `${JSON.stringify({ deliveries } satisfies JobFile)}\n`);
    if (!pending) await unlink(marker).catch(() => undefined);
  }

  async add(records: readonly DeliveryRecord[]): Promise<DeliveryRecord[]> {
    if (records.length === 0) return [];
    await this.ensureDirs();
    const byJob = new Map<string, DeliveryRecord[]>();
    for (const r of records) byJob.set(r.jobId, [...(byJob.get(r.jobId) ?? []), r]);
    return this.locked(async () => {
      const added: DeliveryRecord[] = [];
      for (const [jobId, rs] of byJob) {
        const have = await this.read(jobId);
        const fresh = rs.filter((r) => !have.some((h) => h.key === r.key));
        if (fresh.length === 0) continue;
        await this.write(jobId, [...have, ...fresh]);
        added.push(...fresh);
      }
      return added;
    });
  }

  async forJob(jobId: string): Promise<DeliveryRecord[]> {
    if (!JOB_ID_PATTERN.test(jobId)) return [];
    return (await this.read(jobId)).sort((a, b) => a.createdAt - b.createdAt);
  }

  async pending(): Promise<DeliveryRecord[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, 'pending'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: DeliveryRecord[] = [];
    for (const n of names) {
      if (isTempFileName(n) || !JOB_ID_PATTERN.test(n)) continue;
      const rs = await this.read(n).catch(() => [] as DeliveryRecord[]);
      const p = rs.filter((r) => r.state === 'pending');
      if (p.length === 0) {
        // a marker left by a kill between two writes: nothing is pending there any more
        await this.locked(async () => {
          if (!(await this.read(n).catch(() => [])).some((r) => r.state === 'pending')) await unlink(this.markerPath(n)).catch(() => undefined);
        }).catch(() => undefined);
        continue;
      }
      out.push(...p);
    }
    return out;
  }

  async claim(jobId: string, id: string, owner: string, now: number, leaseMs: number): Promise<DeliveryRecord | null> {
    await this.ensureDirs();
    return this.locked(async () => {
      const rs = await this.read(jobId);
      const r = rs.find((x) => x.id === id);
      if (!r || !isDue(r, now)) return null;
      r.lease = { owner, expiresAt: now + leaseMs };
      await this.write(jobId, rs);
      return { ...r };
    });
  }

  async finish(jobId: string, id: string, owner: string, patch: Parameters<DeliveryJournal['finish']>[3]): Promise<boolean> {
    await this.ensureDirs();
    return this.locked(async () => {
      const rs = await this.read(jobId);
      const r = rs.find((x) => x.id === id);
      if (!r || r.lease?.owner !== owner) return false;
      Object.assign(r, patch, { lease: null });
      await this.write(jobId, rs);
      return true;
    });
  }

  async prune(before: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, 'jobs'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    let n = 0;
    for (const name of names) {
      const m = /^(\d+)\.json$/.exec(name);
      if (!m) continue;
      const jobId = m[1] as string;
      const gone = await this.locked(async () => {
        const rs = await this.read(jobId).catch(() => null);
        if (!rs || rs.some((r) => r.state === 'pending' || Math.max(r.deliveredAt ?? 0, r.lastAttemptAt ?? 0, r.createdAt) >= before)) return false;
        await unlink(this.jobPath(jobId));
        return true;
      });
      if (gone) n++;
    }
    return n;
  }

  async close(): Promise<void> {
    await this.lock.drain();
  }

  /** Runs `fn` holding this journal's in-process queue and the cross-process lock. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }
}
