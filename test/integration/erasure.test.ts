/**
 * Erasure on the stores custctl runs on: a real PostgreSQL whose customers table TypeORM shaped
 * (ENUM status, varchar, nullable company, a camelCase extra column, an integer NOT NULL column,
 * a trigger of its own) and PGlite with custctl's own table.
 * - the personal fields (and CUSTCTL_ERASE_COLUMNS) become the table's "none" (NULL where the
 *   column allows it, '' in NOT NULL text), every other column untouched; one `customer-erased`
 *   audit row in the same transaction names the columns, holds no value; the chain verifies;
 * - refused with nothing changed while the customer has an instance or a deletion, or when a
 *   column cannot be blanked or does not exist;
 * - the erasure certificate: signed, checked against the audit chain (auditBacking), and a
 *   certificate citing another row is caught.
 */
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPgStore } from '../../src/adapters/store-pg.js';
import { pgliteDriver } from '../../src/adapters/store-pglite.js';
import { SqlCustomerStore } from '../../src/adapters/store-sql.js';
import type { CustomerStore } from '../../src/adapters/store.js';
import { signCertificate, verifyCertificateSignature } from '../../src/domain/certificate.js';
import { erasableColumns } from '../../src/domain/erasure.js';
import { UsageError } from '../../src/errors.js';
import { auditBacking, erasureCertificateFor } from '../../src/pipeline/certificate.js';
import { withAdminClient } from '../support/fixtures.js';

const databaseUrl = inject('databaseUrl');
const newKey = (): string => randomBytes(6).toString('hex');

/** TypeORM's DDL (see orm-tables.test.ts) with the site's extra personal columns and an integer NOT NULL column. */
const TYPEORM = `CREATE TYPE "public"."customers_deployment_status_enum" AS ENUM('pending', 'deploying', 'deployed', 'failed');
CREATE TABLE "customers" ("id" SERIAL NOT NULL, "customer_id" character varying NOT NULL, "email" character varying NOT NULL, "company_name" character varying,
  "deployment_status" "public"."customers_deployment_status_enum" NOT NULL DEFAULT 'pending', "instance_namespace" character varying, "instance_url" character varying,
  "plan" character varying NOT NULL DEFAULT 'starter', "phone" character varying, "billingAddress" text NOT NULL DEFAULT '', "seats" integer NOT NULL DEFAULT 1,
  "created_at" TIMESTAMP NOT NULL DEFAULT now(), "updated_at" TIMESTAMP NOT NULL DEFAULT now(),
  CONSTRAINT "UQ_customers_customer_id" UNIQUE ("customer_id"), CONSTRAINT "PK_customers" PRIMARY KEY ("id"));
CREATE FUNCTION customers_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER customers_touch_updated_at BEFORE UPDATE ON "customers" FOR EACH ROW EXECUTE FUNCTION customers_touch_updated_at();`;

interface Backend {
  name: string;
  store: CustomerStore;
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** NULL-able company (TypeORM) or NOT NULL '' (custctl's own table) */
  companyNone: string | null;
}

const backends: Backend[] = [];
let scratch: string | undefined;
const EXTRA = ['phone', 'billingAddress'];
const COLUMNS = erasableColumns(EXTRA);

beforeAll(async () => {
  scratch = `custctl_erase_${newKey()}`;
  await withAdminClient((c) => c.query(`create database ${scratch}`));
  const u = new URL(databaseUrl);
  u.pathname = `/${scratch}`;
  const pool = new pg.Pool({ connectionString: u.toString(), max: 2 });
  pool.on('error', () => undefined);
  afterAll(() => pool.end());
  await pool.query(TYPEORM);
  const m = await openPgStore({ connectionString: u.toString(), env: {}, skipSchemaCheck: true });
  await m.migrate();
  await m.close();
  backends.push({ name: 'PostgreSQL', store: await openPgStore({ connectionString: u.toString(), env: {} }), sql: async (t, p) => (await pool.query(t, p)).rows, companyNone: null });

  const { PGlite } = await import('@electric-sql/pglite');
  const lite = new PGlite();
  await lite.waitReady;
  const liteStore = new SqlCustomerStore(pgliteDriver(lite), { kind: 'embedded', description: 'embedded (memory)' });
  await liteStore.migrate();
  await lite.exec(`alter table customers add column phone text; alter table customers add column "billingAddress" text not null default ''; alter table customers add column seats integer not null default 1`);
  backends.push({ name: 'PGlite', store: liteStore, sql: async (t, p) => (await lite.query<never>(t, p)).rows, companyNone: '' });
}, 120_000);

afterAll(async () => {
  for (const b of backends) await b.store.close().catch(() => undefined);
  if (scratch) await withAdminClient((c) => c.query(`drop database if exists ${scratch} with (force)`)).catch(() => undefined);
});

const each = (title: string, fn: (b: Backend) => Promise<void>) =>
  it.each(['PostgreSQL', 'PGlite'])(`${title} (%s)`, async (name) => {
    const b = backends.find((x) => x.name === name);
    if (!b) throw new Error(`backend ${name} not opened`);
    await fn(b);
  });

/** A row as billing leaves it: personal data in every personal column. */
async function customer(b: Backend, o: { status?: string; namespace?: string; scheduled?: boolean } = {}): Promise<{ id: string; key: string }> {
  const key = newKey();
  const id = `cust_${key}`;
  await b.sql(`insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url, phone, "billingAddress", seats, deletion_job_id, deletion_scheduled_at, updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, 3, $9, $10, now())`,
  [id, `jane.${key}@acme.example`, `Acme ${key} GmbH`, o.status ?? 'pending', o.namespace ?? '', o.namespace ? `https://${key}.acme.example` : '',
    '+49 30 1234567', `Hauptstr. 1, Berlin (${key})`, o.status === 'deleting' ? '77' : '12', o.scheduled ? new Date(Date.now() + 86_400_000).toISOString() : null]);
  return { id, key };
}

const raw = async (b: Backend, id: string) => (await b.sql(`select * from customers where customer_id = $1`, [id]))[0] as Record<string, unknown>;
const auditRows = (b: Backend, id: string) => b.sql<Record<string, unknown>>(`select *, row_to_json(a)::text as whole from custctl_audit a where customer_id = $1 order by seq`, [id]);
const erase = (b: Backend, id: string, columns = COLUMNS) => {
  if (!b.store.erasePersonalFields) throw new Error('no erasePersonalFields');
  return b.store.erasePersonalFields(id, columns, { actor: 'tester@host (cli)', customerId: id, outcome: 'erased' });
};

describe('erasePersonalFields', () => {
  each('blanks the personal and the extra columns as the table says "none", touches nothing else, and records customer-erased with the column names only', async (b) => {
    const { id, key } = await customer(b);
    await b.sql(`update customers set instance_url = $2 where customer_id = $1`, [id, `https://${key}.acme.example`]);
    const before = await raw(b, id);
    const personal = [before.email, before.company_name, before.instance_url, before.phone, before.billingAddress] as string[];
    expect(await b.store.readPersonalFields?.(id, COLUMNS)).toEqual({ email: `jane.${key}@acme.example`, company_name: `Acme ${key} GmbH`, instance_url: `https://${key}.acme.example`, phone: '+49 30 1234567', billingAddress: `Hauptstr. 1, Berlin (${key})` });

    const r = await erase(b, id);
    expect(r.outcome).toBe('erased');
    if (r.outcome !== 'erased') return;
    expect(r.fields).toEqual(['email', 'company_name', 'instance_url', 'phone', 'billingAddress']);
    const after = await raw(b, id);
    expect(after).toMatchObject({ email: '', company_name: b.companyNone, instance_url: b.name === 'PGlite' ? '' : null, phone: null, billingAddress: '' });
    // every other column as it was (updated_at aside: the erasure is a change of the row)
    const keep = (x: Record<string, unknown>) => Object.fromEntries(Object.entries(x).filter(([k]) => !['email', 'company_name', 'instance_url', 'phone', 'billingAddress', 'updated_at'].includes(k)));
    expect(keep(after)).toEqual(keep(before));
    expect(r.row).toMatchObject({ customerId: id, email: '', companyName: '', instanceUrl: '', deploymentStatus: 'pending' });

    const audit = await auditRows(b, id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'customer-erased', actor: 'tester@host (cli)', outcome: 'erased', row_status: 'pending' });
    expect(audit[0]?.deleted).toEqual({ fields: ['email', 'company_name', 'instance_url', 'phone', 'billingAddress'] });
    for (const v of personal) expect(String(audit[0]?.whole)).not.toContain(v);
    expect(r.position).toEqual({ seq: String(audit[0]?.seq), hash: audit[0]?.hash, action: 'customer-erased', at: new Date(audit[0]?.at as string).toISOString() });
    expect(await b.store.auditPosition?.({ customerId: id, action: 'customer-erased' })).toEqual(r.position);
    expect((await b.store.auditRowAt?.(r.position.seq))?.hash).toBe(r.position.hash);
    expect((await b.store.verifyAudit?.())?.ok).toBe(true);

    // again: nothing left to erase, nothing recorded
    const again = await erase(b, id);
    expect(again).toMatchObject({ outcome: 'nothing-to-erase', position: null, alreadyEmpty: COLUMNS });
    expect(await auditRows(b, id)).toHaveLength(1);
  });

  each('refused, nothing changed and nothing recorded, while the customer has an instance or a deletion', async (b) => {
    for (const o of [{ status: 'deployed', namespace: 'x' }, { status: 'deleting', namespace: 'x', scheduled: true }, { status: 'failed' }, { status: 'pending', namespace: 'customer-left' }]) {
      const namespace = o.namespace === 'x' ? undefined : o.namespace;
      const { id, key } = await customer(b, { ...o, ...(o.namespace ? { namespace: namespace ?? `customer-${newKey()}` } : {}) });
      void key;
      const before = await raw(b, id);
      const r = await erase(b, id);
      expect(r.outcome, JSON.stringify(o)).toBe('refused');
      expect(await raw(b, id)).toEqual(before);
      expect(await auditRows(b, id)).toEqual([]);
    }
    expect(await erase(b, 'cust_nosuchcustomer1')).toEqual({ outcome: 'not-found' });
  });

  each('a column that does not exist, or an integer NOT NULL column, is refused before anything is changed', async (b) => {
    const { id } = await customer(b);
    const before = await raw(b, id);
    await expect(erase(b, id, [...COLUMNS, 'fax'])).rejects.toThrow(UsageError);
    await expect(erase(b, id, [...COLUMNS, 'fax'])).rejects.toThrow(/has no column "fax"/);
    await expect(erase(b, id, [...COLUMNS, 'Phone'])).rejects.toThrow(/has no column "Phone"/);
    await expect(erase(b, id, [...COLUMNS, 'seats'])).rejects.toThrow(/seats is integer NOT NULL: it can be neither NULL nor empty text/);
    expect(await raw(b, id)).toEqual(before);
    expect(await auditRows(b, id)).toEqual([]);
  });

  each('the erasure certificate is backed by its audit row; one citing another row is not', async (b) => {
    const { id } = await customer(b);
    const r = await erase(b, id);
    if (r.outcome !== 'erased') throw new Error(r.outcome);
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const cert = erasureCertificateFor({ customerId: id, fields: r.fields, backupsDeleted: [] }, r.position, { issuer: 'Example Hosting', issuedAt: new Date() });
    const doc = signCertificate(cert, privateKey);
    expect(verifyCertificateSignature(doc, publicKey).ok).toBe(true);
    expect(await auditBacking(b.store, cert)).toMatchObject({ checked: true, ok: true, problems: [] });
    // another customer's erasure row, cited by a certificate signed with the right key
    const { id: other } = await customer(b);
    const o = await erase(b, other);
    if (o.outcome !== 'erased') throw new Error(o.outcome);
    const wrong = await auditBacking(b.store, { ...cert, audit: o.position });
    expect(wrong.ok).toBe(false);
    expect(wrong.problems.join('\n')).toMatch(new RegExp(`is of ${other}, the certificate of ${id}`));
    // a row that does not exist
    const none = await auditBacking(b.store, { ...cert, audit: { ...cert.audit, seq: '999999' } });
    expect(none.ok).toBe(false);
    expect(none.problems.join('\n')).toMatch(/there is no row 999999/);
    // fewer fields than the row records
    expect((await auditBacking(b.store, { ...cert, rowFieldsErased: ['email'] })).problems.join()).toMatch(/erased fields differ/);
  });
});
