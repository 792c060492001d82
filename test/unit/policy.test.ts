// Who may do what (src/service/policy.ts): every principal × every action, the refusals included,
// the owner retention rule and what an owner is shown.
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import { NotFoundError, ForbiddenError } from '../../src/errors.js';
import {
  ACTIONS, authorize, cancellerOf, decide, defaultRetentionFor, deletionTerms, jobsScope, jobView, mayCancelJob, mayReadCustomer, mayReadJob, rowView, OPERATOR,
  type Action, type Asker,
} from '../../src/service/policy.js';

const CLI: Asker = { role: 'cli', name: 'alice@host' };
const ADMIN: Asker = { role: 'admin', name: 'ops' };
const VIEWER: Asker = { role: 'viewer', name: 'grafana' };
const OWNER: Asker = { role: 'owner', name: 'acme-owner', customerId: 'cust_acme' };

const WRITES: Action[] = ['submit', 'cancel', 'retry', 'restore', 'cleanup'];
const OWNER_MAY: Action[] = ['plan', 'submit', 'cancel', 'read-job', 'read-customer', 'list-jobs', 'list-customers', 'deliveries'];

function job(customerId: string, over: Partial<Job> = {}): Job {
  return {
    id: '12', name: 'delete', state: 'waiting', progress: 0, data: { customerId, namespace: `customer-${customerId.slice(5)}` },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, timeoutMs: 60_000, backupUrl: 'file:///var/backups' },
    attemptsMade: 0, maxAttempts: 3, delayUntil: null, failedReason: null, failedCode: null, stacktrace: ['Error: at db.internal:5432'],
    returnvalue: null, requestedBy: 'api:ops', simulated: false, timestamp: 1, processedOn: null, finishedOn: null, attempts: [],
    lease: { worker: '123@build-host', expiresAt: 5, pid: 123, host: 'build-host' }, ...over,
  } as Job;
}

describe('decide: each principal × each action', () => {
  it('the CLI and an admin token may do every action, on any customer', () => {
    for (const who of [CLI, ADMIN]) for (const a of ACTIONS) expect(decide(who, a, { customerId: 'cust_other', job: job('cust_other') }), `${who.role} ${a}`).toEqual({ allowed: true });
  });

  it('a viewer reads everything and is refused (403) every action that changes something', () => {
    for (const a of ACTIONS) {
      const d = decide(VIEWER, a, { customerId: 'cust_acme' });
      if (WRITES.includes(a)) {
        expect(d, a).toEqual({ allowed: false, refusal: 'forbidden', message: 'token grafana has role viewer; this needs an admin token' });
        expect(() => authorize(VIEWER, a), a).toThrow(ForbiddenError);
      } else {
        expect(d, a).toEqual({ allowed: true });
      }
    }
  });

  it('an owner may plan, submit, cancel and read for its own customer only', () => {
    for (const a of ACTIONS) {
      const own = decide(OWNER, a, { customerId: 'cust_acme', job: job('cust_acme') });
      const other = decide(OWNER, a, { customerId: 'cust_other' });
      const otherJob = decide(OWNER, a, { job: job('cust_other') });
      if (OWNER_MAY.includes(a)) {
        expect(own, a).toEqual({ allowed: true });
        // another customer, or its job, reads as a missing one
        expect(other, a).toEqual({ allowed: false, refusal: 'not_found', message: 'customer cust_other not found' });
        expect(otherJob, a).toEqual({ allowed: false, refusal: 'not_found', message: 'job 12 not found' });
        expect(() => authorize(OWNER, a, { customerId: 'cust_other' }), a).toThrow(NotFoundError);
      } else {
        // an action it may not take at all reads as a route that does not exist
        expect(own, a).toEqual({ allowed: false, refusal: 'not_found', message: 'not found' });
        expect(() => authorize(OWNER, a, { customerId: 'cust_acme' }), a).toThrow(NotFoundError);
      }
    }
  });

  it('an owner token without a customer owns nothing', () => {
    const lost: Asker = { role: 'owner', name: 'x' };
    expect(decide(lost, 'read-customer', { customerId: 'cust_acme' }).allowed).toBe(false);
    expect(mayReadJob(lost, job('cust_acme'))).toBe(false);
  });

  it('the read helpers and the listing scope follow the same rule', () => {
    expect(mayReadJob(OWNER, job('cust_acme'))).toBe(true);
    expect(mayReadJob(OWNER, job('cust_other'))).toBe(false);
    expect(mayReadJob(VIEWER, job('cust_other'))).toBe(true);
    expect(mayReadCustomer(OWNER, 'cust_other')).toBe(false);
    expect(mayReadCustomer(ADMIN, 'cust_other')).toBe(true);
    expect(jobsScope(OWNER, 'cust_other')).toBe('cust_acme');
    expect(jobsScope(OWNER, undefined)).toBe('cust_acme');
    expect(jobsScope(ADMIN, 'cust_other')).toBe('cust_other');
    expect(jobsScope(VIEWER, undefined)).toBeUndefined();
  });
});

describe('cancel: who cancels, and an owner only what it asked for', () => {
  it('a token cancels as api:<name>; an owner carries its customer', () => {
    expect(cancellerOf(ADMIN)).toEqual({ actor: 'api:ops' });
    expect(cancellerOf(OWNER)).toEqual({ actor: 'api:acme-owner', ownerOf: 'cust_acme' });
  });

  it('an owner may cancel its own customer\'s deletion that it asked for, not one an operator asked for; a viewer none', () => {
    expect(mayCancelJob(OWNER, job('cust_acme', { requestedBy: 'api:acme-owner' }))).toBe(true);
    expect(mayCancelJob(OWNER, job('cust_acme', { requestedBy: 'api:ops' }))).toBe(false);
    expect(mayCancelJob(OWNER, job('cust_other', { requestedBy: 'api:acme-owner' }))).toBe(false);
    expect(mayCancelJob(ADMIN, job('cust_other'))).toBe(true);
    expect(mayCancelJob(CLI, job('cust_other'))).toBe(true);
    expect(mayCancelJob(VIEWER, job('cust_acme'))).toBe(false);
  });
});

describe('deletionTerms: the owner retention rule', () => {
  const rule = { defaultMs: 0, ownerMinMs: 7 * 86_400_000 };

  it('anyone but an owner gets what it asked for (nothing: the site default, decided later)', () => {
    for (const who of [CLI, ADMIN]) {
      expect(deletionTerms(who, {}, rule)).toEqual({ allowed: true, afterMs: undefined });
      expect(deletionTerms(who, { afterMs: 0, force: true }, rule)).toEqual({ allowed: true, afterMs: 0 });
    }
  });

  it('an owner: at least the minimum, never immediate, the larger of the default and the minimum when nothing is asked', () => {
    expect(deletionTerms(OWNER, {}, rule)).toEqual({ allowed: true, afterMs: rule.ownerMinMs });
    expect(deletionTerms(OWNER, {}, { defaultMs: 30 * 86_400_000, ownerMinMs: rule.ownerMinMs })).toEqual({ allowed: true, afterMs: 30 * 86_400_000 });
    expect(deletionTerms(OWNER, { afterMs: 8 * 86_400_000 }, rule)).toEqual({ allowed: true, afterMs: 8 * 86_400_000 });
    expect(deletionTerms(OWNER, { afterMs: 0 }, rule)).toEqual({ allowed: false, refusal: 'too-soon', afterMs: 0, minMs: rule.ownerMinMs });
    expect(deletionTerms(OWNER, { afterMs: 86_400_000 }, rule)).toEqual({ allowed: false, refusal: 'too-soon', afterMs: 86_400_000, minMs: rule.ownerMinMs });
  });

  it('an owner passes none of the override flags', () => {
    for (const flag of ['force', 'allowMissing', 'allowClusterScoped'] as const) {
      expect(deletionTerms(OWNER, { [flag]: true, afterMs: 8 * 86_400_000 }, rule)).toEqual({ allowed: false, refusal: 'overrides' });
    }
  });

  it('the dialog offers an owner its minimum, others the site default', () => {
    expect(defaultRetentionFor(OWNER, rule)).toBe(rule.ownerMinMs);
    expect(defaultRetentionFor(ADMIN, rule)).toBe(0);
  });
});

describe('what an owner is shown', () => {
  it('its job without the site internals; others see the job as it is', () => {
    const j = job('cust_acme');
    const seen = jobView(OWNER, j);
    expect(seen.opts).toEqual({ attempts: 3, backoff: j.opts.backoff, timeoutMs: 60_000 });
    expect(seen.lease).toBeNull();
    expect(seen.stacktrace).toEqual([]);
    expect(seen.requestedBy).toBe(OPERATOR);
    expect(JSON.stringify(seen)).not.toMatch(/build-host|db\.internal|var\/backups/);
    expect(jobView(ADMIN, j)).toBe(j);
    expect(jobView(VIEWER, j)).toBe(j);
  });

  it('its row without the cluster that holds it', () => {
    const row = { customerId: 'cust_acme', cluster: 'eu-1' };
    expect(rowView(OWNER, row)).toEqual({ customerId: 'cust_acme' });
    expect(rowView(ADMIN, row)).toEqual(row);
  });
});
