/** In-memory fakes of the project's own interfaces, for unit tests (never the only proof). */
import type { Kube, NamespaceInfo, PvcInfo, Workload } from '../../src/adapters/kube.js';
import type { Helm, HelmRelease, ManifestObject, ReleaseContents } from '../../src/adapters/helm.js';
import type { AuditEntry, AuditFilter, AuditRecord, ClaimResult, CustomerRow, CustomerStore, NewCustomer } from '../../src/adapters/store.js';
import { DELETABLE_STATUSES } from '../../src/adapters/store.js';
import type { RbacKind, RbacObject } from '../../src/domain/rbac-owner.js';
import type { KubeObject } from '../../src/domain/backup.js';
import type { Job } from '../../src/domain/job.js';
import { ConflictError } from '../../src/errors.js';

export class FakeKube implements Kube {
  readonly target = { context: 'fake', server: 'https://127.0.0.1:1', kubeconfig: '/dev/null' };
  namespaces = new Map<string, NamespaceInfo>();
  rbac: RbacObject[] = [];
  pvcs = new Map<string, PvcInfo[]>();
  calls: string[] = [];
  /** namespaces that never go away (a stuck finalizer) */
  stuck = new Set<string>();
  failRbacDelete = false;

  addNamespace(name: string, uid = `uid-${name}`): void {
    this.namespaces.set(name, { name, uid, phase: 'Active', conditions: [], finalizers: ['kubernetes'] });
  }
  async getNamespace(name: string) {
    this.calls.push(`get ns/${name}`);
    return this.namespaces.get(name) ?? null;
  }
  async deleteNamespace(name: string, uid: string) {
    this.calls.push(`delete ns/${name}`);
    const ns = this.namespaces.get(name);
    if (!ns) return 'not-found' as const;
    if (ns.uid !== uid) throw new ConflictError('uid mismatch');
    if (this.stuck.has(name)) ns.phase = 'Terminating';
    else this.namespaces.delete(name);
    return 'deleted' as const;
  }
  async waitNamespaceGone(name: string) {
    this.calls.push(`watch ns/${name}`);
    return this.namespaces.has(name) ? ('timeout' as const) : ('gone' as const);
  }
  async listClusterRbac() {
    this.calls.push('list rbac');
    return this.rbac.map((o) => ({ ...o }));
  }
  async deleteClusterRbac(kind: RbacKind, name: string) {
    this.calls.push(`delete ${kind}/${name}`);
    if (this.failRbacDelete) throw new Error('forbidden');
    const i = this.rbac.findIndex((o) => o.kind === kind && o.name === name);
    if (i < 0) return 'not-found' as const;
    this.rbac.splice(i, 1);
    return 'deleted' as const;
  }
  async listPvcs(ns: string) {
    this.calls.push(`list pvc/${ns}`);
    return this.pvcs.get(ns) ?? [];
  }
  async countNamespaceObjects(ns: string) {
    this.calls.push(`count ${ns}`);
    return this.namespaces.has(ns) ? [{ resource: 'configmaps', kind: 'ConfigMap', count: 1, finalizers: ['custctl.test/stuck'] }] : [];
  }
  async isClusterScoped(_apiVersion: string, kind: string) {
    return ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Namespace', 'StorageClass'].includes(kind);
  }
  async listNamespaceNames() {
    return [...this.namespaces.keys()];
  }
  async listHelmReleaseRecords() {
    return [];
  }
  /** namespace → its Deployments, StatefulSets and CronJobs */
  workloads = new Map<string, Workload[]>();
  async listWorkloads(ns: string) {
    this.calls.push(`list workloads/${ns}`);
    return (this.workloads.get(ns) ?? []).map((w) => ({ ...w, annotations: { ...w.annotations } }));
  }
  async patchWorkload(ns: string, w: Pick<Workload, 'kind' | 'name' | 'resourceVersion'>, patch: Record<string, unknown>) {
    this.calls.push(`patch ${w.kind}/${ns}/${w.name}`);
    const it = (this.workloads.get(ns) ?? []).find((x) => x.kind === w.kind && x.name === w.name);
    if (!it) return 'not-found' as const;
    if (it.resourceVersion !== w.resourceVersion) throw new ConflictError('resourceVersion changed');
    const meta = (patch.metadata ?? {}) as { annotations?: Record<string, string | null> };
    for (const [k, v] of Object.entries(meta.annotations ?? {})) {
      if (v === null) delete it.annotations[k];
      else it.annotations[k] = v;
    }
    const spec = (patch.spec ?? {}) as { replicas?: number; suspend?: boolean };
    if (spec.replicas !== undefined) it.replicas = spec.replicas;
    if (spec.suspend !== undefined) it.suspend = spec.suspend;
    it.resourceVersion = String(Number(it.resourceVersion) + 1);
    return 'patched' as const;
  }
  /** objects by namespace, for backups */
  objects = new Map<string, KubeObject[]>();
  created: KubeObject[] = [];
  async exportNamespaceObjects(ns: string) {
    this.calls.push(`export ${ns}`);
    return (this.objects.get(ns) ?? []).map((o) => JSON.parse(JSON.stringify(o)) as KubeObject);
  }
  async readClusterObject(apiVersion: string, kind: string, name: string) {
    this.calls.push(`read ${kind}/${name}`);
    if (kind === 'Namespace') return this.namespaces.has(name) ? { apiVersion, kind, metadata: { name } } : null;
    return this.rbac.some((o) => o.kind === kind && o.name === name) ? { apiVersion, kind, metadata: { name } } : null;
  }
  async createObject(o: KubeObject) {
    this.calls.push(`create ${o.kind}/${o.metadata.name}`);
    this.created.push(o);
    if (o.kind === 'Namespace') this.addNamespace(o.metadata.name);
    return 'created' as const;
  }
}

type FakeRelease = HelmRelease & { objects: ManifestObject[]; unreadable: ReleaseContents['unreadable']; deleteHooks: NonNullable<ReleaseContents['deleteHooks']> };

export class FakeHelm implements Helm {
  releases = new Map<string, FakeRelease[]>();
  calls: string[] = [];
  /** false: records as a driver outside the namespace keeps them (helm runs for every release) */
  recordsInNamespace = true;
  /** the helm binary is missing: ensureAvailable and uninstall fail */
  missing = false;
  constructor(private readonly kube?: FakeKube) {}

  install(name: string, namespace: string, objects: ManifestObject[] = [], o: { deleteHooks?: FakeRelease['deleteHooks']; unreadable?: FakeRelease['unreadable'] } = {}): void {
    const list = this.releases.get(namespace) ?? [];
    list.push({ name, namespace, status: 'deployed', chart: 'customer-instance-0.1.0', revision: '1', objects, unreadable: o.unreadable ?? [], deleteHooks: o.deleteHooks ?? [] });
    this.releases.set(namespace, list);
  }
  async ensureAvailable() {
    this.calls.push('locate');
    if (this.missing) throw new Error('helm not found: HELM_BIN=fake');
  }
  async listReleases(ns: string) {
    this.calls.push(`list ${ns}`);
    return (this.releases.get(ns) ?? []).map(({ objects: _o, unreadable: _u, deleteHooks: _h, ...r }) => r);
  }
  async readRelease(name: string, ns: string): Promise<ReleaseContents> {
    this.calls.push(`manifest ${name}`);
    const r = this.releases.get(ns)?.find((x) => x.name === name);
    return { objects: r?.objects ?? [], unreadable: r?.unreadable ?? [], deleteHooks: this.recordsInNamespace ? r?.deleteHooks ?? [] : null };
  }
  async uninstall(name: string, ns: string) {
    this.calls.push(`uninstall ${name} -n ${ns}`);
    if (this.missing) throw new Error('helm not found: HELM_BIN=fake');
    const list = this.releases.get(ns) ?? [];
    const r = list.find((x) => x.name === name);
    if (!r) return 'not-found' as const;
    this.releases.set(ns, list.filter((x) => x !== r));
    if (this.kube) this.kube.rbac = this.kube.rbac.filter((o) => !r.objects.some((m) => m.kind === o.kind && m.name === o.name));
    return 'uninstalled' as const;
  }
}

export class FakeStore implements CustomerStore {
  readonly description: string = 'fake://store';
  readonly kind = 'postgres' as const;
  rows = new Map<string, CustomerRow>();
  /** the audit log, oldest first (the real store's rule: a row change records its entry only when it changed) */
  audit: AuditRecord[] = [];
  private nextId = 1;

  private record(e: AuditEntry | undefined, rowStatus: string | null): void {
    if (!e) return;
    this.audit.push({
      id: this.audit.length + 1, at: new Date().toISOString(), actor: e.actor, actorLabel: e.actorLabel ?? null, dbUser: null,
      seq: null, prevHash: null, hash: null, action: e.action,
      customerId: e.customerId ?? null, namespace: e.namespace ?? null, jobId: e.jobId ?? null, outcome: e.outcome ?? null,
      rowStatus, deleted: e.deleted ?? null, reason: e.reason ?? null,
    });
  }
  async appendAudit(e: AuditEntry) {
    this.record(e, null);
  }
  async listAudit(f: AuditFilter) {
    return this.audit.filter((a) => (!f.customerId || a.customerId === f.customerId) && (!f.since || a.at >= f.since.toISOString())
      && (!f.actions?.length || f.actions.includes(a.action))).reverse().slice(0, f.limit ?? 1000);
  }
  async pruneAudit(before: Date, actor: string) {
    const n = this.audit.filter((a) => a.at < before.toISOString()).length;
    this.audit = this.audit.filter((a) => a.at >= before.toISOString());
    this.record({ action: 'audit-pruned', actor, deleted: { auditRows: n } }, null);
    return n;
  }

  async get(id: string) {
    const r = this.rows.get(id);
    return r ? { ...r } : null;
  }
  async list() {
    return [...this.rows.values()].map((r) => ({ ...r }));
  }
  async add(n: NewCustomer, audit?: AuditEntry) {
    if (this.rows.has(n.customerId)) throw new ConflictError('duplicate');
    const now = new Date().toISOString();
    const row: CustomerRow = { id: this.nextId++, ...n, deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: now, updatedAt: now };
    this.rows.set(n.customerId, row);
    this.record(audit, row.deploymentStatus);
    return { ...row };
  }
  async claimForDeletion(customerId: string, jobId: string, o: { force: boolean; expectJobId?: string; scheduledAt?: Date; audit?: AuditEntry }): Promise<ClaimResult> {
    const row = this.rows.get(customerId);
    if (!row) return { ok: false, reason: 'not-found' };
    const before = { ...row };
    const ok = DELETABLE_STATUSES.includes(row.deploymentStatus) || (o.force && row.deploymentStatus === 'deploying')
      || (o.expectJobId !== undefined && row.deletionJobId === o.expectJobId && (row.deploymentStatus === 'deletion_failed' || row.deploymentStatus === 'deleting'));
    if (!ok) return { ok: false, reason: row.deploymentStatus === 'deploying' ? 'deploying' : row.deploymentStatus === 'deleting' ? 'deleting' : 'status', row: before };
    const again = o.expectJobId !== undefined && row.deletionJobId === o.expectJobId;
    if (!again) row.previousStatus = row.deploymentStatus;
    if (!again) row.deletionScheduledAt = o.scheduledAt ? o.scheduledAt.toISOString() : null;
    row.deploymentStatus = 'deleting';
    row.deletionJobId = jobId;
    this.record(o.audit, 'deleting');
    return { ok: true, before, after: { ...row } };
  }
  async isOwnedBy(customerId: string, jobId: string) {
    const r = this.rows.get(customerId);
    return r?.deploymentStatus === 'deleting' && r.deletionJobId === jobId;
  }
  async completeDeletion(customerId: string, jobId: string, audit?: AuditEntry) {
    if (!(await this.isOwnedBy(customerId, jobId))) return false;
    Object.assign(this.rows.get(customerId) as CustomerRow, { deploymentStatus: 'pending', instanceNamespace: '', instanceUrl: '', deletionScheduledAt: null });
    this.record(audit, 'pending');
    return true;
  }
  async completeRestore(customerId: string, namespace: string, url: string, audit?: AuditEntry) {
    const r = this.rows.get(customerId);
    if (r?.deploymentStatus !== 'pending') return false;
    Object.assign(r, { deploymentStatus: 'deployed', instanceNamespace: namespace, instanceUrl: url, deletionJobId: null, previousStatus: null });
    this.record(audit, 'deployed');
    return true;
  }
  async failDeletion(customerId: string, jobId: string, audit?: AuditEntry) {
    if (!(await this.isOwnedBy(customerId, jobId))) return false;
    Object.assign(this.rows.get(customerId) as CustomerRow, { deploymentStatus: 'deletion_failed', deletionScheduledAt: null });
    this.record(audit, 'deletion_failed');
    return true;
  }
  async releaseDeletion(customerId: string, jobId: string, audit?: AuditEntry) {
    if (!(await this.isOwnedBy(customerId, jobId))) return false;
    const r = this.rows.get(customerId) as CustomerRow;
    r.deploymentStatus = r.previousStatus ?? 'deletion_failed'; // as the real store
    r.deletionJobId = null;
    r.previousStatus = null;
    r.deletionScheduledAt = null;
    this.record(audit, r.deploymentStatus);
    return true;
  }
  async checkSchema() {
    return [];
  }
  async migrate() {
    return [];
  }
  async ping() {}
  async close() {}
}

/** A delete job in its first attempt, as the runner hands it to the pipeline. */
export function runningDeleteJob(customerId: string, namespace: string, opts: Partial<Job['opts']> = {}, over: Partial<Job> = {}): Job {
  return {
    id: '7', name: 'delete', state: 'active', progress: 0, data: { customerId, namespace },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 60_000, waitTimeoutMs: 1_000, ...opts },
    attemptsMade: 0, maxAttempts: 3, delayUntil: null, failedReason: null, failedCode: null, stacktrace: [], returnvalue: null,
    requestedBy: 'test', simulated: false, timestamp: 0, processedOn: 0, finishedOn: null,
    attempts: [{ attempt: 1, startedOn: 0, finishedOn: null, worker: 'w', outcome: 'running', log: [] }], lease: null, ...over,
  };
}
