/**
 * Webhooks, the parts without a network: the signature (GitHub's published test vector), the
 * backoff schedule, the body, the configuration's refusals (none of which may quote a secret), and
 * the delivery loop over the real file delivery journal with a recording POST in place of HTTP.
 * The HTTP side against a real receiver is test/integration/webhooks.test.ts.
 */
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../../src/adapters/webhook-config.js';
import type { WebhookAnswer, WebhookRequest } from '../../src/adapters/webhook-http.js';
import { openFileDeliveryJournal } from '../../src/adapters/webhook-journal.js';
import {
  DEFAULT_WEBHOOK_POLICY,
  makeEndpoint,
  nextAttemptAt,
  retryDelay,
  retrySchedule,
  shownUrl,
  signBody,
  verifySignature,
  webhookPayload,
} from '../../src/domain/webhook.js';
import type { Job } from '../../src/domain/job.js';
import { UsageError } from '../../src/errors.js';
import type { Logger } from '../../src/io.js';
import { JobEvents } from '../../src/jobs/events.js';
import { Webhooks, withWebhooks } from '../../src/jobs/webhooks.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'custctl-hooks-'));
  dirs.push(d);
  return d;
}

const SECRET = 'whsec-0123456789abcdef-unit';

function job(over: Partial<Job> = {}): Job {
  return {
    id: '42', name: 'delete', state: 'completed', progress: 100,
    data: { customerId: 'cust_abc123', namespace: 'customer-abc123' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 }, timeoutMs: 600_000 },
    attemptsMade: 1, maxAttempts: 3, delayUntil: null, failedReason: null, failedCode: null, stacktrace: [],
    returnvalue: {
      outcome: 'deleted', releases: [{ name: 'customer-abc123', outcome: 'uninstalled' }],
      rbac: { deleted: [{ kind: 'ClusterRole', name: 'cabc123-customer-instance-opencost' }] },
      deleted: { releases: ['customer-abc123'], objects: { Deployment: 1, Service: 2, PersistentVolumeClaim: 1 }, rbac: ['ClusterRole/cabc123-customer-instance-opencost', 'ClusterRoleBinding/cabc123-customer-instance-opencost'] },
    },
    requestedBy: 'alice@host (cli)', simulated: false,
    timestamp: 1_700_000_000_000, processedOn: 1_700_000_001_000, finishedOn: 1_700_000_008_500,
    attempts: [], lease: null,
    ...over,
  };
}

describe('the signature', () => {
  it("is GitHub's: HMAC-SHA256 of the raw body, hex, after sha256= (their published test vector)", () => {
    // docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!"
    expect(signBody("It's a Secret to Everybody", 'Hello, World!')).toBe('sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
  });

  it('verifies the right secret and body only, in constant time, whatever the header holds', () => {
    const body = '{"event":"job.completed"}';
    const sig = signBody(SECRET, body);
    expect(verifySignature(SECRET, body, sig)).toBe(true);
    expect(verifySignature(`${SECRET}x`, body, sig)).toBe(false); // wrong secret
    expect(verifySignature(SECRET, `${body} `, sig)).toBe(false); // body changed by one byte
    expect(verifySignature(SECRET, body, sig.slice(0, -1))).toBe(false); // shorter: no throw from timingSafeEqual
    expect(verifySignature(SECRET, body, undefined)).toBe(false);
    expect(verifySignature(SECRET, body, sig.replace('sha256=', 'sha1='))).toBe(false);
  });

  it('an endpoint signs with its secret and shows none of it (JSON, inspect, URL query)', () => {
    const ep = makeEndpoint({ name: 'billing', url: 'https://billing.example/hooks?token=querysecret', secret: SECRET });
    expect(ep.sign('x')).toBe(signBody(SECRET, 'x'));
    expect(JSON.stringify(ep)).not.toContain(SECRET);
    expect(JSON.stringify(ep)).not.toContain('querysecret');
    expect(ep.shownUrl).toBe('https://billing.example/hooks?…');
    expect(ep.scrub(`failed with ${SECRET} inside`)).toBe('failed with <secret> inside');
    expect(shownUrl('http://127.0.0.1:9/x#frag')).toBe('http://127.0.0.1:9/x');
  });
});

describe('the retry schedule', () => {
  const policy = { baseDelayMs: 10_000, maxDelayMs: 3_600_000, windowMs: 24 * 3_600_000 };

  it.each([
    [1, 10_000], [2, 20_000], [3, 40_000], [4, 80_000], [9, 2_560_000], [10, 3_600_000], [30, 3_600_000],
  ])('after %i failed tries the wait is at most %i ms (base × 2^(n−1), capped)', (n, max) => {
    expect(retryDelay(n, policy, () => 1)).toBe(max);
    expect(retryDelay(n, policy, () => 0)).toBe(max / 2); // jitter: 50–100 %
  });

  it('jitter spreads the waits between half and all of the step', () => {
    const seen = Array.from({ length: 200 }, (_, i) => retryDelay(3, policy, () => i / 200));
    expect(Math.min(...seen)).toBe(20_000);
    expect(Math.max(...seen)).toBeLessThanOrEqual(40_000);
    expect(new Set(seen).size).toBeGreaterThan(100);
  });

  it('the last try is at the end of the window, and none after it', () => {
    const giveUpAt = 100_000;
    expect(nextAttemptAt(95_000, 1, giveUpAt, policy, () => 1)).toBe(100_000); // cut to the deadline
    expect(nextAttemptAt(100_000, 2, giveUpAt, policy, () => 1)).toBeNull();
    expect(nextAttemptAt(10_000, 1, giveUpAt, policy, () => 0)).toBe(15_000);
  });

  it('the defaults: 10 s doubling to 1 h, for 24 h (README table)', () => {
    expect(DEFAULT_WEBHOOK_POLICY).toMatchObject({ baseDelayMs: 10_000, maxDelayMs: 3_600_000, windowMs: 86_400_000, timeoutMs: 10_000, exitWaitMs: 5_000 });
    const s = retrySchedule(DEFAULT_WEBHOOK_POLICY);
    expect(s.slice(0, 6)).toEqual([0, 10_000, 30_000, 70_000, 150_000, 310_000]);
    expect(s.at(-1)).toBe(86_400_000);
    expect(s.length).toBe(33); // tries at most, without jitter (jitter makes the waits shorter: more tries)
  });
});

describe('the body', () => {
  it('names the job, its customer, outcome, durations and counts of what was deleted', () => {
    const p = webhookPayload(job(), 'completed', 'd-1', 1_700_000_009_000);
    expect(p).toEqual({
      event: 'job.completed',
      deliveryId: 'd-1',
      timestamp: new Date(1_700_000_009_000).toISOString(),
      job: {
        id: '42', kind: 'delete', outcome: 'completed', customerId: 'cust_abc123', namespace: 'customer-abc123',
        requestedBy: 'alice@host (cli)', simulated: false, attemptsMade: 1, maxAttempts: 3, error: null, reason: null,
        requestedAt: new Date(1_700_000_000_000).toISOString(), startedAt: new Date(1_700_000_001_000).toISOString(), finishedAt: new Date(1_700_000_008_500).toISOString(),
      },
      durations: { totalMs: 8_500, lastAttemptMs: 7_500 },
      deleted: {
        releases: 1, objects: 4, objectsByKind: { Deployment: 1, Service: 2, PersistentVolumeClaim: 1 }, clusterRbac: 2,
        names: { releases: ['customer-abc123'], clusterRbac: ['ClusterRole/cabc123-customer-instance-opencost', 'ClusterRoleBinding/cabc123-customer-instance-opencost'] },
      },
    });
  });

  it('a failed job carries its error; a cleanup-rbac sweep its RBAC; a superseded one its reason', () => {
    const f = webhookPayload(job({ state: 'failed', failedCode: 'timeout', failedReason: 'namespace still there', returnvalue: null }), 'failed', 'd', 1);
    expect(f.job.error).toEqual({ name: 'timeout', message: 'namespace still there' });
    expect(f.deleted).toMatchObject({ releases: 0, objects: 0, clusterRbac: 0 });
    const c = webhookPayload(job({ name: 'cleanup-rbac', data: {}, returnvalue: { deleted: [{ kind: 'ClusterRole', name: 'cx-customer-instance', customerKey: 'x' }] } }), 'completed', 'd', 1);
    expect(c.deleted).toMatchObject({ clusterRbac: 1, names: { clusterRbac: ['ClusterRole/cx-customer-instance'] } });
    expect(c.job.customerId).toBeNull();
    const s = webhookPayload(job({ returnvalue: { outcome: 'superseded', superseded: true, reason: 'the row was redeployed' } }), 'superseded', 'd', 1);
    expect(s.job.reason).toBe('the row was redeployed');
  });
});

describe('the configuration (checked at start, exit 2, never quoting a secret)', () => {
  it('one endpoint from CUSTCTL_WEBHOOK_URL + CUSTCTL_WEBHOOK_SECRET, every end by default', async () => {
    const c = await loadWebhookConfig({ CUSTCTL_WEBHOOK_URL: 'https://billing.example/hooks', CUSTCTL_WEBHOOK_SECRET: SECRET });
    expect(c.endpoints.map((e) => [e.name, e.url, e.events])).toEqual([['default', 'https://billing.example/hooks', ['completed', 'failed', 'cancelled', 'superseded']]]);
    expect(c.policy).toEqual(DEFAULT_WEBHOOK_POLICY);
    const e = await loadWebhookConfig({ CUSTCTL_WEBHOOK_URL: 'http://127.0.0.1:1/x', CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_EVENTS: 'completed, job.failed', CUSTCTL_WEBHOOK_RETRY_WINDOW: '2h', CUSTCTL_WEBHOOK_RETRY_DELAY: '500ms' });
    expect(e.endpoints[0]?.events).toEqual(['completed', 'failed']);
    expect(e.policy).toMatchObject({ windowMs: 7_200_000, baseDelayMs: 500 });
    expect((await loadWebhookConfig({})).endpoints).toEqual([]);
  });

  it.each([
    [{ CUSTCTL_WEBHOOK_URL: 'https://b.example/h' }, /CUSTCTL_WEBHOOK_SECRET is not/],
    [{ CUSTCTL_WEBHOOK_SECRET: SECRET }, /without CUSTCTL_WEBHOOK_URL/],
    [{ CUSTCTL_WEBHOOK_URL: 'ftp://b.example/h', CUSTCTL_WEBHOOK_SECRET: SECRET }, /http:\/\/ or https:\/\//],
    [{ CUSTCTL_WEBHOOK_URL: 'file:///etc/passwd', CUSTCTL_WEBHOOK_SECRET: SECRET }, /not file:/],
    [{ CUSTCTL_WEBHOOK_URL: 'not a url', CUSTCTL_WEBHOOK_SECRET: SECRET }, /not a URL/],
    [{ CUSTCTL_WEBHOOK_URL: 'https://user:pw-in-url@b.example/h', CUSTCTL_WEBHOOK_SECRET: SECRET }, /user name or password/],
    [{ CUSTCTL_WEBHOOK_URL: 'https://b.example/h', CUSTCTL_WEBHOOK_SECRET: 'short-secret' }, /12 characters long: .* at least 16/],
    [{ CUSTCTL_WEBHOOK_URL: 'https://b.example/h', CUSTCTL_WEBHOOK_SECRET: `${SECRET}\n` }, /line break/],
    [{ CUSTCTL_WEBHOOK_URL: 'https://b.example/h', CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_EVENTS: 'deleted' }, /not an event/],
    [{ CUSTCTL_WEBHOOK_URL: 'https://b.example/h', CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOKS_FILE: '/x' }, /both set/],
    [{ CUSTCTL_WEBHOOK_URL: 'https://b.example/h', CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_RETRY_WINDOW: 'soon' }, /CUSTCTL_WEBHOOK_RETRY_WINDOW/],
    [{ CUSTCTL_WEBHOOK_URL: 'https://b.example/h', CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_RETRY_DELAY: '30m', CUSTCTL_WEBHOOK_RETRY_MAX_DELAY: '10m' }, /not be shorter/],
  ] as Array<[Record<string, string>, RegExp]>)('refuses %j', async (env, msg) => {
    const e = await loadWebhookConfig(env).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(msg);
    const all = `${(e as Error).message} ${(e as UsageError).details.join(' ')}`;
    expect(all).not.toContain(env.CUSTCTL_WEBHOOK_SECRET?.trim() || '\u0000');
    expect(all).not.toContain('pw-in-url');
  });

  it('several endpoints from a YAML file: secret inline, from the environment or a file; events and kinds', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'audit.secret'), `${SECRET}-file\n`, { mode: 0o600 });
    const file = join(dir, 'hooks.yaml');
    await writeFile(file, [
      'endpoints:',
      '  - name: billing',
      '    url: https://billing.example/hooks/custctl',
      '    secretEnv: BILLING_SECRET',
      '    events: [completed, failed]',
      '    kinds: [delete]',
      '  - name: audit',
      '    url: http://127.0.0.1:9999/in',
      '    secretFile: audit.secret',
      '  - name: chat',
      '    url: https://chat.example/hook',
      `    secret: ${SECRET}-inline`,
      '',
    ].join('\n'), { mode: 0o600 });
    const c = await loadWebhookConfig({ CUSTCTL_WEBHOOKS_FILE: file, BILLING_SECRET: `${SECRET}-env` });
    expect(c.endpoints.map((e) => [e.name, e.events.join(','), e.kinds?.join(',') ?? null])).toEqual([
      ['billing', 'completed,failed', 'delete'], ['audit', 'completed,failed,cancelled,superseded', null], ['chat', 'completed,failed,cancelled,superseded', null],
    ]);
    expect(c.endpoints[0]?.sign('b')).toBe(signBody(`${SECRET}-env`, 'b'));
    expect(c.endpoints[1]?.sign('b')).toBe(signBody(`${SECRET}-file`, 'b')); // the file's newline is not part of it
    expect(c.endpoints[2]?.sign('b')).toBe(signBody(`${SECRET}-inline`, 'b'));
    expect(c.warnings).toEqual([]);
    // JSON is YAML too
    const json = join(dir, 'hooks.json');
    await writeFile(json, JSON.stringify({ endpoints: [{ name: 'j', url: 'https://j.example/', secretEnv: 'BILLING_SECRET' }] }), { mode: 0o600 });
    expect((await loadWebhookConfig({ CUSTCTL_WEBHOOKS_FILE: json, BILLING_SECRET: SECRET })).endpoints.map((e) => e.name)).toEqual(['j']);
    // readable by others while holding an inline secret: a warning (not the secret)
    await chmod(file, 0o644);
    const w = await loadWebhookConfig({ CUSTCTL_WEBHOOKS_FILE: file, BILLING_SECRET: `${SECRET}-env` });
    expect(w.warnings.join('\n')).toMatch(/readable by everyone \(mode 0644\): chmod 600/);
    expect(w.warnings.join('\n')).not.toContain(SECRET);
  });

  it.each([
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secret: SECRETVALUE-0123456789\n    evnts: [completed]\n', /unknown key "evnts"/],
    ['endpoints:\n  - url: https://a.example/\n    secret: SECRETVALUE-0123456789\n', /name is required/],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n', /exactly one of secret, secretEnv/],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secret: SECRETVALUE-0123456789\n    secretEnv: X\n', /not secret and secretEnv/],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secretEnv: NOT_SET_ANYWHERE\n', /NOT_SET_ANYWHERE is not set/],
    ['endpoints:\n  - name: a\n    url: gopher://a.example/\n    secret: SECRETVALUE-0123456789\n', /http:\/\/ or https:\/\//],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secret: SECRETVALUE-0123456789\n  - name: a\n    url: https://b.example/\n    secret: SECRETVALUE-0123456789\n', /named twice/],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secret: SECRETVALUE-0123456789\n    events: [deleted]\n', /not an event/],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secret: SECRETVALUE-0123456789\n    kinds: [backup]\n', /not a job kind/],
    ['endpoints: []\n', /at least one endpoint/],
    ['hooks: []\n', /unknown key "hooks"/],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secret: "SECRETVALUE-0123456789\n', /not valid YAML or JSON \(line \d+, column \d+\)/],
    ['endpoints:\n  - name: a\n    url: https://a.example/\n    secret: SECRETVALUE-012\n', /15 characters long: a webhook secret needs at least 16/],
  ])('a file that is wrong is refused with where and why, never its secret: %#', async (text, msg) => {
    const dir = await tempDir();
    const file = join(dir, 'hooks.yaml');
    await writeFile(file, text, { mode: 0o600 });
    const e = await loadWebhookConfig({ CUSTCTL_WEBHOOKS_FILE: file }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(msg);
    expect((e as Error).message).toContain(file);
    expect((e as Error).message).not.toContain('SECRETVALUE');
  });

  it('a file others can write is refused (whoever writes it could send the billing events elsewhere)', async () => {
    const dir = await tempDir();
    const file = join(dir, 'hooks.yaml');
    await writeFile(file, `endpoints:\n  - name: a\n    url: https://a.example/\n    secret: ${SECRET}\n`);
    await chmod(file, 0o664);
    await expect(loadWebhookConfig({ CUSTCTL_WEBHOOKS_FILE: file })).rejects.toThrow(/writable by its group \(mode 0664\)/);
    await expect(loadWebhookConfig({ CUSTCTL_WEBHOOKS_FILE: join(dir, 'missing.yaml') })).rejects.toThrow(/cannot read .*ENOENT/);
  });
});

// ---- the loop, over the real file delivery journal ------------------------------------------

interface Harness {
  hooks: Webhooks;
  journalDir: string;
  sent: WebhookRequest[];
  logs: string[];
  setNow(ms: number): void;
}

async function harness(o: { answer: (r: WebhookRequest, n: number) => WebhookAnswer; dir?: string; policy?: Partial<typeof DEFAULT_WEBHOOK_POLICY>; owner?: string; onPost?: (r: WebhookRequest) => Promise<void> }): Promise<Harness> {
  const journalDir = o.dir ?? join(await tempDir(), 'webhooks');
  let now = 1_000_000;
  const sent: WebhookRequest[] = [];
  const logs: string[] = [];
  const line = (level: string) => (m: string, f?: Record<string, unknown>) => void logs.push(`${level} ${m} ${JSON.stringify(f ?? {})}`);
  const log: Logger = { info: line('info'), ok: line('ok'), warn: line('warn'), error: line('error'), debug: line('debug') } as unknown as Logger;
  const journal = openFileDeliveryJournal(journalDir);
  const hooks = new Webhooks({
    config: {
      endpoints: [makeEndpoint({ name: 'billing', url: 'http://127.0.0.1:1/hook?key=querysecret', secret: SECRET, events: ['completed', 'failed'] })],
      policy: { ...DEFAULT_WEBHOOK_POLICY, baseDelayMs: 1_000, maxDelayMs: 4_000, windowMs: 10_000, ...o.policy },
      source: 'test', warnings: [],
    },
    journal: async () => journal,
    post: async (r) => {
      await o.onPost?.(r);
      sent.push(r);
      return o.answer(r, sent.length);
    },
    log,
    now: () => now,
    owner: o.owner ?? 'test@host',
    userAgent: 'custctl/test',
    random: () => 1,
    pollMs: 20,
  });
  return { hooks, journalDir, sent, logs, setNow: (ms) => void (now = ms) };
}

async function until<T>(f: () => Promise<T | null | undefined | false> | T | null | undefined | false, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the delivery loop (file delivery journal, a recording POST)', () => {
  it('journals the delivery before the first try, signs the exact body, and records the 2xx', async () => {
    let journaledFirst = false;
    const h: Harness = await harness({
      answer: () => ({ ok: true, status: 204 }),
      onPost: async () => {
        const files = await readdir(join(h.journalDir, 'jobs'));
        const rec = JSON.parse(await readFile(join(h.journalDir, 'jobs', files[0] as string), 'utf8')) as { deliveries: Array<{ state: string; attempts: number }> };
        journaledFirst = rec.deliveries[0]?.state === 'pending' && rec.deliveries[0]?.attempts === 0;
      },
    });
    const events = new JobEvents();
    withWebhooks(h.hooks, events);
    await events.emit({ type: 'completed', job: job(), attempt: 1 });
    await until(async () => (await h.hooks.deliveries('42'))[0]?.state === 'delivered', 'the delivery');
    expect(journaledFirst).toBe(true);
    const r = h.sent[0] as WebhookRequest;
    expect(r.url).toBe('http://127.0.0.1:1/hook?key=querysecret');
    expect(r.headers['x-custctl-event']).toBe('job.completed');
    expect(r.headers['user-agent']).toBe('custctl/test');
    expect(verifySignature(SECRET, r.body, r.headers['x-custctl-signature-256'])).toBe(true);
    const body = JSON.parse(r.body) as { deliveryId: string; job: { id: string } };
    expect(body.deliveryId).toBe(r.headers['x-custctl-delivery']);
    const [d] = await h.hooks.deliveries('42');
    expect(d).toMatchObject({ endpoint: 'billing', url: 'http://127.0.0.1:1/hook?…', event: 'job.completed', state: 'delivered', attempts: 1, statusCode: 204, lastError: null, id: body.deliveryId });
    // an event the endpoint did not ask for, and a second emit of the same end: nothing new
    await events.emit({ type: 'cancelled', job: job({ id: '43' }) });
    await events.emit({ type: 'completed', job: job(), attempt: 1 });
    expect(await h.hooks.deliveries('43')).toEqual([]);
    expect(await h.hooks.deliveries('42')).toHaveLength(1);
    await h.hooks.close(100);
    // nothing secret in the journal or the logs
    for (const f of await readdir(join(h.journalDir, 'jobs'))) {
      const text = await readFile(join(h.journalDir, 'jobs', f), 'utf8');
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('querysecret');
    }
    expect(h.logs.join('\n')).not.toContain(SECRET);
    expect(h.logs.join('\n')).not.toContain('querysecret');
  });

  it('retries a failing receiver with backoff and gives up at the end of the window', async () => {
    const h = await harness({ answer: () => ({ ok: false, status: 503, error: 'HTTP 503 Service Unavailable' }) });
    const events = new JobEvents();
    withWebhooks(h.hooks, events);
    await events.emit({ type: 'failed', job: job({ state: 'failed', failedCode: 'internal', failedReason: 'x' }), attempt: 3, error: 'x', errorName: 'internal' });
    const first = await until(async () => (await h.hooks.deliveries('42'))[0]?.attempts === 1 && (await h.hooks.deliveries('42'))[0], 'the first try');
    expect(first).toMatchObject({ state: 'pending', statusCode: 503, lastError: 'HTTP 503 Service Unavailable', nextAttemptAt: 1_001_000, giveUpAt: 1_010_000 });
    // not due yet: no second try however often the loop looks
    await new Promise((r) => setTimeout(r, 100));
    expect(h.sent).toHaveLength(1);
    h.setNow(1_001_000);
    await until(async () => (await h.hooks.deliveries('42'))[0]?.attempts === 2, 'the second try');
    expect((await h.hooks.deliveries('42'))[0]?.nextAttemptAt).toBe(1_003_000); // 1 s, then 2 s
    h.setNow(1_003_000);
    await until(async () => (await h.hooks.deliveries('42'))[0]?.attempts === 3, 'the third try');
    expect((await h.hooks.deliveries('42'))[0]?.nextAttemptAt).toBe(1_007_000);
    h.setNow(1_007_000);
    await until(async () => (await h.hooks.deliveries('42'))[0]?.attempts === 4, 'the fourth try');
    expect((await h.hooks.deliveries('42'))[0]?.nextAttemptAt).toBe(1_010_000); // cut to the window's end
    h.setNow(1_010_000);
    const last = await until(async () => (await h.hooks.deliveries('42'))[0]?.state === 'gave-up' && (await h.hooks.deliveries('42'))[0], 'giving up');
    expect(last).toMatchObject({ attempts: 5, nextAttemptAt: null, statusCode: 503 });
    // the journal says gave-up first, then the line is logged: wait for it rather than look once
    await until(async () => h.logs.some((l) => l.startsWith('error Webhook job.failed of job 42 to billing given up')), 'the given-up line');
    await h.hooks.close(100);
  });

  it('a delivery whose process died mid-try is sent by the next one after the lease, once, with two processes looking', async () => {
    const dir = join(await tempDir(), 'webhooks');
    const policy = { windowMs: 3_600_000 };
    // the first process journals, claims, and "dies" in its try (the POST never returns)
    const dead = await harness({ dir, policy, answer: () => ({ ok: true, status: 200 }), onPost: () => new Promise(() => undefined), owner: 'dead@host' });
    const events = new JobEvents();
    withWebhooks(dead.hooks, events);
    await events.emit({ type: 'completed', job: job({ id: '7' }), attempt: 1 });
    await until(async () => (await dead.hooks.deliveries('7'))[0] && (await readFile(join(dir, 'jobs', '7.json'), 'utf8')).includes('dead@host'), 'the dead process to hold the lease');
    expect((await dead.hooks.deliveries('7'))[0]).toMatchObject({ state: 'pending', attempts: 0 });
    // two later processes on the same journal: nothing while the lease holds; after it, one sends it
    const a = await harness({ dir, policy, answer: () => ({ ok: true, status: 200 }), owner: 'a@host', onPost: () => new Promise((r) => setTimeout(r, 50)) });
    const b = await harness({ dir, policy, answer: () => ({ ok: true, status: 200 }), owner: 'b@host', onPost: () => new Promise((r) => setTimeout(r, 50)) });
    a.hooks.start();
    b.hooks.start();
    await new Promise((r) => setTimeout(r, 150));
    expect(a.sent.length + b.sent.length).toBe(0);
    a.setNow(1_000_000 + 15_001); // the lease was the 10 s timeout + 5 s
    b.setNow(1_000_000 + 15_001);
    await until(async () => (await a.hooks.deliveries('7'))[0]?.state === 'delivered', 'the delivery by a later process');
    await new Promise((r) => setTimeout(r, 150));
    expect(a.sent.length + b.sent.length).toBe(1);
    expect(await readdir(join(dir, 'pending'))).toEqual([]);
    await Promise.all([a.hooks.close(100), b.hooks.close(100)]);
  });

  it('close gives what is due one bounded try and leaves the rest pending', async () => {
    const h = await harness({ answer: () => ({ ok: false, status: null, error: 'connection refused (ECONNREFUSED)' }) });
    const events = new JobEvents();
    withWebhooks(h.hooks, events);
    await events.emit({ type: 'completed', job: job({ id: '9' }), attempt: 1 });
    await until(async () => (await h.hooks.deliveries('9'))[0]?.attempts === 1, 'the first try');
    const t0 = Date.now();
    await h.hooks.close(2_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect((await h.hooks.deliveries('9'))[0]).toMatchObject({ state: 'pending', attempts: 1, statusCode: null, lastError: 'connection refused (ECONNREFUSED)' });
  });
});
