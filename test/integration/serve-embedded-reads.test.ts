/**
 * The CLI beside a `custctl serve` that holds the embedded store (PGlite: one process at a time):
 * every read command works through the server with --api-url, and without it the CLI is told at
 * once where to read (no 10 s wait for a lock serve keeps while it runs).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { randomKey } from '../support/fixtures.js';
import { startServe, type RunningServe } from '../support/serve.js';

const ADMIN = `adm-${randomKey('e')}-embedded-0123456789`;
const VIEWER = `view-${randomKey('e')}-embedded-0123456789`;
const stateDir = tempStateDir();
const EMBEDDED = { CUSTCTL_STATE_DIR: stateDir, CUSTCTL_STORE: 'embedded', SIMULATE_K8S_DEPLOYMENT: 'true', DATABASE_URL: '' };
const customer = `cust_${randomKey('er')}`;
let serve: RunningServe;
let jobId = '';

/** custctl on the embedded store of the running serve; `viewer`: through its API with a viewer token */
const cli = (args: readonly string[], viewer = true) => custctl(args, { env: { ...EMBEDDED, ...(viewer ? { CUSTCTL_API_TOKEN: VIEWER } : {}) } });
const cliJson = <T>(args: readonly string[], token = VIEWER) => custctlJson<T>(args, { env: { ...EMBEDDED, CUSTCTL_API_TOKEN: token } });

beforeAll(async () => {
  const added = await cli(['customers', 'add', customer, '--email', 'ops@example.com', '--company', 'Embedded Co'], false);
  expect(added.exitCode, added.stderr).toBe(0);
  const tokens = path.join(stateDir, 'tokens');
  writeFileSync(tokens, `ci-bot:admin:${sha256Hex(ADMIN)}\ngrafana:viewer:${sha256Hex(VIEWER)}\n`, { mode: 0o600 });
  serve = await startServe({ stateDir, env: { ...EMBEDDED, CUSTCTL_API_TOKENS_FILE: tokens }, drop: ['DATABASE_URL'] });
  // one job to read back: a (simulated) deletion through the server
  const del = await cliJson<{ results: Array<{ jobId: string }> }>(['delete', customer, '--yes', '--api-url', serve.url], ADMIN);
  expect(del.result.exitCode, del.result.stderr).toBe(0);
  jobId = String(del.json.results[0]?.jobId);
  expect(jobId).toMatch(/^\d+$/);
}, 240_000);

afterAll(async () => {
  await serve?.stop();
});

describe('read commands while serve holds the embedded store', () => {
  it.each([
    ['customers list', ['customers', 'list'], (out: string) => expect(out).toContain(customer)],
    ['customers list --status', ['customers', 'list', '--status', 'pending'], (out: string) => expect(out).toContain(customer)],
    ['customers list --scheduled', ['customers', 'list', '--scheduled'], (out: string) => expect(out).not.toContain(customer)],
    ['status customer', ['status', 'customer', customer], (out: string) => expect(out).toMatch(/pending/)],
    ['jobs list', ['jobs', 'list', '--customer', customer], (out: string) => expect(out).toContain(customer)],
    ['status job', ['status', 'job', '@JOB'], (out: string) => expect(out).toContain('completed')],
    ['audit list', ['audit', 'list', '--customer', customer], (out: string) => expect(out).toContain('customer-added')],
  ] as const)('%s --api-url: answered by the server (exit 0)', async (_name, args, check) => {
    const r = await cli([...args.map((a) => (a === '@JOB' ? jobId : a)), '--api-url', serve.url]);
    expect(r.exitCode, r.stderr).toBe(0);
    check(r.stdout);
    expect(r.stderr).not.toContain('in use');
  }, 120_000);

  it('customers list -o json --api-url: the rows as the local command prints them', async () => {
    const { result, json } = await cliJson<Array<{ customerId: string; deploymentStatus: string }>>(['customers', 'list', '--api-url', serve.url]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json).toEqual([expect.objectContaining({ customerId: customer, deploymentStatus: 'pending' })]);
  }, 120_000);

  it.each([
    ['customers list', ['customers', 'list']],
    ['status customer', ['status', 'customer', customer]],
  ] as const)('%s without --api-url: refused at once, naming serve and the --api-url to use (no 10 s wait)', async (_name, args) => {
    const t0 = Date.now();
    const r = await cli(args, false);
    const ms = Date.now() - t0;
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('held by custctl serve');
    expect(r.stderr).toContain(`--api-url ${serve.url}`);
    expect(ms, r.stderr).toBeLessThan(7_000);
  }, 120_000);
});
