import { describe, expect, it } from 'vitest';
import { parseTimePoint } from '../../src/domain/time-window.js';
import { UsageError } from '../../src/errors.js';
import { userInfo } from 'node:os';
import { cleanAuditText } from '../../src/domain/audit-text.js';
import { cliRequester } from '../../src/jobs/actor.js';
import { auditListener } from '../../src/jobs/audit.js';
import type { Job } from '../../src/domain/job.js';
import { FakeStore } from '../support/fakes.js';

const NOW = new Date('2026-12-01T12:00:00Z');

describe('parseTimePoint (--since, --before)', () => {
  it.each([
    ['7d', '2026-11-24T12:00:00.000Z'],
    ['12h', '2026-12-01T00:00:00.000Z'],
    ['30m', '2026-12-01T11:30:00.000Z'],
    ['2w', '2026-11-17T12:00:00.000Z'],
    ['2026-11-01', '2026-11-01T00:00:00.000Z'],
    ['2026-11-01T08:30:00Z', '2026-11-01T08:30:00.000Z'],
    ['2026-11-01T08:30:00+02:00', '2026-11-01T06:30:00.000Z'],
  ])('%s → %s', (raw, iso) => {
    expect(parseTimePoint(raw, NOW, '--since').toISOString()).toBe(iso);
  });
  it.each(['yesterday', '7', '-7d', '7 d', '2026-13-45', ''])('%j is a usage error', (raw) => {
    expect(() => parseTimePoint(raw, NOW, '--since')).toThrow(UsageError);
  });
});

describe('cliRequester', () => {
  it('the account of the uid @host (cli); never empty', () => {
    expect(cliRequester('123@build-1', { uid: 1000, username: 'alice' })).toBe('alice@build-1 (cli)');
    expect(cliRequester(undefined, { uid: 1000, username: 'alice' })).toBe('alice (cli)');
    // a uid without an account (a container's arbitrary uid) is named by its number
    expect(cliRequester('1@h', { uid: 1000650000, username: null })).toBe('uid 1000650000@h (cli)');
  });

  it('is the OS account of this process\'s uid, whatever $USER says', () => {
    expect(cliRequester('1@h')).toBe(`${userInfo().username}@h (cli)`);
  });

  it('never carries control characters, whatever the account or host is called', () => {
    expect(cliRequester('1@ho\u001b[2Jst', { uid: 7, username: 'ev\u001b]0;x\u0007il\nroot' })).toBe('ev]0;xil root@ho[2Jst (cli)');
  });
});

describe('cleanAuditText (what an audit row may hold)', () => {
  it.each([
    ['plain text, é and 日本 stay', 'plain text, é and 日本 stay'],
    ['line\nbreak\r\n\ttab', 'line break tab'],
    ['\u001b[31mred\u001b[0m', '[31mred[0m'],
    ['nul\u0000 bel\u0007 del\u007f c1\u0085\u009b', 'nul bel del c1'],
    ['bidi \u202eevil\u202c \u2066iso\u2069 \u200fmark', 'bidi evil iso mark'],
  ])('%j → %j', (raw, clean) => {
    expect(cleanAuditText(raw)).toBe(clean);
  });
});

function job(over: Partial<Job>): Job {
  return {
    id: '5', name: 'delete', state: 'active', progress: 0, data: { customerId: 'cust_abc', namespace: 'customer-abc' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 1 }, attemptsMade: 0, maxAttempts: 3, delayUntil: null,
    failedReason: null, failedCode: null, stacktrace: [], returnvalue: null, requestedBy: 'api:ci-bot', simulated: false, timestamp: 0,
    processedOn: null, finishedOn: null, attempts: [], lease: null, ...over,
  };
}

describe('auditListener (events that change no row)', () => {
  it('records started and superseded deletions, and one rbac-deleted row per customer of a sweep', async () => {
    const store = new FakeStore();
    const l = auditListener(store);
    await l({ type: 'started', job: job({}), attempt: 2 });
    await l({ type: 'superseded', job: job({ returnvalue: { reason: 'the row is deployed' } }), attempt: 1 });
    await l({ type: 'progress', jobId: '5', attempt: 1, progress: 25 });
    await l({ type: 'completed', job: job({ name: 'delete' }), attempt: 1 }); // recorded by the row change, not here
    await l({ type: 'started', job: job({ name: 'cleanup-rbac', data: {} }), attempt: 1 });
    await l({
      type: 'completed', attempt: 1,
      job: job({ id: '6', name: 'cleanup-rbac', data: {}, returnvalue: { deleted: [
        { kind: 'ClusterRoleBinding', name: 'ca-customer-instance-opencost', customerKey: 'a' },
        { kind: 'ClusterRole', name: 'ca-customer-instance-opencost', customerKey: 'a' },
        { kind: 'ClusterRole', name: 'cb-customer-instance', customerKey: 'b' },
      ] } }),
    });
    expect(store.audit.map((a) => [a.action, a.customerId, a.jobId, a.reason])).toEqual([
      ['deletion-started', 'cust_abc', '5', 'attempt 2/3'],
      ['deletion-superseded', 'cust_abc', '5', 'the row is deployed'],
      ['rbac-deleted', 'cust_a', '6', 'orphaned cluster RBAC (cleanup-rbac)'],
      ['rbac-deleted', 'cust_b', '6', 'orphaned cluster RBAC (cleanup-rbac)'],
    ]);
    expect(store.audit[2]?.deleted).toEqual({ rbac: ['ClusterRoleBinding/ca-customer-instance-opencost', 'ClusterRole/ca-customer-instance-opencost'] });
    expect(store.audit.every((a) => a.actor === 'api:ci-bot')).toBe(true);
  });
});
