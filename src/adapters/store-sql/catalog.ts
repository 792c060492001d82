/** The customers table as PostgreSQL's catalog describes it. */
import type { CatalogColumn } from '../../db/customer-table.js';
import { DEPLOYMENT_STATUSES } from '../store.js';
import type { SqlDriver } from './context.js';

/** The customers table's columns as the catalog describes them (none when there is no table). */
export async function catalogColumns(db: SqlDriver): Promise<CatalogColumn[]> {
  const r = await db.query<{
    name: string; type: string; base_type: string; kind: string; enum_values: string[] | string | null;
    max_length: number | null; not_null: boolean; has_default: boolean; generated: boolean;
  }>(
    `select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type,
       format_type(bt.oid, null) as base_type, bt.typtype::text as kind,
       (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = bt.oid) as enum_values,
       case when bt.typcategory = 'S' and coalesce(nullif(a.atttypmod, -1), t.typtypmod) > 4
         then coalesce(nullif(a.atttypmod, -1), t.typtypmod) - 4 end as max_length,
       a.attnotnull as not_null, a.atthasdef as has_default, a.attgenerated <> '' as generated
     from pg_attribute a
     join pg_type t on t.oid = a.atttypid
     join pg_type bt on bt.oid = coalesce(nullif(t.typbasetype, 0), t.oid)
     where a.attrelid = to_regclass('customers') and a.attnum > 0 and not a.attisdropped
     order by a.attnum`,
  );
  return r.rows.map((c) => ({
    name: c.name, type: c.type, baseType: c.base_type, kind: c.kind,
    // PGlite hands an array of text back as an array, pg too; a driver without the type parser as '{a,b}'
    enumValues: c.enum_values === null ? null : Array.isArray(c.enum_values) ? c.enum_values : c.enum_values.replace(/^\{|\}$/g, '').split(',').filter(Boolean),
    maxLength: c.max_length === null ? null : Number(c.max_length),
    notNull: c.not_null, hasDefault: c.has_default, generated: c.generated,
  }));
}

/** The statuses an ENUM status column lacks (none for a text column). */
export async function lackingStatusValues(db: SqlDriver): Promise<Array<{ type: string; value: string }>> {
  const status = (await catalogColumns(db)).find((c) => c.name === 'deployment_status');
  if (!status?.enumValues) return [];
  return DEPLOYMENT_STATUSES.filter((v) => !status.enumValues?.includes(v)).map((value) => ({ type: status.baseType, value }));
}
