/**
 * The erasure ("right to be forgotten") of one customer, for every edge: `custctl erase`, the API's
 * `POST /api/admin/customers/:id/erase` and the automatic erasure of serve and worker
 * (CUSTCTL_ERASE_AFTER). The rules are src/domain/erasure.ts; this runs them:
 *
 * 1. refused (NotFoundError, ConflictError) before anything changes while the customer has an
 *    instance, a pending, scheduled or running deletion, or any job that has not ended;
 * 2. its backups and exports deleted from every configured target (CUSTCTL_BACKUP_URL,
 *    CUSTCTL_ERASE_TARGETS, and those the caller names);
 * 3. the billing provider's customer deleted (where billing is configured);
 * 4. the personal values removed from the finished jobs of the customer in the queue (the file
 *    journal, BullMQ on Redis or PostgreSQL: data, results, failure messages, logs);
 * 5. the row's personal fields erased, with the `customer-erased` audit row in the same
 *    transaction (column names and counts only, never a value);
 * 6. a signed erasure certificate citing that row, when the site has a signing key.
 *
 * Each step is idempotent: an erasure stopped half way is run again.
 */
import type { RowCluster } from '../domain/clusters.js';
import type { KeyObject } from 'node:crypto';
import type { BackupTarget, OpenBackupTarget } from '../adapters/backup-target.js';
import type { BillingErasure } from '../adapters/billing.js';
import type { Kube } from '../adapters/kube.js';
import type { JobQueue } from '../adapters/queue.js';
import type { AuditPosition, CustomerStore } from '../adapters/store.js';
import type { Config } from '../config.js';
import { signCertificate, type SignedCertificate } from '../domain/certificate.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { erasableColumns, erasureRefusal } from '../domain/erasure.js';
import { isFinished } from '../domain/job.js';
import { namespaceFor } from '../domain/namespace-name.js';
import { ConflictError, NotFoundError, UsageError } from '../errors.js';
import type { Level } from '../io.js';
import type { OutsideEnv } from '../pipeline/outside.js';
import type { JobsEnv } from './env.js';

export interface EraseEnv {
  store: CustomerStore;
  queue: JobQueue;
  config: Pick<Config, 'simulate' | 'namespacePrefix' | 'eraseColumns' | 'backupUrl' | 'eraseTargets' | 'siteName' | 'stateDir'>;
  now: () => number;
  /** the cluster, to see that the namespace is gone (not asked when simulated) */
  kubeFor?: (row: RowCluster) => Promise<Pick<Kube, 'getNamespace'>>;
  openTarget: OpenBackupTarget;
  /** billing (absent: none configured) */
  outside?: () => Promise<OutsideEnv>;
  /** the site's signing key (null: none configured, no certificate) */
  signingKey?: () => Promise<KeyObject | null>;
  log?: (level: Level, message: string, fields?: Record<string, unknown>) => void;
  signal?: AbortSignal;
  /** keeps a signed certificate (a file in the state directory); returns where */
  keepCertificate?: (doc: SignedCertificate) => Promise<string>;
  /** tells the customer (`customer.erased` on the webhooks, journaled under the audit row's number); absent: no endpoint subscribes */
  notifyErased?: (key: string, doc: SignedCertificate) => Promise<void>;
}

export interface EraseRequest {
  customerId: string;
  /** who asked: the pseudonymous actor of the audit row */
  actor: string;
  dryRun: boolean;
  /** more targets to empty than the site's (`--target`) */
  targets?: readonly string[];
  /** why, for the audit row (custctl's words only: `automatic, 30d after the deletion`) */
  reason?: string;
}

export interface ErasureReport {
  customerId: string;
  dryRun: boolean;
  /** planned: a dry run; erased: done; nothing-to-erase: every field was empty and nothing else was found */
  outcome: 'planned' | 'erased' | 'nothing-to-erase';
  /** the row's columns that hold a value (to erase, or erased): names, never values */
  fields: string[];
  /** the targets looked in */
  targets: string[];
  /** the backups and exports (with their sums files) to delete or deleted, by URL */
  objects: string[];
  billing: Omit<BillingErasure, 'personal'> | null;
  journal: { jobs: number; rewritten: number; valuesReplaced: number; scrubbed: boolean; note?: string } | null;
  /** the `customer-erased` audit row */
  audit: AuditPosition | null;
  /** the signed erasure certificate (null: no signing key configured, or nothing was erased) */
  certificate: SignedCertificate | null;
  /** where the certificate was kept (null: not kept, or none) */
  certificatePath: string | null;
  warnings: string[];
}

const objectUrl = (t: BackupTarget, name: string) => `${t.url.replace(/\/+$/, '')}/${name}`;

/** The rule's refusal as the error every edge maps to its exit code / HTTP status. */
async function refuseIfNeeded(env: EraseEnv, customerId: string): Promise<void> {
  const customer = parseCustomerId(customerId);
  const row = await env.store.get(customer.id);
  const jobs = await env.queue.list({ customerId: customer.id });
  let namespaceExists: boolean | undefined;
  if (row && !env.config.simulate && env.kubeFor) {
    namespaceExists = (await (await env.kubeFor(row)).getNamespace(namespaceFor(customer, env.config.namespacePrefix), env.signal)) !== null;
  }
  const refusal = erasureRefusal({
    customerId: customer.id,
    row: row ? { deploymentStatus: row.deploymentStatus, instanceNamespace: row.instanceNamespace, deletionScheduledAt: row.deletionScheduledAt, deletionJobId: row.deletionJobId } : null,
    unfinishedJobs: jobs.filter((j) => !isFinished(j)).map((j) => ({ id: j.id, name: j.name, state: j.state })),
    ...(namespaceExists !== undefined ? { namespaceExists } : {}),
  });
  if (!refusal) return;
  const details = [refusal.next, 'Nothing was erased.'];
  throw refusal.reason === 'not-found' ? new NotFoundError(refusal.message, details) : new ConflictError(refusal.message, details);
}

/** The erasure of one customer (or, with dryRun, what it would do). */
export async function eraseCustomer(env: EraseEnv, req: EraseRequest): Promise<ErasureReport> {
  const customer = parseCustomerId(req.customerId);
  const id = customer.id;
  const log = env.log ?? (() => undefined);
  await refuseIfNeeded(env, id);
  if (!env.store.readPersonalFields || !env.store.erasePersonalFields) throw new UsageError(`${env.store.description} cannot erase a customer's fields`);
  const columns = erasableColumns(env.config.eraseColumns);
  const values = (await env.store.readPersonalFields(id, columns)) ?? {};
  const fields = columns.filter((c) => (values[c] ?? '') !== '');
  const report: ErasureReport = { customerId: id, dryRun: req.dryRun, outcome: 'planned', fields, targets: [], objects: [], billing: null, journal: null, audit: null, certificate: null, certificatePath: null, warnings: [] };

  // what there is to delete, found before anything is deleted
  const urls = [...new Set([env.config.backupUrl, ...env.config.eraseTargets, ...(req.targets ?? [])].filter((u): u is string => Boolean(u)))];
  const found: Array<{ target: BackupTarget; names: string[] }> = [];
  for (const url of urls) {
    const target = await env.openTarget(url);
    report.targets.push(target.url);
    if (!target.customerObjects) {
      report.warnings.push(`${target.url} cannot list a customer's objects: not emptied`);
      continue;
    }
    const names = await target.customerObjects(id, env.signal);
    found.push({ target, names });
    report.objects.push(...names.map((n) => objectUrl(target, n)));
  }
  const outside = env.outside ? await env.outside() : null;
  const billing = outside?.billing ?? null;
  const { billingCustomerOf } = await import('../pipeline/outside.js');
  const billingTarget = billing && outside ? { customerId: id, providerCustomerId: await billingCustomerOf(env.store, id, outside) } : null;
  let billingPersonal: string[] = [];
  if (billing && billingTarget) {
    if (!billing.eraseCustomer) {
      report.warnings.push(`the billing provider ${billing.provider} cannot delete a customer here: delete it there`);
    } else {
      const planned = await billing.eraseCustomer(billingTarget, { dryRun: true, ...(env.signal ? { signal: env.signal } : {}) });
      billingPersonal = planned.personal;
      const { personal: _p, ...shown } = planned;
      report.billing = shown;
    }
  }
  if (req.dryRun) return report;

  for (const { target, names } of found) {
    for (const name of names) {
      env.signal?.throwIfAborted();
      await target.remove(name, env.signal);
      log('info', 'Deleted', { url: objectUrl(target, name) });
    }
  }
  if (billing?.eraseCustomer && billingTarget && report.billing && report.billing.outcome === 'would-delete') {
    const done = await billing.eraseCustomer(billingTarget, env.signal ? { signal: env.signal } : {});
    const { personal: _p, ...shown } = done;
    report.billing = shown;
    log('info', `Billing: customer ${done.customer ?? '-'} ${done.outcome}`);
  }

  // the journal: the personal values (the row's and the billing provider's) replaced in finished jobs
  const { scrubCustomerJobs } = await import('./journal-scrub.js');
  const s = await scrubCustomerJobs(env.queue, id, [...Object.values(values), ...billingPersonal]);
  if (s) {
    report.journal = { jobs: s.jobs, rewritten: s.rewritten.length, valuesReplaced: s.rewritten.reduce((a, r) => a + r.replaced, 0), scrubbed: true };
    if (s.valuesNotLookedFor > 0) report.warnings.push(`${s.valuesNotLookedFor} personal value(s) shorter than 3 characters were not looked for in the job journal`);
    if (s.unfinished.length > 0) report.warnings.push(`job(s) ${s.unfinished.join(', ')} had not ended: not scrubbed (erase again once they have)`);
  } else {
    report.journal = { jobs: 0, rewritten: 0, valuesReplaced: 0, scrubbed: false, note: `the ${env.queue.kind} queue cannot rewrite its jobs: they are removed when they are pruned (7 days after they end)` };
    report.warnings.push(report.journal.note as string);
  }

  const summary = [
    `${report.objects.length} backup/export object(s) deleted`,
    report.billing ? `${report.billing.provider} customer ${report.billing.outcome}` : '',
    report.journal.scrubbed ? `${report.journal.rewritten} job(s) scrubbed` : '',
    req.reason ?? '',
  ].filter(Boolean).join('; ');
  const audit = { actor: req.actor, customerId: id, outcome: 'erased', reason: summary };
  const erased = await env.store.erasePersonalFields(id, columns, audit);
  if (erased.outcome === 'not-found') throw new NotFoundError(`customer ${id} has no row: nothing to erase`);
  if (erased.outcome === 'refused') throw new ConflictError(`customer ${id} changed while it was being erased (it is ${erased.row.deploymentStatus}): its fields were not erased`, ['Run the erasure again once it has no instance and no deletion.']);
  let position = erased.outcome === 'erased' ? erased.position : null;
  const didElsewhere = report.objects.length > 0 || report.billing?.outcome === 'deleted' || (report.journal.rewritten ?? 0) > 0;
  if (!position && didElsewhere) {
    // the row held nothing any more, but backups, the billing customer or job text went: recorded too
    await env.store.appendAudit({ ...audit, action: 'customer-erased', deleted: { fields: [] } });
    position = (await env.store.auditPosition?.({ customerId: id, action: 'customer-erased' })) ?? null;
  }
  report.fields = erased.outcome === 'erased' ? erased.fields : [];
  report.audit = position;
  report.outcome = position ? 'erased' : 'nothing-to-erase';
  if (position && env.signingKey) {
    const key = await env.signingKey();
    if (key) {
      const { erasureCertificateFor } = await import('../pipeline/certificate.js');
      const billingEntries = report.billing ? [{ provider: report.billing.provider, mode: report.billing.mode, customer: report.billing.customer, customerDeleted: report.billing.outcome }] : [];
      report.certificate = signCertificate(erasureCertificateFor({
        customerId: id, jobId: null, fields: report.fields, backupsDeleted: report.objects, billing: billingEntries, warnings: report.warnings,
      }, position, { issuer: env.config.siteName, issuedAt: new Date(env.now()) }), key);
      if (env.keepCertificate) report.certificatePath = await env.keepCertificate(report.certificate);
      if (env.notifyErased) {
        await env.notifyErased(position.seq, report.certificate).catch((e: unknown) => report.warnings.push(`the customer.erased event was not journaled: ${(e as Error).message}`));
      }
    }
  }
  log('ok', report.outcome === 'erased' ? 'Customer erased' : 'Nothing to erase', { customerId: id, fields: report.fields.length, objects: report.objects.length });
  return report;
}

/**
 * The customers whose automatic erasure is due (CUSTCTL_ERASE_AFTER): `pending`, no namespace,
 * deleted longer ago than `afterMs`, with an e-mail, company or URL still in the row.
 */
export async function dueForErasure(store: CustomerStore, afterMs: number, now: number): Promise<string[]> {
  if (afterMs <= 0) return [];
  const cutoff = now - afterMs;
  return (await store.list())
    .filter((r) => r.deploymentStatus === 'pending' && r.instanceNamespace === '' && r.deletedAt !== null && Date.parse(r.deletedAt) <= cutoff)
    .filter((r) => r.email !== '' || r.companyName !== '' || r.instanceUrl !== '')
    .map((r) => r.customerId);
}

/** One pass of the automatic erasure: each due customer erased, a refusal or failure logged and left for the next pass. */
export async function eraseDue(env: EraseEnv, afterMs: number, actor: string): Promise<{ erased: string[]; failed: Array<{ customerId: string; error: string }> }> {
  const out = { erased: [] as string[], failed: [] as Array<{ customerId: string; error: string }> };
  const days = afterMs / 86_400_000;
  for (const id of await dueForErasure(env.store, afterMs, env.now())) {
    try {
      const r = await eraseCustomer(env, { customerId: id, actor, dryRun: false, reason: `automatic: ${Number.isInteger(days) ? `${days}d` : `${Math.round(afterMs / 3_600_000)}h`} after the deletion (CUSTCTL_ERASE_AFTER)` });
      if (r.outcome === 'erased') out.erased.push(id);
    } catch (e) {
      out.failed.push({ customerId: id, error: (e as Error).message });
      env.log?.('warn', `Automatic erasure of ${id} did not run: ${(e as Error).message}`);
    }
  }
  return out;
}

/** How often serve and worker look for customers due for automatic erasure. */
export const ERASE_LOOP_INTERVAL_MS = 3_600_000;

/** What the erasure needs, from the jobs environment of a process. */
export function eraseEnvOf(env: JobsEnv, o: { openTarget: OpenBackupTarget; log?: EraseEnv['log']; signal?: AbortSignal }): EraseEnv {
  return {
    keepCertificate: async (doc) => (await import('../adapters/certificate-files.js')).saveCertificate(env.config.stateDir, doc),
    store: env.store, queue: env.queue, config: env.config, now: env.now, openTarget: o.openTarget,
    ...(env.config.simulate ? {} : { kubeFor: (row: RowCluster) => env.clusters.for(row).kube() }),
    ...(env.outside ? { outside: env.outside } : {}), ...(env.signingKey ? { signingKey: env.signingKey } : {}),
    ...(env.notices ? { notifyErased: (key: string, doc: SignedCertificate) => env.notices!.erased(key, doc) } : {}),
    ...(o.log ? { log: o.log } : {}), ...(o.signal ? { signal: o.signal } : {}),
  };
}

/**
 * The automatic erasure (CUSTCTL_ERASE_AFTER) of serve and worker: one pass now, then one every
 * `intervalMs` until `signal`. A pass that fails (the database down) is logged and tried at the
 * next one. Returns at once when the site has no CUSTCTL_ERASE_AFTER.
 */
export async function runErasureLoop(env: EraseEnv, o: { afterMs: number; actor: string; intervalMs?: number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; signal: AbortSignal }): Promise<void> {
  if (o.afterMs <= 0) return;
  while (!o.signal.aborted) {
    try {
      const r = await eraseDue(env, o.afterMs, o.actor);
      if (r.erased.length) env.log?.('info', `Automatic erasure: ${r.erased.length} customer(s) erased`, { customers: r.erased.join(', ') });
    } catch (e) {
      env.log?.('warn', `Automatic erasure pass failed: ${(e as Error).message.split('\n')[0]}`);
    }
    await o.sleep(o.intervalMs ?? ERASE_LOOP_INTERVAL_MS, o.signal).catch(() => undefined);
  }
}
