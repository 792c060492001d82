/**
 * The audit log in SQL (custctl_audit, chained by the database's trigger): rows written in the
 * same transaction as the change they record (context.ts's `audited`), read, pruned through
 * custctl_audit_prune(), and the chain walked and checked against an anchor.
 */
import { UsageError, errorMessage } from '../../errors.js';
import { AUDIT_HEAD_TABLE, AUDIT_TABLE } from '../../db/migrations.js';
import { AuditChainWalker, checkpointOf, type AuditVerifyReport, type ChainHead, type ChainRow } from '../../domain/audit-chain.js';
import { cleanAuditText } from '../../domain/audit-text.js';
import type { AuditDeleted, AuditEntry, AuditFilter, AuditPosition, AuditRecord } from '../store.js';
import type { SqlContext, SqlDriver } from './context.js';
import { INVALID_PARAMETER_VALUE, iso, sqlState } from './rows.js';

const AUDIT_COLUMNS = 'id, at, actor, actor_label, db_user, seq, prev_hash, hash, action, customer_id, namespace, job_id, outcome, row_status, deleted, reason';

interface AuditDbRow {
  id: number | string;
  at: Date | string;
  actor: string;
  actor_label: string | null;
  db_user: string | null;
  seq: number | string | null;
  prev_hash: string | null;
  hash: string | null;
  action: string;
  customer_id: string | null;
  namespace: string | null;
  job_id: string | null;
  outcome: string | null;
  row_status: string | null;
  deleted: AuditDeleted | string | null;
  reason: string | null;
}

function toAuditRecord(r: AuditDbRow): AuditRecord {
  return {
    id: Number(r.id),
    at: iso(r.at),
    actor: r.actor,
    actorLabel: r.actor_label ?? null,
    dbUser: r.db_user ?? null,
    seq: r.seq === null || r.seq === undefined ? null : Number(r.seq),
    prevHash: r.prev_hash ?? null,
    hash: r.hash ?? null,
    action: r.action,
    customerId: r.customer_id,
    namespace: r.namespace,
    jobId: r.job_id,
    outcome: r.outcome,
    rowStatus: r.row_status,
    deleted: typeof r.deleted === 'string' ? (JSON.parse(r.deleted) as AuditDeleted) : r.deleted,
    reason: r.reason,
  };
}

/**
 * One audit row, on the connection (or transaction) given. Its text is cleaned of control
 * characters here (the database's chain trigger does the same, and sets seq, time, hash and the
 * session user).
 */
export async function insertAudit(db: SqlDriver, e: AuditEntry, rowStatus: string | null): Promise<AuditPosition | null> {
  const t = cleanAuditText;
  const r = await db.query<{ seq: string | null; hash: string | null; action: string; at: Date | string }>(
    `insert into ${AUDIT_TABLE} (actor, actor_label, action, customer_id, namespace, job_id, outcome, row_status, deleted, reason)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
     returning seq::text as seq, hash, action, at`,
    [t(e.actor), t(e.actorLabel), t(e.action), t(e.customerId), t(e.namespace), t(e.jobId), t(e.outcome), t(rowStatus),
      e.deleted ? JSON.stringify(e.deleted) : null, t(e.reason)],
  );
  return positionOf(r.rows[0]);
}

/** A chained row's place (null: the row is not chained, or there is none). */
function positionOf(r: { seq: string | null; hash: string | null; action: string; at: Date | string } | undefined): AuditPosition | null {
  if (!r || r.seq === null || r.hash === null) return null;
  return { seq: String(r.seq), hash: r.hash, action: r.action, at: iso(r.at) };
}


/**
 * A chain row as `audit verify` reads it: every value as stored, `at` and `deleted` as the chain's
 * canonical form writes them. (Qualify the table's columns in WHERE and ORDER BY: `seq` alone
 * in ORDER BY is the text output column, which sorts '10' before '8'.)
 */
const CHAIN_SELECT = `select id::text as id, seq::text as seq, prev_hash, hash,
  to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, actor, actor_label, db_user, action,
  customer_id, namespace, job_id, outcome, row_status, deleted::text as deleted, reason
  from ${AUDIT_TABLE} a`;

interface ChainDbRow {
  id: string; seq: string | null; prev_hash: string | null; hash: string | null; at: string | null;
  actor: string | null; actor_label: string | null; db_user: string | null; action: string | null;
  customer_id: string | null; namespace: string | null; job_id: string | null; outcome: string | null;
  row_status: string | null; deleted: string | null; reason: string | null;
}

function toChainRow(r: ChainDbRow): ChainRow {
  return {
    id: r.id, seq: r.seq, prevHash: r.prev_hash, hash: r.hash, at: r.at, actor: r.actor, actorLabel: r.actor_label,
    dbUser: r.db_user, action: r.action, customerId: r.customer_id, namespace: r.namespace, jobId: r.job_id,
    outcome: r.outcome, rowStatus: r.row_status, deleted: r.deleted, reason: r.reason,
  };
}

/** Rows read per query while walking the chain. */
const CHAIN_BATCH = 2000;

/**
 * `--anchor SEQ:HASH`: a head recorded earlier, outside the database. The row at that seq must
 * still hold that hash (or, when it was pruned since, a checkpoint must name it as its last pruned
 * row). A database owner who rewrote the rows and recomputed every hash after them is caught here,
 * not by the chain alone.
 */
function checkAnchor(anchor: ChainHead, row: ChainRow | null, report: AuditVerifyReport, checkpointRows: ChainRow[]): NonNullable<AuditVerifyReport['anchor']> {
  const base = { seq: anchor.seq, hash: anchor.hash };
  if (row) {
    return row.hash === anchor.hash
      ? { ...base, ok: true, note: `row ${anchor.seq} still holds the recorded hash` }
      : { ...base, ok: false, note: `row ${anchor.seq} holds ${row.hash ?? 'no hash'}, not the recorded hash: the log was rewritten since the anchor was taken` };
  }
  const cp = checkpointRows.map(checkpointOf).find((c) => c?.lastSeq === anchor.seq);
  if (cp) {
    return cp.lastHash === anchor.hash
      ? { ...base, ok: true, note: `row ${anchor.seq} was pruned; the prune checkpoint (seq ${cp.seq}) records the same hash` }
      : { ...base, ok: false, note: `row ${anchor.seq} was pruned; the prune checkpoint (seq ${cp.seq}) records another hash: the log was rewritten` };
  }
  const first = report.firstSeq !== null ? BigInt(report.firstSeq) : null;
  if (first !== null && BigInt(anchor.seq) < first) {
    return { ...base, ok: false, note: `row ${anchor.seq} was pruned and no checkpoint ends at it, so it cannot be checked any more; take anchors from the head (audit verify prints it)` };
  }
  return { ...base, ok: false, note: `there is no row ${anchor.seq}: the log ends at ${report.lastSeq ?? 'nothing'}` };
}

export async function appendAudit(s: SqlContext, entry: AuditEntry): Promise<void> {
  await s.guard(`recording ${entry.action} in the audit log`, () => insertAudit(s.db, entry, null));
}

export async function listAudit(s: SqlContext, f: AuditFilter): Promise<AuditRecord[]> {
  return s.guard('reading the audit log', async () => {
    const r = await s.db.query<AuditDbRow>(
      `select ${AUDIT_COLUMNS} from ${AUDIT_TABLE}
       where ($1::text is null or customer_id = $1::text)
         and ($2::timestamptz is null or at >= $2::timestamptz)
         and ($3::text[] is null or action = any($3::text[]))
       order by seq desc nulls first, id desc limit $4`,
      [f.customerId ?? null, f.since ? f.since.toISOString() : null, f.actions && f.actions.length > 0 ? [...f.actions] : null, f.limit ?? 1000],
    );
    return r.rows.map(toAuditRecord);
  });
}

export async function pruneAudit(s: SqlContext, before: Date, actor: string, opts: { allowRecent?: boolean } = {}): Promise<number> {
  return s.guard('pruning the audit log', async () => {
    try {
      const r = await s.db.query<{ n: number | string }>(`select custctl_audit_prune($1::timestamptz, $2::text, $3::boolean) as n`,
        [before.toISOString(), cleanAuditText(actor), opts.allowRecent ?? false]);
      return Number(r.rows[0]?.n ?? 0);
    } catch (e) {
      // the function's own refusals (a future or too recent `before`) are the caller's to fix
      if (sqlState(e) === INVALID_PARAMETER_VALUE) throw new UsageError(errorMessage(e));
      throw e;
    }
  });
}

export async function verifyAudit(s: SqlContext, opts: { anchor?: ChainHead } = {}): Promise<AuditVerifyReport> {
  return s.guard('verifying the audit log', () => s.db.transaction(async (tx) => {
    // one snapshot for the whole walk: a prune or an insert meanwhile is not a break
    await tx.query('set transaction isolation level repeatable read, read only');
    const heads = await tx.query<{ seq: string; hash: string }>(`select seq::text as seq, hash from ${AUDIT_HEAD_TABLE}`);
    const head: ChainHead | null = heads.rows[0] ? { seq: heads.rows[0].seq, hash: heads.rows[0].hash } : null;
    const cps = await tx.query<ChainDbRow>(`${CHAIN_SELECT} where a.action = 'audit-pruned' and a.seq is not null order by a.seq`);
    const walker = new AuditChainWalker(cps.rows.map((r) => checkpointOf(toChainRow(r))).filter((c) => c !== null));
    let after = '0';
    let anchorRow: ChainRow | null = null;
    for (;;) {
      const batch = await tx.query<ChainDbRow>(`${CHAIN_SELECT} where a.seq > $1::bigint order by a.seq limit ${CHAIN_BATCH}`, [after]);
      for (const r of batch.rows) {
        const row = toChainRow(r);
        walker.push(row);
        if (opts.anchor && row.seq === opts.anchor.seq) anchorRow = row;
      }
      const last = batch.rows[batch.rows.length - 1];
      if (!last || batch.rows.length < CHAIN_BATCH) break;
      after = last.seq as string;
    }
    const loose = await tx.query<ChainDbRow>(`${CHAIN_SELECT} where a.seq is null order by a.id limit 20`);
    const looseCount = await tx.query<{ n: string }>(`select count(*)::text as n from ${AUDIT_TABLE} where seq is null`);
    const report = walker.end(head, loose.rows.map(toChainRow), Number(looseCount.rows[0]?.n ?? 0));
    if (opts.anchor) report.anchor = checkAnchor(opts.anchor, anchorRow, report, cps.rows.map(toChainRow));
    if (report.anchor && !report.anchor.ok) report.ok = false;
    return report;
  }));
}

export async function auditPosition(s: SqlContext, q: { customerId: string; action: AuditEntry['action']; jobId?: string | null }): Promise<AuditPosition | null> {
  return s.guard(`finding the ${q.action} audit row of ${q.customerId}`, async () => {
    const r = await s.db.query<{ seq: string | null; hash: string | null; action: string; at: Date | string }>(
      `select a.seq::text as seq, a.hash, a.action, a.at from ${AUDIT_TABLE} a
       where a.customer_id = $1 and a.action = $2 and ($3::text is null or a.job_id = $3::text) and a.seq is not null
       order by a.seq desc limit 1`,
      [q.customerId, q.action, q.jobId ?? null],
    );
    return positionOf(r.rows[0]);
  });
}

export async function auditRowAt(s: SqlContext, seq: string): Promise<AuditRecord | null> {
  if (!/^\d{1,18}$/.test(seq)) throw new UsageError(`audit seq ${JSON.stringify(seq.slice(0, 40))} is not a chain position`);
  return s.guard(`reading audit row ${seq}`, async () => {
    const r = await s.db.query<AuditDbRow>(`select ${AUDIT_COLUMNS} from ${AUDIT_TABLE} where seq = $1::bigint`, [seq]);
    const row = r.rows[0];
    return row ? toAuditRecord(row) : null;
  });
}
