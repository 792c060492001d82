/**
 * Erasure rules: which columns are personal (and the site's extra ones, validated), when an
 * erasure is refused, and how personal values are found in kept text (whole words, every form a
 * value takes) and removed from a job record without touching what identifies the job.
 */
import { describe, expect, it } from 'vitest';
import { REQUIRED_CUSTOMER_COLUMNS } from '../../src/db/migrations.js';
import {
  CUSTCTL_OWN_COLUMNS, ERASED_MARK, erasableColumns, erasureRefusal, parseEraseColumns, PERSONAL_COLUMNS, personalNeedles, quoteColumn,
  scrubJobRecord, scrubText, scrubValue, type ErasureSubject,
} from '../../src/domain/erasure.js';
import type { Job } from '../../src/domain/job.js';

describe('columns', () => {
  it("custctl's own columns and the personal ones are exactly the columns custctl needs", () => {
    expect([...CUSTCTL_OWN_COLUMNS, ...PERSONAL_COLUMNS].sort()).toEqual([...REQUIRED_CUSTOMER_COLUMNS].sort());
  });

  it('CUSTCTL_ERASE_COLUMNS: identifiers as the table spells them, deduplicated, the personal ones implied', () => {
    expect(parseEraseColumns(undefined)).toEqual([]);
    expect(parseEraseColumns(' phone, billing_address phone\nphoneNumber,email ')).toEqual(['phone', 'billing_address', 'phoneNumber']);
    expect(erasableColumns(['phone', 'email'])).toEqual(['email', 'company_name', 'instance_url', 'phone']);
    expect(quoteColumn('phoneNumber')).toBe('"phoneNumber"');
  });

  it.each([
    ['SQL', 'phone; drop table customers'],
    ['a quote', 'pho"ne'],
    ['a leading digit', '1phone'],
    ['a non-ASCII letter', 'téléphone'],
    ['a schema-qualified name', 'customers.phone'],
    ['64 characters', 'a'.repeat(64)],
  ])('refuses %s', (_what, raw) => {
    expect(() => parseEraseColumns(raw)).toThrow(/is not a column name/);
  });

  it.each(CUSTCTL_OWN_COLUMNS.map((c) => [c]))("refuses custctl's own column %s", (c) => {
    expect(() => parseEraseColumns(`phone,${c}`)).toThrow(/custctl's own columns/);
  });
});

describe('when an erasure is refused', () => {
  const row: NonNullable<ErasureSubject['row']> = { deploymentStatus: 'pending', instanceNamespace: '', deletionScheduledAt: null, deletionJobId: '12' };
  const subject = (over: Partial<ErasureSubject> = {}, r: Partial<typeof row> | null = {}): ErasureSubject => ({
    customerId: 'cust_abc', row: r === null ? null : { ...row, ...r }, unfinishedJobs: [], ...over,
  });

  it('a deleted customer (pending, no namespace, no job running, no namespace on the cluster) may be erased', () => {
    expect(erasureRefusal(subject())).toBeNull();
    expect(erasureRefusal(subject({ namespaceExists: false }))).toBeNull();
  });

  it.each<[string, ErasureSubject, string, RegExp]>([
    ['no row', subject({}, null), 'not-found', /has no row/],
    ['deployed', subject({}, { deploymentStatus: 'deployed' }), 'instance', /is deployed: it may still have an instance/],
    ['deploying', subject({}, { deploymentStatus: 'deploying' }), 'instance', /deploying/],
    ['failed', subject({}, { deploymentStatus: 'failed' }), 'instance', /failed/],
    ['deletion_failed', subject({}, { deploymentStatus: 'deletion_failed' }), 'instance', /deletion_failed/],
    ['a scheduled deletion', subject({}, { deploymentStatus: 'deleting', deletionScheduledAt: '2026-12-08T00:00:00.000Z' }), 'deletion', /scheduled for 2026-12-08/],
    ['a deletion in progress', subject({}, { deploymentStatus: 'deleting' }), 'deletion', /in progress/],
    ['a namespace in the row', subject({}, { instanceNamespace: 'customer-abc' }), 'instance', /still names namespace/],
    ['a job not ended', subject({ unfinishedJobs: [{ id: '13', name: 'restore', state: 'active' }] }), 'job', /restore job 13 active/],
    ['the namespace on the cluster', subject({ namespaceExists: true }), 'instance', /namespace still exists/],
  ])('refused: %s', (_what, s, reason, msg) => {
    const r = erasureRefusal(s);
    expect(r?.reason).toBe(reason);
    expect(r?.message).toMatch(msg);
  });
});

describe('finding personal values in kept text', () => {
  const n = personalNeedles(['jane.doe@acme.example', 'Acme "Rockets" GmbH', 'https://acme-prod.example.test/app', 'HP', '', null]);

  it('every form: as is, JSON-escaped, percent-encoded, a URL and its host; case-insensitive', () => {
    const text = [
      'claim failed: billing refused customer jane.doe@acme.example (Acme "Rockets" GmbH)',
      '{"who":"Acme \\"Rockets\\" GmbH","mail":"JANE.DOE@ACME.EXAMPLE"}',
      'GET /lookup?email=jane.doe%40acme.example',
      'probe https://acme-prod.example.test/app failed; host acme-prod.example.test',
    ].join('\n');
    const r = scrubText(text, n);
    expect(r.text).not.toMatch(/jane|rockets|acme-prod/i);
    expect(r.count).toBe(7);
    expect(r.text).toContain(`billing refused customer ${ERASED_MARK} (${ERASED_MARK})`);
  });

  it('whole words only: a value inside another word or id is left, and short values are not looked for', () => {
    const m = personalNeedles(['Test', 'ab']);
    expect(m.tooShort).toBe(1);
    expect(scrubText('latest test: Test GmbH, cust_test1, "test"', m).text).toBe(`latest ${ERASED_MARK}: ${ERASED_MARK} GmbH, cust_test1, "${ERASED_MARK}"`);
    expect(scrubText('nothing here', personalNeedles([])).count).toBe(0);
  });

  it("custctl's own names are kept whole even where a value matches inside them", () => {
    const m = personalNeedles(['Acme'], ['cust_acme', 'customer-acme', 'cacme-customer-instance']);
    expect(scrubText('Acme: namespace customer-acme, ClusterRole/cacme-customer-instance-opencost, cust_acme; acme-prod', m).text)
      .toBe(`${ERASED_MARK}: namespace customer-acme, ClusterRole/cacme-customer-instance-opencost, cust_acme; ${ERASED_MARK}-prod`);
  });

  it('scrubValue leaves keys and non-strings, returns a new value', () => {
    const v = { 'jane.doe@acme.example': 1, list: ['jane.doe@acme.example', 3, null], nested: { ok: true } };
    const r = scrubValue(v, n);
    expect(r.value).toEqual({ 'jane.doe@acme.example': 1, list: [ERASED_MARK, 3, null], nested: { ok: true } });
    expect(v.list[0]).toBe('jane.doe@acme.example');
  });
});

describe('scrubJobRecord', () => {
  const job: Job = {
    id: '7', name: 'delete', state: 'failed', progress: 25,
    data: { customerId: 'cust_acme', namespace: 'customer-acme', namespaceUid: 'uid-1' },
    opts: { attempts: 1, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 1 },
    attemptsMade: 1, maxAttempts: 1, delayUntil: null,
    failedReason: 'customer store: completing the deletion failed: billing: jane.doe@acme.example may not be reset',
    failedCode: 'internal',
    stacktrace: ['OperationError: billing: jane.doe@acme.example may not be reset\n    at x'],
    returnvalue: { plan: ['Stripe: customer cus_1 (Jane Doe, jane.doe@acme.example)'] },
    requestedBy: 'op@host (cli)', simulated: true, timestamp: 1, processedOn: 1, finishedOn: 2, previousStatus: 'deployed',
    attempts: [{ attempt: 1, startedOn: 1, finishedOn: 2, worker: '1@h', outcome: 'failed', error: 'billing: jane.doe@acme.example may not be reset', log: ['ERROR billing: jane.doe@acme.example may not be reset  customerId=cust_acme'] }],
    lease: null,
  };

  it('scrubs data, result, failure, stack, attempt errors and logs; keeps the customer id, namespace, uid and the rest', () => {
    const r = scrubJobRecord(job, personalNeedles(['jane.doe@acme.example', 'Jane Doe', 'acme'], ['cust_acme', 'customer-acme']));
    expect(JSON.stringify(r.job)).not.toMatch(/jane/i);
    expect(r.count).toBe(6);
    expect(r.job.data).toEqual(job.data);
    expect(r.job.attempts[0]?.log[0]).toBe(`ERROR billing: ${ERASED_MARK} may not be reset  customerId=cust_acme`);
    expect({ ...r.job, failedReason: null, stacktrace: [], returnvalue: null, attempts: [] }).toEqual({ ...job, failedReason: null, stacktrace: [], returnvalue: null, attempts: [] });
    expect(job.failedReason).toContain('jane.doe'); // the input is not changed
  });
});
