// `custctl cleanup-rbac` (issue 6) on the real test cluster, through the built bin/custctl.js.
// Serial project: it lists cluster-wide RBAC. Assertions are scoped to the objects this file creates
// (random keys), plus the decoys and the cluster's own roles, which must survive.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { db, ensureCustomersTable, kubectl, provisionCustomer, randomKey, rbacApi, waitFor } from '../support/fixtures.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** the built CLI; CUSTCTL_TEST_CLI points elsewhere only while developing */
const CLI = process.env.CUSTCTL_TEST_CLI ?? path.join(repoRoot, 'bin/custctl.js');
const REL = 'meta.helm.sh/release-namespace';
const KEEP = { 'helm.sh/resource-policy': 'keep' };

interface Entry { kind: string; name: string; customerKey: string; namespace: string; reason: string }
interface Report { dryRun: boolean; simulated: boolean; jobId?: string | null; orphans: Entry[]; deleted: Entry[]; kept: Entry[]; errors: Array<{ kind: string; name: string; error: string }> }
interface CliResult { exitCode: number; stdout: string; stderr: string }

let stateDir: string;

async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'CUSTCTL_STORE', 'CUSTCTL_NAMESPACE_PREFIX', 'NO_COLOR']) delete base[k];
  const r = await execa('node', [CLI, ...args], {
    reject: false,
    timeout: 120_000,
    env: {
      ...base,
      KUBECONFIG: inject('kubeconfig'),
      DATABASE_URL: inject('databaseUrl'),
      HELM_BIN: inject('helmBin'),
      CUSTCTL_STATE_DIR: stateDir,
      ...env,
    },
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function report(r: CliResult): Report {
  try {
    return JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`not JSON (exit ${r.exitCode}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

const ids = (entries: Entry[]): string[] => entries.map((e) => `${e.kind}/${e.name}`).sort();

// ---------------------------------------------------------------------------------------------
// cluster objects

interface Obj { kind: 'ClusterRole' | 'ClusterRoleBinding'; name: string; annotations?: Record<string, string>; roleRef?: string }
const role = (name: string, annotations: Record<string, string> = {}): Obj => ({ kind: 'ClusterRole', name, annotations });
const binding = (name: string, roleRef: string, annotations: Record<string, string> = {}): Obj => ({ kind: 'ClusterRoleBinding', name, annotations, roleRef });
const idOf = (o: Obj): string => `${o.kind}/${o.name}`;

async function create(objs: readonly Obj[]): Promise<void> {
  const api = rbacApi();
  const one = async (o: Obj): Promise<void> => {
    const metadata = { name: o.name, annotations: o.annotations ?? {}, labels: { 'custctl.test/file': 'cleanup-rbac' } };
    if (o.kind === 'ClusterRole') {
      await api.createClusterRole({ body: { metadata, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] } });
    } else {
      await api.createClusterRoleBinding({ body: {
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: o.roleRef ?? '' },
        subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: 'default' }],
      } });
    }
  };
  for (let i = 0; i < objs.length; i += 16) await Promise.all(objs.slice(i, i + 16).map(one));
}

async function removeAll(objs: readonly Obj[]): Promise<void> {
  const api = rbacApi();
  const one = async (o: Obj): Promise<void> => {
    await (o.kind === 'ClusterRole' ? api.deleteClusterRole({ name: o.name }) : api.deleteClusterRoleBinding({ name: o.name })).catch(() => undefined);
  };
  for (let i = 0; i < objs.length; i += 16) await Promise.all(objs.slice(i, i + 16).map(one));
}

/** Which of `objs` exist now (`Kind/name`), sorted. */
async function existing(objs: readonly Obj[]): Promise<string[]> {
  const api = rbacApi();
  const [roles, bindings] = await Promise.all([api.listClusterRole(), api.listClusterRoleBinding()]);
  const have = new Set([
    ...roles.items.map((r) => `ClusterRole/${r.metadata?.name ?? ''}`),
    ...bindings.items.map((b) => `ClusterRoleBinding/${b.metadata?.name ?? ''}`),
  ]);
  return objs.map(idOf).filter((id) => have.has(id)).sort();
}

async function addRows(rows: Array<{ key: string; status: string; namespace?: string }>): Promise<void> {
  if (rows.length === 0) return;
  const values: unknown[] = [];
  const tuples = rows.map((r, i) => {
    values.push(`cust_${r.key}`, `${r.key}@example.test`, `Test ${r.key}`, r.status, r.namespace ?? '');
    const b = i * 5;
    return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5})`;
  });
  await db().query(`insert into customers (customer_id, email, company_name, deployment_status, instance_namespace) values ${tuples.join(', ')}`, values);
}

// ---------------------------------------------------------------------------------------------
// users with their own client certificates (signed by this run's CA)

async function userKubeconfig(user: string, groups: string[] = []): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'custctl-user-'));
  const ca = path.join(inject('runDir'), 'certs');
  const subject = `${groups.map((g) => `/O=${g}`).join('')}/CN=${user}`;
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'u.key'], { cwd: dir });
  await run('openssl', ['req', '-new', '-key', 'u.key', '-subj', subject, '-out', 'u.csr'], { cwd: dir });
  await writeFile(path.join(dir, 'u.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n');
  await run('openssl', ['x509', '-req', '-in', 'u.csr', '-CA', path.join(ca, 'ca.crt'), '-CAkey', path.join(ca, 'ca.key'), '-CAcreateserial',
    '-CAserial', path.join(dir, 'ca.srl'), '-days', '1', '-sha256', '-extfile', 'u.ext', '-out', 'u.crt'], { cwd: dir });
  const b64 = (f: string): string => readFileSync(path.join(dir, f)).toString('base64');
  const file = path.join(dir, 'kubeconfig');
  await writeFile(file, stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: inject('apiServer'), 'certificate-authority-data': readFileSync(path.join(ca, 'ca.crt')).toString('base64') } }],
    users: [{ name: user, user: { 'client-certificate-data': b64('u.crt'), 'client-key-data': b64('u.key') } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user } }],
    'current-context': 'test',
  }), { mode: 0o600 });
  return file;
}

/** The API requests the audit log recorded for `user` (one per auditID). */
function auditedRequests(user: string): Array<{ verb: string; uri: string }> {
  const seen = new Map<string, { verb: string; uri: string }>();
  for (const line of readFileSync(inject('auditLog'), 'utf8').split('\n')) {
    if (!line.includes(user)) continue;
    const ev = JSON.parse(line) as { auditID: string; verb: string; requestURI: string; user?: { username?: string } };
    if (ev.user?.username === user) seen.set(ev.auditID, { verb: ev.verb, uri: ev.requestURI });
  }
  return [...seen.values()];
}

// ---------------------------------------------------------------------------------------------
// the scene

const live1 = randomKey('crl');
const live2 = randomKey('crl');
const deploying = randomKey('crd');
const gone = { a: randomKey('cra'), b: randomKey('crb'), c: randomKey('crc'), e: randomKey('cre') };
const tag = randomKey('crx');

/** orphans of deleted customers: a annotation-only (no row), b name-only (row pending), c both kinds plus kept ones */
const orphanA = [role(`metrics-${gone.a}`, { [REL]: `customer-${gone.a}` }), binding(`metrics-${gone.a}`, `metrics-${gone.a}`, { [REL]: `customer-${gone.a}` })];
const orphanB = [role(`c${gone.b}-customer-instance-opencost`), binding(`c${gone.b}-customer-instance-opencost`, `c${gone.b}-customer-instance-opencost`)];
const orphanC = [role(`c${gone.c}-customer-instance-opencost`), binding(`c${gone.c}-customer-instance-opencost`, `c${gone.c}-customer-instance-opencost`),
  role(`reader-${gone.c}`, { [REL]: `customer-${gone.c}` })];
const keptC = {
  policy: role(`c${gone.c}-customer-instance-keep`, KEEP),
  shared: role(`c${gone.c}-customer-instance-shared`),
  unmarked: binding(`unmarked-${gone.c}`, `c${gone.c}-customer-instance-shared`),
};
/** for the permission test */
const orphanE = [role(`c${gone.e}-customer-instance-opencost`), binding(`c${gone.e}-customer-instance-opencost`, `c${gone.e}-customer-instance-opencost`)];
/** must survive everything */
const decoys = [
  role(`xc${gone.b}-customer-instance-opencost`), binding(`xc${gone.b}-customer-instance-opencost`, `xc${gone.b}-customer-instance-opencost`),
  role(`c${gone.b}-customer-instancex`),
  role(`mon-${tag}`, { [REL]: 'monitoring' }), binding(`mon-${tag}`, `mon-${tag}`, { [REL]: 'monitoring' }),
];
const deployingRbac = [role(`c${deploying}-customer-instance-opencost`), binding(`c${deploying}-customer-instance-opencost`, `c${deploying}-customer-instance-opencost`)];
const liveRbac = [live1, live2].flatMap((k) => [role(`c${k}-customer-instance-opencost`), binding(`c${k}-customer-instance-opencost`, `c${k}-customer-instance-opencost`)]);
const systemRbac = [role('cluster-admin'), binding('cluster-admin', 'cluster-admin'), role('system:controller:namespace-controller'), binding('system:controller:namespace-controller', '')];
const created = [...orphanA, ...orphanB, ...orphanC, keptC.policy, keptC.shared, keptC.unmarked, ...orphanE, ...decoys, ...deployingRbac];
const mustSurvive = [...decoys, ...deployingRbac, ...liveRbac, ...systemRbac];
const allMine = [...created, ...liveRbac];

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), 'custctl-cleanup-rbac-'));
  await ensureCustomersTable();
  // live customers: the chart's RBAC carries both marks (helm annotation and the opencost name)
  await Promise.all([provisionCustomer(live1), provisionCustomer(live2)]);
  await addRows([
    { key: deploying, status: 'deploying' },
    { key: gone.b, status: 'pending' },
    { key: gone.c, status: 'deletion_failed', namespace: `customer-${gone.c}` },
    { key: gone.e, status: 'pending' },
  ]);
  await create(created);
}, 240_000);

afterAll(async () => {
  await removeAll(created);
  for (const k of [live1, live2]) {
    await kubectl(['delete', 'namespace', `customer-${k}`, '--wait=false', '--ignore-not-found']);
  }
  await removeAll(liveRbac);
  await rm(stateDir, { recursive: true, force: true });
});

describe('cleanup-rbac on the real cluster', () => {
  it('--dry-run: every orphan listed with its reason, kept ones kept, nothing else listed, nothing changed', async () => {
    const before = await existing(allMine);
    const r = await cli(['cleanup-rbac', '--dry-run', '-o', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const rep = report(r);
    expect(rep).toMatchObject({ dryRun: true, simulated: false, deleted: [], errors: [] });
    expect(rep.jobId).toBeUndefined();
    const mine = (entries: Entry[]) => ids(entries).filter((id) => allMine.map(idOf).includes(id));
    expect(mine(rep.orphans)).toEqual([...orphanA, ...orphanB, ...orphanC, ...orphanE].map(idOf).sort());
    expect(mine(rep.kept)).toEqual([keptC.policy, keptC.shared, keptC.unmarked].map(idOf).sort());
    const listed = new Set([...ids(rep.orphans), ...ids(rep.kept)]);
    for (const o of mustSurvive) expect(listed.has(idOf(o)), idOf(o)).toBe(false);
    expect([...listed].filter((id) => id.includes('system:') || id.endsWith('/cluster-admin'))).toEqual([]);

    const a = rep.orphans.find((e) => e.name === `metrics-${gone.a}` && e.kind === 'ClusterRole');
    expect(a).toEqual({ kind: 'ClusterRole', name: `metrics-${gone.a}`, customerKey: gone.a, namespace: `customer-${gone.a}`,
      reason: `annotation ${REL}=customer-${gone.a}; namespace customer-${gone.a} not found; no customer row cust_${gone.a}` });
    const b = rep.orphans.find((e) => e.name === `c${gone.b}-customer-instance-opencost` && e.kind === 'ClusterRoleBinding');
    expect(b?.reason).toBe(`name matches ^c${gone.b}-customer-instance(-.*)?$; namespace customer-${gone.b} not found; customer cust_${gone.b} is pending`);
    expect(rep.kept.find((e) => e.name === keptC.policy.name)?.reason).toMatch(/^kept by policy \(helm\.sh\/resource-policy: keep\)/);
    expect(rep.kept.find((e) => e.name === keptC.unmarked.name)?.reason).toContain('carries no ownership mark');
    expect(rep.kept.find((e) => e.name === keptC.shared.name)?.reason).toContain(`still bound by ClusterRoleBinding unmarked-${gone.c}`);

    expect(await existing(allMine)).toEqual(before);
    expect(before).toEqual(allMine.map(idOf).sort());
  });

  it('the table names the kind, object, customer, action and reason', async () => {
    const r = await cli(['cleanup-rbac', '--dry-run', '--customer', `cust_${gone.c}`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^KIND\s+NAME\s+CUSTOMER\s+ACTION\s+REASON$/);
    expect(lines.find((l) => l.includes(`ClusterRoleBinding  c${gone.c}-customer-instance-opencost`))).toMatch(/cust_\w+\s+would delete\s+name matches/);
    expect(lines.find((l) => l.includes(keptC.policy.name))).toMatch(/\bkept\s+kept by policy/);
    expect(r.stderr).toContain('nothing was changed');
  });

  it('without --yes and without a terminal: refuses with exit 2, nothing deleted, no job', async () => {
    const r = await cli(['cleanup-rbac', '--customer', `cust_${gone.a}`]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('Pass --yes');
    expect(await existing(orphanA)).toEqual(orphanA.map(idOf).sort());
  });

  it('--exit-code: 6 while orphans exist, a real sweep (a job) removes exactly them, then 0', async () => {
    for (const [key, orphans] of [[gone.a, orphanA], [gone.b, orphanB]] as const) {
      const gate = await cli(['cleanup-rbac', '--dry-run', '--exit-code', '-o', 'json', '--customer', `cust_${key}`]);
      expect(gate.exitCode, gate.stderr).toBe(6);
      expect(ids(report(gate).orphans)).toEqual(orphans.map(idOf).sort());

      const sweep = await cli(['cleanup-rbac', '--yes', '--exit-code', '-o', 'json', '--customer', `cust_${key}`]);
      expect(sweep.exitCode, sweep.stderr).toBe(0);
      const rep = report(sweep);
      expect(rep.jobId).toMatch(/^\d+$/);
      expect(ids(rep.deleted)).toEqual(orphans.map(idOf).sort());
      expect(rep.errors).toEqual([]);
      // bindings before roles, logged like the seed
      const binding = sweep.stderr.indexOf(`Deleted ClusterRoleBinding  binding=clusterrolebinding.rbac.authorization.k8s.io/${orphans[1]?.name}`);
      const roleAt = sweep.stderr.indexOf(`Deleted ClusterRole  role=clusterrole.rbac.authorization.k8s.io/${orphans[0]?.name}`);
      expect(binding, sweep.stderr).toBeGreaterThanOrEqual(0);
      expect(roleAt).toBeGreaterThan(binding);
      expect(await existing(orphans)).toEqual([]);

      const status = await cli(['status', 'job', rep.jobId as string, '-o', 'json']);
      if (status.exitCode === 0) expect(JSON.parse(status.stdout)).toMatchObject({ id: rep.jobId, name: 'cleanup-rbac', state: 'completed' });

      const after = await cli(['cleanup-rbac', '--dry-run', '--exit-code', '-o', 'json', '--customer', `cust_${key}`]);
      expect(after.exitCode, after.stderr).toBe(0);
      expect(report(after).orphans).toEqual([]);
    }
    expect(await existing(mustSurvive)).toEqual(mustSurvive.map(idOf).sort());
  });

  it('kept objects stay; --include-kept removes the keep-policy one, never the unmarked binding nor the role it binds', async () => {
    const sweep = await cli(['cleanup-rbac', '--yes', '--exit-code', '-o', 'json', '--customer', `cust_${gone.c}`]);
    expect(sweep.exitCode, sweep.stderr).toBe(0);
    expect(ids(report(sweep).deleted)).toEqual(orphanC.map(idOf).sort());
    expect(ids(report(sweep).kept)).toEqual([keptC.policy, keptC.shared, keptC.unmarked].map(idOf).sort());
    expect(await existing([...orphanC, keptC.policy, keptC.shared, keptC.unmarked])).toEqual([keptC.policy, keptC.shared, keptC.unmarked].map(idOf).sort());

    const withKept = await cli(['cleanup-rbac', '--yes', '--include-kept', '-o', 'json', '--customer', `cust_${gone.c}`]);
    expect(withKept.exitCode, withKept.stderr).toBe(0);
    expect(ids(report(withKept).deleted)).toEqual([idOf(keptC.policy)]);
    expect(await existing([keptC.policy, keptC.shared, keptC.unmarked])).toEqual([keptC.shared, keptC.unmarked].map(idOf).sort());
    expect(await existing(mustSurvive)).toEqual(mustSurvive.map(idOf).sort());
  });

  it('SIMULATE_K8S_DEPLOYMENT=true: reports the orphans, deletes nothing, says so', async () => {
    const r = await cli(['cleanup-rbac', '--yes', '--exit-code', '-o', 'json', '--customer', `cust_${gone.e}`], { SIMULATE_K8S_DEPLOYMENT: 'true' });
    expect(r.exitCode, r.stderr).toBe(6);
    const rep = report(r);
    expect(rep).toMatchObject({ simulated: true, deleted: [], errors: [] });
    expect(ids(rep.orphans)).toEqual(orphanE.map(idOf).sort());
    expect(r.stderr).toContain('SIMULATE_K8S_DEPLOYMENT=true');
    expect(await existing(orphanE)).toEqual(orphanE.map(idOf).sort());
  });

  it('a user without delete rights gets the permission message and exit 1; one without list rights too', async () => {
    const user = 'custctl-readonly';
    const ro = [
      { kind: 'ClusterRole' as const, name: `custctl-test-readonly-${tag}` },
      { kind: 'ClusterRoleBinding' as const, name: `custctl-test-readonly-${tag}` },
    ];
    await rbacApi().createClusterRole({ body: { metadata: { name: ro[0]!.name }, rules: [
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles', 'clusterrolebindings'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] },
    ] } });
    await rbacApi().createClusterRoleBinding({ body: { metadata: { name: ro[1]!.name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: ro[0]!.name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] } });
    try {
      const kubeconfig = await userKubeconfig(user);
      await waitFor(async () => (await kubectl(['auth', 'can-i', 'list', 'clusterroles', '--as', user])).stdout.trim() === 'yes', 'the read-only binding to apply');

      const r = await cli(['cleanup-rbac', '--yes', '-o', 'json', '--customer', `cust_${gone.e}`], { KUBECONFIG: kubeconfig });
      expect(r.exitCode, r.stderr).toBe(1);
      const rep = report(r);
      expect(rep.errors).toEqual([
        { kind: 'ClusterRoleBinding', name: orphanE[1]!.name, error: `permission denied: cannot delete clusterrolebindings.rbac.authorization.k8s.io (user ${user})` },
        { kind: 'ClusterRole', name: orphanE[0]!.name, error: `permission denied: cannot delete clusterroles.rbac.authorization.k8s.io (user ${user})` },
      ]);
      expect(r.stderr).toContain(`permission denied: cannot delete clusterrolebindings.rbac.authorization.k8s.io (user ${user})`);
      expect(await existing(orphanE)).toEqual(orphanE.map(idOf).sort());

      const nobody = await userKubeconfig('custctl-nobody');
      const denied = await cli(['cleanup-rbac', '--dry-run', '--exit-code'], { KUBECONFIG: nobody });
      expect(denied.exitCode).toBe(1);
      expect(denied.stderr).toMatch(/permission denied: cannot list (namespaces|clusterroles\.rbac\.authorization\.k8s\.io|clusterrolebindings\.rbac\.authorization\.k8s\.io) \(user custctl-nobody\)/);
      expect(denied.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      await removeAll([{ ...ro[1]!, roleRef: '' }, ro[0]!]);
    }
  });

  it('the same list calls over 5 and over 200 customers (API audit log)', async () => {
    const counted = async (label: string) => {
      const user = `custctl-count-${label}-${tag}`;
      const kubeconfig = await userKubeconfig(user, ['system:masters']);
      const r = await cli(['cleanup-rbac', '--dry-run', '-o', 'json'], { KUBECONFIG: kubeconfig });
      expect(r.exitCode, r.stderr).toBe(0);
      const requests = await waitFor(async () => { const q = auditedRequests(user); return q.length >= 3 ? q : null; }, `audit entries of ${user}`, 10_000);
      return { report: report(r), requests: requests.map((q) => `${q.verb} ${q.uri.split('?')[0]}`).sort() };
    };
    // 5 customers' worth of orphans
    const five = Array.from({ length: 5 }, () => randomKey('crf'));
    const fiveObjs = five.flatMap((k) => [role(`c${k}-customer-instance-opencost`), binding(`c${k}-customer-instance-opencost`, `c${k}-customer-instance-opencost`)]);
    const many = Array.from({ length: 195 }, () => randomKey('crm'));
    const manyObjs = many.flatMap((k) => [role(`c${k}-customer-instance-opencost`), binding(`c${k}-customer-instance-opencost`, `c${k}-customer-instance-opencost`)]);
    try {
      await addRows(five.map((key) => ({ key, status: 'pending' })));
      await create(fiveObjs);
      const small = await counted('five');
      expect(ids(small.report.orphans).filter((id) => fiveObjs.map(idOf).includes(id))).toHaveLength(10);

      await addRows(many.map((key) => ({ key, status: 'pending' })));
      await create(manyObjs);
      const large = await counted('many');
      expect(ids(large.report.orphans).filter((id) => [...fiveObjs, ...manyObjs].map(idOf).includes(id))).toHaveLength(400);

      const lists = (q: string[]) => q.filter((x) => x.startsWith('list '));
      expect(lists(small.requests)).toEqual([
        'list /api/v1/namespaces',
        'list /apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
        'list /apis/rbac.authorization.k8s.io/v1/clusterroles',
      ]);
      expect(lists(large.requests)).toEqual(lists(small.requests));
      expect(large.requests).toEqual(small.requests); // and nothing else either
    } finally {
      await removeAll([...fiveObjs, ...manyObjs]);
      await db().query('delete from customers where customer_id = any($1)', [[...five, ...many].map((k) => `cust_${k}`)]);
    }
  });
});
