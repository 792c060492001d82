/**
 * Backups in S3 or an S3-compatible store, through @aws-sdk/client-s3 (loaded only when an s3://
 * URL is used). Settings: CUSTCTL_S3_ENDPOINT (an S3-compatible store), CUSTCTL_S3_FORCE_PATH_STYLE
 * (`true`: bucket in the path, as MinIO/Ceph/s3rver want), CUSTCTL_S3_REGION (else AWS_REGION,
 * else us-east-1), CUSTCTL_S3_SSE (`AES256` default, `aws:kms`, or `none` for a store without
 * server-side encryption); credentials from the SDK's usual chain (AWS_ACCESS_KEY_ID, profiles, …).
 * Every object carries the tags `customer-id` and `retention-days`.
 */
import {
  DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, PutObjectTaggingCommand, S3Client, type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { s3Url } from '../domain/backup.js';
import { NotFoundError, OperationError, UsageError } from '../errors.js';
import { S3RetryStrategy, S3_TRIES } from './s3-retry.js';
import { archiveInfo, isCustomerObject, type BackupEnv, type BackupObjectInfo, type BackupTarget, type PutMeta, type ReadOptions } from './backup-target.js';

export class S3BackupTarget implements BackupTarget {
  readonly url: string;
  private readonly client: S3Client;
  private readonly sse: ServerSideEncryption | undefined;

  constructor(private readonly bucket: string, private readonly prefix: string, env: BackupEnv) {
    this.url = s3Url(bucket, prefix);
    const sse = env.CUSTCTL_S3_SSE ?? 'AES256';
    if (!['AES256', 'aws:kms', 'none'].includes(sse)) throw new UsageError(`CUSTCTL_S3_SSE=${JSON.stringify(sse)}: AES256, aws:kms or none`);
    this.sse = sse === 'none' ? undefined : (sse as ServerSideEncryption);
    this.client = new S3Client({
      region: env.CUSTCTL_S3_REGION || env.AWS_REGION || 'us-east-1',
      ...(env.CUSTCTL_S3_ENDPOINT ? { endpoint: env.CUSTCTL_S3_ENDPOINT } : {}),
      forcePathStyle: env.CUSTCTL_S3_FORCE_PATH_STYLE === 'true',
      maxAttempts: S3_TRIES,
      // refused / unknown host before the store ever answered: not retried (s3-retry.ts)
      retryStrategy: new S3RetryStrategy(),
    });
  }

  private key(name: string): string {
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  private fail(what: string, e: unknown): never {
    const err = e as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    const status = err.$metadata?.httpStatusCode;
    const reason = err.code === 'ECONNREFUSED' ? `connection refused (ECONNREFUSED): ${err.message ?? ''}`
      : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? `host not found (${err.code}): ${err.message ?? ''}`
        : `${err.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err.message ?? String(e)}`;
    throw new OperationError(`cannot ${what} ${this.url}: ${reason}`, [
      what.startsWith('write') ? 'Nothing was deleted. Check the bucket, the credentials and CUSTCTL_S3_ENDPOINT, or pass another --backup URL.' : 'Check the bucket, the credentials and CUSTCTL_S3_ENDPOINT.',
    ]);
  }

  async put(name: string, bytes: Buffer, meta: PutMeta, signal?: AbortSignal): Promise<string> {
    const tags = new URLSearchParams({ 'customer-id': meta.customerId, 'retention-days': String(meta.retentionDays) }).toString();
    try {
      await this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.key(name),
        Body: bytes,
        ContentType: name.endsWith('.tar.gz') ? 'application/gzip' : name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        Tagging: tags,
        IfNoneMatch: '*',
        ...(this.sse ? { ServerSideEncryption: this.sse } : {}),
      }), signal ? { abortSignal: signal } : {});
      // the tags again through the tagging subresource: stores that ignore the header (s3rver) get them too
      await this.client.send(new PutObjectTaggingCommand({
        Bucket: this.bucket,
        Key: this.key(name),
        Tagging: { TagSet: [{ Key: 'customer-id', Value: meta.customerId }, { Key: 'retention-days', Value: String(meta.retentionDays) }] },
      }), signal ? { abortSignal: signal } : {});
    } catch (e) {
      this.fail(`write ${name} to`, e);
    }
    return `${this.url}/${name}`;
  }

  async get(name: string, signal?: AbortSignal, opts: ReadOptions = {}): Promise<Buffer> {
    let r;
    try {
      r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(name) }), signal ? { abortSignal: signal } : {});
    } catch (e) {
      this.fail(`read ${name} from`, e);
    }
    const body = r.Body as { transformToByteArray(): Promise<Uint8Array>; destroy?(): void } | undefined;
    if (opts.maxBytes !== undefined && (r.ContentLength ?? 0) > opts.maxBytes) {
      body?.destroy?.();
      throw new OperationError(`the backup ${this.url}/${name} is ${r.ContentLength} bytes, more than the ${opts.maxBytes} it may have: refused`, [], { permanent: true });
    }
    try {
      const bytes = Buffer.from(await (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) throw new OperationError(`the backup ${this.url}/${name} is more than the ${opts.maxBytes} bytes it may have: refused`, [], { permanent: true });
      return bytes;
    } catch (e) {
      if (e instanceof OperationError) throw e;
      this.fail(`read ${name} from`, e);
    }
  }

  async list(signal?: AbortSignal): Promise<BackupObjectInfo[]> {
    const out: BackupObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix ? `${this.prefix}/` : undefined, ContinuationToken: token }), signal ? { abortSignal: signal } : {});
        for (const o of r.Contents ?? []) {
          const name = (o.Key ?? '').slice(this.prefix ? this.prefix.length + 1 : 0);
          if (name.includes('/')) continue;
          const info = archiveInfo(name);
          if (!info) continue;
          out.push({ name, url: `${this.url}/${name}`, bytes: o.Size ?? 0, modified: o.LastModified ?? new Date(0), ...info });
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      // a bucket that does not exist is not an empty one: say so (exit 3), not "no backups"
      if ((e as { name?: string }).name === 'NoSuchBucket') throw new NotFoundError(`bucket ${this.bucket} does not exist (${this.url})`, ['Check --backup (or CUSTCTL_BACKUP_URL) and CUSTCTL_S3_ENDPOINT.']);
      this.fail('list', e);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async customerObjects(customerId: string, signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const base = this.prefix ? `${this.prefix}/` : '';
    try {
      do {
        const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: `${base}${customerId}-`, ContinuationToken: token }), signal ? { abortSignal: signal } : {});
        for (const o of r.Contents ?? []) {
          const name = (o.Key ?? '').slice(base.length);
          if (isCustomerObject(name, customerId)) out.push(name);
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchBucket') return [];
      this.fail('list', e);
    }
    return out.sort();
  }

  async remove(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(name) }), signal ? { abortSignal: signal } : {});
    } catch (e) {
      this.fail(`delete ${name} from`, e);
    }
  }
}
