/**
 * An S3-protocol server on 127.0.0.1 for the backup tests: s3rver (in the vitest main process,
 * data under the run dir), started once per run by global-setup.ts, with the bucket
 * `custctl-backups`. Its credentials are s3rver's fixed pair S3RVER/S3RVER; path-style only.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import S3rver from 's3rver';
import { freePort } from './ports.js';

export const S3_BUCKET = 'custctl-backups';
export const S3_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export interface S3Server {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startS3(runDir: string): Promise<S3Server> {
  const directory = path.join(runDir, 's3');
  await fs.mkdir(directory, { recursive: true });
  const port = await freePort();
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory, vhostBuckets: false, configureBuckets: [{ name: S3_BUCKET }] });
  const addr = await server.run();
  return { endpoint: `http://127.0.0.1:${addr.port}`, stop: () => server.close() };
}
