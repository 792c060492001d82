import { describe, expect, it } from 'vitest';
import { AUDIT_PRUNE_MIN_AGE_DAYS, MIGRATIONS } from '../../src/db/migrations.js';
import { AuditChainWalker, GENESIS_HASH, auditRowHash, canonicalAuditRow, checkpointOf, parseAnchor, type ChainRow } from '../../src/domain/audit-chain.js';

function row(seq: number, over: Partial<ChainRow> = {}): ChainRow {
  return {
    id: String(100 + seq), seq: String(seq), prevHash: null, hash: null, at: `2026-12-01T12:00:${String(seq).padStart(2, '0')}.000123Z`,
    actor: 'alice@host (cli)', actorLabel: null, dbUser: 'custctl', action: 'deletion-started', customerId: 'cust_abc', namespace: 'customer-abc',
    jobId: String(seq), outcome: 'running', rowStatus: null, deleted: null, reason: `attempt ${seq}`, ...over,
  };
}

/** Rows 1..n chained as the database chains them. */
function chain(n: number, from = 1, prev = GENESIS_HASH, over: (seq: number) => Partial<ChainRow> = () => ({})): ChainRow[] {
  const out: ChainRow[] = [];
  for (let s = from; s < from + n; s++) {
    const r = row(s, { prevHash: prev, ...over(s) });
    r.hash = auditRowHash(r);
    prev = r.hash;
    out.push(r);
  }
  return out;
}

const head = (rows: ChainRow[]) => ({ seq: rows[rows.length - 1]?.seq as string, hash: rows[rows.length - 1]?.hash as string });

function walk(rows: ChainRow[], h = head(rows), unchained: ChainRow[] = []) {
  const w = new AuditChainWalker(rows.map(checkpointOf).filter((c) => c !== null));
  for (const r of rows) w.push(r);
  return w.end(h, unchained, unchained.length);
}

describe('the canonical form (version 1)', () => {
  it('is a fixed JSON array: a change to it is a change of format, seen here first', () => {
    const r = row(7, { prevHash: 'ab'.repeat(32), deleted: '{"rbac": ["ClusterRole/x"], "objects": {"Pod": 2}}', reason: 'quote " and \\ and é', rowStatus: 'pending' });
    expect(canonicalAuditRow(r)).toBe(
      '["custctl-audit/1",7,"abababababababababababababababababababababababababababababababab","2026-12-01T12:00:07.000123Z","alice@host (cli)",null,"custctl",'
      + '"deletion-started","cust_abc","customer-abc","7","running","pending",{"rbac": ["ClusterRole/x"], "objects": {"Pod": 2}},"quote \\" and \\\\ and é"]',
    );
    // sha256 of that text (printf '%s' … | sha256sum)
    expect(auditRowHash(r)).toBe('3dc426b63c928e94113e4b2638157c5a121621ca150b575e75c37be40d4c850b');
  });

  it('a row without a chain position has no canonical form', () => {
    expect(() => canonicalAuditRow(row(1, { seq: null }))).toThrow(/no chain position/);
  });
});

describe('AuditChainWalker', () => {
  it('an intact chain verifies', () => {
    const rows = chain(5);
    expect(walk(rows)).toMatchObject({ ok: true, checked: 5, firstSeq: '1', lastSeq: '5', problems: [], problemCount: 0, prunedThrough: null });
  });

  it('an empty log with an empty head verifies; with a head that counted rows it does not', () => {
    expect(walk([], { seq: '0', hash: GENESIS_HASH })).toMatchObject({ ok: true, checked: 0 });
    expect(walk([], { seq: '3', hash: 'x' }).problems[0]?.problem).toMatch(/every row was deleted/);
  });

  it('a changed column is that row, and only that row', () => {
    const rows = chain(5);
    (rows[2] as ChainRow).reason = 'nothing to see';
    const r = walk(rows);
    expect(r.ok).toBe(false);
    expect(r.problemCount).toBe(1);
    expect(r.problems[0]).toMatchObject({ id: '103', seq: '3', problem: expect.stringMatching(/^was changed after it was written/) });
  });

  it.each<[string, (r: ChainRow) => void]>([
    ['actor', (r) => { r.actor = 'bob'; }],
    ['actor_label', (r) => { r.actorLabel = 'x'; }],
    ['db_user', (r) => { r.dbUser = 'postgres'; }],
    ['action', (r) => { r.action = 'deletion-failed'; }],
    ['customer_id', (r) => { r.customerId = 'cust_other'; }],
    ['namespace', (r) => { r.namespace = null; }],
    ['job_id', (r) => { r.jobId = '9'; }],
    ['outcome', (r) => { r.outcome = 'deleted'; }],
    ['row_status', (r) => { r.rowStatus = 'pending'; }],
    ['deleted', (r) => { r.deleted = '{"auditRows": 1}'; }],
    ['at (a microsecond)', (r) => { r.at = '2026-12-01T12:00:02.000124Z'; }],
  ])('every column counts: %s', (_, change) => {
    const rows = chain(3);
    change(rows[1] as ChainRow);
    expect(walk(rows).problems.map((p) => p.seq)).toEqual(['2']);
  });

  it('a deleted middle row is named on the row after it; rows deleted at the end are named by the head', () => {
    const rows = chain(6);
    const gone = rows.filter((r) => r.seq !== '3' && r.seq !== '4');
    expect(walk(gone, head(rows)).problems.map((p) => [p.seq, p.problem])).toEqual([['5', 'rows seq 3–4 are missing before this row (deleted)']]);
    expect(walk(rows.slice(0, 4), head(rows)).problems.map((p) => p.problem)).toEqual(['rows seq 5–6 are missing at the end of the log (deleted)']);
  });

  it('a row whose hash was recomputed after a change is caught by the next row', () => {
    const rows = chain(4);
    const r2 = rows[1] as ChainRow;
    r2.reason = 'rewritten';
    r2.hash = auditRowHash(r2);
    expect(walk(rows, head(rows)).problems.map((p) => [p.seq, p.problem])).toEqual([
      ['3', expect.stringMatching(/does not follow the row before it/)],
    ]);
  });

  it('a pruned start verifies through the checkpoint that names its last hash, and not otherwise', () => {
    const all = chain(6);
    const last = all[3] as ChainRow; // rows 1-4 pruned
    const kept = all.slice(4);
    const cp = chain(1, 7, kept[1]?.hash ?? undefined, () => ({
      action: 'audit-pruned', outcome: 'pruned', jobId: null, customerId: null, namespace: null,
      deleted: JSON.stringify({ auditRows: 4, firstSeq: 1, lastSeq: 4, lastHash: last.hash }),
    }));
    const rows = [...kept, ...cp];
    expect(walk(rows)).toMatchObject({ ok: true, prunedThrough: { lastSeq: '4', checkpointSeq: '7' } });
    // no checkpoint: the start is unexplained
    expect(walk(kept).problems[0]?.problem).toMatch(/no prune checkpoint accounts for them/);
    // a checkpoint that names another hash
    const wrong = chain(1, 7, kept[1]?.hash ?? undefined, () => ({ action: 'audit-pruned', deleted: JSON.stringify({ auditRows: 4, firstSeq: 1, lastSeq: 4, lastHash: 'f'.repeat(64) }) }));
    expect(walk([...kept, ...wrong]).problems[0]?.problem).toMatch(/prune checkpoint \(seq 7\) says row 4 had hash ffffffffffff…/);
  });

  it('the head must be the last row; rows outside the chain are problems too', () => {
    const rows = chain(3);
    expect(walk(rows, { seq: '3', hash: 'e'.repeat(64) }).problems[0]?.problem).toMatch(/chain head records hash eeeeeeeeeeee…/);
    expect(walk(rows, { seq: '2', hash: 'x' }).problems[0]?.problem).toMatch(/moved back/);
    const ghost = row(0, { id: '999', seq: null });
    const r = walk(rows, head(rows), [ghost]);
    expect(r).toMatchObject({ ok: false, unchained: 1, problems: [{ id: '999', problem: expect.stringMatching(/not in the chain/) }] });
  });

  it('keeps at most 20 problems, counting all', () => {
    const rows = chain(30);
    for (const r of rows) r.reason = 'x';
    const rep = walk(rows);
    expect(rep.problems).toHaveLength(20);
    expect(rep.problemCount).toBe(30);
  });
});

describe('parseAnchor (--anchor SEQ:HASH)', () => {
  it.each([
    [`12:${'a'.repeat(64)}`, { seq: '12', hash: 'a'.repeat(64) }],
    [` 0012:${'A'.repeat(64)} `, { seq: '12', hash: 'a'.repeat(64) }],
  ])('%j', (raw, want) => expect(parseAnchor(raw)).toEqual(want));
  it.each(['12', `x:${'a'.repeat(64)}`, `12:${'a'.repeat(63)}`, `12:${'g'.repeat(64)}`, ''])('%j is refused', (raw) => expect(parseAnchor(raw)).toBeNull());
});

describe('migration 5', () => {
  it('says the same minimum age as the CLI', () => {
    const sql = MIGRATIONS.find((m) => m.version === 5)?.sql ?? '';
    expect(sql).toContain(`interval '${AUDIT_PRUNE_MIN_AGE_DAYS} days'`);
    expect(sql.match(/\b(\d+) days\b/g)?.every((m) => m === `${AUDIT_PRUNE_MIN_AGE_DAYS} days`)).toBe(true);
  });
  it('cleans text with the same characters as cleanAuditText', async () => {
    const { cleanAuditText } = await import('../../src/domain/audit-text.js');
    const sql = MIGRATIONS.find((m) => m.version === 5)?.sql ?? '';
    // the two classes, as SQL writes them, turned into the characters they name
    const classes = [...sql.matchAll(/'\[((?:\\u[0-9a-f]{4}(?:-\\u[0-9a-f]{4})?)+)\]\+?'/g)].map((m) => m[1] as string);
    expect(classes).toHaveLength(2);
    const chars = (cls: string) => {
      const out: string[] = [];
      for (const m of cls.matchAll(/\\u([0-9a-f]{4})(?:-\\u([0-9a-f]{4}))?/g)) {
        const a = parseInt(m[1] as string, 16);
        const b = m[2] ? parseInt(m[2], 16) : a;
        for (let c = a; c <= b; c++) out.push(String.fromCharCode(c));
      }
      return out;
    };
    for (const c of chars(classes[0] as string)) expect(cleanAuditText(`a${c}b`)).toBe('a b');
    for (const c of chars(classes[1] as string)) expect(cleanAuditText(`a${c}b`)).toBe('ab');
    // and nothing else in the first 0x3000 code points is touched but NUL (which PostgreSQL cannot store)
    const named = new Set([...chars(classes[0] as string), ...chars(classes[1] as string), '\u0000']);
    for (let c = 0; c < 0x3000; c++) {
      const ch = String.fromCharCode(c);
      if (!named.has(ch)) expect(cleanAuditText(ch)).toBe(ch);
    }
  });
});
