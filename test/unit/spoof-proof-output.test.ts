/**
 * Human output cannot be spoofed: every value that came from outside (a company, an e-mail, an
 * error text, an object name, a log line, a webhook error) is shown with its control and format
 * characters made visible, in every human view; JSON and YAML keep the exact value. Each view is
 * fed the same table of hostile values.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Chalk } from 'chalk';
import { hasUnsafe, quoted, visible, visibleLines } from '../../src/domain/visible.js';
import { parseCustomerId } from '../../src/domain/customer-id.js';
import { parseJobId } from '../../src/domain/job-id.js';
import { makeIO, Reporter, type IO } from '../../src/io.js';
import { planView, renderBulkSummary, renderPlan, planTotals, type PlanView } from '../../src/output/plan.js';
import { renderRestorePlan } from '../../src/output/restore-plan.js';
import { customerStatusView, jobListView, jobView, renderDeliveries, renderJob } from '../../src/output/job-view.js';
import { humanIO, jsonText, print, printTable, view, type OutputFormat } from '../../src/output/print.js';
import { errorText, commanderErrorText } from '../../src/output/error.js';
import { h, paint, styled } from '../../src/output/text.js';
import { formatAnswer } from '../../src/commands/complete.js';
import { confirmOrRefuse } from '../../src/prompt.js';
import type { Job } from '../../src/domain/job.js';
import type { DeliveryView } from '../../src/domain/webhook.js';
import type { CustomerRow } from '../../src/adapters/store.js';
import type { Inspection } from '../../src/pipeline/types.js';
import type { RestorePlanView } from '../../src/pipeline/restore.js';
import { bufferIO } from '../support/buffer-io.js';

/** Values an attacker (a billing form, a chart author, a server) could put where custctl reads. */
const HOSTILE: Array<[string, string]> = [
  ['an OSC 8 hyperlink', '\x1b]8;;https://evil.example/\x07Acme Corp\x1b]8;;\x07'],
  ['clear screen and home', 'Acme\x1b[2J\x1b[H'],
  ['a colour that never ends', 'Acme\x1b[31m'],
  ['a window title (OSC 0)', '\x1b]0;pwned\x07Acme'],
  ['a carriage return over the line', 'Acme\rOK    cust_other deleted'],
  ['a fake line after a line feed', 'Acme\nOK    cust_other deleted'],
  ['an 8-bit CSI (C1)', 'Acme\u009b2J'],
  ['a C1 OSC with ST', '\u009d0;pwned\u009cAcme'],
  ['a right-to-left override', 'ops@\u202eelpmaxe.moc'],
  ['a bidi isolate', 'a\u2066b\u2069c'],
  ['a zero-width space', 'cust\u200b_abc123'],
  ['a byte-order mark and a soft hyphen', '\ufeffAc\u00adme'],
  ['NUL, BEL and DEL', 'a\x00b\x07c\x7fd'],
  ['backspaces over the text', 'safe\b\b\b\bEVIL'],
  ['a line separator', 'a\u2028b\u2029c'],
  ['a tag character', 'Acme\u{e0041}'],
];

/** Nothing a terminal would act on or hide, except line breaks (ours). */
function expectInert(text: string): void {
  const bad = [...text].filter((ch) => ch !== '\n' && hasUnsafe(ch));
  expect(bad.map((ch) => `U+${(ch.codePointAt(0) ?? 0).toString(16)}`)).toEqual([]);
}

/** No line of `text` begins with the line a value tried to forge. */
function expectNoForgedLine(text: string): void {
  for (const l of text.split('\n')) expect(l.startsWith('OK    cust_other')).toBe(false);
}

/** Only SGR colour sequences (ours) once colour is on: take them out, and nothing unsafe is left. */
function expectOnlyOurColour(text: string): void {
  // eslint-disable-next-line no-control-regex
  expectInert(text.replace(/\x1b\[\d+(;\d+)*m/g, ''));
}

const colour = new Chalk({ level: 1 });

describe('visible: the one way an outside value is shown', () => {
  it.each(HOSTILE)('%s: escaped, nothing left that a terminal acts on, idempotent', (_name, v) => {
    const shown = visible(v);
    expectInert(shown);
    expect(shown).not.toContain('\n');
    expect(visible(shown)).toBe(shown);
  });

  it.each([
    ['\x1b[2J', '\\u001b[2J'],
    ['a\rb', 'a\\rb'],
    ['a\nb\tc', 'a\\nb\\tc'],
    ['\u009b31m', '\\u009b31m'],
    ['ops@\u202eelpmaxe.moc', 'ops@\\u202eelpmaxe.moc'],
    ['x\u{e0041}', 'x\\u{e0041}'],
    ['Zoë 株式会社 🚀 Ünïcödé', 'Zoë 株式会社 🚀 Ünïcödé'],
    ['C:\\dir "quoted"', 'C:\\dir "quoted"'],
  ])('visible(%j) = %s', (v, expected) => {
    expect(visible(v)).toBe(expected);
  });

  it('quoted: JSON quoting, and the characters JSON leaves raw escaped too', () => {
    expect(quoted('a"b\\c\x1b')).toBe(JSON.stringify('a"b\\c\x1b'));
    expect(quoted('a\u009bb\u202ec')).toBe('"a\\u009bb\\u202ec"');
    expect(visibleLines('a\x1b[2J\nb\rc')).toBe('a\\u001b[2J\nb\\rc');
  });

  it.each(HOSTILE)('the customer ID and job id errors show %s escaped', (_name, v) => {
    for (const f of [() => parseCustomerId(`cust_${v}`), () => parseJobId(v)]) {
      let message = '';
      try {
        f();
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).not.toBe('');
      expectInert(message);
      expect(message).not.toContain('\n');
    }
  });
});

const row = (v: string): CustomerRow => ({
  id: 1, customerId: 'cust_abc123', email: `ops${v}@example.com`, companyName: v, deploymentStatus: 'deployed', instanceNamespace: 'customer-abc123',
  instanceUrl: `https://x.example/${v}`, deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: '', updatedAt: `2026-12-01T10:00:00.000Z${v}`,
});

function hostilePlan(v: string): PlanView {
  const insp: Inspection = {
    customer: { id: 'cust_abc123', key: 'abc123' },
    namespace: 'customer-abc123',
    row: row(v),
    releases: [{ name: `rel${v}`, namespace: 'customer-abc123', status: `deployed${v}`, chart: `chart${v}`, revision: '1', clusterScoped: [{ kind: 'StorageClass', name: `sc${v}`, apiVersion: 'storage.k8s.io/v1' }], outsideNamespace: [{ kind: 'ConfigMap', namespace: `ns${v}`, name: `cm${v}`, apiVersion: 'v1' }], clusterRbac: [],
      unreadable: [{ index: 2, source: `templates/x${v}.yaml`, reason: `not valid YAML: bad${v}` }], deleteHooks: [{ kind: 'Job', name: `hook${v}`, events: ['pre-delete'] }], removal: { by: 'helm', why: `delete hooks: pre-delete Job/hook${v}` } }],
    ns: { name: 'customer-abc123', uid: 'u1', phase: 'Active', conditions: [], finalizers: [] },
    rbac: { owned: [{ kind: 'ClusterRole', name: `cabc123-customer-instance${v}`, rule: 'name' }], keptByPolicy: [{ kind: 'ClusterRole', name: `kept${v}`, rule: 'name' }], keptUnowned: [{ kind: 'ClusterRoleBinding', name: `unowned${v}` }] },
    pvcs: [{ name: `data${v}`, phase: 'Bound', storage: `1Gi${v}`, volumeName: `pv${v}`, reclaimPolicy: 'Delete' }],
    objects: [{ resource: `widgets${v}`, kind: 'Widget', count: 2 }],
  } as unknown as Inspection;
  const p = planView(insp, insp.row, 'cust_abc123', 'customer-abc123', false);
  p.backup = { url: `s3://bucket/${v}`, covers: 'everything', notCovered: [`the data in PVC data${v}`], encryptedTo: [`age1${v}qqqqqqqqqqqqqqqqq`] };
  p.volumeSnapshots = { class: `cls${v}`, refused: `no such class ${v}` };
  return p;
}

function hostileJob(v: string): Job {
  return {
    id: '12', name: 'delete', state: 'failed', progress: 25, data: { customerId: 'cust_abc123', namespace: 'customer-abc123' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, timeoutMs: 600_000 },
    attemptsMade: 3, maxAttempts: 3, delayUntil: null, failedReason: `helm failed: ${v}\nsecond line ${v}`, failedCode: 'internal',
    stacktrace: [], returnvalue: { outcome: `deleted${v}`, reason: v, warnings: [`warning ${v}`] }, requestedBy: `op${v} (cli)`, simulated: false,
    timestamp: 0, processedOn: 1000, finishedOn: 61_000, previousStatus: null,
    attempts: [{ attempt: 1, startedOn: 0, finishedOn: 5000, worker: `1@host${v}`, outcome: 'failed', error: `boom ${v}`, log: [`2026-12-01T10:00:00.000Z INFO  line ${v}`] }],
    lease: null,
  };
}

function hostileDelivery(v: string): DeliveryView {
  return { id: `d-1${v}`, jobId: '12', endpoint: `ops${v}`, url: `https://hooks.example/${v}`, event: 'job.failed', state: 'pending', attempts: 2, statusCode: 500, lastError: `HTTP 500: ${v}`, createdAt: 0, lastAttemptAt: 1, nextAttemptAt: 2, deliveredAt: null, giveUpAt: 3 };
}

function restorePlan(v: string): RestorePlanView {
  return {
    customerId: 'cust_abc123', namespace: 'customer-abc123', from: `file:///backups/${v}.tar.gz`,
    backup: { createdAt: `2026${v}`, custctlVersion: `0.1${v}`, cluster: { server: `https://k${v}`, context: `ctx${v}` }, entries: 3, counts: {}, releases: [`rel${v}`], sha256: `sha${v}` },
    create: [{ kind: `Kind${v}`, count: 1 }], skipped: [{ kind: `Pod${v}`, name: 'p', reason: 'r' }], clusterRbac: [`ClusterRole/cr${v}`], row: { status: 'pending', change: `row ${v}` },
  };
}

/** A human view printed (`-o table`) into a buffer: what stdout received. */
async function human(v: Parameters<typeof print>[2], io = bufferIO()): Promise<string> {
  await print(io.io, 'table', v);
  return io.out();
}

describe.each(HOSTILE)('every human view, with %s', (_name, v) => {
  it('the plan (dry run and confirmation): company, e-mail, releases, charts, objects, PVCs, RBAC, backup', () => {
    const text = renderPlan(hostilePlan(v), bufferIO().io.chalk).text;
    expectInert(text);
    expectNoForgedLine(text);
    expect(text).toContain(visible(v));
    expectOnlyOurColour(renderPlan(hostilePlan(v), colour).text);
  });

  it('the bulk summary', () => {
    expectInert(renderBulkSummary([hostilePlan(v), hostilePlan(v)], bufferIO().io.chalk).text);
  });

  it('the restore plan', () => {
    const text = renderRestorePlan(restorePlan(v), bufferIO().io.chalk).text;
    expectInert(text);
    expect(text).toContain(visible(v));
    expectOnlyOurColour(renderRestorePlan(restorePlan(v), colour).text);
  });

  it('status job: failure, result, warnings, requester, worker, attempt error, log lines, webhook deliveries', async () => {
    const j = hostileJob(v);
    const text = await human(jobView(j, 100_000, [hostileDelivery(v)]));
    expectInert(text);
    expectNoForgedLine(text);
    expect(text).toContain(visible(v));
    expectOnlyOurColour(renderJob(j, colour, 100_000).text + renderDeliveries([hostileDelivery(v)], colour, 100_000).text);
  });

  it('jobs list and status customer: tables and the row', async () => {
    expectInert(await human(jobListView([hostileJob(v)], 100_000, () => undefined)));
    const text = await human(customerStatusView({ customer: row(v), jobs: [hostileJob(v)] }, 'none', 0));
    expectInert(text);
    expectNoForgedLine(text);
    expect(text).toContain(visible(v));
  });

  it('any table cell, and any plain string a human view writes', async () => {
    const b = bufferIO();
    await printTable(humanIO(b.io), ['A', 'B'], [[v, 1], [styled('ours'), v]]);
    await print(b.io, 'table', view(null, (io) => void io.out.write(`customer ${v} added\n`)));
    expectInert(b.out());
    expectNoForgedLine(b.out());
    expect(b.out()).toMatch(/customer .* added\n$/);
  });

  it('log lines (stderr), on a terminal and not: message and fields', () => {
    for (const tty of [false, true]) {
      const b = bufferIO({ tty });
      const log = new Reporter(b.io, () => new Date(0));
      log.info(`Deleting ${v}`, { company: v, n: 1, list: [v] });
      log.error(v);
      log.step('warn', v, { v });
      log.line(`  cust_x | ${v}`);
      log.line(h`${v}`);
      expectInert(b.err());
      expectNoForgedLine(b.err());
      expect(b.err().split('\n').filter(Boolean)).toHaveLength(5);
    }
  });

  it('errors: message and details, main\'s and commander\'s', () => {
    const b = bufferIO();
    const text = errorText(b.io, `cust_abc123: ${v}`, [`detail ${v}`]) + commanderErrorText(b.io, `error: unknown option '${v}'\n`);
    expectInert(text);
    expectNoForgedLine(text);
  });

  it('completion candidates: descriptions made visible, a value a terminal would act on not offered', () => {
    const text = formatAnswer({ candidates: [{ value: 'cust_abc123', description: `${v} (deployed)` }, { value: `cust_${v}`, description: 'x' }], files: false });
    expectInert(text.replace(/\t/g, ' '));
    expect(text.split('\n')).toHaveLength(hasUnsafe(`cust_${v}`) ? 3 : 4);
  });

  it('the confirmation prompt: the question made visible', async () => {
    const stdin = new PassThrough();
    const stderr = new PassThrough();
    for (const s of [stdin, stderr]) Object.assign(s, { isTTY: true, columns: 100, rows: 24 });
    Object.assign(stdin, { setRawMode: () => stdin });
    let screen = '';
    stderr.on('data', (b: Buffer) => {
      screen += b.toString();
      if (screen.includes('to confirm') && !screen.includes('✖')) setImmediate(() => stdin.write('no\r'));
    });
    const io = makeIO({ stdin, stdout: new PassThrough(), stderr }, { NO_COLOR: '1' });
    await expect(confirmOrRefuse({ io }, `Delete cust_abc123 (${v})? Type its customer ID to confirm`, 'cust_abc123', 'delete')).rejects.toThrow(/confirmation refused/);
    // readline's own cursor movements and line ends aside, nothing of the value reaches the terminal raw
    // eslint-disable-next-line no-control-regex
    expectInert(screen.replace(/\x1b\[\d*[A-Za-z]/g, '').replace(/\r\n/g, '\n').replace(/\r$/gm, ''));
    expect(screen).not.toContain(v);
    expect(screen).toContain(visible(v));
  });

  it.each(['json', 'yaml'] as OutputFormat[])('-o %s keeps the exact value, and nothing in the text acts on a terminal', async (format) => {
    const data = { customer: row(v), job: hostileJob(v), [`key${v}`]: v };
    const b = bufferIO();
    await print(b.io, format, view(data, () => undefined));
    expectInert(b.out());
    const back: unknown = format === 'json' ? JSON.parse(b.out()) : (await import('yaml')).parse(b.out());
    expect(back).toEqual(JSON.parse(JSON.stringify(data)));
  });
});

describe('JSON text', () => {
  it('escapes what JSON.stringify leaves raw (C1, bidi, format characters), and parses back to the same value', () => {
    const v = { a: '\u009b2J\u202e\u2066\u200b\ufeff\u2028\u{e0041}\x7f' };
    const text = jsonText(v);
    expectInert(text.replace(/\n/g, ''));
    expect(JSON.parse(text)).toEqual(v);
  });
});

describe('colour is decided per stream', () => {
  const streams = (out: boolean, err: boolean) => {
    const s = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
    if (out) Object.assign(s.stdout, { isTTY: true });
    if (err) Object.assign(s.stderr, { isTTY: true });
    return s;
  };
  it.each([
    [true, true, true, true],
    [false, true, false, true],
    [true, false, true, false],
    [false, false, false, false],
  ])('stdout a terminal: %s, stderr a terminal: %s -> stdout colour %s, stderr colour %s', async (out, err, colorOut, colorErr) => {
    const { openIO } = await import('../../src/io.js');
    const io: IO = await openIO(streams(out, err), {});
    expect(io.color).toBe(colorOut);
    expect(io.errColor).toBe(colorErr);
    expect(io.chalk.red('x') !== 'x').toBe(colorOut);
    expect(io.errChalk.red('x') !== 'x').toBe(colorErr);
  });

  it('a table on a piped stdout has no escape codes while stderr is a terminal', async () => {
    const { openIO } = await import('../../src/io.js');
    const s = streams(false, true);
    let out = '';
    s.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const io = await openIO(s, {});
    await printTable(humanIO(io), ['ID', 'STATE'], [['1', paint(io.chalk).red('failed')]]);
    expect(out).not.toContain('\x1b');
  });
});

describe('the bulk summary adds the plans up', () => {
  it('customers, namespaces and their objects, releases, PVCs whose data is lost, cluster RBAC, objects in all', () => {
    const a = hostilePlan('');
    const b: PlanView = { ...hostilePlan(''), namespaceFound: false, objects: [], releases: [], pvcs: [], rbac: { delete: [], keptByPolicy: [], keptUnowned: [] } };
    const t = planTotals([a, a, b, null]);
    expect(t).toMatchObject({ customers: 4, inspected: 3, namespaces: 2, namespacesGone: 1, namespaceObjects: 4, releases: 2, pvcs: 2, pvcsDataLost: 2, rbac: 2, outside: 4, total: 10 });
    const text = renderBulkSummary([a, a, b, null], bufferIO().io.chalk).text;
    expect(text).toMatch(/^Summary\s+4 customers$/m);
    expect(text).toMatch(/2 namespaces with 4 objects \(1 already gone\)/);
    expect(text).toMatch(/2 Helm releases holding 4 objects outside their namespaces/);
    expect(text).toMatch(/2 PVCs whose data is lost \(of 2 PVCs\)/);
    expect(text).toMatch(/2 cluster RBAC objects/);
    expect(text).toMatch(/10 objects deleted in all \(1 customer not inspected\)/);
  });

  it('simulated: says the cluster is not inspected', () => {
    const p = planView(null, row(''), 'cust_a', 'customer-a', true);
    expect(renderBulkSummary([p, p], bufferIO().io.chalk).text).toMatch(/Summary\s+2 customers\n\s+not inspected here \(simulated: the cluster is not touched\)/);
  });
});
