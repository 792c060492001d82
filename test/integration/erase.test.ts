/**
 * Erasure and deletion certificates on the real parts: the built binary, the real control plane,
 * helm, PostgreSQL, both backup targets (a file directory and s3rver on loopback), and the Stripe-
 * protocol server on loopback (test/env/stripe-server.ts: no real Stripe server is reachable here).
 *
 * - a hard deletion ends with a signed certificate in its job result, shown by `status job
 *   --certificate` and the API; `certificate verify` passes with the database, and fails on a
 *   tampered copy;
 * - `erase` after the deletion: the row's personal fields, the backups and exports on both targets,
 *   the Stripe customer and the journal's personal text go; the audit log holds none of it; the
 *   erasure's certificate verifies;
 * - refused with an instance and with a scheduled deletion: exit 4, nothing changed anywhere;
 * - the automatic erasure (CUSTCTL_ERASE_AFTER) by a worker; the API's POST for admins;
 * - the export policies: an unencrypted export refused where encryption is required; a scheduled
 *   deletion refused until the customer has an export.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv, testEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { startServe } from '../support/serve.js';
import { S3_BUCKET, S3_CREDENTIALS } from '../env/s3.js';
import { FULL_ACCESS_KEY, startStripeServer, type StripeServer } from '../env/stripe-server.js';
import { sha256Hex } from '../../src/server/auth.js';

const dir = mkdtempSync(path.join(tmpdir(), 'custctl-erase-'));
const backupDir = path.join(dir, 'backups');
const keyFile = path.join(dir, 'signing-key.pem');
const pubFile = path.join(dir, 'signing-key.pub.pem');
const state = tempStateDir();
const S3_PREFIX = `erase-${randomKey('p')}`;
const S3_URL = `s3://${S3_BUCKET}/${S3_PREFIX}`;
let srv: StripeServer;

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    CUSTCTL_STATE_DIR: state,
    ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1',
    CUSTCTL_BACKUP_URL: `file://${backupDir}`,
    CUSTCTL_ERASE_TARGETS: S3_URL,
    CUSTCTL_SIGNING_KEY_FILE: keyFile,
    CUSTCTL_SITE_NAME: 'Example Hosting',
    CUSTCTL_BILLING: 'stripe',
    STRIPE_API_KEY: FULL_ACCESS_KEY,
    CUSTCTL_STRIPE_API_BASE: srv.url,
    CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY: 'custctl_customer_id',
    ...extra,
  };
}

const s3 = () => new S3Client({ endpoint: testEnv().s3Endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: S3_CREDENTIALS.AWS_ACCESS_KEY_ID, secretAccessKey: S3_CREDENTIALS.AWS_SECRET_ACCESS_KEY } });
async function s3Names(customerId: string): Promise<string[]> {
  const r = await s3().send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: `${S3_PREFIX}/${customerId}-` }));
  return (r.Contents ?? []).map((o) => (o.Key ?? '').slice(S3_PREFIX.length + 1)).sort();
}
const fileNames = (customerId: string) => (existsSync(backupDir) ? readdirSync(backupDir).filter((n) => n.startsWith(`${customerId}-`)).sort() : []);

async function rowOf(customerId: string) {
  const r = await db().query('select * from customers where customer_id = $1', [customerId]);
  return r.rows[0] as Record<string, unknown>;
}
async function auditText(customerId: string): Promise<{ count: number; text: string }> {
  const r = await db().query<{ whole: string }>('select row_to_json(a)::text as whole from custctl_audit a where customer_id = $1 order by seq', [customerId]);
  return { count: r.rows.length, text: r.rows.map((x) => x.whole).join('\n') };
}
/** Every file under the state directory (the job journal among them), as text. */
function stateText(): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size < 5_000_000) out.push(readFileSync(p, 'utf8'));
    }
  };
  walk(path.join(state));
  return out.join('\n');
}

/** A customer whose Stripe customer carries its own name and e-mail. */
async function customerWithBilling(prefix: string) {
  const key = randomKey(prefix);
  const c = await provisionCustomer(key, { pvcs: 1 });
  const stripeName = `Stripe Name ${key}`;
  const stripeEmail = `billing-${key}@acme.test`;
  const cust = srv.state.seedCustomer({ email: stripeEmail, name: stripeName, metadata: { custctl_customer_id: c.customerId } });
  return { ...c, key, email: `${key}@example.test`, company: `Test company ${key}`, url: `https://${key}.example.test`, stripeName, stripeEmail, stripeId: cust.id as string };
}

beforeAll(async () => {
  srv = await startStripeServer({ keys: { [FULL_ACCESS_KEY]: { permissions: 'all' } } });
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: state } });
  expect(m.exitCode, m.stderr).toBe(0);
  const k = await custctl(['certificate', 'keygen', '--out', keyFile], { env: { CUSTCTL_STATE_DIR: state } });
  expect(k.exitCode, k.stderr).toBe(0);
  writeFileSync(pubFile, `${k.stdout}\n`);
}, 180_000);

afterAll(async () => {
  await srv?.stop();
});

interface EraseJson {
  outcome: string; fields: string[]; objects: string[]; targets: string[];
  billing: { customer: string | null; outcome: string } | null;
  journal: { scrubbed: boolean; rewritten: number; valuesReplaced: number } | null;
  audit: { seq: string } | null; certificatePath: string | null; certificate: unknown;
}

describe('a hard deletion, then its erasure', () => {
  it('deletion certificate in the job result (status job, API); erase removes the row\'s fields, both targets\' backups and exports, the Stripe customer and the journal\'s personal text; the audit log never held any; certificates verify and a tampered one fails', async () => {
    const c = await customerWithBilling('er');
    // an export on S3 (an erasure target), then the deletion with its backup on the file target
    const ex = await custctl(['export', c.customerId, '--to', S3_URL], { env: env() });
    expect(ex.exitCode, ex.stderr).toBe(0);
    // the billing database's own trigger refuses the row's first change with a message quoting the
    // e-mail and the company: the attempt's failure puts them in the job journal (the retry completes)
    const fn = `erase_test_${c.key}`;
    await db().query(`create sequence ${fn}_seq`);
    await db().query(`create function ${fn}() returns trigger language plpgsql as $f$ begin
      if nextval('${fn}_seq') = 1 then raise exception 'billing lock held for % (%)', NEW.email, NEW.company_name; end if; return NEW; end $f$`);
    await db().query(`create trigger ${fn} before update on customers for each row when (NEW.customer_id = '${c.customerId}' and NEW.deployment_status::text = 'pending') execute function ${fn}()`);
    let del;
    try {
      del = await custctlJson<{ results: Array<{ jobId: string; result: { certificate?: { certificate: { customerId: string; audit: { seq: string } } } } }> }>(['delete', c.customerId, '--yes'], { env: env({ QUEUE_RETRY_DELAY: '500' }) });
    } finally {
      await db().query(`drop trigger if exists ${fn} on customers; drop function if exists ${fn}(); drop sequence if exists ${fn}_seq`);
    }
    expect(del.result.exitCode, del.result.stderr).toBe(0);
    const job = del.json.results[0]?.jobId as string;
    expect(del.json.results[0]?.result.certificate?.certificate.customerId).toBe(c.customerId);
    expect(await getNamespace(c.namespace)).toBeNull();
    expect(fileNames(c.customerId).length).toBeGreaterThan(0);
    expect((await s3Names(c.customerId)).length).toBeGreaterThan(0);

    // the deletion certificate: status job shows where, --certificate prints it, verify passes with the database
    const st = await custctl(['status', 'job', job], { env: env() });
    expect(st.stdout).toMatch(new RegExp(`Signed\\s+deletion certificate .*custctl status job ${job} --certificate`));
    const certOut = await custctl(['status', 'job', job, '--certificate'], { env: env() });
    expect(certOut.exitCode, certOut.stderr).toBe(0);
    const delCertFile = path.join(dir, `deletion-${job}.json`);
    writeFileSync(delCertFile, certOut.stdout);
    const v = await custctlJson<{ ok: boolean; audit: { checked: boolean; ok: boolean } }>(['certificate', 'verify', delCertFile, '--public-key', pubFile], { env: env() });
    expect(v.result.exitCode, v.result.stdout + v.result.stderr).toBe(0);
    expect(v.json).toMatchObject({ ok: true, audit: { checked: true, ok: true } });
    const text = await custctl(['status', 'job', job, '--certificate', 'text'], { env: env() });
    expect(text.stdout).toContain(`Deletion certificate for ${c.customerId}`);
    // no personal data in the certificate
    for (const p of [c.email, c.company, c.url, c.stripeName, c.stripeEmail]) expect(certOut.stdout).not.toContain(p);

    // tampered: one more object claimed deleted → the signature fails (exit 1)
    const doc = JSON.parse(certOut.stdout) as { certificate: { objects: Record<string, number> } };
    doc.certificate.objects.ConfigMap = (doc.certificate.objects.ConfigMap ?? 0) + 1;
    const tampered = path.join(dir, `tampered-${job}.json`);
    writeFileSync(tampered, JSON.stringify(doc, null, 2));
    const bad = await custctl(['certificate', 'verify', tampered, '--public-key', pubFile], { env: env() });
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/signature: FAILED/);

    // before the erasure: the row and the journal hold personal data (the billing lines name the Stripe customer)
    expect(await rowOf(c.customerId)).toMatchObject({ email: c.email, company_name: c.company });
    const journalBefore = stateText();
    expect(journalBefore).toContain(c.email);
    expect(journalBefore).toContain(c.company);

    // dry run: lists, changes nothing
    const auditBefore = await auditText(c.customerId);
    const dry = await custctlJson<EraseJson>(['erase', c.customerId, '--dry-run'], { env: env() });
    expect(dry.result.exitCode, dry.result.stderr).toBe(0);
    expect(dry.json.outcome).toBe('planned');
    // the deletion already cleared the URL: the e-mail and the company are left
    expect(dry.json.fields).toEqual(['email', 'company_name']);
    expect(dry.json.objects.length).toBe(fileNames(c.customerId).length + (await s3Names(c.customerId)).length);
    expect(dry.json.billing).toMatchObject({ customer: c.stripeId, outcome: 'would-delete' });
    expect(await rowOf(c.customerId)).toMatchObject({ email: c.email });
    expect((await auditText(c.customerId)).count).toBe(auditBefore.count);
    expect(srv.state.count('customer.deleted')).toBe(0);

    // the erasure
    const er = await custctlJson<EraseJson>(['erase', c.customerId, '--yes'], { env: env() });
    expect(er.result.exitCode, er.result.stderr).toBe(0);
    expect(er.json.outcome).toBe('erased');
    const row = await rowOf(c.customerId);
    expect(row.email).toBe('');
    expect(row.company_name).toBe('');
    expect(row.instance_url ?? '').toBe('');
    expect(row.customer_id).toBe(c.customerId);
    expect(fileNames(c.customerId)).toEqual([]);
    expect(await s3Names(c.customerId)).toEqual([]);
    expect(er.json.billing).toMatchObject({ customer: c.stripeId, outcome: 'deleted' });
    expect(srv.state.count('customer.deleted')).toBe(1);
    expect(er.json.journal?.scrubbed).toBe(true);
    const after = stateText();
    for (const p of [c.email, c.company, c.stripeName, c.stripeEmail, `${c.key}.example.test`]) expect(after).not.toContain(p);
    // the audit log: the erasure is a row, and no row of the customer ever held a personal value
    const audit = await auditText(c.customerId);
    expect(audit.text).toContain('customer-erased');
    for (const p of [c.email, c.company, c.url, c.stripeName, c.stripeEmail]) expect(audit.text).not.toContain(p);
    const chain = await custctl(['audit', 'verify'], { env: env() });
    expect(chain.exitCode, chain.stdout + chain.stderr).toBe(0);

    // the erasure certificate, kept and verified against the chain
    expect(er.json.certificatePath).toBeTruthy();
    const ev = await custctlJson<{ ok: boolean; certificate: { subject: string }; audit: { checked: boolean; ok: boolean } }>(['certificate', 'verify', er.json.certificatePath as string, '--public-key', pubFile], { env: env() });
    expect(ev.result.exitCode, ev.result.stdout).toBe(0);
    expect(ev.json).toMatchObject({ ok: true, certificate: { subject: 'erasure' }, audit: { checked: true, ok: true } });
    const ecert = readFileSync(er.json.certificatePath as string, 'utf8');
    for (const p of [c.email, c.company, c.stripeName, c.stripeEmail]) expect(ecert).not.toContain(p);

    // a second erasure finds nothing and changes nothing
    const again = await custctlJson<EraseJson>(['erase', c.customerId, '--yes'], { env: env() });
    expect(again.result.exitCode, again.result.stderr).toBe(0);
    expect(again.json.outcome).toBe('nothing-to-erase');
  }, 300_000);
});

describe('erase refuses, nothing changed', () => {
  async function snapshot(c: Awaited<ReturnType<typeof customerWithBilling>>) {
    return { row: await rowOf(c.customerId), files: fileNames(c.customerId), s3: await s3Names(c.customerId), audit: (await auditText(c.customerId)).count, stripeDeleted: srv.state.count('customer.deleted') };
  }
  async function planted(c: { customerId: string }) {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(backupDir, { recursive: true });
    writeFileSync(path.join(backupDir, `${c.customerId}-20260101T000000Z.tar.gz`), 'not really a backup');
    await s3().send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: `${S3_PREFIX}/${c.customerId}-export-20260101T000000Z.tar.gz`, Body: 'not really an export' }));
  }

  it('while the customer still has an instance: exit 4, row, backups, exports, Stripe and audit untouched', async () => {
    const c = await customerWithBilling('ei');
    await planted(c);
    const before = await snapshot(c);
    for (const args of [['erase', c.customerId, '--yes'], ['erase', c.customerId, '--dry-run']]) {
      const r = await custctl(args, { env: env() });
      expect(r.exitCode, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/refusing to erase/);
      expect(r.stderr).toMatch(/Nothing was erased/);
    }
    expect(await snapshot(c)).toEqual(before);
    expect(await getNamespace(c.namespace)).not.toBeNull();
  }, 180_000);

  it('while a deletion is scheduled: exit 4, nothing changed (then cancelled)', async () => {
    const c = await customerWithBilling('es');
    const sched = await custctl(['delete', c.customerId, '--yes', '--after', '1d', '--no-backup'], { env: env() });
    expect(sched.exitCode, sched.stderr).toBe(0);
    await planted(c);
    const before = await snapshot(c);
    const r = await custctl(['erase', c.customerId, '--yes'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/deletion scheduled for/);
    expect(await snapshot(c)).toEqual(before);
    const cancel = await custctl(['cancel', c.customerId], { env: env() });
    expect(cancel.exitCode, cancel.stderr).toBe(0);
  }, 180_000);

  it('an unknown customer: exit 3', async () => {
    const r = await custctl(['erase', `cust_${randomKey('nx')}`, '--yes'], { env: env() });
    expect(r.exitCode, r.stderr).toBe(3);
  });
});

describe('automatic erasure and the API', () => {
  it('CUSTCTL_ERASE_AFTER: a worker erases a customer deleted longer ago, and leaves a recent one', async () => {
    const old = await customerWithBilling('ea');
    const recent = await customerWithBilling('eb');
    for (const c of [old, recent]) {
      const d = await custctl(['delete', c.customerId, '--yes', '--no-backup'], { env: env() });
      expect(d.exitCode, d.stderr).toBe(0);
    }
    await db().query(`update customers set deleted_at = now() - interval '3 hours' where customer_id = $1`, [old.customerId]);
    const w = execa('node', [BIN, 'worker'], { env: { ...cliEnv(), NO_COLOR: '1', ...env({ CUSTCTL_ERASE_AFTER: '2h' }) }, extendEnv: false, reject: false });
    try {
      await waitFor(async () => (await rowOf(old.customerId)).email === '', 'the automatic erasure', 60_000, 250);
    } finally {
      w.kill('SIGTERM');
      await w;
    }
    expect((await auditText(old.customerId)).text).toMatch(/customer-erased.*automatic/);
    expect(await rowOf(recent.customerId)).toMatchObject({ email: recent.email });
    const kept = readdirSync(path.join(state, 'certificates')).filter((n) => n.startsWith(`${old.customerId}-erasure-`));
    expect(kept.length).toBe(1);
  }, 240_000);

  it('POST /api/admin/customers/:id/erase (admin; viewer 403), GET /api/admin/jobs/:id/certificate', async () => {
    const c = await customerWithBilling('ep');
    const d = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--no-backup'], { env: env() });
    expect(d.result.exitCode, d.result.stderr).toBe(0);
    const job = d.json.results[0]?.jobId as string;
    const sstate = tempStateDir();
    const tokens = path.join(sstate, 'tokens');
    writeFileSync(tokens, `admin:admin:${sha256Hex('a'.repeat(32))}\nview:viewer:${sha256Hex('v'.repeat(32))}\n`, { mode: 0o600 });
    const s = await startServe({ stateDir: state, env: { ...env(), CUSTCTL_API_TOKENS_FILE: tokens } });
    try {
      const call = (method: string, p: string, token: string) => fetch(`${s.url}${p}`, { method, headers: { authorization: `Bearer ${token}` } });
      const cert = await call('GET', `/api/admin/jobs/${job}/certificate`, 'v'.repeat(32));
      expect(cert.status).toBe(200);
      expect(((await cert.json()) as { certificate: { customerId: string } }).certificate.customerId).toBe(c.customerId);
      const html = await call('GET', `/api/admin/jobs/${job}/certificate?format=html`, 'v'.repeat(32));
      expect(await html.text()).toContain('Deletion certificate');
      const viewer = await call('POST', `/api/admin/customers/${c.customerId}/erase`, 'v'.repeat(32));
      expect(viewer.status).toBe(403);
      expect(await rowOf(c.customerId)).toMatchObject({ email: c.email });
      const r = await call('POST', `/api/admin/customers/${c.customerId}/erase`, 'a'.repeat(32));
      const body = (await r.json()) as EraseJson;
      expect(r.status, JSON.stringify(body)).toBe(200);
      expect(body.outcome).toBe('erased');
      expect((await rowOf(c.customerId)).email).toBe('');
      const refused = await call('POST', `/api/admin/customers/cust_${randomKey('nx')}/erase`, 'a'.repeat(32));
      expect(refused.status).toBe(404);
    } finally {
      await s.stop();
    }
  }, 240_000);
});

describe('export policies', () => {
  it('CUSTCTL_EXPORT_ENCRYPTION=required refuses a clear-text export (exit 2, nothing written); CUSTCTL_DELETE_REQUIRES_EXPORT refuses a scheduled deletion until there is an export', async () => {
    const c = await customerWithBilling('ex');
    const clear = await custctl(['export', c.customerId, '--to', S3_URL], { env: env({ CUSTCTL_EXPORT_ENCRYPTION: 'required' }) });
    expect(clear.exitCode).toBe(2);
    expect(clear.stderr).toMatch(/requires exports to be encrypted/);
    expect(await s3Names(c.customerId)).toEqual([]);

    const policy = env({ CUSTCTL_DELETE_REQUIRES_EXPORT: 'true' });
    const before = await rowOf(c.customerId);
    const refused = await custctl(['delete', c.customerId, '--yes', '--after', '1d', '--no-backup'], { env: policy });
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toContain(`custctl export ${c.customerId}`);
    expect(await rowOf(c.customerId)).toEqual(before);
    expect(await getNamespace(c.namespace)).not.toBeNull();

    const pass = path.join(dir, 'passphrase');
    writeFileSync(pass, 'correct horse battery staple\n', { mode: 0o600 });
    const ex = await custctl(['export', c.customerId, '--to', S3_URL, '--passphrase-file', pass], { env: env({ CUSTCTL_EXPORT_ENCRYPTION: 'required' }) });
    expect(ex.exitCode, ex.stderr).toBe(0);
    const ok = await custctl(['delete', c.customerId, '--yes', '--after', '1d', '--no-backup'], { env: policy });
    expect(ok.exitCode, ok.stderr).toBe(0);
    const cancel = await custctl(['cancel', c.customerId], { env: env() });
    expect(cancel.exitCode, cancel.stderr).toBe(0);
  }, 180_000);
});
