import { describe, expect, it } from 'vitest';
import { DEPLOYMENT_STATUSES } from '../../src/adapters/store.js';
import { camelCase, reviewCustomersTable, type CatalogColumn } from '../../src/db/customer-table.js';

const col = (name: string, type: string, over: Partial<CatalogColumn> = {}): CatalogColumn => ({
  name, type, baseType: type.replace(/\(\d+\)/, ''), kind: 'b', enumValues: null, maxLength: /\((\d+)\)/.exec(type) ? Number(/\((\d+)\)/.exec(type)?.[1]) : null,
  notNull: false, hasDefault: false, generated: false, ...over,
});

/** custctl's own table (migration 1): nothing to say. */
const OWN: CatalogColumn[] = [
  col('id', 'integer', { notNull: true, hasDefault: true }),
  col('customer_id', 'text', { notNull: true }),
  col('email', 'text', { notNull: true, hasDefault: true }),
  col('company_name', 'text', { notNull: true, hasDefault: true }),
  col('deployment_status', 'text', { notNull: true, hasDefault: true }),
  col('instance_namespace', 'text', { notNull: true, hasDefault: true }),
  col('instance_url', 'text', { notNull: true, hasDefault: true }),
  col('deletion_job_id', 'text'),
  col('previous_status', 'text'),
  col('created_at', 'timestamp with time zone', { notNull: true, hasDefault: true }),
  col('updated_at', 'timestamp with time zone', { notNull: true, hasDefault: true }),
  col('deletion_scheduled_at', 'timestamp with time zone'),
  col('deleted_at', 'timestamp with time zone'),
];

const review = (cols: CatalogColumn[]) => reviewCustomersTable(cols, DEPLOYMENT_STATUSES);
const replace = (name: string, c: Partial<CatalogColumn> & { type?: string }) =>
  OWN.map((o) => (o.name === name ? { ...o, ...(c.type ? col(name, c.type) : {}), ...c } : o));

describe('reviewCustomersTable', () => {
  it("custctl's own table has no problem and no note", () => {
    expect(review(OWN)).toEqual({ problems: [], notes: [] });
  });

  it('an ENUM status with every value passes; one without deleting/deletion_failed is a problem db migrate fixes', () => {
    const full = replace('deployment_status', { type: '"DeploymentStatus"', baseType: '"DeploymentStatus"', kind: 'e', enumValues: [...DEPLOYMENT_STATUSES] });
    expect(review(full).problems).toEqual([]);
    const partial = replace('deployment_status', { type: '"DeploymentStatus"', baseType: '"DeploymentStatus"', kind: 'e', enumValues: ['pending', 'deploying', 'deployed', 'failed'] });
    expect(review(partial).problems).toEqual([{
      kind: 'enum', column: 'customers.deployment_status', migrateFixes: true,
      problem: `is the enum "DeploymentStatus", which lacks 'deleting', 'deletion_failed'`,
      fix: expect.stringMatching(/^run 'custctl db migrate' \(ALTER TYPE "DeploymentStatus" ADD VALUE …\)/),
    }]);
  });

  it.each<[string, CatalogColumn[], RegExp, RegExp]>([
    ['status varchar(10)', replace('deployment_status', { type: 'character varying(10)' }), /too short for 'deletion_failed'/, /type character varying\(15\)/],
    ['status integer', replace('deployment_status', { type: 'integer' }), /is integer: custctl stores the statuses as text/, /text, character varying or an enum/],
    ['previous_status NOT NULL', replace('previous_status', { notNull: true }), /is NOT NULL: custctl writes NULL there/, /alter column previous_status drop not null/],
    ['deletion_job_id varchar(8)', replace('deletion_job_id', { type: 'character varying(8)' }), /custctl writes up to 20 characters/, /type text/],
    ['deleted_at date', replace('deleted_at', { type: 'date' }), /is date: custctl writes a time there/, /timestamptz/],
    ['updated_at bigint (epoch ms)', replace('updated_at', { type: 'bigint' }), /sets it to now\(\)/, /a timestamp/],
    ['customer_id uuid', replace('customer_id', { type: 'uuid' }), /is uuid: custctl compares text there/, /type text/],
    ['a generated instance_url', replace('instance_url', { generated: true }), /generated column/, /plain column/],
  ])('%s: the column and the fix', (_, cols, problem, fix) => {
    const r = review(cols);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]?.problem).toMatch(problem);
    expect(r.problems[0]?.fix).toMatch(fix);
    expect(r.problems[0]?.migrateFixes).toBe(false);
  });

  it.each<[string, CatalogColumn[]]>([
    ['varchar everywhere (TypeORM)', OWN.map((c) => (c.baseType === 'text' ? col(c.name, 'character varying', { notNull: c.notNull }) : c))],
    ['nullable text (an ORM\'s String?)', OWN.map((c) => (c.baseType === 'text' ? { ...c, notNull: false } : c))],
    ['timestamps without time zone (TIMESTAMP(3))', OWN.map((c) => (c.baseType.startsWith('timestamp') ? col(c.name, 'timestamp(3) without time zone', { baseType: 'timestamp without time zone', maxLength: null }) : c))],
    ['citext customer_id', replace('customer_id', { type: 'citext' })],
    ['status varchar(20)', replace('deployment_status', { type: 'character varying(20)' })],
  ])('no problem: %s', (_, cols) => {
    expect(review(cols).problems).toEqual([]);
  });

  it("camelCase columns are named, with the fix: custctl's column names are fixed", () => {
    const camel = OWN.map((c) => ({ ...c, name: camelCase(c.name) }));
    const r = review(camel);
    expect(r.problems.map((p) => p.column)).toEqual([
      'customers.customer_id', 'customers.company_name', 'customers.deployment_status', 'customers.instance_namespace', 'customers.instance_url',
      'customers.deletion_job_id', 'customers.previous_status', 'customers.deletion_scheduled_at', 'customers.deleted_at', 'customers.created_at', 'customers.updated_at',
    ]);
    expect(r.problems[0]).toMatchObject({ kind: 'name', problem: 'is missing; the table has "customerId" instead', fix: expect.stringContaining('@map("customer_id")') });
  });

  it('notes: extra NOT NULL columns without a default (customers add cannot fill them), timestamps without time zone', () => {
    const r = review([...OWN.map((c) => (c.name === 'updated_at' ? col(c.name, 'timestamp without time zone', { notNull: true }) : c)),
      col('plan_id', 'integer', { notNull: true }), col('plan', 'character varying', { notNull: true, hasDefault: true }), col('Region', 'text', { notNull: true })]);
    expect(r.problems).toEqual([]);
    expect(r.notes).toEqual([
      `'custctl customers add' cannot fill customers.plan_id, customers."Region" (NOT NULL, no default): rows come from the billing system; deletions are not affected`,
      `customers.updated_at is a timestamp without time zone: custctl reads and writes it in the database session's TimeZone, as DEFAULT now() does`,
    ]);
  });
});
