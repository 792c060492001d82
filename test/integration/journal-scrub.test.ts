/**
 * Personal data in the file job journal, and its erasure, on a real PostgreSQL with the built
 * binary. The way in: a billing table's own trigger refuses step 4 and names the customer by
 * e-mail and company in its error; the job fails with that message in its failure, its stack
 * trace and its attempt's error. scrubCustomerJobs replaces every one of them, leaves the
 * job readable (`status job`), other customers' jobs and a job that has not ended untouched, and
 * finds nothing the second time.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openFileJournal } from '../../src/adapters/file-journal.js';
import { ERASED_MARK } from '../../src/domain/erasure.js';
import { scrubCustomerJobs } from '../../src/jobs/journal-scrub.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { withAdminClient } from '../support/fixtures.js';

const databaseUrl = inject('databaseUrl');
const newKey = (): string => randomBytes(5).toString('hex');
let name: string | undefined;
let pool: pg.Pool;
let url: string;
const state = tempStateDir();
const journalDir = path.join(state, 'journal');

beforeAll(async () => {
  name = `custctl_scrub_${newKey()}`;
  await withAdminClient((c) => c.query(`create database ${name}`));
  const u = new URL(databaseUrl);
  u.pathname = `/${name}`;
  url = u.toString();
  pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const m = await custctl(['db', 'migrate'], { env: { DATABASE_URL: url, CUSTCTL_STATE_DIR: state } });
  expect(m.exitCode, m.stderr).toBe(0);
  // the billing team's guard: a customer with an open invoice may not be handed back, and it says who
  await pool.query(`create function billing_guard() returns trigger language plpgsql as $$
    begin
      if old.deployment_status = 'deleting' and new.deployment_status = 'pending' and old.company_name like 'Owing %' then
        raise exception 'billing: % (%) has an open invoice', old.email, old.company_name;
      end if;
      return new;
    end $$;
    create trigger billing_guard before update on customers for each row execute function billing_guard();`);
}, 120_000);

afterAll(async () => {
  await pool?.end();
  if (name) await withAdminClient((c) => c.query(`drop database if exists ${name} with (force)`)).catch(() => undefined);
});

const env = () => ({ DATABASE_URL: url, CUSTCTL_STATE_DIR: state, SIMULATE_K8S_DEPLOYMENT: 'true', QUEUE_MAX_RETRIES: '1' });

async function customer(company: string): Promise<{ id: string; email: string; company: string }> {
  const key = newKey();
  const id = `cust_${key}`;
  const email = `jane.${key}@acme.example`;
  const full = `${company} ${key} GmbH`;
  await pool.query(`insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url) values ($1, $2, $3, 'deployed', $4, $5)`,
    [id, email, full, `customer-${key}`, `https://${key}.acme.example`]);
  return { id, email, company: full };
}

/** Everything the journal keeps on disk about a job: its file and its log. */
const onDisk = (id: string) => ['json', 'log'].map((ext) => {
  try {
    return readFileSync(path.join(journalDir, 'jobs', `${id}.${ext}`), 'utf8');
  } catch {
    return '';
  }
}).join('\n');

describe('personal data in the job journal', () => {
  it('gets in through a failure that quotes the row, and is scrubbed from that customer\'s finished jobs only', async () => {
    const owing = await customer('Owing');
    const fine = await customer('Paying');
    const failed = await custctlJson<{ results: Array<{ jobId: string; state: string; error: { message: string } | null }> }>(['delete', owing.id, '--yes'], { env: env() });
    expect(failed.result.exitCode, failed.result.stderr).toBe(1);
    const failedJob = failed.json.results[0]?.jobId as string;
    expect(failed.json.results[0]?.error?.message).toContain(owing.email);
    const done = await custctlJson<{ results: Array<{ jobId: string; state: string }> }>(['delete', fine.id, '--yes'], { env: env() });
    expect(done.result.exitCode, done.result.stderr).toBe(0);
    const fineJob = done.json.results[0]?.jobId as string;

    // where it landed: the failure, the stack trace, the attempt's error (the log lines are custctl's own)
    const before = onDisk(failedJob);
    expect(before).toContain(owing.email);
    expect(before).toContain(owing.company);
    const job = JSON.parse(readFileSync(path.join(journalDir, 'jobs', `${failedJob}.json`), 'utf8')) as { failedReason: string; stacktrace: string[]; attempts: Array<{ error?: string }> };
    expect(job.failedReason).toContain(owing.email);
    expect(job.stacktrace.join('\n')).toContain(owing.email);
    expect(job.attempts[0]?.error).toContain(owing.email);
    const fineBefore = onDisk(fineJob);

    // a job of the same customer that has not ended: a scheduled deletion, delayed
    await pool.query(`update customers set company_name = 'Later ' || company_name where customer_id = $1`, [owing.id]);
    const later = await custctlJson<{ results: Array<{ jobId: string; state: string }> }>(['delete', owing.id, '--yes', '--after', '7d', '--detach'], { env: env() });
    expect(later.result.exitCode, later.result.stderr).toBe(0);
    const laterJob = later.json.results[0]?.jobId as string;
    const laterBefore = onDisk(laterJob);

    const journal = await openFileJournal({ dir: journalDir });
    try {
      const report = (await scrubCustomerJobs(journal, owing.id, [owing.email, owing.company, `https://${owing.id.slice(5)}.acme.example`]))!;
      expect(report).toMatchObject({ customerId: owing.id, jobs: 2, unfinished: [laterJob], valuesNotLookedFor: 0 });
      expect(report.rewritten.map((r) => r.id)).toEqual([failedJob]);
      expect(report.rewritten[0]?.replaced).toBeGreaterThanOrEqual(6);
      const after = onDisk(failedJob);
      expect(after.toLowerCase()).not.toContain(owing.email);
      expect(after).not.toContain(owing.company);
      expect(after).toContain(ERASED_MARK);
      expect(after).toContain(owing.id);
      expect(after).toContain(`customer-${owing.id.slice(5)}`);
      // the others as they were
      expect(onDisk(fineJob)).toBe(fineBefore);
      expect(onDisk(laterJob)).toBe(laterBefore);
      // nothing left to find
      expect((await scrubCustomerJobs(journal, owing.id, [owing.email, owing.company]))?.rewritten).toEqual([]);
    } finally {
      await journal.close();
    }
    // the journal still reads it as it was, but for the words
    const status = await custctlJson<{ id: string; state: string; failedReason: string; attempts: Array<{ log: string[] }> }>(['status', 'job', failedJob], { env: env() });
    expect(status.json).toMatchObject({ id: failedJob, state: 'failed' });
    expect(status.json.failedReason).toContain(`billing: ${ERASED_MARK} (${ERASED_MARK}) has an open invoice`);
    expect(status.json.attempts[0]?.log.length).toBeGreaterThan(0);
    expect(readdirSync(path.join(journalDir, 'jobs')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
