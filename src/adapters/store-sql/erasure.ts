/** A customer's personal fields: read, and erased (blanked the way the table allows) with their audit row. */
import { OperationError, UsageError } from '../../errors.js';
import type { CatalogColumn } from '../../db/customer-table.js';
import { quoteColumn } from '../../domain/erasure.js';
import type { AuditEntry, EraseResult } from '../store.js';
import { insertAudit } from './audit.js';
import { catalogColumns } from './catalog.js';
import type { SqlContext } from './context.js';
import { toCustomerRow, type DbRow } from './rows.js';

/** Column types an erasure may blank with '' when the column is NOT NULL. */
const ERASABLE_TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name']);

/** The columns as the catalog has them, each of `columns` required (UsageError naming the missing ones). */
async function personalColumns(s: SqlContext, columns: readonly string[]): Promise<CatalogColumn[]> {
  const have = new Map((await catalogColumns(s.db)).map((c) => [c.name, c]));
  if (have.size === 0) throw new UsageError(`there is no customers table in ${s.description}`, ["Run 'custctl db migrate' (or point DATABASE_URL at the billing database)."]);
  const missing = columns.filter((c) => !have.has(c));
  if (missing.length > 0) {
    throw new UsageError(`the customers table in ${s.description} has no column ${missing.map((c) => JSON.stringify(c)).join(', ')}`, [
      'CUSTCTL_ERASE_COLUMNS names columns exactly as the table spells them (case included); fix it or the table.',
    ]);
  }
  return columns.map((c) => have.get(c) as CatalogColumn);
}

export async function readPersonalFields(s: SqlContext, customerId: string, columns: readonly string[]): Promise<Record<string, string> | null> {
  return s.guard(`reading the personal fields of ${customerId}`, async () => {
    const cols = await personalColumns(s, columns);
    const r = await s.db.query<Record<string, string>>(
      `select ${cols.map((c, i) => `coalesce(${quoteColumn(c.name)}::text, '') as f${i}`).join(', ')} from customers where customer_id = $1`, [customerId]);
    const row = r.rows[0];
    if (!row) return null;
    return Object.fromEntries(cols.map((c, i) => [c.name, row[`f${i}`] ?? '']));
  });
}

export async function erasePersonalFields(s: SqlContext, customerId: string, columns: readonly string[], audit: Omit<AuditEntry, 'action' | 'deleted'>): Promise<EraseResult> {
  return s.guard(`erasing the personal fields of ${customerId}`, async () => {
    const cols = await personalColumns(s, columns);
    // "none" for each column as the table says it: NULL where allowed, '' in NOT NULL text
    const blanks = cols.map((c) => {
      if (c.generated) throw new UsageError(`customers.${c.name} is a generated column: custctl cannot erase it`, ['Take it out of CUSTCTL_ERASE_COLUMNS; erase what it is generated from.']);
      if (!c.notNull) return `${quoteColumn(c.name)} = null`;
      if (ERASABLE_TEXT_TYPES.has(c.baseType)) return `${quoteColumn(c.name)} = ''`;
      throw new UsageError(`customers.${c.name} is ${c.type} NOT NULL: it can be neither NULL nor empty text, so custctl cannot erase it`, [
        `alter table customers alter column ${quoteColumn(c.name)} drop not null (or take it out of CUSTCTL_ERASE_COLUMNS); nothing was erased`,
      ]);
    });
    const returning = await s.rowColumns();
    return s.db.transaction(async (tx): Promise<EraseResult> => {
      const probe = s.on(tx);
      const held = await tx.query<Record<string, unknown>>(
        `select deployment_status::text as deployment_status, coalesce(instance_namespace::text, '') as instance_namespace,
           ${cols.map((c, i) => `(${quoteColumn(c.name)} is not null and ${quoteColumn(c.name)}::text <> '') as h${i}`).join(', ')}
         from customers where customer_id = $1 for update`, [customerId]);
      const h = held.rows[0];
      if (!h) return { outcome: 'not-found' };
      const row = await probe.get(customerId);
      if (!row) return { outcome: 'not-found' };
      if (h.deployment_status !== 'pending' || h.instance_namespace !== '') return { outcome: 'refused', row };
      const fields = cols.filter((_, i) => h[`h${i}`] === true).map((c) => c.name);
      const alreadyEmpty = cols.filter((_, i) => h[`h${i}`] !== true).map((c) => c.name);
      if (fields.length === 0) return { outcome: 'nothing-to-erase', row, fields: [], alreadyEmpty, position: null };
      const updated = await tx.query<DbRow>(
        `update customers set ${blanks.join(', ')}, updated_at = now()
         where customer_id = $1 and deployment_status::text = 'pending' and coalesce(instance_namespace::text, '') = ''
         returning ${returning}`, [customerId]);
      const after = updated.rows[0];
      if (!after) return { outcome: 'refused', row };
      const position = await insertAudit(tx, { ...audit, action: 'customer-erased', deleted: { fields } }, after.deployment_status);
      if (!position) throw new OperationError(`the customer-erased audit row of ${customerId} was not chained: the audit table lacks its chain (run 'custctl db migrate')`);
      return { outcome: 'erased', row: toCustomerRow(after), fields, alreadyEmpty, position };
    });
  });
}
