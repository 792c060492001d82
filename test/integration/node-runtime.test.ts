/**
 * One real-cluster end-to-end run of custctl under the Node that runs this file: `npm test` runs it
 * under the machine's Node and again under Node 22 and 24 (test/env/node-versions.sh puts their
 * `node` first on PATH, so the CLI spawned here is theirs). A normal run prints no runtime warning
 * (a deprecation, an experimental feature, a library's notice about Node versions).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { S3_BUCKET, S3_CREDENTIALS } from '../env/s3.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { getNamespace, provisionCustomer, randomKey } from '../support/fixtures.js';

const state = tempStateDir();
const env = () => ({ CUSTCTL_STATE_DIR: state, ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1', CUSTCTL_S3_SSE: 'none' });
/** what Node prints for process warnings, and what libraries print about Node versions */
const WARNING = /\bWarning\b|DeprecationWarning|ExperimentalWarning|NodeVersionSupport|\(node:\d+\)/;
const stderrs: Array<{ args: string; stderr: string }> = [];

async function run(args: string[], extra: Record<string, string> = {}) {
  const r = await custctl(args, { env: { ...env(), ...extra } });
  stderrs.push({ args: args.join(' '), stderr: r.stderr });
  return r;
}

afterAll(() => {
  // every command of this file, not only the ones a test looked at
  const warned = stderrs.filter((s) => WARNING.test(s.stderr)).map((s) => `custctl ${s.args}:\n${s.stderr}`);
  expect(warned).toEqual([]);
});

describe(`custctl under Node ${process.version}`, () => {
  it('the CLI runs on the Node expected (CUSTCTL_TEST_NODE_MAJOR when set)', async () => {
    const { json } = await custctlJson<{ node: string }>(['version', '--client']);
    const want = process.env.CUSTCTL_TEST_NODE_MAJOR;
    expect(json.node).toMatch(want ? new RegExp(`^v${want}\\.`) : /^v\d+\./);
  });

  it('a real deletion with a backup to S3, then the job, the backups and doctor: no runtime warning', async () => {
    const m = await run(['db', 'migrate']);
    expect(m.exitCode, m.stderr).toBe(0);
    const c = await provisionCustomer(randomKey('nr'));
    const d = await run(['delete', c.customerId, '--yes', '--backup', `s3://${S3_BUCKET}/node-runtime`]);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    const s = await run(['status', 'customer', c.customerId]);
    expect(s.exitCode, s.stderr).toBe(0);
    const b = await run(['backups', 'list', '--backup', `s3://${S3_BUCKET}/node-runtime`, '--customer', c.customerId, '-o', 'json']);
    expect(b.exitCode, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toHaveLength(1);
    const doc = await run(['doctor']);
    expect(doc.exitCode, doc.stdout + doc.stderr).toBe(0);
  });

  it('the embedded store (PGlite) and a token, simulated: no runtime warning', async () => {
    const home = tempStateDir();
    const sim = { SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_STORE: 'embedded', CUSTCTL_STATE_DIR: home, DATABASE_URL: '' };
    expect((await run(['customers', 'add', 'cust_noderun1', '--email', 'x@x.test', '--company', 'N'], sim)).exitCode).toBe(0);
    const d = await run(['delete', 'cust_noderun1', '--yes'], sim);
    expect(d.exitCode, d.stderr).toBe(0);
    const t = await run(['token', 'create', 'ci', '--role', 'admin', '--file', `${home}/tokens`], sim);
    expect(t.exitCode, t.stderr).toBe(0);
  });
});
