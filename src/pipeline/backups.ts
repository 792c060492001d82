/**
 * `custctl backups list|prune`: what a backup target holds, and removing what is older than a
 * retention period. An encrypted archive goes with the sums file beside it (NAME.sums.json).
 */
import type { BackupObjectInfo, BackupTarget } from '../adapters/backup-target.js';
import { SUMS_SUFFIX } from '../domain/backup.js';

export interface BackupListing {
  name: string;
  url: string;
  customerId: string;
  /** ISO time the backup was taken (from its name) */
  createdAt: string;
  bytes: number;
  encrypted: boolean;
}

export function listingOf(b: BackupObjectInfo): BackupListing {
  return { name: b.name, url: b.url, customerId: b.customerId ?? '', createdAt: b.createdAt.toISOString(), bytes: b.bytes, encrypted: b.encrypted };
}

/** The target's backups, oldest first, optionally of one customer. */
export async function listBackups(target: BackupTarget, customerId?: string, signal?: AbortSignal): Promise<BackupListing[]> {
  const all = await target.list(signal);
  return all
    .filter((b) => customerId === undefined || b.customerId === customerId)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.name.localeCompare(b.name))
    .map(listingOf);
}

/** Backups taken before `cutoff`. */
export function pruneCandidates(list: readonly BackupListing[], cutoff: Date): BackupListing[] {
  return list.filter((b) => new Date(b.createdAt).getTime() < cutoff.getTime());
}

/**
 * Removes the backups one by one (the sums file of an encrypted one with it), calling `removed`
 * after each (the audit row). Stops at the first failure: what was removed before it stays
 * recorded, the error says which one failed.
 */
export async function removeBackups(target: BackupTarget, list: readonly BackupListing[], removed: (b: BackupListing) => Promise<void>, signal?: AbortSignal): Promise<BackupListing[]> {
  const done: BackupListing[] = [];
  for (const b of list) {
    signal?.throwIfAborted();
    await target.remove(b.name, signal);
    if (b.encrypted) await target.remove(`${b.name}${SUMS_SUFFIX}`, signal);
    done.push(b);
    await removed(b);
  }
  return done;
}
