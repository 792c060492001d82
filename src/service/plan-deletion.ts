/**
 * The plan of a deletion run on this machine (`delete`, before its prompt or its dry run): every
 * id and row checked, each customer on its row's cluster, the clusters named, and — when someone
 * will read the plan — each customer inspected and planned (src/service/plan.ts). Any refusal
 * refuses the whole run, all of them reported at once. Loaded with the planning code
 * (src/service/local-running.ts), never on `status job`'s path.
 */
import type { Cluster, Clusters } from '../adapters/clusters.js';
import { namespaceElsewhere } from '../adapters/clusters.js';
import { DELETABLE_STATUSES } from '../adapters/store.js';
import { checkCustomerIds } from '../domain/customer-id.js';
import { checkRowNamespace } from '../domain/namespace-name.js';
import { CliError, ConflictError, isRunWideError, NotFoundError, refuseAll, UsageError, type Refusal } from '../errors.js';
import { backupOption, planTimeouts, snapshotOption, statusConflict } from '../jobs/kinds/delete.js';
import { inspect, refuseClusterScoped, refuseForeignRbac, refuseSuspiciousEmptiness } from '../pipeline/inspect.js';
import type { Inspection } from '../pipeline/types.js';
import { checkSnapshotClass } from '../pipeline/volume-snapshots.js';
import { runPool } from '../util/pool.js';
import type { ServiceEnv } from './env.js';
import { planOf } from './plan.js';
import type { DeletionPlan, DeletionRun, PlannedDeletion } from './service.js';

/** `clustersOf`: the client's clusters registry, read once the webhooks and outside systems are checked. */
export async function planDeletion(d: ServiceEnv, clustersOf: () => Promise<Clusters>, o: DeletionRun): Promise<DeletionPlan> {
  const cfg = d.config();
  if (o.detach && o.dryRun) throw new UsageError('--detach and --dry-run do not go together');
  if (o.sync) throw new UsageError('--sync needs --api-url: it runs the deletion on the queue API synchronously');
  await d.webhooks?.(); // a broken webhook configuration is refused now (exit 2), before the plan and the prompt
  const outside = await d.outside?.(); // and so is a broken billing or hooks configuration
  // the clusters (a broken clusters file is exit 2 now); each customer is planned on its row's cluster
  const clusters = await clustersOf();
  const snapshotClass = snapshotOption(cfg, o).snapshotClass;
  backupOption(cfg, o); // a backup option that is refused (a recipient without a backup) refuses the run
  // Every id and row checked before anything happens; any refusal refuses the whole run, and
  // every refusal is reported at once (not only the first).
  const { ids: customers, refusals } = checkCustomerIds(o.ids);
  const store = await d.store();
  const items: PlannedDeletion[] = [];
  const rows = new Map<string, Awaited<ReturnType<typeof store.get>> & object>();
  const homes = new Map<string, Cluster>();
  for (const customer of customers) {
    try {
      const row = await store.get(customer.id);
      if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${store.description}`, ["List customers with 'custctl customers list'."]);
      const namespace = checkRowNamespace(customer, row.instanceNamespace, cfg.namespacePrefix);
      // the row's cluster: a row naming none in a fleet of several is refused, never searched for
      const home = clusters.for(row);
      // the journal is opened only to name the job that holds a customer already being deleted
      const conflict = DELETABLE_STATUSES.includes(row.deploymentStatus) ? null : await statusConflict(await d.jobs(), row, o.force ?? false);
      if (conflict) throw conflict;
      rows.set(customer.id, row);
      homes.set(customer.id, home);
      items.push({ customer, namespace, ...(clusters.several ? { cluster: home.name } : {}), ...(home.entry.concurrency !== undefined ? { clusterConcurrency: home.entry.concurrency } : {}) });
    } catch (e) {
      if (!(e instanceof CliError) || isRunWideError(e)) throw e;
      refusals.push({ subject: customer.id, error: e });
    }
  }
  refuseAll(`delete ${o.ids.length === 1 ? 'it' : `these ${o.ids.length} customers`}`, refusals, o.ids.length);
  const target: DeletionPlan['target'] = { database: store.description };
  const used = clusters.all().filter((c) => items.some((t) => homes.get(t.customer.id) === c));
  if (cfg.simulate) {
    d.log.warn('SIMULATE_K8S_DEPLOYMENT=true: Helm, namespace and RBAC steps are simulated; only the database row changes');
  } else {
    // Every id and row is valid now, so the clusters may be read: the release reads of the first
    // customers of each cluster start while the rest of start-up goes on (journal, claim, the API
    // reads). The first attempts' inspections then find them done (src/adapters/helm-cli.ts).
    target.clusters = [];
    for (const c of used) {
      const mine = items.filter((t) => homes.get(t.customer.id) === c);
      const { helm, kube } = await c.adapters();
      for (const t of mine.slice(0, o.concurrency)) helm.readAhead?.(t.namespace, `customer-${t.customer.key}`);
      target.clusters.push({ name: c.name, context: kube.target.context, server: kube.target.server });
      // several deletions: one cluster RBAC listing, kept current by a watch, serves them all
      if (mine.length > 1) kube.followClusterRbac?.();
    }
    if (target.clusters.length === 1) {
      target.context = target.clusters[0]?.context;
      target.server = target.clusters[0]?.server;
    }
    if (!clusters.several) delete target.clusters; // one cluster: the target as it always was
  }
  if (target.clusters) for (const c of target.clusters) d.log.info('Target', { cluster: c.name, context: c.context, server: c.server, database: target.database });
  else d.log.info('Target', { context: target.context, server: target.server, database: target.database });

  // The plan: inspected when someone will read it (dry-run, confirmation). With --yes the first
  // attempt performs the same checks itself, so the cluster is not asked twice — except for a
  // `pending` row, whose inspection decides whether there is anything left to delete at all.
  const showPlan = o.dryRun || !o.yes;
  const planRefusals: Refusal[] = [];
  await runPool(items, o.concurrency, async (t) => {
    const row = rows.get(t.customer.id) as NonNullable<ReturnType<typeof rows.get>>;
    const home = homes.get(t.customer.id) as Cluster;
    const c = cfg.simulate ? null : await home.adapters();
    const env = c ? { kube: c.kube, helm: c.helm, store } : null;
    if (c && clusters.several) {
      // the customer's namespace on another cluster: refused whatever the flags, nothing deleted anywhere
      const away = await namespaceElsewhere(clusters, home, t.namespace);
      for (const u of away.unreachable) d.log.warn(`${t.customer.id}: could not look for ${t.namespace} on cluster ${u.cluster}: ${u.error}`);
      if (away.found.length > 0) {
        planRefusals.push({ subject: t.customer.id, error: new ConflictError(`namespace ${t.namespace} exists on cluster${away.found.length === 1 ? '' : 's'} ${away.found.join(', ')}, but the row names cluster ${home.name}: refused, nothing was deleted on any cluster`, [
          "find out which cluster really holds the customer; fix the row's cluster column, or remove the stray namespace by hand",
        ]) });
        return;
      }
    }
    if (!showPlan && !(env && row.deploymentStatus === 'pending')) return;
    const insp = env ? await inspect(t.customer, t.namespace, row, env, { detail: showPlan, helmUninstall: o.helmUninstall ?? cfg.helmUninstall }) : null;
    // a pending row with nothing of it left on the cluster: deleted already, nothing to do (no job)
    if (insp && row.deploymentStatus === 'pending' && nothingLeft(insp)) t.alreadyDeleted = { byJob: row.deletionJobId, at: row.deletedAt };
    if (!showPlan) return;
    t.plan = await planOf({ customer: t.customer, namespace: t.namespace, row, insp, o, config: cfg, kube: env?.kube ?? null, outside: outside ?? null, store, ...(t.alreadyDeleted ? { alreadyDeleted: t.alreadyDeleted } : {}) });
    if (c && clusters.several) t.plan.cluster = { name: home.name, context: c.target.context, server: c.target.server };
    // a cluster with its own timeouts: the plan says which apply (what was asked for beats them)
    if (Object.keys(home.entry.timeouts).length > 0) t.plan.timeouts = planTimeouts(cfg, o, home.entry);
    if (outside) {
      // refused by its outside step anyway (billing): say so before asking to confirm
      for (const sec of t.plan.outside ?? []) {
        if (sec.refusal && !o.dryRun && !cfg.simulate) planRefusals.push({ subject: t.customer.id, error: new ConflictError(`${sec.id}: ${sec.refusal}`) });
      }
    }
    if (insp?.ns) t.namespaceUid = insp.ns.uid;
    if (insp && o.dryRun) {
      // refused whatever the flags: a dry run says so as the deletion would
      try { refuseForeignRbac(insp); } catch (e) {
        if (!(e instanceof CliError)) throw e;
        planRefusals.push({ subject: t.customer.id, error: e });
      }
    }
    if (insp && c && !o.dryRun) {
      try {
        refuseClusterScoped(insp, o.allowClusterScoped ?? false);
        refuseSuspiciousEmptiness(insp, row.deploymentStatus, { context: c.target.context, server: c.target.server, database: target.database }, o.allowMissing ?? false);
        // refused by the attempt anyway: say so before asking to confirm
        if (snapshotClass && env) await checkSnapshotClass(env.kube, snapshotClass);
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        planRefusals.push({ subject: t.customer.id, error: e });
      }
    }
  });
  refuseAll(`delete ${items.length === 1 ? 'it' : `these ${items.length} customers`}`, items.flatMap((t) => planRefusals.filter((r) => r.subject === t.customer.id)), items.length);
  return { target, simulated: cfg.simulate, items, afterMs: o.afterMs ?? cfg.retentionMs };
}

/**
 * Nothing of the customer left on the cluster: no release, no namespace, no cluster RBAC it owns
 * (objects kept by `helm.sh/resource-policy: keep` are never deleted by a deletion anyway).
 */
export function nothingLeft(insp: Pick<Inspection, 'releases' | 'ns' | 'rbac'>): boolean {
  return insp.releases.length === 0 && insp.ns === null && insp.rbac.owned.length === 0;
}
