/**
 * The audit log's hash chain, as `custctl audit verify` checks it.
 *
 * Every audit row carries `seq` (its place in the chain: 1, 2, 3, … with no gaps), `prev_hash` (the
 * hash of the row before it; 64 zeros before the first) and `hash` = SHA-256 (hex) of the row's
 * canonical form. The database computes them when a row is inserted (the trigger of migration 5,
 * one writer at a time); this module computes them again from the stored columns alone, so a row
 * changed afterwards (an UPDATE made with the trigger disabled), a row deleted from the middle or
 * the end, or a row inserted past the chain is found.
 *
 * The canonical form, version 1, is a JSON array of:
 *   "custctl-audit/1", seq (a JSON number), prev_hash, at, actor, actor_label, db_user, action,
 *   customer_id, namespace, job_id, outcome, row_status, deleted, reason
 * written without spaces between elements; text values as JSON strings (`to_json(text)` in
 * PostgreSQL, JSON.stringify here: identical for every text PostgreSQL can store), NULL as `null`;
 * `at` as UTC with microseconds (`2026-12-01T12:00:00.123456Z`, independent of the session's time
 * zone and of the driver's Date precision); `deleted` as the jsonb value's own text
 * (`deleted::text`, the same on every PostgreSQL, PGlite included).
 *
 * Pruning deletes a prefix of the chain and inserts a checkpoint row (action `audit-pruned`) whose
 * `deleted` records the range (`firstSeq`…`lastSeq`) and the hash of the last pruned row
 * (`lastHash`). The checkpoint is itself a chained row: changing what it records breaks its hash.
 * The first surviving row verifies when its prev_hash equals the `lastHash` of the checkpoint whose
 * `lastSeq` is just before it.
 */
import { createHash } from 'node:crypto';

export const AUDIT_CHAIN_FORMAT = 'custctl-audit/1';
export const GENESIS_HASH = '0'.repeat(64);

/** One stored row, as the chain sees it (every value as the database holds it). */
export interface ChainRow {
  id: string;
  /** decimal; null: the row was inserted with the chain trigger disabled */
  seq: string | null;
  prevHash: string | null;
  hash: string | null;
  /** UTC, microseconds: `to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` */
  at: string | null;
  actor: string | null;
  actorLabel: string | null;
  dbUser: string | null;
  action: string | null;
  customerId: string | null;
  namespace: string | null;
  jobId: string | null;
  outcome: string | null;
  rowStatus: string | null;
  /** `deleted::text` (the jsonb value as PostgreSQL writes it), or null */
  deleted: string | null;
  reason: string | null;
}

const str = (v: string | null): string => (v === null ? 'null' : JSON.stringify(v));

export function canonicalAuditRow(r: ChainRow): string {
  if (r.seq === null || !/^\d+$/.test(r.seq)) throw new Error(`audit row ${r.id} has no chain position`);
  return `[${[
    str(AUDIT_CHAIN_FORMAT), r.seq, str(r.prevHash), str(r.at), str(r.actor), str(r.actorLabel), str(r.dbUser), str(r.action),
    str(r.customerId), str(r.namespace), str(r.jobId), str(r.outcome), str(r.rowStatus), r.deleted ?? 'null', str(r.reason),
  ].join(',')}]`;
}

export function auditRowHash(r: ChainRow): string {
  return createHash('sha256').update(canonicalAuditRow(r), 'utf8').digest('hex');
}

/** What a checkpoint row (`audit-pruned`) records in `deleted`. */
export interface PruneCheckpoint {
  /** the checkpoint row's own seq */
  seq: string;
  auditRows: number;
  firstSeq: string | null;
  lastSeq: string | null;
  lastHash: string | null;
}

/** Reads a checkpoint from an `audit-pruned` row's `deleted` text; null when it records no range. */
export function checkpointOf(r: Pick<ChainRow, 'seq' | 'action' | 'deleted'>): PruneCheckpoint | null {
  if (r.action !== 'audit-pruned' || r.seq === null || r.deleted === null) return null;
  let d: unknown;
  try {
    d = JSON.parse(r.deleted);
  } catch {
    return null;
  }
  if (typeof d !== 'object' || d === null) return null;
  const o = d as Record<string, unknown>;
  const num = (v: unknown): string | null => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : typeof v === 'string' && /^\d+$/.test(v) ? v : null);
  return {
    seq: r.seq,
    auditRows: typeof o.auditRows === 'number' ? o.auditRows : 0,
    firstSeq: num(o.firstSeq),
    lastSeq: num(o.lastSeq),
    lastHash: typeof o.lastHash === 'string' ? o.lastHash : null,
  };
}

export interface ChainProblem {
  /** the audit row's id (bigserial), decimal */
  id: string;
  seq: string | null;
  action: string | null;
  at: string | null;
  problem: string;
}

export interface ChainHead {
  seq: string;
  hash: string;
}

export interface AuditVerifyReport {
  ok: boolean;
  /** rows walked in chain order */
  checked: number;
  firstSeq: string | null;
  lastSeq: string | null;
  /** the chain head as the database records it (custctl_audit_head) */
  head: ChainHead | null;
  /** the checkpoint that accounts for the pruned start of the chain, if any */
  prunedThrough: { lastSeq: string; checkpointSeq: string } | null;
  /** rows that are not in the chain at all (no seq) */
  unchained: number;
  /** problems in chain order (at most MAX_PROBLEMS); the first is the first row that does not verify */
  problems: ChainProblem[];
  problemCount: number;
  /** `--anchor SEQ:HASH`: a head recorded earlier, outside the database */
  anchor?: { seq: string; hash: string; ok: boolean; note: string };
}

export const MAX_PROBLEMS = 20;

const short = (h: string | null): string => (h === null ? 'none' : h.length > 12 ? `${h.slice(0, 12)}…` : h);

/**
 * Walks rows in chain order (seq ascending, rows without a seq left out) and collects the
 * problems. After a problem the walk goes on from the row as stored, so one changed row is one
 * problem, not every row after it.
 */
export class AuditChainWalker {
  private expectedSeq: bigint | null = null;
  private expectedPrev: string | null = null;
  private readonly problemsFound: ChainProblem[] = [];
  private count = 0;
  private problemTotal = 0;
  private first: string | null = null;
  private last: ChainRow | null = null;
  private pruned: { lastSeq: string; checkpointSeq: string } | null = null;

  /** `checkpoints`: every `audit-pruned` row's checkpoint (they are verified as rows in the walk too). */
  constructor(private readonly checkpoints: readonly PruneCheckpoint[]) {}

  private problem(r: ChainRow, problem: string): void {
    this.problemTotal += 1;
    if (this.problemsFound.length < MAX_PROBLEMS) this.problemsFound.push({ id: r.id, seq: r.seq, action: r.action, at: r.at, problem });
  }

  push(r: ChainRow): void {
    if (r.seq === null) throw new Error('AuditChainWalker.push: a row without seq is not in the chain');
    const seq = BigInt(r.seq);
    this.count += 1;
    if (this.expectedSeq === null) {
      this.first = r.seq;
      if (seq === 1n) {
        if (r.prevHash !== GENESIS_HASH) this.problem(r, `the first row of the chain must follow ${short(GENESIS_HASH)}, it follows ${short(r.prevHash)}`);
      } else {
        // the start was pruned: the checkpoint that pruned through seq-1 must name this row's predecessor
        const cp = [...this.checkpoints].reverse().find((c) => c.lastSeq !== null && BigInt(c.lastSeq) === seq - 1n);
        if (!cp) {
          this.problem(r, `rows before seq ${r.seq} are missing and no prune checkpoint accounts for them (deleted without custctl audit prune)`);
        } else if (cp.lastHash !== r.prevHash) {
          this.problem(r, `the prune checkpoint (seq ${cp.seq}) says row ${cp.lastSeq} had hash ${short(cp.lastHash)}, this row follows ${short(r.prevHash)}`);
        } else {
          this.pruned = { lastSeq: cp.lastSeq as string, checkpointSeq: cp.seq };
        }
      }
    } else if (seq !== this.expectedSeq) {
      const gap = seq - (this.expectedSeq as bigint);
      this.problem(r, gap > 0n
        ? `row${gap === 1n ? '' : 's'} seq ${this.expectedSeq}${gap === 1n ? '' : `–${seq - 1n}`} ${gap === 1n ? 'is' : 'are'} missing before this row (deleted)`
        : `seq ${r.seq} appears twice`);
    } else if (r.prevHash !== this.expectedPrev) {
      this.problem(r, `does not follow the row before it (seq ${seq - 1n} has hash ${short(this.expectedPrev)}, this row names ${short(r.prevHash)}): that row was rewritten`);
    }
    const computed = auditRowHash(r);
    if (r.hash !== computed) {
      this.problem(r, r.hash === null
        ? 'has no hash'
        : `was changed after it was written: its content hashes to ${short(computed)}, the chain recorded ${short(r.hash)}`);
    }
    this.expectedSeq = seq + 1n;
    this.expectedPrev = r.hash;
    this.last = r;
  }

  /** Ends the walk: the head must be the last row; rows without a seq are problems too. */
  end(head: ChainHead | null, unchained: ChainRow[], unchainedCount: number): AuditVerifyReport {
    const last = this.last;
    if (head === null) {
      if (last) this.problem(last, 'the chain head (custctl_audit_head) is missing');
    } else if (last === null) {
      if (head.seq !== '0') {
        this.problemTotal += 1;
        this.problemsFound.push({ id: '-', seq: head.seq, action: null, at: null, problem: `the log is empty but the chain head records ${head.seq} rows: every row was deleted` });
      }
    } else if (head.seq !== last.seq) {
      const lastSeq = BigInt(last.seq as string);
      const headSeq = BigInt(head.seq);
      this.problemTotal += 1;
      this.problemsFound.push({
        id: '-', seq: head.seq, action: null, at: null,
        problem: headSeq > lastSeq
          ? `row${headSeq - lastSeq === 1n ? '' : 's'} seq ${lastSeq + 1n}${headSeq - lastSeq === 1n ? '' : `–${headSeq}`} ${headSeq - lastSeq === 1n ? 'is' : 'are'} missing at the end of the log (deleted)`
          : `the chain head records seq ${head.seq}, behind the last row (seq ${last.seq}): it was moved back`,
      });
    } else if (head.hash !== last.hash) {
      this.problem(last, `the chain head records hash ${short(head.hash)} for this row, the row holds ${short(last.hash)}`);
    }
    for (const u of unchained) this.problem(u, 'is not in the chain (no seq: inserted with the chain trigger disabled)');
    this.problemTotal += Math.max(0, unchainedCount - unchained.length);
    return {
      ok: this.problemTotal === 0,
      checked: this.count,
      firstSeq: this.first,
      lastSeq: last?.seq ?? null,
      head,
      prunedThrough: this.pruned,
      unchained: unchainedCount,
      problems: this.problemsFound,
      problemCount: this.problemTotal,
    };
  }
}

/** `--anchor SEQ:HASH` */
export function parseAnchor(raw: string): ChainHead | null {
  const m = /^(\d{1,18}):([0-9a-f]{64})$/.exec(raw.trim().toLowerCase());
  return m ? { seq: String(BigInt(m[1] as string)), hash: m[2] as string } : null;
}
