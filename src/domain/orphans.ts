/**
 * Orphaned cluster RBAC (DESIGN "Names and ownership"): which ClusterRoles and
 * ClusterRoleBindings belong to a customer instance that no longer exists, and which of those
 * must stay anyway. Pure: the caller lists the cluster and the store once and passes it all in.
 */
import { RELEASE_NAMESPACE_ANNOTATION, RESOURCE_POLICY_ANNOTATION, keptByPolicy, keyFromOpenCostName, type RbacKind, type RbacObject } from './rbac-owner.js';

const KEY = /^[a-z0-9]{1,44}$/;
const CUSTOMER_ID = /^cust_([a-z0-9]{1,44})$/;

export interface OrphanInputRow {
  customerId: string;
  deploymentStatus: string;
  instanceNamespace: string;
}

export interface FindOrphansInput {
  roles: readonly RbacObject[];
  bindings: readonly RbacObject[];
  /** every namespace that exists (Terminating included: it still exists) */
  namespaces: ReadonlySet<string>;
  /** every customer row */
  rows: readonly OrphanInputRow[];
  /** CUSTCTL_NAMESPACE_PREFIX, e.g. `customer-` */
  prefix: string;
  /** `--customer`: only this customer's objects are considered */
  onlyKey?: string;
  /** `--include-kept`: objects annotated helm.sh/resource-policy: keep are orphans too */
  includeKept: boolean;
}

/** One object in the report: the same shape for orphans, deleted and kept (a stable JSON contract). */
export interface RbacReportEntry {
  kind: RbacKind;
  name: string;
  /** the customer key the object belongs to (`abc123` for cust_abc123) */
  customerKey: string;
  /** the customer namespace, `<prefix><key>` */
  namespace: string;
  /** which rule matched and why it is an orphan (or why it stays) */
  reason: string;
  /** the cluster the object is on (its name in the fleet); set by the sweep, not by findOrphans */
  cluster?: string;
}

export interface OrphanReport {
  /** to delete (bindings and roles; sorted by customer, bindings first, then name) */
  orphans: RbacReportEntry[];
  /** reported, never deleted */
  kept: RbacReportEntry[];
}

export type OwnerMark = { rule: 'annotation'; key: string; value: string } | { rule: 'name'; key: string };

/**
 * The customer marks an object carries: its helm annotation `meta.helm.sh/release-namespace` is
 * exactly `<prefix><key>`, and/or its name matches `^c<key>-customer-instance(-.*)?$` exactly.
 * Never a substring: `xcabc123-customer-instance-opencost` and `cabc123-customer-instancex` carry none.
 */
export function ownerMarks(obj: RbacObject, prefix: string): OwnerMark[] {
  const marks: OwnerMark[] = [];
  const value = obj.annotations[RELEASE_NAMESPACE_ANNOTATION];
  if (value !== undefined && value.startsWith(prefix) && KEY.test(value.slice(prefix.length))) {
    marks.push({ rule: 'annotation', key: value.slice(prefix.length), value });
  }
  const nameKey = keyFromOpenCostName(obj.name);
  if (nameKey !== null) marks.push({ rule: 'name', key: nameKey });
  return marks;
}

function describeMark(m: OwnerMark): string {
  return m.rule === 'annotation' ? `annotation ${RELEASE_NAMESPACE_ANNOTATION}=${m.value}` : `name matches ^c${m.key}-customer-instance(-.*)?$`;
}

interface Customer {
  row?: OrphanInputRow;
}

/**
 * A customer is live when its namespace exists, when billing is deploying it right now, or when its
 * row says `deployed` with a namespace (a deployed customer whose namespace is missing more likely
 * means the wrong cluster than a leak: its RBAC is left alone).
 */
function liveness(key: string, namespace: string, c: Customer, namespaces: ReadonlySet<string>): { live: boolean; why: string } {
  if (namespaces.has(namespace)) return { live: true, why: `namespace ${namespace} exists` };
  const row = c.row;
  if (row?.deploymentStatus === 'deploying') return { live: true, why: `customer cust_${key} is deploying` };
  if (row?.deploymentStatus === 'deployed' && row.instanceNamespace !== '') return { live: true, why: `customer cust_${key} is deployed in ${row.instanceNamespace}` };
  return { live: false, why: `namespace ${namespace} not found; ${row ? `customer cust_${key} is ${row.deploymentStatus}` : `no customer row cust_${key}`}` };
}

const KIND_ORDER: Record<RbacKind, number> = { ClusterRoleBinding: 0, ClusterRole: 1 };

/** Customer, then bindings before roles (the deletion order), then name. */
export function compareEntries(a: Pick<RbacReportEntry, 'customerKey' | 'kind' | 'name'>, b: Pick<RbacReportEntry, 'customerKey' | 'kind' | 'name'>): number {
  if (a.customerKey !== b.customerKey) return a.customerKey < b.customerKey ? -1 : 1;
  if (a.kind !== b.kind) return KIND_ORDER[a.kind] - KIND_ORDER[b.kind];
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

interface Candidate {
  obj: RbacObject;
  entry: RbacReportEntry;
  /** kept by helm.sh/resource-policy: keep (and not --include-kept) */
  keptByPolicy: boolean;
}

/**
 * Classifies every ClusterRole and ClusterRoleBinding:
 * - an object with a customer mark whose customers are all gone (namespace missing, not deploying,
 *   not deployed-with-namespace) is an orphan;
 * - an orphan annotated `helm.sh/resource-policy: keep` is kept ("kept by policy") unless includeKept;
 * - a binding with no mark that references an orphaned role is kept (never deleted);
 * - an orphaned role still referenced by a binding that is not deleted in this sweep is kept;
 * - everything else (no mark, a live customer, another customer than onlyKey) is not listed.
 */
export function findOrphans(input: FindOrphansInput): OrphanReport {
  const { prefix } = input;
  const customers = new Map<string, Customer>();
  for (const row of input.rows) {
    const m = CUSTOMER_ID.exec(row.customerId);
    if (m?.[1]) customers.set(m[1], { row });
  }
  const customer = (key: string): Customer => customers.get(key) ?? {};

  const candidates: Candidate[] = [];
  for (const obj of [...input.bindings, ...input.roles]) {
    const marks = ownerMarks(obj, prefix);
    if (marks.length === 0) continue;
    const keys = [...new Set(marks.map((m) => m.key))];
    if (input.onlyKey !== undefined && !keys.includes(input.onlyKey)) continue;
    const states = keys.map((k) => ({ key: k, ...liveness(k, `${prefix}${k}`, customer(k), input.namespaces) }));
    if (states.some((s) => s.live)) continue; // belongs to a live customer: never touched, not listed
    const key = input.onlyKey ?? (marks[0] as OwnerMark).key;
    const reason = `${marks.map(describeMark).join(' and ')}; ${states.map((s) => s.why).join('; ')}`;
    const policy = keptByPolicy(obj);
    candidates.push({
      obj,
      keptByPolicy: policy && !input.includeKept,
      entry: {
        kind: obj.kind,
        name: obj.name,
        customerKey: key,
        namespace: `${prefix}${key}`,
        reason: policy
          ? input.includeKept
            ? `${reason}; ${RESOURCE_POLICY_ANNOTATION}: keep, deleted because of --include-kept`
            : `kept by policy (${RESOURCE_POLICY_ANNOTATION}: keep); ${reason}`
          : reason,
      },
    });
  }

  const kept: RbacReportEntry[] = candidates.filter((c) => c.keptByPolicy).map((c) => c.entry);
  const deletedBindings = new Set(candidates.filter((c) => !c.keptByPolicy && c.obj.kind === 'ClusterRoleBinding').map((c) => c.obj.name));
  const candidateRoles = new Map(candidates.filter((c) => c.obj.kind === 'ClusterRole').map((c) => [c.obj.name, c] as const));

  // unmarked bindings that reference a customer's orphaned role: reported, never deleted
  for (const b of input.bindings) {
    if (b.roleRef?.kind !== 'ClusterRole' || ownerMarks(b, prefix).length > 0) continue;
    const role = candidateRoles.get(b.roleRef.name);
    if (!role) continue;
    kept.push({
      kind: 'ClusterRoleBinding',
      name: b.name,
      customerKey: role.entry.customerKey,
      namespace: role.entry.namespace,
      reason: `carries no ownership mark (neither ${RELEASE_NAMESPACE_ANNOTATION} nor a c<key>-customer-instance name) but references orphaned ClusterRole ${b.roleRef.name}: never deleted`,
    });
  }

  const orphans: RbacReportEntry[] = [];
  for (const c of candidates) {
    if (c.keptByPolicy) continue;
    if (c.obj.kind === 'ClusterRole') {
      const staying = input.bindings
        .filter((b) => b.roleRef?.kind === 'ClusterRole' && b.roleRef.name === c.obj.name && !deletedBindings.has(b.name))
        .map((b) => b.name)
        .sort();
      if (staying.length > 0) {
        kept.push({ ...c.entry, reason: `${c.entry.reason}; still bound by ClusterRoleBinding ${staying.join(', ')}, which stays: not deleted` });
        continue;
      }
    }
    orphans.push(c.entry);
  }
  return { orphans: orphans.sort(compareEntries), kept: kept.sort(compareEntries) };
}
