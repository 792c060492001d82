/**
 * `custctl version`: custctl, Node, helm, the API server, the database server, and the store and
 * queue this configuration uses (kubectl's and helm's `version` as the model). A part that cannot
 * be reached is shown with why, not an exit: `doctor` is the check.
 */
import type { Kube } from '../adapters/kube.js';
import { Command } from '@commander-js/extra-typings';
import { queueBackendOf } from '../jobs/backends.js';
import type { Deps } from '../deps.js';
import { errorMessage } from '../errors.js';
import { outputOption, print, view, type OutputFormat } from '../output/print.js';
import { within } from '../util/within.js';
import { VERSION } from '../version.js';

/** One part's answer: its version, or why there is none. */
export type Part = { version: string; detail?: string } | { error: string; detail?: string };

export interface VersionReport {
  custctl: string;
  node: string;
  helm: Part;
  /** absent with --client; in a fleet of several, the first cluster's */
  server?: Part;
  /** a fleet of several (CUSTCTL_CLUSTERS_FILE): each cluster's API server */
  servers?: Array<Part & { cluster: string }>;
  database?: Part;
  store?: string;
  queue?: string;
}

const PART_TIMEOUT_MS = 10_000;

/** Resolves a part within a bound: a server that does not answer does not hold `version` up. */
async function part(what: () => Promise<{ version: string; detail?: string }>, detail?: () => string | undefined): Promise<Part> {
  try {
    return await within(what(), PART_TIMEOUT_MS, '');
  } catch (e) {
    const d = detail?.();
    return { error: errorMessage(e), ...(d ? { detail: d } : {}) };
  }
}

export async function versionReport(d: Deps, o: { client: boolean }): Promise<VersionReport> {
  const cfg = d.config();
  const helm = part(async () => {
    const { helmVersion } = await import('../adapters/helm-cli.js');
    return { version: await helmVersion(cfg.helmBin, d.env, d.shutdown), detail: cfg.helmBin };
  }, () => cfg.helmBin);
  if (o.client) return { custctl: VERSION, node: process.version, helm: await helm };
  // each cluster's API server (a fleet of several: `servers`, and `server` the first's, as before)
  const fleet = d.clusters ? await d.clusters().catch(() => null) : null;
  const serverOf = (k: () => Promise<Kube>) => part(async () => {
    const kube = await k();
    return { version: kube.serverVersion ? await kube.serverVersion(d.shutdown) : 'unknown', detail: `${kube.target.server} (context ${kube.target.context})` };
  });
  const servers = fleet?.several ? Promise.all(fleet.all().map(async (c) => ({ cluster: c.name, ...(await serverOf(() => c.kube())) }))) : null;
  const server = servers ? servers.then((all) => { const { cluster: _c, ...first } = all[0] as (typeof all)[number]; return first as Part; }) : serverOf(() => d.kube());
  let storeDescription: string | undefined;
  const database = part(async () => {
    const s = await d.store({ skipSchemaCheck: true });
    storeDescription = s.description;
    return { version: s.serverVersion ? await s.serverVersion() : 'unknown', detail: s.description };
  }, () => storeDescription);
  const queue = cfg.apiUrl ? `queue API ${cfg.apiUrl}` : await queueBackendOf(d).then(({ backend, ctx }) => backend.describe(ctx), (e: unknown) => `unavailable: ${e instanceof Error ? e.message : String(e)}`);
  const [h, sv, db, all] = await Promise.all([helm, server, database, servers]);
  return { custctl: VERSION, node: process.version, helm: h, server: sv, ...(all ? { servers: all } : {}), database: db, store: storeDescription ?? cfg.store, queue };
}

function line(p: Part): string {
  if ('version' in p) return p.detail ? `${p.version}  (${p.detail})` : p.version;
  return `unavailable: ${p.error}${p.detail ? `  (${p.detail})` : ''}`;
}

export async function runVersion(d: Deps, o: { output: OutputFormat; client: boolean }): Promise<VersionReport> {
  const r = await versionReport(d, o);
  await print(d.io, o.output, view(r, (io) => {
    const rows: Array<[string, string]> = [['custctl', r.custctl], ['Node.js', r.node], ['helm', line(r.helm)]];
    if (r.servers) for (const x of r.servers) rows.push([`API server ${x.cluster}`, line(x)]);
    else if (r.server) rows.push(['API server', line(r.server)]);
    if (r.database) rows.push(['database', line(r.database)]);
    if (r.queue) rows.push(['queue', r.queue]);
    const width = Math.max(11, ...rows.map(([k]) => k.length));
    for (const [k, v] of rows) io.out.write(`${k.padEnd(width)} ${v}\n`);
  }));
  return r;
}

export function makeVersionCommand(d: Deps) {
  return new Command('version')
    .description('Versions of custctl, Node, helm, the API server and the database, and the store and queue in use')
    .option('--client', 'only what runs here (custctl, Node, helm): no server is asked')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl version\n  custctl version --client\n  custctl version -o json | jq -r .server.version\n\n`custctl --version` (or -V) prints custctl\'s version alone.')
    .action(async (f) => {
      await runVersion(d, { output: f.output, client: !!f.client });
    });
}
