/**
 * The `restore` job kind: brings a deleted customer back from a backup (src/pipeline/restore.ts).
 * It never claims the row: the attempt checks that the row is `pending` and the namespace absent,
 * and its last step is a compare-and-set from `pending` to `deployed`. A failed restore leaves the
 * row as it was (pending) and the namespace it created, annotated with the job's id, so
 * `jobs retry` carries on where it stopped.
 */
import { parseCustomerId, type CustomerId } from '../../domain/customer-id.js';
import type { Job } from '../../domain/job.js';
import { namespaceFor } from '../../domain/namespace-name.js';
import { ownGrantOf } from '../../domain/permissions.js';
import { plainLine, type Level } from '../../io.js';
import type { AttemptContext } from '../../adapters/queue.js';
import type { RestoreResult } from '../../pipeline/restore.js';
import { resolve } from 'node:path';
import { loadIdentities } from '../../adapters/backup-age.js';
import { openBackupTarget } from '../../adapters/backup-target.js';
import type { JobsEnv } from '../jobs-env.js';
import type { JobKind } from './kind.js';

export async function submitRestore(env: JobsEnv, customer: CustomerId, o: { from: string; requestedBy: string; identityFile?: string; concurrency?: number; sha256?: string; trustLocation?: boolean }): Promise<Job> {
  const id = await env.queue.allocateId();
  return env.queue.add(
    id,
    {
      name: 'restore',
      data: {
        customerId: customer.id, namespace: namespaceFor(customer, env.config.namespacePrefix), from: o.from,
        // the identity's file, never its content: the journal is not a place for a secret key
        ...(o.identityFile !== undefined ? { identityFile: resolve(o.identityFile) } : {}),
        ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
        ...(o.sha256 !== undefined ? { sha256: o.sha256 } : {}),
        ...(o.trustLocation ? { trustLocation: true } : {}),
      },
      opts: { attempts: env.config.maxAttempts, backoff: { type: 'exponential', delay: env.config.retryDelayMs }, timeoutMs: env.config.jobTimeoutMs },
      requestedBy: o.requestedBy,
      simulated: false,
    },
    env.now(),
  );
}

async function processRestore(env: JobsEnv, ctx: AttemptContext): Promise<RestoreResult> {
  const { runRestoreAttempt } = await import('../../pipeline/restore.js');
  const log = (level: Level, message: string, fields?: Record<string, unknown>) => {
    env.sink?.(ctx.job, level, message, fields);
    void ctx.log(plainLine(level, message, fields)).catch(() => undefined);
  };
  const customer = parseCustomerId(ctx.job.data.customerId ?? '');
  // the customer's cluster, as its row names it (a row that is gone: the fleet's default, refused by the attempt)
  const row = await env.store.get(customer.id);
  const c = await env.clusters.for(row ?? { customerId: customer.id }).adapters();
  const file = ctx.job.data.identityFile;
  const identities = file !== undefined ? await loadIdentities(file, '--identity') : await loadIdentities(env.config.backupIdentity, 'CUSTCTL_BACKUP_IDENTITY');
  return runRestoreAttempt(
    { job: ctx.job, customer, namespace: namespaceFor(customer, env.config.namespacePrefix), prefix: env.config.namespacePrefix, signal: ctx.signal, progress: (n) => ctx.progress(n), log, now: env.now },
    env.store,
    {
      kube: c.kube, target: c.target, backups: c.backups ?? ((u) => openBackupTarget(u, {})), identities,
      ...(ctx.job.data.concurrency !== undefined ? { concurrency: ctx.job.data.concurrency } : {}),
      ownGrant: ownGrantOf(env.config.rbacName, c.target),
    },
  );
}

export const restoreKind: JobKind<RestoreResult> = {
  name: 'restore',
  process: processRestore,
  // the row is changed only by the attempt's last step; a failure leaves it pending
  settle: async () => undefined,
};
