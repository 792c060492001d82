/**
 * Where backups are written: a directory (`file:///dir`) or an S3 bucket (`s3://bucket/prefix`,
 * src/adapters/backup-s3.ts, loaded only when used). Every write is read back by the caller.
 */
import { constants as fsc, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { BackupUrl } from '../domain/backup.js';
import { fileUrl, parseBackupUrl, s3Url } from '../domain/backup.js';
import { locationProblems, type PathFacts } from '../domain/backup-location.js';
import { NotFoundError, OperationError, UsageError } from '../errors.js';

export interface BackupObjectInfo {
  /** archive file name, e.g. `cust_abc-20261201T131500Z.tar.gz` */
  name: string;
  /** the full URL (`--from` takes it) */
  url: string;
  bytes: number;
  modified: Date;
  /** S3 tags (file targets: derived from the name) */
  customerId?: string;
  /** when the backup was taken: the time stamp in its name */
  createdAt: Date;
  /** `.tar.gz.age`: encrypted to age recipients (its checksums beside it, NAME.sums.json) */
  encrypted: boolean;
}

export interface PutMeta {
  customerId: string;
  retentionDays: number;
}

export interface ReadOptions {
  /**
   * A restore's read: refuse (UsageError) a file that others can write or that is owned by
   * another user, in a directory others can write (domain/backup-location.ts). S3 targets
   * leave access to the bucket's policy.
   */
  checkLocation?: boolean;
  /** refuse an object larger than this (read nothing) */
  maxBytes?: number;
}

export interface BackupTarget {
  /** the target's URL, e.g. `file:///var/backups/custctl` */
  readonly url: string;
  /** Writes one archive; returns its URL. Never replaces an existing one. */
  put(name: string, bytes: Buffer, meta: PutMeta, signal?: AbortSignal): Promise<string>;
  get(name: string, signal?: AbortSignal, opts?: ReadOptions): Promise<Buffer>;
  /** What would make a restore refuse this target's location (file targets), or none. */
  locationProblems?(): Promise<string[]>;
  list(signal?: AbortSignal): Promise<BackupObjectInfo[]>;
  remove(name: string, signal?: AbortSignal): Promise<void>;
  /**
   * Every object of one customer, by name: its backups, their sums files and its exports (each
   * named `<customerId>-…`). For an erasure, which must find all of them; [] when the target does
   * not exist.
   */
  customerObjects?(customerId: string, signal?: AbortSignal): Promise<string[]>;
}

/** The objects an erasure deletes: named `<customerId>-…` (the `-` keeps `cust_ab` from matching `cust_abc`). */
export function isCustomerObject(name: string, customerId: string): boolean {
  return /^cust_[a-z0-9]{1,44}$/.test(customerId) && name.startsWith(`${customerId}-`) && !name.includes('/');
}

export type BackupEnv = Readonly<Record<string, string | undefined>>;

export type OpenBackupTarget = (url: string) => Promise<BackupTarget>;

/** A target for a parsed URL; `env` configures S3 (CUSTCTL_S3_ENDPOINT, …). */
export async function openBackupTarget(raw: string | BackupUrl, env: BackupEnv): Promise<BackupTarget> {
  const u = typeof raw === 'string' ? parseBackupUrl(raw) : raw;
  if (u.scheme === 'file') return new FileBackupTarget(u.dir);
  const { S3BackupTarget } = await import('./backup-s3.js');
  return new S3BackupTarget(u.bucket, u.prefix, env);
}

/** `file:///dir/name.tar.gz` → the directory's URL and the name; a URL without an archive name → name undefined. */
export function splitArchiveUrl(raw: string, flag = '--from'): { target: BackupUrl; name?: string } {
  const u = parseBackupUrl(raw, flag);
  const path = u.scheme === 'file' ? u.dir : u.prefix;
  const last = path.split('/').pop() ?? '';
  if (!/\.tar\.gz(\.age)?$/.test(last)) return { target: u };
  const parent = path.slice(0, path.length - last.length).replace(/\/+$/, '');
  const target: BackupUrl = u.scheme === 'file'
    ? { scheme: 'file', dir: parent || '/', url: fileUrl(parent || '/') }
    : { scheme: 's3', bucket: u.bucket, prefix: parent, url: s3Url(u.bucket, parent) };
  return { target, name: last };
}

const ARCHIVE = /^(cust_[a-z0-9]{1,44})-\d{8}T\d{6}Z\.tar\.gz(\.age)?$/;

/** What an archive's name says: customer, time, encrypted. Undefined for anything that is not a backup. */
export function archiveInfo(name: string): { customerId: string; createdAt: Date; encrypted: boolean } | undefined {
  const m = /^(cust_[a-z0-9]{1,44})-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.tar\.gz(\.age)?$/.exec(name);
  if (!m) return undefined;
  const [, customerId, y, mo, d, h, mi, se, age] = m as unknown as [string, string, string, string, string, string, string, string, string | undefined];
  return { customerId, createdAt: new Date(`${y}-${mo}-${d}T${h}:${mi}:${se}Z`), encrypted: age !== undefined };
}

const TRUST_HINT = 'A backup is only as trustworthy as whoever can write where it lies: keep backups in a directory only you (or root) can write (chmod go-w), or pass --trust-backup-location if you vouch for everyone who can.';

function untrusted(p: string, problems: readonly string[]): UsageError {
  return new UsageError(`refusing to restore from ${p}: others can replace it (its checksums are inside it, so they prove nothing about who wrote it)`, [...problems, TRUST_HINT]);
}

function checkSize(p: string, size: number, max: number | undefined): void {
  if (max !== undefined && size > max) throw new OperationError(`the backup file ${p} is ${size} bytes, more than the ${max} it may have: refused`, [], { permanent: true });
}

function facts(path: string, st: Stats): PathFacts {
  return { path, uid: st.uid, mode: st.mode, kind: st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other' };
}

/** `dir` (a real path) and every directory above it, as lstat sees them. */
async function dirChain(dir: string): Promise<PathFacts[]> {
  const out: PathFacts[] = [];
  for (let d = dir; ; d = dirname(d)) {
    out.push(facts(d, await lstat(d)));
    if (d === dirname(d)) return out;
  }
}

/** The uid this process runs as (root: 0); where there is none (Windows), only root-like checks apply. */
function processUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

export class FileBackupTarget implements BackupTarget {
  readonly url: string;
  private readonly uid: number;
  constructor(private readonly dir: string, opts: { uid?: number } = {}) {
    this.url = fileUrl(dir);
    this.uid = opts.uid ?? processUid();
  }

  async put(name: string, bytes: Buffer, _meta: PutMeta): Promise<string> {
    const final = join(this.dir, name);
    const tmp = join(this.dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // 0600 from the start (O_EXCL: never through someone else's file), fsync, then the name
      const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      const exists = await stat(final).then(() => true, () => false);
      if (exists) throw Object.assign(new Error(`${final} already exists`), { code: 'EEXIST' });
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new OperationError(`cannot write the backup to ${final}: ${(e as Error).message}`, ['Nothing was deleted. Fix the target (permissions, space) or pass another --backup URL.']);
    }
    return fileUrl(final);
  }

  async get(name: string, _signal?: AbortSignal, opts: ReadOptions = {}): Promise<Buffer> {
    let p = join(this.dir, name);
    try {
      if (opts.checkLocation) {
        const real = await realpath(this.dir);
        p = join(real, name);
        const chain = await dirChain(real);
        // O_NOFOLLOW: the file is judged by what was opened, not by a name that can change after
        const fh = await open(p, fsc.O_RDONLY | fsc.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ELOOP') throw new UsageError(`refusing to read the backup ${p}: it is a symbolic link`, [TRUST_HINT]);
          throw e;
        });
        try {
          const st = await fh.stat();
          const problems = locationProblems(chain, facts(p, st), this.uid);
          if (problems.length) throw untrusted(p, problems);
          checkSize(p, st.size, opts.maxBytes);
          return await fh.readFile();
        } finally {
          await fh.close();
        }
      }
      if (opts.maxBytes !== undefined) checkSize(p, (await stat(p)).size, opts.maxBytes);
      const fh = await open(p, fsc.O_RDONLY);
      try {
        return await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch (e) {
      if (e instanceof UsageError || e instanceof OperationError) throw e;
      throw new OperationError(`cannot read the backup ${p}: ${(e as Error).message}`);
    }
  }

  async locationProblems(): Promise<string[]> {
    try {
      return locationProblems(await dirChain(await realpath(this.dir)), null, this.uid);
    } catch {
      return [];
    }
  }

  async list(): Promise<BackupObjectInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      // a target that does not exist is not an empty one: say so (exit 3), a typo must not read as "no backups"
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`backup directory ${this.dir} does not exist`, ['Check --backup (or CUSTCTL_BACKUP_URL); the first deletion with a backup creates the directory.']);
      throw new OperationError(`cannot list ${this.dir}: ${(e as Error).message}`);
    }
    const out: BackupObjectInfo[] = [];
    for (const name of names.filter((n) => ARCHIVE.test(n)).sort()) {
      const s = await stat(join(this.dir, name)).catch(() => null);
      if (!s?.isFile()) continue;
      const info = archiveInfo(name);
      if (!info) continue;
      out.push({ name, url: fileUrl(join(this.dir, name)), bytes: s.size, modified: s.mtime, ...info });
    }
    return out;
  }

  async customerObjects(customerId: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new OperationError(`cannot list ${this.dir}: ${(e as Error).message}`);
    }
    return names.filter((n) => isCustomerObject(n, customerId)).sort();
  }

  async remove(name: string): Promise<void> {
    try {
      await rm(join(this.dir, name), { force: true });
    } catch (e) {
      throw new OperationError(`cannot delete the backup ${join(this.dir, name)}: ${(e as Error).message}`);
    }
  }
}
