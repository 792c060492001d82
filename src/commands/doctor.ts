/**
 * `custctl doctor`: checks what a real deletion needs, each with what to fix. Exit 0 only when a
 * deletion can run. Read-only: it creates nothing (not even the state directory), deletes nothing.
 */
import { lstat } from 'node:fs/promises';
import { Command } from '@commander-js/extra-typings';
import { queueBackendOf } from '../jobs/backends.js';
import type { Deps } from '../deps.js';
import { FEATURES, RBAC_NAME, namespaceRoleBinding, requiredAccess, namespaceRoleName, parseFeatures, rbacManifests, type ExtraRules, type KubeManifest, type RequiredAccess } from '../domain/permissions.js';
import type { Kube } from '../adapters/kube.js';
import type { Clusters } from '../adapters/clusters.js';
import { CliError, UsageError, errorMessage } from '../errors.js';
import { outputOption, print, view, type OutputFormat, writeStyled } from '../output/print.js';
import { h, paint } from '../output/text.js';
import { within as withinMs } from '../util/within.js';
import type { Transport } from '../adapters/pg-connection.js';
import { parseCustomerId, type CustomerId } from '../domain/customer-id.js';
import { namespaceFor } from '../domain/namespace-name.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** what to do about a warn or fail */
  fix?: string;
  /** the cluster it is about (a fleet of several) */
  cluster?: string;
}

const CHECK_TIMEOUT_MS = 15_000;

const within = <T>(p: Promise<T>, what: string) => withinMs(p, CHECK_TIMEOUT_MS, what);

const fixOf = (e: unknown, fallback: string) => (e instanceof CliError && e.details[0]) || fallback;

/**
 * The clusters' checks: the one cluster as always, or in a fleet of several each cluster's (its
 * name on each check and in front of it) and the customer namespaces found on a cluster other
 * than their row's.
 */
async function fleetChecks(d: Deps, rbacName: string, customer?: CustomerId): Promise<Check[]> {
  const clusters: Clusters | Error | null = d.clusters ? await d.clusters().catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))) : null;
  if (clusters instanceof Error) return [{ name: 'clusters', status: 'fail', detail: errorMessage(clusters), fix: fixOf(clusters, 'Fix the clusters file (CUSTCTL_CLUSTERS_FILE).') }];
  if (!clusters || !clusters.several) return clusterChecks(d, rbacName, customer);
  const each = await Promise.all(clusters.all().map(async (c) => (await clusterChecks(d, rbacName, customer, () => c.kube())).map((k) => ({ ...k, name: `${c.name}: ${k.name}`, cluster: c.name }))));
  const out: Check[] = [{ name: 'clusters', status: 'ok', detail: `${clusters.fleet.clusters.length} from ${clusters.fleet.source}: ${clusters.all().map((c) => c.name).join(', ')}` }, ...each.flat()];
  try {
    const { scanFleet } = await import('../jobs/kinds/cleanup-rbac.js');
    const store = await within(d.store({ skipSchemaCheck: true }), 'opening the database');
    const scan = await within(scanFleet(clusters, store, { prefix: d.config().namespacePrefix, includeKept: false, signal: d.shutdown }), 'listing namespaces');
    if (scan.strays.length === 0) out.push({ name: 'namespaces', status: 'ok', detail: 'every customer namespace is on the cluster its row names' });
    else {
      out.push({
        name: 'namespaces', status: 'warn',
        detail: scan.strays.map((x) => `${x.namespace} is on cluster ${x.cluster}, but ${x.customerId}'s row names ${x.rowCluster}`).join('; '),
        fix: "delete refuses these customers until the row's cluster column or the stray namespace is fixed by hand",
      });
    }
  } catch (e) {
    out.push({ name: 'namespaces', status: 'skipped', detail: `not compared with the rows: ${errorMessage(e)}` });
  }
  return out;
}

async function clusterChecks(d: Deps, rbacName: string, customer?: CustomerId, kubeOf: () => Promise<Kube> = () => d.kube()): Promise<Check[]> {
  const out: Check[] = [];
  let kube;
  try {
    kube = await kubeOf();
    out.push({ name: 'kubeconfig', status: 'ok', detail: `context ${kube.target.context}, server ${kube.target.server}${kube.target.user ? `, user ${kube.target.user}` : ''}` });
  } catch (e) {
    out.push({ name: 'kubeconfig', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Pass --kubeconfig and --context, or set KUBECONFIG.') });
    out.push({ name: 'API server', status: 'skipped', detail: 'no kubeconfig' }, { name: 'permissions', status: 'skipped', detail: 'no kubeconfig' });
    return out;
  }
  try {
    const v = kube.serverVersion ? await within(kube.serverVersion(d.shutdown), 'GET /version') : 'unknown';
    out.push({ name: 'API server', status: 'ok', detail: `${kube.target.server} answers, ${v}` });
  } catch (e) {
    out.push({ name: 'API server', status: 'fail', detail: errorMessage(e), fix: fixOf(e, `Check that ${kube.target.server} is reachable from here and that the kubeconfig's credentials are valid.`) });
    out.push({ name: 'permissions', status: 'skipped', detail: 'the API server did not answer' });
    return out;
  }
  if (!kube.accessReview) return [...out, { name: 'permissions', status: 'skipped', detail: 'this Kubernetes adapter cannot ask' }];
  try {
    // what custctl does inside a customer namespace may be granted there only (doctor --print-rbac):
    // asked in the given customer's namespace, else in one customer namespace when there is one
    const prefix = d.config().namespacePrefix;
    const ns = customer
      ? namespaceFor(customer, prefix)
      : (await within(kube.listNamespaceNames(d.shutdown), 'listing namespaces').catch(() => [] as string[])).filter((n) => n.startsWith(prefix)).sort()[0];
    const asked = accessChecks(requiredAccess(rbacName));
    const answers = await within(kube.accessReview(asked.map((a) => ({
      verb: a.verb, resource: a.resource, group: a.group,
      ...(a.scope === 'namespace' && ns ? { namespace: ns } : {}),
      ...(a.resourceNames?.[0] ? { name: a.resourceNames[0] } : {}),
    })), d.shutdown), 'SelfSubjectAccessReview');
    const what = (a: { verb: string; resource: string; group: string; name?: string }) => `${a.verb} ${a.resource}${a.group ? `.${a.group}` : ''}${a.name ? `/${a.name}` : ''}`;
    const meta = new Map(asked.map((r) => [what({ ...r, ...(r.resourceNames?.[0] ? { name: r.resourceNames[0] } : {}) }), r]));
    const denied = answers.filter((a) => !a.allowed);
    const deniedRequired = denied.filter((a) => !meta.get(what(a))?.feature);
    const deniedOptional = denied.filter((a) => meta.get(what(a))?.feature);
    const required = answers.filter((a) => !meta.get(what(a))?.feature);
    const where = ns ? ` (inside a customer namespace as in ${ns})` : '';
    const fix = `Grant ${kube.target.user ?? 'this user'} what 'custctl doctor --print-rbac' prints (deploy/rbac/ ships it), or use a context that has it.`;
    if (deniedRequired.length === 0) out.push({ name: 'permissions', status: 'ok', detail: `all ${required.length} a deletion needs are allowed${where} (${required.map(what).join(', ')})` });
    else out.push({ name: 'permissions', status: 'fail', detail: `denied${where}: ${deniedRequired.map((a) => `${what(a)} (to ${meta.get(what(a))?.why ?? '?'})`).join('; ')}`, fix });
    if (deniedOptional.length) {
      const byFeature = new Map<string, string[]>();
      for (const a of deniedOptional) {
        const f = meta.get(what(a))?.feature as string;
        byFeature.set(f, [...(byFeature.get(f) ?? []), what(a)]);
      }
      out.push({ name: 'features', status: 'warn', detail: [...byFeature].map(([f, w]) => `${f} needs ${w.join(', ')}`).join('; '), fix: `Grant those too if you use them. ${fix}` });
    }
  } catch (e) {
    out.push({ name: 'permissions', status: 'fail', detail: errorMessage(e), fix: 'The user must be allowed to create selfsubjectaccessreviews (every authenticated user is, by default).' });
  }
  return out;
}

/** One question per permission: an entry several features need is asked once, required if any of them is. */
function accessChecks(all: readonly RequiredAccess[]): RequiredAccess[] {
  const out = new Map<string, RequiredAccess>();
  for (const a of all) {
    const key = `${a.scope} ${a.verb} ${a.resource}.${a.group}/${(a.resourceNames ?? []).join(',')}`;
    const prev = out.get(key);
    if (!prev) out.set(key, a);
    else if (prev.feature && !a.feature) out.set(key, a);
  }
  return [...out.values()];
}

async function helmCheck(d: Deps): Promise<Check> {
  const bin = d.config().helmBin;
  try {
    const { helmVersion } = await import('../adapters/helm-cli.js');
    const v = await within(helmVersion(bin, d.env, d.shutdown), 'helm version');
    return { name: 'helm', status: 'ok', detail: `${bin}: ${v}` };
  } catch (e) {
    return { name: 'helm', status: 'fail', detail: `${bin}: ${errorMessage(e)}`, fix: fixOf(e, 'Install helm 3 or 4, or point HELM_BIN at it.') };
  }
}

async function databaseChecks(d: Deps): Promise<Check[]> {
  try {
    const store = await within(d.store({ skipSchemaCheck: true }), 'opening the database');
    const v = store.serverVersion ? await within(store.serverVersion(), 'select version()') : 'unknown';
    const missing = await within(store.checkSchema(), 'checking the schema');
    const tls = store.transport !== undefined ? [transportCheck(store.transport)] : [];
    if (missing.length) return [{ name: 'database', status: 'fail', detail: `${store.description}: ${v}; schema lacks ${missing.join(', ')}`, fix: "Run 'custctl db migrate'." }, ...tls];
    return [{ name: 'database', status: store.kind === 'embedded' ? 'warn' : 'ok', detail: `${store.description}: ${v}, schema up to date`, ...(store.kind === 'embedded' ? { fix: 'The embedded store is for trying custctl; real deletions reset rows in the billing database: set DATABASE_URL.' } : {}) }, ...tls];
  } catch (e) {
    return [{ name: 'database', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Check DATABASE_URL (or the PG* variables) and that the server is up.') }];
  }
}

/** The database connection's TLS: verified is ok; encrypted but not verified, or plain, across a network is a warning. */
function transportCheck(t: Transport): Check {
  const name = 'database TLS';
  if (t.verified) return { name, status: 'ok', detail: t.summary };
  const status = t.local ? 'ok' : 'warn';
  if (t.encrypted) return { name, status, detail: t.summary, fix: "Verify the server too: sslmode=verify-full&sslrootcert=/path/to/ca.pem in DATABASE_URL (your provider's CA)." };
  return { name, status, detail: t.summary, fix: 'Encrypt the connection: sslmode=verify-full&sslrootcert=/path/to/ca.pem in DATABASE_URL (or sslmode=require).' };
}

async function stateDirCheck(d: Deps): Promise<Check> {
  const dir = d.config().stateDir;
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) return { name: 'state dir', status: 'fail', detail: `${dir} is not a directory`, fix: 'Set CUSTCTL_STATE_DIR to a private directory (mode 0700).' };
    const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
    const owner = process.getuid && st.uid !== process.getuid() ? `, owned by uid ${st.uid}, not you (${process.getuid()})` : '';
    if (st.mode & 0o022) return { name: 'state dir', status: 'fail', detail: `${dir}: mode ${mode}, writable by others${owner}`, fix: `chmod 700 ${dir}` };
    if (owner) return { name: 'state dir', status: 'fail', detail: `${dir}: mode ${mode}${owner}`, fix: 'Use a state directory of your own (CUSTCTL_STATE_DIR).' };
    if (st.mode & 0o077) return { name: 'state dir', status: 'warn', detail: `${dir}: mode ${mode}, readable by others (custctl tightens it to 700 on first use)`, fix: `chmod 700 ${dir}` };
    return { name: 'state dir', status: 'ok', detail: `${dir}: mode ${mode}, yours` };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { name: 'state dir', status: 'ok', detail: `${dir}: not there yet (created 0700 on first use)` };
    return { name: 'state dir', status: 'fail', detail: `${dir}: ${errorMessage(e)}`, fix: 'Set CUSTCTL_STATE_DIR to a private directory.' };
  }
}

async function queueChecks(d: Deps): Promise<Check[]> {
  const cfg = d.config();
  if (cfg.apiUrl) {
    try {
      const client = await d.client();
      const r = client.ready ? await within(client.ready(), `GET ${cfg.apiUrl}/readyz`) : null;
      return [{ name: 'queue API', status: 'ok', detail: `${cfg.apiUrl} ready, token accepted${r ? ` (store ${r.store}, queue ${r.queue})` : ''}` }];
    } catch (e) {
      return [{ name: 'queue API', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Check --api-url / CUSTCTL_API_URL and CUSTCTL_API_TOKEN.') }];
    }
  }
  let chosen;
  try {
    chosen = await queueBackendOf(d);
  } catch (e) {
    return [{ name: 'queue', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Check CUSTCTL_QUEUE and the queue variables.') }];
  }
  const { backend, ctx } = chosen;
  try {
    // Redis: the queue answers; PostgreSQL: the server (and its version), the schema, the role's rights
    return await within(backend.check(ctx, () => within(d.jobs(), backend.title)), backend.title);
  } catch (e) {
    return [{ name: 'queue', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Check the queue settings (CUSTCTL_QUEUE).') }];
  }
}

export async function runDoctor(d: Deps, o: { output: OutputFormat; rbacName?: string; customer?: CustomerId }): Promise<{ ok: boolean; checks: Check[] }> {
  const cfg = d.config();
  // with --api-url the deletion runs on the server: its cluster, helm and database are checked there
  const local = !cfg.apiUrl;
  const groups = await Promise.all([
    local ? fleetChecks(d, o.rbacName ?? RBAC_NAME, o.customer) : Promise.resolve([]),
    local ? helmCheck(d).then((c) => [c]) : Promise.resolve([]),
    local ? databaseChecks(d) : Promise.resolve([]),
    stateDirCheck(d).then((c) => [c]),
    queueChecks(d),
  ]);
  const checks = groups.flat();
  if (cfg.simulate) checks.push({ name: 'simulation', status: 'warn', detail: 'SIMULATE_K8S_DEPLOYMENT=true: deletions would not touch the cluster', fix: 'Unset SIMULATE_K8S_DEPLOYMENT for a real deletion.' });
  const ok = checks.every((c) => c.status !== 'fail');
  await print(d.io, o.output, view({ ok, checks }, (io) => {
    const c = paint(io.chalk);
    const mark = { ok: c.green('ok  '), warn: c.yellow('warn'), fail: c.red('FAIL'), skipped: c.dim('skip') } as const;
    for (const k of checks) {
      writeStyled(io, h`${mark[k.status]}  ${k.name.padEnd(12)} ${k.detail}\n`);
      if (k.fix && (k.status === 'fail' || k.status === 'warn')) writeStyled(io, h`      ${''.padEnd(12)} ${c.dim('→')} ${k.fix}\n`);
    }
    writeStyled(io, ok ? h`\nA deletion can run${cfg.apiUrl ? ` through ${cfg.apiUrl}` : ''}.\n` : h`\n${checks.filter((k) => k.status === 'fail').length} problem(s): a deletion cannot run until they are fixed.\n`);
  }));
  return { ok, checks };
}

export interface PrintRbacOptions {
  features: string[];
  serviceAccount: string;
  name: string;
  /** do not read the customers' ClusterRoles from the cluster (the same output anywhere) */
  static: boolean;
  /** json: one `List` of the objects (the notes are YAML comments only); default YAML with comments */
  output?: OutputFormat;
}

/** `doctor --print-rbac`: the ServiceAccount, roles and bindings the configured features need, as YAML for kubectl apply. */
export async function runPrintRbac(d: Deps, o: PrintRbacOptions): Promise<KubeManifest[]> {
  const { configuredFeatures, customerClusterRules } = await import('../jobs/rbac-profile.js');
  const cfg = d.config();
  const features = parseFeatures([...configuredFeatures(cfg), ...o.features]);
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(o.serviceAccount);
  if (!m) throw new UsageError(`--service-account ${JSON.stringify(o.serviceAccount)}: NAMESPACE/NAME of the ServiceAccount custctl runs as, e.g. custctl/custctl`);
  if (!/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(o.name)) throw new UsageError(`--rbac-name ${JSON.stringify(o.name)} is not a valid object name`);
  const serviceAccount = { namespace: m[1] as string, name: m[3] as string };
  let note = '';
  let extra: ExtraRules | null = null;
  if (features.has('restore') && !o.static) {
    const kube = await d.kube().catch((e: unknown) => e);
    if (kube instanceof Error) note = `could not read the customers' ClusterRoles (${errorMessage(kube)}): a restore of a customer with cluster RBAC also needs the rules they grant`;
    else ({ extra, note } = await customerClusterRules(kube as Kube, cfg.namespacePrefix, d.shutdown));
  } else if (features.has('restore')) {
    note = "--static: the customers' ClusterRoles were not read; a restore of a customer with cluster RBAC also needs the rules they grant (run without --static against the cluster to add them)";
  }
  const docs = rbacManifests({ features, serviceAccount, name: o.name, ...(extra ? { extra } : {}) });
  const { Document, isSeq, isScalar, visit } = await import('yaml');
  // short lists of words in flow style (`verbs: [get, list]`), as RBAC is usually written
  const stringify = (v: unknown): string => {
    const doc = new Document(v);
    visit(doc, { Seq: (_k, n) => { if (isSeq(n) && n.items.every((i) => isScalar(i))) n.flow = true; } });
    return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  };
  const binding = stringify(namespaceRoleBinding('customer-abc123', { serviceAccount, name: o.name }));
  const header = [
    `# What custctl needs for ${[...features].join(', ')}`,
    '# (custctl doctor --print-rbac --features LIST; LIST from delete, cleanup-rbac, backup, restore, snapshots, soft-delete, all)',
    '#',
    '# Inside a customer namespace custctl acts only where a RoleBinding grants it the',
    `# ${namespaceRoleName(o.name)} ClusterRole; make it with every customer namespace (e.g. in the chart):`,
    '#',
    ...binding.trimEnd().split('\n').map((l) => `#   ${l}`),
    '#',
    '# helm.sh/resource-policy: keep lets a helm uninstall leave it to the namespace deletion.',
    ...(features.has('restore') ? [
      '#',
      `# restore: custctl re-creates that RoleBinding first in the namespace it re-creates, so it may bind`,
      `# ${namespaceRoleName(o.name)} (and no other role) in any namespace: give restore to the identity that restores.`,
    ] : []),
    ...(note ? ['#', `# ${note}`] : []),
  ];
  if (o.output === 'json') {
    d.io.out.write(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }, null, 2)}\n`);
    return docs;
  }
  d.io.out.write(`${header.join('\n')}\n`);
  for (const doc of docs) d.io.out.write(`---\n${stringify(doc)}`);
  return docs;
}

export function makeDoctorCommand(d: Deps, setExit: (code: number) => void) {
  return new Command('doctor')
    .description('Check what a real deletion needs (kubeconfig, API server, permissions, helm, database, state dir, queue); exit 0 only if it can run')
    .addOption(outputOption())
    .option('--print-rbac', 'print the ServiceAccount, ClusterRoles and bindings the configured features need (YAML for kubectl apply) instead of checking')
    .option('--features <list>', `with --print-rbac: features beyond the configured ones (comma-separated: ${FEATURES.join(', ')}, all)`, (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--service-account <namespace/name>', 'with --print-rbac: the ServiceAccount custctl runs as', 'custctl/custctl')
    .option('--rbac-name <name>', 'the name of custctl\'s roles (default CUSTCTL_RBAC_NAME, else custctl): --print-rbac names them so; the check asks to bind <name>-customer-namespace')
    .option('--static', "with --print-rbac: do not read the customers' ClusterRoles from the cluster (restore needs their rules too)")
    .option('--customer <id>', "check the permissions inside this customer's namespace (default: the first customer namespace found), where a grant per namespace must exist")
    .addHelpText('after', '\nExamples:\n  custctl doctor\n  custctl doctor --customer cust_abc123\n  custctl --context prod doctor -o json | jq \'.checks[] | select(.status == "fail")\'\n  custctl doctor && custctl delete cust_abc123\n  custctl doctor --print-rbac --features backup,restore | kubectl apply -f -')
    .action(async (f) => {
      if (f.printRbac) {
        await runPrintRbac(d, { features: f.features, serviceAccount: f.serviceAccount, name: f.rbacName ?? d.config().rbacName, static: Boolean(f.static), output: f.output });
        return;
      }
      const customer = f.customer === undefined ? undefined : parseCustomerId(f.customer);
      const r = await runDoctor(d, { output: f.output, rbacName: f.rbacName ?? d.config().rbacName, ...(customer ? { customer } : {}) });
      if (!r.ok) setExit(1);
    });
}
