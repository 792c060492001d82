/**
 * `custctl restore ID --from URL`: one attempt of a `restore` job, and the plan it shows first.
 *
 *   0. the row must be `pending`, the namespace must not exist (or be the one this job created)
 *   1. load the archive (the one the plan showed), verify every entry's sha256, and judge every
 *      entry by the restore rules (domain/restore-rules.ts): nothing is created otherwise  progress 5
 *   2. create the namespace (annotated with this job), then its objects tier by tier in
 *      dependency order, up to RESTORE_CONCURRENCY at once inside a tier
 *      (Helm release records are Secrets among them, so `helm status` sees the release) progress 70
 *   3. create the cluster RBAC                                                 progress 85
 *   4. row → deployed with the namespace and URL, compare-and-set from pending progress 100
 * Every create answers 'exists' when it is there already, so a retried attempt carries on.
 */
import type { OpenBackupTarget } from '../adapters/backup-target.js';
import type { ClusterTarget, Kube } from '../adapters/kube.js';
import type { CustomerRow, CustomerStore } from '../adapters/store.js';
import type { ReleaseSecret } from '../adapters/helm-storage.js';
import { isClusterRoleGrant, isHelmReleaseRecord, restoreTiers, skippedOnRestore, sortForRestore, type KubeObject } from '../domain/backup.js';
import type { RbacObject } from '../domain/rbac-owner.js';
import { judgeRestore, ownGrantSkip, rbacObjectOf, RestoreRefusedError, scopeKey, type OwnGrant, type ReleaseRecordFacts, type Scope } from '../domain/restore-rules.js';
import type { CustomerId } from '../domain/customer-id.js';
import type { Job } from '../domain/job.js';
import { checkRowNamespace } from '../domain/namespace-name.js';
import { ConflictError, errorMessage, NotFoundError, OperationError } from '../errors.js';
import { loadBackup, RBAC_API, type LoadedBackup } from './backup.js';
import type { StepLog } from './types.js';

/** The namespace annotation that says which restore job created it (a retried attempt may go on). */
export const RESTORED_BY = 'custctl.io/restored-by-job';

export interface RestorePlanView {
  customerId: string;
  namespace: string;
  from: string;
  backup: { createdAt: string; custctlVersion: string; cluster: { server: string; context: string }; entries: number; counts: Record<string, number>; releases: string[]; encrypted?: boolean; sha256: string };
  create: Array<{ kind: string; count: number }>;
  skipped: Array<{ kind: string; name: string; reason: string }>;
  clusterRbac: string[];
  row: { status: string; change: string };
}

export interface RestoreResult {
  customerId: string;
  namespace: string;
  jobId: string;
  from: string;
  created: number;
  existed: number;
  skipped: number;
  clusterRbac: string[];
  releases: string[];
  row: { status: string };
  durationMs: number;
}

export interface RestoreEnv {
  kube: Kube;
  target: ClusterTarget;
  backups: OpenBackupTarget;
  /** age identities for an encrypted backup */
  identities?: readonly string[];
  /** creates in flight inside a tier (default RESTORE_CONCURRENCY) */
  concurrency?: number;
  /** custctl's own grant in a customer namespace (CUSTCTL_RBAC_NAME), re-created first for the ServiceAccount restoring */
  ownGrant?: OwnGrant;
}

/**
 * Creates in flight inside one tier. Measured with `BENCH_ONLY=backup npm run bench` (500
 * ConfigMaps + 50 Secrets, bench/results/): serial 44.9 s; see the results file for 16.
 */
export const RESTORE_CONCURRENCY = 16;

/**
 * Creates the objects tier after tier (domain/backup.ts restoreTiers), up to `limit` at once inside
 * a tier. The first failure stops new creates; those in flight finish; then the failure of the
 * object first in restore order is thrown as it came (the same error a serial restore would give),
 * the others are logged. The next tier never starts after a failure.
 */
export async function createInTiers(
  objects: readonly KubeObject[], kube: Pick<Kube, 'createObject'>, signal: AbortSignal, log: StepLog, limit: number,
  afterGrants?: () => Promise<void>,
): Promise<{ created: number; existed: number }> {
  let created = 0;
  let existed = 0;
  const tiers = restoreTiers(objects);
  for (const [i, tier] of tiers.entries()) {
    // the first tier holds the grants of ClusterRoles, if any: they may be what lets the rest be created
    if (i === 1 && afterGrants && tiers[0]?.every(isClusterRoleGrant)) await afterGrants();
    const failures: Array<{ index: number; error: unknown }> = [];
    let next = 0;
    const worker = async () => {
      while (next < tier.length && failures.length === 0) {
        const index = next++;
        signal.throwIfAborted();
        try {
          const r = await kube.createObject(tier[index] as KubeObject, signal);
          if (r === 'created') created++;
          else existed++;
        } catch (error) {
          if (signal.aborted) throw error;
          failures.push({ index, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tier.length)) }, worker));
    if (failures.length) {
      failures.sort((a, b) => a.index - b.index);
      for (const f of failures.slice(1)) {
        const o = tier[f.index] as KubeObject;
        log('error', 'Also failed', { kind: o.kind, name: o.metadata.name, error: errorMessage(f.error) });
      }
      throw (failures[0] as { error: unknown }).error;
    }
  }
  return { created, existed };
}

/**
 * After the namespace's grants of ClusterRoles are created: waits (up to GRANT_WAIT_MS) until the
 * API server's authorizer lets this identity create in the namespace. With least privilege that
 * grant is custctl's own (doctor --print-rbac), and the authorizer learns of a new RoleBinding a
 * moment after it is stored; with a cluster-wide role the first answer is yes.
 */
export const GRANT_WAIT_MS = 10_000;
async function grantsInForce(kube: Kube, namespace: string, signal: AbortSignal, log: StepLog): Promise<void> {
  if (!kube.accessReview) return;
  const deadline = Date.now() + GRANT_WAIT_MS;
  for (let wait = 50; ; wait = Math.min(1_000, wait * 2)) {
    const [a] = await kube.accessReview([{ verb: 'create', resource: 'configmaps', group: '', namespace }], signal);
    if (a?.allowed) return;
    if (Date.now() >= deadline) {
      log('warn', 'The namespace\'s RoleBindings are created but this identity may not create in it yet; carrying on', { namespace });
      return;
    }
    await new Promise((r) => setTimeout(r, wait));
    signal.throwIfAborted();
  }
}

/**
 * The restore rules (domain/restore-rules.ts) applied to a loaded archive, with what they need
 * from the cluster: each kind's scope (discovery), the ClusterRoles and ClusterRoleBindings of the
 * names the archive holds, and what its Helm release records say. Throws RestoreRefusedError (exit
 * 2, every refused entry) before anything is created; returns when everything is the customer's.
 */
export async function admitRestore(b: LoadedBackup, customer: CustomerId, namespace: string, kube: Pick<Kube, 'isClusterScoped' | 'readClusterObject'>, signal?: AbortSignal, ownGrant?: OwnGrant): Promise<void> {
  const records: ReleaseRecordFacts[] = [];
  const recordEntries = b.objects.filter((a) => isHelmReleaseRecord(a.object));
  if (recordEntries.length) {
    const [{ decodeReleaseSecret }, { parseManifest }] = await Promise.all([import('../adapters/helm-storage.js'), import('../adapters/helm-manifest.js')]);
    for (const a of recordEntries) {
      try {
        const r = decodeReleaseSecret(a.object as ReleaseSecret, namespace);
        // read as helm reads it; a document that cannot be interpreted leaves the record's objects unknown
        const m = await parseManifest(r.manifest);
        const bad = m.unreadable[0];
        if (bad) records.push({ entry: a.entry, error: `the manifest of Helm release ${r.name}: document ${bad.index}${bad.source ? ` (${bad.source})` : ''} could not be read: ${bad.reason}` });
        else records.push({ entry: a.entry, release: r.name, namespace: r.namespace, objects: m.objects });
      } catch (e) {
        records.push({ entry: a.entry, error: errorMessage(e) });
      }
    }
  }
  const scopes = new Map<string, Scope>();
  const kinds = [...b.objects.map((a) => a.object), ...records.flatMap((r) => ('objects' in r ? r.objects : []))];
  for (const { apiVersion, kind } of kinds) {
    const k = scopeKey(apiVersion, kind);
    if (scopes.has(k)) continue;
    scopes.set(k, apiVersion === '' ? 'unknown' : (await kube.isClusterScoped(apiVersion, kind, signal)) ? 'cluster' : 'namespaced');
  }
  const live = new Map<string, RbacObject | null>();
  const rbacNames = [
    ...b.clusterObjects.map((a) => ({ apiVersion: a.object.apiVersion, kind: a.object.kind, name: a.object.metadata.name })),
    ...records.flatMap((r) => ('objects' in r ? r.objects : [])),
  ].filter((o) => o.apiVersion === RBAC_API && (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') && o.name !== '');
  for (const o of rbacNames) {
    const k = `${o.kind}/${o.name}`;
    if (live.has(k)) continue;
    const found = await kube.readClusterObject(RBAC_API, o.kind, o.name, signal);
    live.set(k, found ? rbacObjectOf(found) : null);
  }
  const refused = judgeRestore(
    { namespaceEntry: b.namespace, objects: b.objects, cluster: b.clusterObjects, row: b.row, otherEntries: b.otherEntries, releaseRecords: records },
    customer,
    namespace,
    { scope: (apiVersion, kind) => scopes.get(scopeKey(apiVersion, kind)) ?? 'unknown', live: (kind, name) => live.get(`${kind}/${name}`) ?? null, ...(ownGrant ? { ownGrant } : {}) },
  );
  if (refused.length) throw new RestoreRefusedError(customer.id, b.url, refused);
}

/** What a restore will create, and what it leaves to the controllers. */
export function restorePlan(b: LoadedBackup, customerId: string, namespace: string, row: CustomerRow, ownGrant?: OwnGrant): { view: RestorePlanView; objects: KubeObject[] } {
  const services = new Set(b.objects.filter((a) => a.object.kind === 'Service').map((a) => a.object.metadata.name));
  const skipped: RestorePlanView['skipped'] = [];
  const objects: KubeObject[] = [];
  for (const { object: o } of b.objects) {
    const why = skippedOnRestore(o, services) ?? ownGrantSkip(o, ownGrant);
    if (why) skipped.push({ kind: o.kind, name: o.metadata.name, reason: why });
    else objects.push({ ...o, metadata: { ...o.metadata, namespace } });
  }
  const create = new Map<string, number>();
  for (const o of objects) create.set(o.kind, (create.get(o.kind) ?? 0) + 1);
  const m = b.manifest;
  return {
    objects: sortForRestore(objects),
    view: {
      customerId,
      namespace,
      from: b.url,
      backup: { createdAt: m.createdAt, custctlVersion: m.custctlVersion, cluster: m.cluster, entries: m.entries.length, counts: m.counts, releases: m.releases, sha256: b.sha256, ...(b.encrypted ? { encrypted: true } : {}) },
      create: [...create].map(([kind, count]) => ({ kind, count })).sort((x, y) => y.count - x.count || x.kind.localeCompare(y.kind)),
      skipped,
      clusterRbac: b.clusterObjects.map((a) => `${a.object.kind}/${a.object.metadata.name}`),
      row: { status: row.deploymentStatus, change: `deployment_status ${row.deploymentStatus} → deployed; instance_namespace ${namespace}, instance_url ${b.row.instanceUrl || "''"}` },
    },
  };
}

/**
 * The checks before a restore touches anything: the row is `pending` (anything else means the
 * customer is deployed, being deleted or being installed), and the namespace does not exist —
 * unless `jobId` created it (an earlier attempt of the same job).
 */
export async function refuseRestore(customer: CustomerId, namespace: string, row: CustomerRow | null, prefix: string, kube: Kube, jobId: string | null, signal?: AbortSignal): Promise<CustomerRow> {
  if (!row) throw new NotFoundError(`customer ${customer.id} not found: a restore needs its row (status pending)`, ["Register it with 'custctl customers add' first."]);
  if (row.deploymentStatus !== 'pending') {
    throw new ConflictError(`customer ${customer.id} is ${row.deploymentStatus}, not pending: refusing to restore over it`, [
      'A restore brings back a deleted customer; its row must be pending (as a deletion leaves it).',
    ], { permanent: true });
  }
  if (row.instanceNamespace) checkRowNamespace(customer, row.instanceNamespace, prefix);
  const ns = await kube.readClusterObject('v1', 'Namespace', namespace, signal);
  if (ns && !(jobId && ns.metadata.annotations?.[RESTORED_BY] === jobId)) {
    throw new ConflictError(`namespace ${namespace} exists: refusing to restore into it`, [
      'A restore creates the namespace itself; delete what is there first (custctl delete) if it should be replaced.',
    ], { permanent: true });
  }
  return row;
}

export interface RestoreAttempt {
  job: Job;
  customer: CustomerId;
  namespace: string;
  prefix: string;
  signal: AbortSignal;
  progress(n: number): Promise<void>;
  log: StepLog;
  now: () => number;
}

export async function runRestoreAttempt(a: RestoreAttempt, store: CustomerStore, env: RestoreEnv): Promise<RestoreResult> {
  const started = a.now();
  const { job, customer, namespace, signal, log } = a;
  const from = job.data.from;
  if (!from) throw new OperationError(`restore job ${job.id} names no backup (data.from)`, [], { permanent: true });
  const current = await store.get(customer.id);
  // an earlier attempt of this job finished (row deployed into the namespace it created): done
  if (current?.deploymentStatus === 'deployed' && current.instanceNamespace === namespace) {
    const ns = await env.kube.readClusterObject('v1', 'Namespace', namespace, signal);
    if (ns?.metadata.annotations?.[RESTORED_BY] === job.id) {
      log('ok', 'Restore already finished by an earlier attempt of this job', { customerId: customer.id });
      return { customerId: customer.id, namespace, jobId: job.id, from, created: 0, existed: 0, skipped: 0, clusterRbac: [], releases: [], row: { status: 'deployed' }, durationMs: a.now() - started };
    }
  }
  const row = await refuseRestore(customer, namespace, current, a.prefix, env.kube, job.id, signal);
  log('info', 'Starting restore', { customerId: customer.id, namespace, from, job: job.id });
  const backup = await loadBackup(from, customer.id, env.backups, signal, env.identities ?? [], {
    ...(job.data.sha256 !== undefined ? { expectSha256: job.data.sha256 } : {}),
    ...(job.data.trustLocation ? { trustLocation: true } : {}),
    log,
  });
  log('ok', 'Backup verified', { url: backup.url, entries: backup.manifest.entries.length, created: backup.manifest.createdAt });
  // nothing is created before every entry is judged the customer's
  await admitRestore(backup, customer, namespace, env.kube, signal, env.ownGrant);
  await a.progress(5);

  const { objects } = restorePlan(backup, customer.id, namespace, row, env.ownGrant);
  const nsObject: KubeObject = backup.namespace
    ? { ...backup.namespace.object, metadata: { ...backup.namespace.object.metadata, name: namespace } }
    : { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } };
  nsObject.metadata.annotations = { ...(nsObject.metadata.annotations ?? {}), [RESTORED_BY]: job.id };
  await env.kube.createObject(nsObject, signal);
  log('info', 'Namespace created', { namespace });

  const { created, existed } = await createInTiers(objects, env.kube, signal, log, env.concurrency ?? RESTORE_CONCURRENCY,
    () => grantsInForce(env.kube, namespace, signal, log));
  log('ok', 'Namespaced objects restored', { created, existed, skipped: backup.objects.length - objects.length });
  await a.progress(70);

  const rbac: string[] = [];
  for (const { object: o } of backup.clusterObjects) {
    await env.kube.createObject(o, signal);
    rbac.push(`${o.kind}/${o.metadata.name}`);
  }
  if (rbac.length) log('ok', 'Cluster RBAC restored', { objects: rbac.join(', ') });
  await a.progress(85);

  const audit = {
    action: 'customer-restored' as const, actor: job.requestedBy, customerId: customer.id, namespace, jobId: job.id,
    outcome: 'restored', reason: `from ${backup.url}: ${created} objects created, ${existed} already there, cluster RBAC ${rbac.length}`,
  };
  if (!(await store.completeRestore(customer.id, namespace, backup.row.instanceUrl, audit))) {
    throw new ConflictError(`the row of ${customer.id} changed while it was being restored (no longer pending): the objects are back, the row is not`, [
      `Look at it with 'custctl status customer ${customer.id}'.`,
    ], { permanent: true });
  }
  log('ok', 'Customer restored', { customerId: customer.id, namespace, status: 'deployed' });
  return {
    customerId: customer.id,
    namespace,
    jobId: job.id,
    from: backup.url,
    created,
    existed,
    skipped: backup.objects.length - objects.length,
    clusterRbac: rbac,
    releases: backup.manifest.releases,
    row: { status: 'deployed' },
    durationMs: a.now() - started,
  };
}
