/**
 * Human output, from the built binary on the real parts (kube-apiserver, helm, PostgreSQL):
 * - values from outside (a company and e-mail in the billing row, a Helm release record that a
 *   tenant wrote into its own namespace, helm's error about it, a kube context name) reach
 *   stdout/stderr with their escape sequences made visible, while -o json keeps the exact value;
 * - colour is decided per stream, seen through a real pseudo-terminal (util-linux `script`);
 * - a bulk run writes one line per customer; its confirmation sums up and asks for `delete N`;
 * - Ctrl-C at the confirmation exits 130 and changes nothing;
 * - times in the job JSON are ISO beside the milliseconds.
 */
import { gzipSync } from 'node:zlib';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify, parse } from 'yaml';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv, testEnv } from '../support/env.js';
import { db, getNamespace, kubectl, provisionCustomer, randomKey, type ProvisionedCustomer } from '../support/fixtures.js';
import { inPty, shq } from '../support/pty.js';

/** What a billing form could hold: a hyperlink, a screen clear, a line rewritten, a fake line, an 8-bit CSI. */
const COMPANY = '\x1b]8;;https://evil.example/\x07Acme Corp\x1b]8;;\x07\x1b[2J\x1b[H\rOK    deleted nothing\nOK    cust_other deleted\u009b31m';
/** Reversed by a right-to-left override. */
const EMAIL = 'ops@\u202eelpmaxe.moc\u2066';
/** A release record a tenant can write into its own namespace: helm's Secret, decoded by custctl. */
const RELEASE = 'rel\x1b[2J\x1b]0;pwned\x07';
const CHART = 'chart\x1b[31m';

/** Any character a terminal would act on or hide, line breaks aside (every run here has NO_COLOR). */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\p{Cf}\u2028\u2029]/u;

function expectInert(text: string, what: string): void {
  const m = UNSAFE.exec(text);
  expect(m ? `${what}: U+${(m[0].codePointAt(0) ?? 0).toString(16)} at ${m.index}: ${JSON.stringify(text.slice(Math.max(0, m.index - 40), m.index + 40))}` : null).toBeNull();
  for (const l of text.split('\n')) expect(l.startsWith('OK    cust_other'), `${what}: a forged line`).toBe(false);
}

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state, QUEUE_MAX_RETRIES: '1' };
const cleanup: string[] = [];

/** The environment of a run in the pseudo-terminal: the test parts, colour allowed. */
function ptyEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...cliEnv(), ...env, ...extra };
  for (const k of ['NO_COLOR', 'FORCE_COLOR', 'SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'REDIS_URL', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_PASSWORD']) delete e[k];
  return { ...e, ...extra };
}

const node = (args: string[]) => `node ${shq(BIN)} ${args.map(shq).join(' ')}`;

async function hostileCustomer(prefix: string): Promise<ProvisionedCustomer> {
  const c = await provisionCustomer(randomKey(prefix));
  cleanup.push(c.namespace);
  await db().query('update customers set company_name = $2, email = $3 where customer_id = $1', [c.customerId, COMPANY, EMAIL]);
  return c;
}

/** A Helm release record (Secret driver) with a hostile name, status and chart, as a tenant could write it. */
async function hostileReleaseRecord(namespace: string): Promise<void> {
  const release = { name: RELEASE, namespace, version: 1, info: { status: `deployed\x1b[5m` }, chart: { metadata: { name: CHART, version: '1.0.0' } }, manifest: '' };
  const helmValue = gzipSync(Buffer.from(JSON.stringify(release))).toString('base64');
  const secret = {
    apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1',
    metadata: { name: 'sh.helm.release.v1.tenant.v1', namespace, labels: { owner: 'helm', name: 'tenant', status: 'deployed', version: '1' } },
    data: { release: Buffer.from(helmValue).toString('base64') },
  };
  await kubectl(['apply', '-f', '-'], { input: stringify(secret), check: true });
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});

afterAll(async () => {
  for (const ns of cleanup) await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
});

describe('values from outside are shown made visible; -o json keeps them exactly', () => {
  it('a hostile company and e-mail: customers list, status customer, delete --dry-run (stdout and stderr)', async () => {
    const c = await hostileCustomer('hc');
    for (const args of [['customers', 'list'], ['status', 'customer', c.customerId], ['delete', c.customerId, '--dry-run']]) {
      const r = await custctl(args, { env });
      expect(r.exitCode, r.stderr).toBe(0);
      expectInert(r.stdout, `${args.join(' ')} stdout`);
      expectInert(r.stderr, `${args.join(' ')} stderr`);
    }
    const shown = await custctl(['status', 'customer', c.customerId], { env });
    expect(shown.stdout).toContain('\\u001b]8;;https://evil.example/\\u0007Acme Corp');
    expect(shown.stdout).toContain('ops@\\u202eelpmaxe.moc');

    const list = await custctlJson<Array<{ customerId: string; companyName: string; email: string }>>(['customers', 'list'], { env });
    expect(list.json.find((x) => x.customerId === c.customerId)).toMatchObject({ companyName: COMPANY, email: EMAIL });
    expectInert(list.result.stdout.replace(/\n/g, ''), 'customers list -o json text');
    const plan = await custctlJson<{ results: Array<{ plan: { row: { companyName: string; email: string } } }> }>(['delete', c.customerId, '--dry-run'], { env });
    expect(plan.json.results[0]?.plan.row).toMatchObject({ companyName: COMPANY, email: EMAIL });
  }, 180_000);

  it('a release record with a hostile name, status and chart: the plan, the run, helm\'s error and status job', async () => {
    const c = await hostileCustomer('hr');
    await hostileReleaseRecord(c.namespace);
    const dry = await custctl(['delete', c.customerId, '--dry-run'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expectInert(dry.stdout, 'dry run stdout');
    expectInert(dry.stderr, 'dry run stderr');
    expect(dry.stdout).toContain('rel\\u001b[2J\\u001b]0;pwned\\u0007');
    const plan = await custctlJson<{ results: Array<{ plan: { releases: Array<{ name: string; chart: string }> } }> }>(['delete', c.customerId, '--dry-run'], { env });
    expect(plan.json.results[0]?.plan.releases.map((r) => r.name)).toContain(RELEASE);
    expect(plan.json.results[0]?.plan.releases.map((r) => r.chart)).toContain(`${CHART}-1.0.0`);

    // the deletion itself: whatever helm answers about that release, it is shown made visible
    const run = await custctl(['delete', c.customerId, '--yes', '-v'], { env });
    expectInert(run.stdout, 'delete stdout');
    expectInert(run.stderr, 'delete stderr');
    expect(run.stderr).toMatch(/rel\\u001b\[2J/);
    const jobs = await custctlJson<Array<{ id: string; data: { customerId: string } }>>(['jobs', 'list'], { env });
    const job = jobs.json.filter((j) => j.data.customerId === c.customerId).at(-1);
    expect(job).toBeDefined();
    const status = await custctl(['status', 'job', job?.id ?? ''], { env });
    expectInert(status.stdout, 'status job stdout');
    expectInert(status.stderr, 'status job stderr');
    const list = await custctl(['jobs', 'list'], { env });
    expectInert(list.stdout, 'jobs list stdout');
    // the job's JSON keeps helm's words and the release name exactly as they were
    const json = await custctlJson<{ failedReason: string | null; attempts: Array<{ log: string[] }> }>(['status', 'job', job?.id ?? ''], { env });
    const raw = `${json.json.failedReason ?? ''}\n${json.json.attempts.flatMap((a) => a.log).join('\n')}`;
    expect(raw).toMatch(/rel\x1b\[2J|rel\\u001b\[2J/);
  }, 240_000);

  it('doctor: a kubeconfig whose context name carries escapes', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-kc-'));
    const kc = parse(readFileSync(testEnv().kubeconfig, 'utf8')) as { contexts: Array<{ name: string }>; 'current-context': string };
    const hostile = 'prod\x1b[2J\x1b]8;;https://evil.example/\x07';
    for (const x of kc.contexts) if (x.name === kc['current-context']) x.name = hostile;
    kc['current-context'] = hostile;
    const file = path.join(dir, 'config');
    writeFileSync(file, stringify(kc), { mode: 0o600 });
    const r = await custctl(['doctor'], { env: { ...env, KUBECONFIG: file } });
    expectInert(r.stdout, 'doctor stdout');
    expectInert(r.stderr, 'doctor stderr');
    expect(r.stdout).toContain('prod\\u001b[2J');
    const j = await custctlJson<{ checks: Array<{ detail: string }> }>(['doctor'], { env: { ...env, KUBECONFIG: file } });
    expect(j.json.checks.some((x) => x.detail.includes(hostile))).toBe(true);
  }, 120_000);
});

describe('colour is decided per stream (a real pseudo-terminal)', () => {
  it('stdout to a file or a pipe while stderr is the terminal: no escape codes in what stdout gets', async () => {
    const c = await provisionCustomer(randomKey('cs'));
    cleanup.push(c.namespace);
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-colour-'));
    const plan = path.join(dir, 'plan.txt');
    const dry = await inPty(`${node(['delete', c.customerId, '--dry-run'])} > ${shq(plan)}`, { env: ptyEnv() });
    expect(dry.exitCode, dry.screen).toBe(0);
    expect(readFileSync(plan, 'utf8')).toMatch(/^Customer\s+/m);
    expect(readFileSync(plan, 'utf8')).not.toContain('\x1b');
    expect(dry.screen).toMatch(/\x1b\[36mINFO/); // stderr, the terminal, is coloured

    const doc = path.join(dir, 'doctor.txt');
    await inPty(`${node(['doctor'])} > ${shq(doc)}`, { env: ptyEnv() });
    expect(readFileSync(doc, 'utf8')).toMatch(/ok\s+kubeconfig/);
    expect(readFileSync(doc, 'utf8')).not.toContain('\x1b');

    // a job to list; then `jobs list | cat -v` shows no ^[ (an escape, as cat -v prints it)
    expect((await custctl(['delete', c.customerId, '--yes'], { env })).exitCode).toBe(0);
    const piped = await inPty(`${node(['jobs', 'list'])} | cat -v`, { env: ptyEnv() });
    expect(piped.screen).toMatch(/ID\s+NAME\s+STATE/);
    expect(piped.screen).not.toContain('^[');
  }, 240_000);

  it('stdout the terminal while stderr goes to a file: the table is coloured, the log lines are not', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-colour-'));
    const err = path.join(dir, 'err.txt');
    // a journal of its own, with one job to list
    const stateDir = tempStateDir();
    const c = await provisionCustomer(randomKey('ct'), { namespace: false });
    expect((await custctl(['delete', c.customerId, '--yes'], { env: { CUSTCTL_STATE_DIR: stateDir, SIMULATE_K8S_DEPLOYMENT: 'true' } })).exitCode).toBe(0);
    const r = await inPty(`${node(['delete', `cust_${randomKey('nx')}`, '--dry-run'])} 2> ${shq(err)}; ${node(['jobs', 'list'])} 2>> ${shq(err)}`, { env: ptyEnv({ CUSTCTL_STATE_DIR: stateDir }) });
    expect(r.screen).toMatch(/\x1b\[1mID\x1b\[22m/); // the table's bold header, on the terminal
    expect(readFileSync(err, 'utf8')).toMatch(/Error: customer cust_nx\w+ not found/);
    expect(readFileSync(err, 'utf8')).not.toContain('\x1b');
  }, 120_000);
});

describe('a bulk run: one line per customer; its confirmation sums up and asks for `delete N`', () => {
  it('20 customers (simulated): 20 lines and the two of the run (simulation, target), not 140; the steps with -v', async () => {
    const keys = Array.from({ length: 20 }, () => randomKey('bl'));
    for (const k of keys) await provisionCustomer(k, { namespace: false });
    const ids = keys.map((k) => `cust_${k}`);
    const r = await custctl(['delete', ...ids, '--yes'], { env: { ...env, SIMULATE_K8S_DEPLOYMENT: 'true' } });
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(22);
    expect(lines[0]).toMatch(/WARN\s+SIMULATE_K8S_DEPLOYMENT=true/);
    expect(lines[1]).toMatch(/INFO\s+Target/);
    for (const id of ids) expect(lines.filter((l) => new RegExp(`OK\\s+\\d+/20 ${id} deleted \\(simulated\\)  job=\\d+$`).test(l)), id).toHaveLength(1);
    expect(r.stdout).toMatch(/\n\n20 deleted, 0 failed$/);

    const keys2 = Array.from({ length: 3 }, () => randomKey('bv'));
    for (const k of keys2) await provisionCustomer(k, { namespace: false });
    const v = await custctl(['delete', ...keys2.map((k) => `cust_${k}`), '--yes', '-v'], { env: { ...env, SIMULATE_K8S_DEPLOYMENT: 'true' } });
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stderr.match(/Starting customer instance deletion/g)).toHaveLength(3);
  }, 300_000);

  it('on the real cluster: 3 customers, 3 lines beside the target; the confirmation sums up, refuses the bare count and takes `delete 3`', async () => {
    const cs = [await provisionCustomer(randomKey('bc')), await provisionCustomer(randomKey('bc')), await provisionCustomer(randomKey('bc'), { rbacOutsideRelease: true })];
    for (const c of cs) cleanup.push(c.namespace);
    const ids = cs.map((c) => c.customerId);

    const count = await inPty(node(['delete', ...ids]), { env: ptyEnv(), keys: [{ when: "Type 'delete 3' to confirm", keys: '3\r' }] });
    expect(count.exitCode, count.screen).toBe(2);
    expect(count.screen).toMatch(/confirmation refused: "3" is not "delete 3"; nothing changed/);
    // eslint-disable-next-line no-control-regex
    const plain = count.screen.replace(/\x1b\[[\d;?]*[A-Za-z]/g, '');
    expect(plain).toMatch(/Summary\s+3 customers/);
    expect(plain).toMatch(/3 namespaces with \d+ objects/);
    expect(plain).toMatch(/3 Helm releases/);
    expect(plain).toMatch(/3 PVCs whose data is lost \(of 3 PVCs\)|no PVC whose data is lost/);
    expect(plain).toMatch(/[1-9]\d* cluster RBAC objects/);
    expect(plain).toMatch(/\d+ objects deleted in all/);
    for (const c of cs) expect(await getNamespace(c.namespace)).not.toBeNull();

    const ok = await inPty(`${node(['delete', ...ids])} 2>&1`, { env: ptyEnv(), keys: [{ when: "Type 'delete 3' to confirm", keys: 'delete 3\r' }] });
    expect(ok.exitCode, ok.screen).toBe(0);
    for (const c of cs) expect(await getNamespace(c.namespace)).toBeNull();
    // one line per customer after the question (the status line aside): n/3 id deleted
    // eslint-disable-next-line no-control-regex
    const after = ok.screen.slice(ok.screen.indexOf('delete 3')).replace(/\x1b\[[\d;?]*[A-Za-z]/g, '');
    for (const id of ids) expect(after.match(new RegExp(`OK\\s+\\d/3 ${id} deleted`, 'g')), id).toHaveLength(1);
    expect(after).not.toMatch(/Deleting|Starting customer instance deletion|Namespace deleted/);
  }, 300_000);
});

describe('Ctrl-C at the confirmation', () => {
  it('exits 130, says nothing changed, and nothing did (row, namespace, journal)', async () => {
    const c = await provisionCustomer(randomKey('cc'));
    cleanup.push(c.namespace);
    const stateDir = tempStateDir();
    const r = await inPty(node(['delete', c.customerId]), { env: ptyEnv({ CUSTCTL_STATE_DIR: stateDir }), keys: [{ when: 'Type its customer ID to confirm', keys: '\x03' }] });
    expect(r.exitCode, r.screen).toBe(130);
    expect(r.screen).toContain('aborted, nothing changed');
    expect(r.screen).not.toMatch(/ERR_USE_AFTER_CLOSE|at .*\.js:\d+/);
    const row = await db().query('select deployment_status from customers where customer_id = $1', [c.customerId]);
    expect(row.rows[0]?.deployment_status).toBe('deployed');
    expect(await getNamespace(c.namespace)).not.toBeNull();
    expect((await custctlJson<unknown[]>(['jobs', 'list'], { env: { CUSTCTL_STATE_DIR: stateDir } })).json).toEqual([]);
  }, 120_000);
});

describe('times in JSON are ISO 8601', () => {
  it('status job, jobs list and status customer: ISO beside each millisecond field', async () => {
    const c = await provisionCustomer(randomKey('ti'), { namespace: false });
    const stateDir = tempStateDir();
    const d = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes'], { env: { CUSTCTL_STATE_DIR: stateDir, SIMULATE_K8S_DEPLOYMENT: 'true' } });
    const id = d.json.results[0]?.jobId ?? '';
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    type J = { timestamp: number; processedOn: number | null; finishedOn: number | null; requestedAt: string; startedAt: string | null; finishedAt: string | null; attempts: Array<{ startedOn: number; startedAt: string; finishedOn: number | null; finishedAt: string | null }> };
    const check = (j: J) => {
      expect(j.requestedAt).toBe(iso(j.timestamp));
      expect(j.startedAt).toBe(iso(j.processedOn));
      expect(j.finishedAt).toBe(iso(j.finishedOn));
      expect(j.finishedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      for (const a of j.attempts) {
        expect(a.startedAt).toBe(iso(a.startedOn));
        expect(a.finishedAt).toBe(iso(a.finishedOn));
      }
    };
    check((await custctlJson<J>(['status', 'job', id], { env: { CUSTCTL_STATE_DIR: stateDir } })).json);
    for (const j of (await custctlJson<J[]>(['jobs', 'list'], { env: { CUSTCTL_STATE_DIR: stateDir } })).json) check(j);
    for (const j of (await custctlJson<{ jobs: J[] }>(['status', 'customer', c.customerId], { env: { CUSTCTL_STATE_DIR: stateDir } })).json.jobs) check(j);
  }, 120_000);
});
