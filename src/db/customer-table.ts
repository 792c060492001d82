/**
 * The `customers` table belongs to the billing system, often built by its ORM (TypeORM, Prisma):
 * the status an ENUM type, columns `character varying`, NULL where custctl would write '', extra
 * NOT NULL columns, timestamps without time zone, triggers of its own. custctl works on those
 * shapes (src/adapters/store-sql.ts compares the status as text, writes it through the column's own
 * type, clears a column the way the table says "none", reads timestamps as timestamptz).
 *
 * This module judges a table's columns, read from the catalog, for what custctl's row statements
 * need, and says for each problem which column it is and how to fix it. Pure: the catalog query is
 * the store's. What the catalog cannot tell (a CHECK constraint's expression, a trigger's body) is
 * left to `custctl db check`, which runs the statements themselves and rolls them back.
 *
 * The column names are fixed: custctl reads and writes `customer_id`, `deployment_status`, …
 * exactly. An ORM whose fields are camelCase maps them (Prisma `@map("customer_id")`, TypeORM
 * `@Column({ name: 'customer_id' })`).
 */

/** One column as the catalog describes it. */
export interface CatalogColumn {
  name: string;
  /** format_type(atttypid, atttypmod): `character varying(255)`, `"DeploymentStatus"`, `timestamp(3) without time zone` */
  type: string;
  /** the type without modifiers (`atttypid::regtype`, for a domain its base type's) */
  baseType: string;
  /** pg_type.typtype of the (base) type: b base, e enum, d domain (when its base is unknown), … */
  kind: string;
  /** the enum's labels, in order, when the (base) type is an enum */
  enumValues: string[] | null;
  /** character varying(n) / character(n): n */
  maxLength: number | null;
  notNull: boolean;
  hasDefault: boolean;
  /** a generated column cannot be written */
  generated: boolean;
}

export interface TableProblem {
  /** what kind of problem: a column under another name (an ORM's camelCase), its type, an ENUM's values, NOT NULL, generated */
  kind: 'name' | 'type' | 'enum' | 'not-null' | 'generated';
  column: string;
  problem: string;
  fix: string;
  /** `custctl db migrate` fixes it */
  migrateFixes: boolean;
}

export interface TableReview {
  /** what a deletion would trip on */
  problems: TableProblem[];
  /** what does not stop a deletion but is worth knowing (e.g. what `customers add` cannot fill) */
  notes: string[];
}

const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name']);
const TIME_TYPES = new Set(['timestamp with time zone', 'timestamp without time zone']);

/** custctl's longest status, `deletion_failed` */
const STATUS_LENGTH = 15;
/** job ids are decimal numbers (file journal, BullMQ) */
const JOB_ID_LENGTH = 20;

/** Columns that custctl reads or writes, and what each must allow. */
interface ColumnNeed {
  name: string;
  /** written by a deletion (claim, step 4, cancel, restore) */
  written: boolean;
  /** custctl writes NULL into it */
  nullable?: boolean;
  /** the value classes it needs */
  type: 'text' | 'status' | 'time' | 'time-or-date' | 'any';
  minLength?: number;
}

const NEEDS: readonly ColumnNeed[] = [
  { name: 'id', written: false, type: 'any' },
  { name: 'customer_id', written: false, type: 'text' },
  { name: 'email', written: false, type: 'any' },
  { name: 'company_name', written: false, type: 'any' },
  { name: 'deployment_status', written: true, type: 'status' },
  { name: 'instance_namespace', written: true, type: 'text' },
  { name: 'instance_url', written: true, type: 'text' },
  { name: 'deletion_job_id', written: true, nullable: true, type: 'text', minLength: JOB_ID_LENGTH },
  { name: 'previous_status', written: true, nullable: true, type: 'text', minLength: STATUS_LENGTH },
  { name: 'deletion_scheduled_at', written: true, nullable: true, type: 'time' },
  { name: 'deleted_at', written: true, nullable: true, type: 'time' },
  { name: 'created_at', written: false, type: 'time-or-date' },
  { name: 'updated_at', written: true, type: 'time-or-date' },
];

/** `customer_id` → `customerId` (Prisma's default field names become quoted camelCase columns) */
export function camelCase(snake: string): string {
  return snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

const q = (name: string) => (/^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`);

/**
 * The problems a deletion would trip on in a `customers` table with these columns, and notes.
 * `statuses`: every status custctl reads or writes. Columns that are missing are the schema
 * check's business (and `db migrate` adds custctl's own), except that a camelCase twin is named.
 */
export function reviewCustomersTable(columns: readonly CatalogColumn[], statuses: readonly string[]): TableReview {
  const problems: TableProblem[] = [];
  const notes: string[] = [];
  const byName = new Map(columns.map((c) => [c.name, c]));
  const add = (kind: TableProblem['kind'], column: string, problem: string, fix: string, migrateFixes = false) =>
    problems.push({ kind, column: `customers.${column}`, problem, fix, migrateFixes });

  for (const need of NEEDS) {
    const c = byName.get(need.name);
    if (!c) {
      const twin = byName.get(camelCase(need.name));
      if (twin && twin.name !== need.name) {
        add('name', need.name, `is missing; the table has "${twin.name}" instead`,
          `custctl's column names are fixed: name the column ${need.name} (Prisma: @map("${need.name}") on the field; TypeORM: @Column({ name: '${need.name}' })), or rename it: alter table customers rename column "${twin.name}" to ${need.name}`);
      }
      continue;
    }
    if (need.written && c.generated) {
      add('generated', c.name, 'is a generated column: custctl cannot write it', `make customers.${c.name} a plain column`);
      continue;
    }
    const text = TEXT_TYPES.has(c.baseType);
    switch (need.type) {
      case 'status': {
        if (c.enumValues !== null) {
          const lacking = statuses.filter((s) => !c.enumValues?.includes(s));
          if (lacking.length > 0) {
            add('enum', c.name, `is the enum ${c.type}, which lacks ${lacking.map((s) => `'${s}'`).join(', ')}`,
              `run 'custctl db migrate' (ALTER TYPE ${c.type} ADD VALUE …), and add the same values to the enum in the billing system's model so its next migration keeps them`,
              true);
          }
        } else if (!text) {
          add('type', c.name, `is ${c.type}: custctl stores the statuses as text (${statuses.join(', ')})`,
            `make it text, character varying or an enum type with those values`);
        } else if (c.maxLength !== null && c.maxLength < STATUS_LENGTH) {
          add('type', c.name, `is ${c.type}: too short for 'deletion_failed' (${STATUS_LENGTH} characters)`,
            `alter table customers alter column ${c.name} type character varying(${STATUS_LENGTH}) (or text)`);
        }
        break;
      }
      case 'text':
        if (!text) {
          add('type', c.name, `is ${c.type}: custctl ${need.written ? 'writes' : 'compares'} text there`, `alter table customers alter column ${c.name} type text`);
        } else if (need.minLength !== undefined && c.maxLength !== null && c.maxLength < need.minLength) {
          add('type', c.name, `is ${c.type}: custctl writes up to ${need.minLength} characters there`,
            `alter table customers alter column ${c.name} type text`);
        }
        break;
      case 'time':
        if (!TIME_TYPES.has(c.baseType)) {
          add('type', c.name, `is ${c.type}: custctl writes a time there`, `alter table customers alter column ${c.name} type timestamptz using ${c.name}::timestamptz`);
        }
        break;
      case 'time-or-date':
        if (!TIME_TYPES.has(c.baseType) && c.baseType !== 'date') {
          add('type', c.name, `is ${c.type}: custctl ${need.written ? 'sets it to now()' : 'reads it as a time'}`,
            `make customers.${c.name} a timestamp (with or without time zone)`);
        }
        break;
      case 'any':
        break;
    }
    if (need.nullable && c.notNull) {
      add('not-null', c.name, 'is NOT NULL: custctl writes NULL there (no job holds the row, no deletion is scheduled)',
        `alter table customers alter column ${c.name} drop not null`);
    }
  }

  const known = new Set(NEEDS.map((n) => n.name));
  const unfilled = columns.filter((c) => !known.has(c.name) && c.notNull && !c.hasDefault && !c.generated);
  if (unfilled.length > 0) {
    notes.push(`'custctl customers add' cannot fill ${unfilled.map((c) => `customers.${q(c.name)}`).join(', ')} (NOT NULL, no default): rows come from the billing system; deletions are not affected`);
  }
  const ts = columns.filter((c) => known.has(c.name) && c.baseType === 'timestamp without time zone');
  if (ts.length > 0) {
    notes.push(`${ts.map((c) => `customers.${c.name}`).join(', ')} ${ts.length === 1 ? 'is a timestamp' : 'are timestamps'} without time zone: custctl reads and writes ${ts.length === 1 ? 'it' : 'them'} in the database session's TimeZone, as DEFAULT now() does`);
  }
  return { problems, notes };
}
