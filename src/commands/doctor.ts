/**
 * `custctl doctor`: checks what a real deletion needs, each with what to fix. Exit 0 only when a
 * deletion can run. Read-only: it creates nothing (not even the state directory), deletes nothing.
 */
import { lstat } from 'node:fs/promises';
import { Command } from '@commander-js/extra-typings';
import { redisConfigured } from '../config.js';
import type { Deps } from '../deps.js';
import { REQUIRED_ACCESS } from '../domain/permissions.js';
import { CliError, errorMessage } from '../errors.js';
import { outputOption, print, view, type OutputFormat, writeStyled } from '../output/print.js';
import { h, paint } from '../output/text.js';
import { within as withinMs } from '../util/within.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** what to do about a warn or fail */
  fix?: string;
}

const CHECK_TIMEOUT_MS = 15_000;

const within = <T>(p: Promise<T>, what: string) => withinMs(p, CHECK_TIMEOUT_MS, what);

const fixOf = (e: unknown, fallback: string) => (e instanceof CliError && e.details[0]) || fallback;

async function clusterChecks(d: Deps): Promise<Check[]> {
  const out: Check[] = [];
  let kube;
  try {
    kube = await d.kube();
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
    const answers = await within(kube.accessReview(REQUIRED_ACCESS, d.shutdown), 'SelfSubjectAccessReview');
    const what = (a: { verb: string; resource: string; group: string }) => `${a.verb} ${a.resource}${a.group ? `.${a.group}` : ''}`;
    const meta = new Map(REQUIRED_ACCESS.map((r) => [what(r), r]));
    const denied = answers.filter((a) => !a.allowed);
    const deniedRequired = denied.filter((a) => !meta.get(what(a))?.feature);
    const deniedOptional = denied.filter((a) => meta.get(what(a))?.feature);
    const required = answers.filter((a) => !meta.get(what(a))?.feature);
    const fix = `Grant ${kube.target.user ?? 'this user'} these verbs cluster-wide (docs/operations.md, "Permissions custctl needs"), or use a context that has them.`;
    if (deniedRequired.length === 0) out.push({ name: 'permissions', status: 'ok', detail: `all ${required.length} a deletion needs are allowed (${required.map(what).join(', ')})` });
    else out.push({ name: 'permissions', status: 'fail', detail: `denied: ${deniedRequired.map((a) => `${what(a)} (to ${meta.get(what(a))?.why ?? '?'})`).join('; ')}`, fix });
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

async function databaseCheck(d: Deps): Promise<Check> {
  try {
    const store = await within(d.store({ skipSchemaCheck: true }), 'opening the database');
    const v = store.serverVersion ? await within(store.serverVersion(), 'select version()') : 'unknown';
    const missing = await within(store.checkSchema(), 'checking the schema');
    if (missing.length) return { name: 'database', status: 'fail', detail: `${store.description}: ${v}; schema lacks ${missing.join(', ')}`, fix: "Run 'custctl db migrate'." };
    return { name: 'database', status: store.kind === 'embedded' ? 'warn' : 'ok', detail: `${store.description}: ${v}, schema up to date`, ...(store.kind === 'embedded' ? { fix: 'The embedded store is for trying custctl; real deletions reset rows in the billing database: set DATABASE_URL.' } : {}) };
  } catch (e) {
    return { name: 'database', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Check DATABASE_URL (or the PG* variables) and that the server is up.') };
  }
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

async function queueCheck(d: Deps): Promise<Check> {
  const cfg = d.config();
  if (cfg.apiUrl) {
    try {
      const client = await d.client();
      const r = client.ready ? await within(client.ready(), `GET ${cfg.apiUrl}/readyz`) : null;
      return { name: 'queue API', status: 'ok', detail: `${cfg.apiUrl} ready, token accepted${r ? ` (store ${r.store}, queue ${r.queue})` : ''}` };
    } catch (e) {
      return { name: 'queue API', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Check --api-url / CUSTCTL_API_URL and CUSTCTL_API_TOKEN.') };
    }
  }
  if (redisConfigured(d.env)) {
    try {
      const q = await within(d.jobs(), 'Redis');
      return { name: 'queue', status: 'ok', detail: `BullMQ (${q.kind}) answers` };
    } catch (e) {
      return { name: 'queue', status: 'fail', detail: errorMessage(e), fix: fixOf(e, 'Check REDIS_URL, or unset it to use the local file journal.') };
    }
  }
  return { name: 'queue', status: 'ok', detail: `file journal in ${cfg.stateDir}/journal` };
}

export async function runDoctor(d: Deps, o: { output: OutputFormat }): Promise<{ ok: boolean; checks: Check[] }> {
  const cfg = d.config();
  // with --api-url the deletion runs on the server: its cluster, helm and database are checked there
  const local = !cfg.apiUrl;
  const groups = await Promise.all([
    local ? clusterChecks(d) : Promise.resolve([]),
    local ? helmCheck(d).then((c) => [c]) : Promise.resolve([]),
    local ? databaseCheck(d).then((c) => [c]) : Promise.resolve([]),
    stateDirCheck(d).then((c) => [c]),
    queueCheck(d).then((c) => [c]),
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

export function makeDoctorCommand(d: Deps, setExit: (code: number) => void) {
  return new Command('doctor')
    .description('Check what a real deletion needs (kubeconfig, API server, permissions, helm, database, state dir, queue); exit 0 only if it can run')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl doctor\n  custctl --context prod doctor -o json | jq \'.checks[] | select(.status == "fail")\'\n  custctl doctor && custctl delete cust_abc123')
    .action(async (f) => {
      const r = await runDoctor(d, { output: f.output });
      if (!r.ok) setExit(1);
    });
}
