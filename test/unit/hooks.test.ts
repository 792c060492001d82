/**
 * Deletion hooks, the parts without a network: the points and their place among the pipeline's
 * progress marks, the delivery id (RFC 9562 v5: the published vector, stable across tries,
 * attempts and workers, distinct per job, point and endpoint), the body, what each answer means,
 * the message as it may be shown, the typed errors, the plan and result lines, and the
 * configuration file's refusals (none of which may quote a secret). The calls against a real
 * receiver are test/unit/hooks-http.test.ts.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHookUrl, isLoopbackHost, loadHookConfig } from '../../src/adapters/hook-config.js';
import {
  answerMessage,
  boundMessage,
  HOOK_POINT_INFO,
  hookDeliveryId,
  HookFailedError,
  hookPayload,
  hookPlanLines,
  HookRefusedError,
  hookResultLines,
  judgeAnswer,
  makeHookEndpoint,
  MAX_MESSAGE_CHARS,
  pointPassed,
  uuidV5,
  type HookHttpAnswer,
  type HookPointResult,
} from '../../src/domain/hooks.js';
import { signBody, webhookPayload } from '../../src/domain/webhook.js';
import { ConflictError, isPermanent, OperationError, UsageError } from '../../src/errors.js';
import { BACKUP_PROGRESS } from '../../src/pipeline/steps/backup.js';
import { helmUninstallStep } from '../../src/pipeline/steps/helm-uninstall.js';
import { rbacStep } from '../../src/pipeline/steps/rbac.js';
import { rowStep } from '../../src/pipeline/steps/row.js';
import { SNAPSHOT_PROGRESS } from '../../src/pipeline/steps/volume-snapshots.js';
import type { Job } from '../../src/domain/job.js';
import { hookCallOf } from '../../src/pipeline/hooks.js';
import { emptyResult } from '../../src/pipeline/run.js';
import { runningDeleteJob } from '../support/fakes.js';
import { parseCustomerId } from '../../src/domain/customer-id.js';

const SECRET = 'hooksec-0123456789abcdef-unit';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'custctl-hooks-unit-'));
  dirs.push(d);
  return d;
}

const JOB = { id: '42', timestamp: Date.UTC(2026, 11, 1, 13, 0, 0), requestedBy: 'alice@ops-1 (cli)', maxAttempts: 3 };

describe('points', () => {
  it('before comes after the snapshots and the backup and before Helm; after-cluster after the RBAC and before the row', () => {
    expect(HOOK_POINT_INFO.before.progress).toBeGreaterThan(SNAPSHOT_PROGRESS);
    expect(HOOK_POINT_INFO.before.progress).toBeGreaterThan(BACKUP_PROGRESS);
    expect(HOOK_POINT_INFO.before.progress).toBeLessThan(helmUninstallStep.progress as number);
    expect(HOOK_POINT_INFO['after-cluster'].progress).toBeGreaterThan(rbacStep.progress as number);
    expect(HOOK_POINT_INFO['after-cluster'].progress).toBeLessThan(rowStep.progress as number);
  });

  it.each([
    ['before', 0, false], ['before', SNAPSHOT_PROGRESS, false], ['before', BACKUP_PROGRESS, false],
    ['before', 7, true], ['before', 25, true], ['before', 70, true],
    ['after-cluster', 25, false], ['after-cluster', 85, false], ['after-cluster', 90, true], ['after-cluster', 100, true],
  ] as const)('%s at progress %d: passed %s', (point, progress, passed) => {
    expect(pointPassed(point, progress)).toBe(passed);
  });
});

describe("a step's input (hookCallOf)", () => {
  const job = runningDeleteJob('cust_abc123', 'customer-abc123', {}, { id: '42', timestamp: JOB.timestamp, progress: 5, data: { customerId: 'cust_abc123', namespace: 'customer-abc123', scheduledFor: JOB.timestamp + 86_400_000 } });
  const ctx = () => {
    const result = emptyResult(job, 'cust_abc123', 'customer-abc123');
    return { job, customer: parseCustomerId('cust_abc123'), namespace: 'customer-abc123', signal: new AbortController().signal, log: () => undefined, result };
  };

  it('before: the job and customer, no deleted part', () => {
    const i = hookCallOf(ctx(), 'before', 2);
    expect(i).toMatchObject({ point: 'before', customerId: 'cust_abc123', namespace: 'customer-abc123', attempt: 2, job: { id: '42', timestamp: JOB.timestamp, progress: 5, scheduledFor: JOB.timestamp + 86_400_000 } });
    expect(i.deleted).toBeUndefined();
  });

  it("after-cluster: what the steps recorded, counted as the audit row counts it", () => {
    const c = ctx();
    c.result.releases = [{ name: 'customer-abc123', outcome: 'uninstalled' }, { name: 'other', outcome: 'not-found' }];
    c.result.rbac.deleted = [{ kind: 'ClusterRole', name: 'cabc123-x' }];
    c.result.namespaceOutcome = 'deleted';
    const i = hookCallOf({ ...c, inspection: { manifestKinds: { Deployment: 1, Service: 2 } } as never, pvcs: [{}, {}] as never }, 'after-cluster', 1);
    expect(i.deleted).toEqual({ releases: ['customer-abc123'], objects: { Deployment: 1, Service: 2, PersistentVolumeClaim: 2 }, rbac: ['ClusterRole/cabc123-x'], namespace: 'deleted' });
  });
});

describe('the delivery id', () => {
  it('is an RFC 9562 version-5 UUID (the published vector: www.example.com in the DNS namespace)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  const base = { customerId: 'cust_abc123', jobId: '42', jobCreatedAt: JOB.timestamp, point: 'before' as const, endpoint: 'billing' };

  it('is the same for the same job, point and endpoint (every try, attempt and worker)', () => {
    const id = hookDeliveryId(base);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(hookDeliveryId({ ...base })).toBe(id);
  });

  it.each([
    ['another customer', { customerId: 'cust_abc124' }],
    ['another job', { jobId: '43' }],
    ['a job of the same id created at another time (another journal)', { jobCreatedAt: JOB.timestamp + 1 }],
    ['another point', { point: 'after-cluster' as const }],
    ['another endpoint', { endpoint: 'billing-eu' }],
  ])('differs for %s', (_what, change) => {
    expect(hookDeliveryId({ ...base, ...change })).not.toBe(hookDeliveryId(base));
  });
});

describe('the body', () => {
  it('before: the customer, namespace, job, attempt and point; nothing deleted yet', () => {
    const b = hookPayload({ point: 'before', deliveryId: 'd-1', now: JOB.timestamp + 5_000, customerId: 'cust_abc123', namespace: 'customer-abc123', job: JOB, attempt: 2 });
    expect(b).toEqual({
      event: 'hook.before',
      deliveryId: 'd-1',
      point: 'before',
      timestamp: '2026-12-01T13:00:05.000Z',
      customerId: 'cust_abc123',
      namespace: 'customer-abc123',
      job: { id: '42', kind: 'delete', attempt: 2, maxAttempts: 3, requestedBy: 'alice@ops-1 (cli)', requestedAt: '2026-12-01T13:00:00.000Z', scheduledFor: null },
      deleted: null,
    });
  });

  it("after-cluster: what was deleted, in the webhooks' shape, and what the namespace step found", () => {
    const deleted = { releases: ['customer-abc123'], objects: { Deployment: 1, Service: 2 }, rbac: ['ClusterRole/cabc123-x', 'ClusterRoleBinding/cabc123-x'] };
    const b = hookPayload({ point: 'after-cluster', deliveryId: 'd-2', now: JOB.timestamp, customerId: 'cust_abc123', namespace: 'customer-abc123', job: { ...JOB, scheduledFor: Date.UTC(2026, 11, 8) }, attempt: 1, deleted: { ...deleted, namespace: 'deleted' } });
    expect(b.event).toBe('hook.after-cluster');
    expect(b.job.scheduledFor).toBe('2026-12-08T00:00:00.000Z');
    const asWebhook = webhookPayload({ ...jobOf(deleted) }, 'completed', 'w', JOB.timestamp).deleted;
    expect(b.deleted).toEqual({ ...asWebhook, namespace: 'deleted' });
    expect(b.deleted).toMatchObject({ releases: 1, objects: 3, clusterRbac: 2 });
  });

  it('after-cluster in an attempt that found everything gone: zeros, already-gone', () => {
    const b = hookPayload({ point: 'after-cluster', deliveryId: 'd', now: 0, customerId: 'cust_abc123', namespace: 'customer-abc123', job: JOB, attempt: 2, deleted: { releases: [], objects: {}, rbac: [], namespace: 'already-gone' } });
    expect(b.deleted).toEqual({ releases: 0, objects: 0, objectsByKind: {}, clusterRbac: 0, names: { releases: [], clusterRbac: [] }, namespace: 'already-gone' });
  });
});

function jobOf(deleted: { releases: string[]; objects: Record<string, number>; rbac: string[] }): Job {
  return {
    id: '42', name: 'delete', state: 'completed', progress: 100, data: { customerId: 'cust_abc123', namespace: 'customer-abc123' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 1 }, attemptsMade: 1, maxAttempts: 3, delayUntil: null,
    failedReason: null, failedCode: null, stacktrace: [], returnvalue: { deleted }, requestedBy: 'x', simulated: false,
    timestamp: JOB.timestamp, processedOn: null, finishedOn: null, attempts: [], lease: null,
  };
}

describe('what an answer means', () => {
  const a = (status: number, o: Partial<HookHttpAnswer> = {}): HookHttpAnswer => ({ status, statusText: '', contentType: null, body: '', truncated: false, ...o });
  const json = (status: number, v: unknown, o: Partial<HookHttpAnswer> = {}) => a(status, { contentType: 'application/json; charset=utf-8', body: JSON.stringify(v), ...o });

  it.each([
    ['200 with a JSON message', json(200, { message: 'final invoice in_1 sent' }), { kind: 'continue', message: 'final invoice in_1 sent' }],
    ['204 without a body', a(204), { kind: 'continue', message: null }],
    ['202 text/plain', a(202, { contentType: 'text/plain', body: 'queued\n' }), { kind: 'continue', message: 'queued' }],
    ['200 JSON without a message', json(200, { ok: true }), { kind: 'continue', message: null }],
    ['200 HTML (not a message)', a(200, { contentType: 'text/html', body: '<h1>ok</h1>' }), { kind: 'continue', message: null }],
    ['409 with a JSON message', json(409, { message: 'open dispute dp_1' }), { kind: 'refuse', message: 'open dispute dp_1' }],
    ['422 problem+json', json(422, { message: 'legal hold' }, { contentType: 'application/problem+json' }), { kind: 'refuse', message: 'legal hold' }],
    ['400 without a body', a(400), { kind: 'refuse', message: null }],
    ['401 (a wrong secret refuses: nothing is deleted)', a(401, { statusText: 'Unauthorized' }), { kind: 'refuse', message: null }],
    ['408 is "later", not a refusal', a(408, { statusText: 'Request Timeout' }), { kind: 'retry', why: 'HTTP 408 Request Timeout' }],
    ['429 with Retry-After', a(429, { statusText: 'Too Many Requests', retryAfterMs: 2_000 }), { kind: 'retry', why: 'HTTP 429 Too Many Requests', afterMs: 2_000 }],
    ['500', a(500, { statusText: 'Internal Server Error' }), { kind: 'retry', why: 'HTTP 500 Internal Server Error' }],
    ['503 with Retry-After', a(503, { statusText: 'Service Unavailable', retryAfterMs: 1_000 }), { kind: 'retry', why: 'HTTP 503 Service Unavailable', afterMs: 1_000 }],
    ['302 (not followed)', a(302), { kind: 'fail', why: expect.stringMatching(/^HTTP 302 \(a redirect: not followed/) }],
    ['199', a(199), { kind: 'fail', why: 'HTTP 199: not an answer custctl acts on' }],
  ])('%s', (_what, answer, verdict) => {
    expect(judgeAnswer(answer)).toEqual(verdict);
  });

  it('a message is one line of visible characters: escapes, bidi overrides and line breaks cannot forge output', () => {
    const m = answerMessage({ contentType: 'application/json', body: JSON.stringify({ message: 'refused\n\u001b[2J\u001b]8;;https://evil\u0007click\u202eexe.txt\r\nok' }), truncated: false });
    expect(m).toBe('refused \\u001b[2J\\u001b]8;;https://evil\\u0007click\\u202eexe.txt ok');
    expect(m).not.toMatch(/[\u0000-\u001f\u007f\u202e]/);
  });

  it(`a message is at most ${MAX_MESSAGE_CHARS} characters, an escape kept whole`, () => {
    const long = boundMessage('x'.repeat(5_000)) as string;
    expect(Array.from(long)).toHaveLength(MAX_MESSAGE_CHARS);
    expect(long.endsWith('…')).toBe(true);
    const escapes = boundMessage(`${'y'.repeat(MAX_MESSAGE_CHARS - 4)}\u001b\u001b`) as string;
    expect(escapes).toBe(`${'y'.repeat(MAX_MESSAGE_CHARS - 4)}…`);
    expect(boundMessage('x'.repeat(MAX_MESSAGE_CHARS))).toBe('x'.repeat(MAX_MESSAGE_CHARS));
    expect(boundMessage('  \n ')).toBeNull();
  });

  it('a JSON answer cut at the bound has no message; a cut text one shows its start', () => {
    expect(answerMessage({ contentType: 'application/json', body: '{"message":"a', truncated: true })).toBeNull();
    expect(answerMessage({ contentType: 'application/json', body: '{"message":', truncated: false })).toBeNull();
    expect(answerMessage({ contentType: 'text/plain', body: 'busy until', truncated: true })).toBe('busy until…');
  });
});

describe('errors', () => {
  const call = { endpoint: 'billing', url: 'https://billing.example/custctl?…', deliveryId: 'd-1', tries: 1, durationMs: 5 };

  it('a refusal before: permanent, exit 4, nothing deleted (the row is handed back), the answer shown', () => {
    const r: HookPointResult = { point: 'before', outcome: 'refused', calls: [{ ...call, point: 'before', outcome: 'refused', status: 409, message: 'open dispute dp_1' }], notCalled: ['audit'] };
    const e = new HookRefusedError(r, r.calls[0] as never, '42');
    expect(e).toBeInstanceOf(ConflictError);
    expect(isPermanent(e)).toBe(true);
    expect(e.exitCode).toBe(4);
    expect(e.nothingDeleted).toBe(true);
    expect(e.message).toBe('hook billing refused the deletion (HTTP 409): open dispute dp_1');
    expect(e.details.join('\n')).toContain('Nothing was deleted; the row was handed back.');
  });

  it('a refusal after the cluster part: permanent, not "nothing deleted", says how to go on', () => {
    const r: HookPointResult = { point: 'after-cluster', outcome: 'refused', calls: [{ ...call, point: 'after-cluster', outcome: 'refused', status: 422, message: null }], notCalled: [] };
    const e = new HookRefusedError(r, r.calls[0] as never, '42');
    expect(e.nothingDeleted).toBe(false);
    expect(isPermanent(e)).toBe(true);
    expect(e.message).toBe('hook billing refused after the cluster part (HTTP 422)');
    expect(e.details.join('\n')).toMatch(/custctl jobs retry 42/);
  });

  it('a failure after the tries: exit 1, not permanent (a later attempt calls again)', () => {
    const r: HookPointResult = { point: 'before', outcome: 'failed', calls: [{ ...call, tries: 4, point: 'before', outcome: 'failed', status: 503, error: 'HTTP 503 Service Unavailable' }], notCalled: [] };
    const e = new HookFailedError(r, r.calls[0] as never);
    expect(e).toBeInstanceOf(OperationError);
    expect(isPermanent(e)).toBe(false);
    expect(e.message).toBe('hook billing (before) failed after 4 tries: HTTP 503 Service Unavailable');
  });
});

describe('endpoints, plan and result lines', () => {
  const billing = makeHookEndpoint({ name: 'billing', url: 'https://billing.example/custctl?token=querysecret', secret: SECRET, points: ['before', 'after-cluster'] });
  const audit = makeHookEndpoint({ name: 'audit', url: 'https://audit.example/h', secret: SECRET, points: ['after-cluster'] });

  it('an endpoint shows neither its secret nor its query, and signs as the webhooks do', () => {
    for (const shown of [JSON.stringify(billing), inspect(billing, { depth: 5, showHidden: false })]) {
      expect(shown).not.toContain(SECRET);
      expect(shown).not.toContain('querysecret');
    }
    expect(billing.shownUrl).toBe('https://billing.example/custctl?…');
    expect(billing.sign('{"a":1}')).toBe(signBody(SECRET, '{"a":1}'));
    expect(billing.scrub(`echo ${SECRET}`)).toBe('echo <secret>');
  });

  it('plan lines: per point, the endpoints there in order, as data and as text', () => {
    expect(hookPlanLines([billing, audit], 'before').map((l) => l.endpoint)).toEqual(['billing']);
    const after = hookPlanLines([billing, audit], 'after-cluster');
    expect(after.map((l) => l.endpoint)).toEqual(['billing', 'audit']);
    expect(after[0]).toMatchObject({ point: 'after-cluster', url: 'https://billing.example/custctl?…', verb: 'POST', simulated: false, when: 'after the cluster part, before the row is reset' });
    expect(hookPlanLines([billing], 'before')[0]?.text).toBe('before anything is deleted: hook billing (POST https://billing.example/custctl?…, signed): a 4xx answer refuses the deletion: nothing is deleted and the row is handed back');
    expect(hookPlanLines([billing], 'before', { simulated: true })[0]).toMatchObject({ simulated: true, note: 'not called in a simulated run' });
    expect(JSON.stringify(after)).not.toContain('querysecret');
  });

  it('result lines', () => {
    const base = { url: billing.shownUrl, deliveryId: 'd', durationMs: 1 };
    expect(hookResultLines({ point: 'before', outcome: 'continued', calls: [{ ...base, endpoint: 'billing', point: 'before', outcome: 'continued', status: 200, message: 'ok, final invoice in_1', tries: 3 }], notCalled: [] }))
      .toEqual(['hook billing (before): continued (HTTP 200 after 3 tries): ok, final invoice in_1']);
    expect(hookResultLines({ point: 'before', outcome: 'refused', calls: [{ ...base, endpoint: 'billing', point: 'before', outcome: 'refused', status: 409, message: 'dispute', tries: 1 }], notCalled: ['audit'] }))
      .toEqual(['hook billing (before): refused (HTTP 409): dispute', 'hook audit (before): not called']);
    expect(hookResultLines({ point: 'after-cluster', outcome: 'failed', calls: [{ ...base, endpoint: 'billing', point: 'after-cluster', outcome: 'failed', status: null, error: 'connection refused (ECONNREFUSED)', tries: 4 }], notCalled: [] }))
      .toEqual(['hook billing (after-cluster): failed after 4 tries: connection refused (ECONNREFUSED)']);
    expect(hookResultLines({ point: 'before', outcome: 'none', calls: [], notCalled: [] })).toEqual([]);
    expect(hookResultLines({ point: 'before', outcome: 'passed', calls: [], notCalled: [] })).toEqual(['hooks (before): an earlier attempt of this job got past this point: not called again']);
  });
});

describe('the configuration file (CUSTCTL_HOOKS_FILE)', () => {
  it('unset: no hooks', async () => {
    expect(await loadHookConfig({})).toMatchObject({ endpoints: [], source: 'none' });
  });

  it('a good file: endpoints in order, points in the deletion\'s order, policy, secrets from the three sources', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'audit.secret'), `${SECRET}-file\n`, { mode: 0o600 });
    const file = join(dir, 'hooks.yaml');
    await writeFile(file, [
      'hooks:',
      '  - name: billing',
      '    url: https://billing.example/custctl?token=querysecret',
      '    secretEnv: BILLING_HOOK_SECRET',
      '    points: [after-cluster, before]',
      '    timeout: 5s',
      '    tries: 3',
      '  - name: audit',
      '    url: http://127.0.0.1:8080/h',
      '    secretFile: audit.secret',
      '    points: [after-cluster]',
      '  - name: in-cluster',
      '    url: http://billing.billing.svc:8080/h',
      '    allowHttp: true',
      `    secret: ${SECRET}`,
      '    points: [before]',
      '',
    ].join('\n'), { mode: 0o600 });
    const c = await loadHookConfig({ CUSTCTL_HOOKS_FILE: file, BILLING_HOOK_SECRET: `${SECRET}-env` });
    expect(c.source).toBe(`CUSTCTL_HOOKS_FILE ${file}`);
    expect(c.warnings).toEqual([]);
    expect(c.endpoints.map((e) => [e.name, e.points, e.policy.timeoutMs, e.policy.tries])).toEqual([
      ['billing', ['before', 'after-cluster'], 5_000, 3],
      ['audit', ['after-cluster'], 10_000, 4],
      ['in-cluster', ['before'], 10_000, 4],
    ]);
    expect(c.endpoints[0]?.sign('x')).toBe(signBody(`${SECRET}-env`, 'x'));
    expect(c.endpoints[1]?.sign('x')).toBe(signBody(`${SECRET}-file`, 'x'));
    expect(c.endpoints[2]?.sign('x')).toBe(signBody(SECRET, 'x'));
    expect(JSON.stringify(c)).not.toMatch(/querysecret|hooksec-/);
  });

  it('a file others can read that holds a secret inline: a warning', async () => {
    const dir = await tempDir();
    const file = join(dir, 'hooks.yaml');
    await writeFile(file, `hooks:\n  - name: a\n    url: https://a.example/\n    secret: ${SECRET}\n    points: [before]\n`);
    await chmod(file, 0o644);
    const c = await loadHookConfig({ CUSTCTL_HOOKS_FILE: file });
    expect(c.warnings).toEqual([`CUSTCTL_HOOKS_FILE ${file} holds secrets and is readable by everyone (mode 0644): chmod 600 ${file}, or move the secrets to secretEnv/secretFile`]);
  });

  const ok = (extra = '', over: Record<string, string> = {}) => {
    const fields: Record<string, string> = { name: 'billing', url: 'https://billing.example/h', secret: 'SECRETVALUE-0123456789', points: '[before]', ...over };
    return `hooks:\n  - ${Object.entries(fields).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}`).join('\n    ')}\n${extra}`;
  };

  it.each([
    ['an unknown top-level key', `${ok()}endpoints: []\n`, /unknown key "endpoints" \(the file holds hooks: \[\.\.\.\]\)/],
    ['not a mapping', '- a\n', /must hold a mapping with a hooks list/],
    ['an empty list', 'hooks: []\n', /hooks must be a list of at least one hook/],
    ['an entry that is not a mapping', 'hooks:\n  - billing\n', /hooks\[0\] must be a mapping/],
    ['an unknown key in a hook', ok('', { events: '[completed]' }), /hooks\[0\]: unknown key "events" \(known: name, url/],
    ['no name', ok('', { name: '' }), /hooks\[0\]: name is required/],
    ['a bad name', ok('', { name: 'Billing Service' }), /hooks\[0\]: name is required: lowercase/],
    ['a name twice', `${ok()}  - name: billing\n    url: https://b.example/\n    secret: SECRETVALUE-0123456789\n    points: [before]\n`, /hook billing is named twice/],
    ['no url', ok('', { url: '' }), /hook billing: url is required/],
    ['not a URL', ok('', { url: 'billing' }), /hook billing: url is not a URL/],
    ['not http(s)', ok('', { url: 'ftp://billing.example/h' }), /must be an http:\/\/ or https:\/\/ URL/],
    ['a password in the URL', ok('', { url: 'https://u:SECRETVALUE-pw@billing.example/h' }), /holds a user name or password/],
    ['a fragment', ok('', { url: 'https://billing.example/h#x' }), /has a #fragment/],
    ['plain http to another host', ok('', { url: 'http://billing.example/h' }), /is plain http: the answer decides whether a deletion goes ahead and is not signed/],
    ['allowHttp not a boolean', ok('', { url: 'http://billing.example/h', allowHttp: '"yes"' }), /allowHttp must be true or false/],
    ['a short secret', ok('', { secret: 'SECRETVALUE-012' }), /15 characters long: a hook secret needs at least 16/],
    ['two secret sources', ok('', { secretEnv: 'HOOK_SECRET' }), /exactly one of secret, secretEnv .* not secret and secretEnv/],
    ['no secret', ok('', { secret: '' }), /give exactly one of secret, secretEnv/],
    ['a secretEnv that is not set', ok('', { secret: '', secretEnv: 'NOT_SET_ANYWHERE' }), /secretEnv NOT_SET_ANYWHERE is not set/],
    ['a secretFile that cannot be read', ok('', { secret: '', secretFile: 'missing.secret' }), /cannot read secretFile .*missing\.secret: ENOENT/],
    ['no points', ok('', { points: '' }), /points is required: when the hook is called \(before, after-cluster\)/],
    ['no point in the list', ok('', { points: '[]' }), /points must be a list of at least one point/],
    ['an unknown point', ok('', { points: '[before, after]' }), /"after" is not a point; the points are before, after-cluster/],
    ['a timeout that is not a duration', ok('', { timeout: 'soon' }), /timeout: "soon" is not a duration/],
    ['a timeout too short', ok('', { timeout: '10ms' }), /timeout must be from 1s to 2m/],
    ['a timeout too long', ok('', { timeout: '1h' }), /timeout must be from 1s to 2m/],
    ['tries 0', ok('', { tries: '0' }), /tries must be a whole number from 1 to 10/],
    ['tries 11', ok('', { tries: '11' }), /tries must be a whole number from 1 to 10/],
    ['tries as text', ok('', { tries: '"3"' }), /tries must be a whole number/],
    ['not YAML (the line is not quoted)', 'hooks:\n  - name: a\n    secret: "SECRETVALUE-0123456789\n', /not valid YAML or JSON \(line \d+, column \d+\)/],
  ])('refused: %s', async (_what, text, msg) => {
    const dir = await tempDir();
    const file = join(dir, 'hooks.yaml');
    await writeFile(file, text, { mode: 0o600 });
    const e = await loadHookConfig({ CUSTCTL_HOOKS_FILE: file, HOOK_SECRET: 'SECRETVALUE-0123456789' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(msg);
    expect((e as Error).message).toContain(file);
    expect((e as Error).message).not.toContain('SECRETVALUE');
  });

  it.each([
    ['writable by its group', 0o664, /writable by its group \(mode 0664\): refusing to use it, whoever can write it could let deletions go ahead without asking your service/],
    ['writable by everyone', 0o646, /writable by everyone \(mode 0646\)/],
  ])('refused: a file %s', async (_what, mode, msg) => {
    const dir = await tempDir();
    const file = join(dir, 'hooks.yaml');
    await writeFile(file, ok());
    await chmod(file, mode);
    const e = await loadHookConfig({ CUSTCTL_HOOKS_FILE: file }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toMatch(msg);
    expect((e as UsageError).details).toEqual([`chmod 600 ${file}`]);
  });

  it('refused: a missing file, a directory', async () => {
    const dir = await tempDir();
    await expect(loadHookConfig({ CUSTCTL_HOOKS_FILE: join(dir, 'missing.yaml') })).rejects.toThrow(/cannot read CUSTCTL_HOOKS_FILE .*ENOENT/);
    await mkdir(join(dir, 'd'));
    await expect(loadHookConfig({ CUSTCTL_HOOKS_FILE: join(dir, 'd') })).rejects.toThrow(/is not a regular file/);
  });

  it.each([
    ['localhost', true], ['127.0.0.1', true], ['127.8.9.10', true], ['[::1]', true],
    ['billing.example', false], ['10.0.0.1', false], ['127.0.0.1.nip.io', false], ['localhost.example', false],
  ])('loopback %s: %s', (host, loop) => {
    expect(isLoopbackHost(host)).toBe(loop);
    const url = `http://${host}:8080/h`;
    if (loop) expect(checkHookUrl(url, 'u', false)).toBe(url);
    else expect(() => checkHookUrl(url, 'u', false)).toThrow(UsageError);
    expect(checkHookUrl(url, 'u', true)).toBe(url);
  });
});
