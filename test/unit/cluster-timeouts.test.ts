/**
 * A deletion's timeouts on its cluster (src/domain/clusters.ts deletionTimeouts): what the caller
 * asked for beats CUSTCTL_JOB_TIMEOUT, which beats the cluster's `timeouts`, which beat the
 * defaults; and every edge gets them the same way (jobOptions, delete's flags, the config).
 */
import { describe, expect, it } from 'vitest';
import { fromFlags, makeDeleteCommand } from '../../src/commands/delete.js';
import { buildConfig } from '../../src/config.js';
import { deletionTimeouts, parseClustersDoc } from '../../src/domain/clusters.js';
import { jobOptions } from '../../src/jobs/kinds/delete.js';

const SITE = { jobTimeoutMs: 600_000, defaultWaitTimeoutMs: 300_000 };
const CLUSTER = { timeouts: { jobMs: 900_000, namespaceMs: 5_000 } };

describe('deletionTimeouts', () => {
  it('no cluster timeouts, nothing asked: the defaults', () => {
    expect(deletionTimeouts({}, { timeouts: {} }, SITE)).toEqual({ jobMs: 600_000, namespaceMs: 300_000, from: { job: 'default', namespace: 'default' } });
    expect(deletionTimeouts({}, undefined, SITE)).toEqual({ jobMs: 600_000, namespaceMs: 300_000, from: { job: 'default', namespace: 'default' } });
  });

  it("nothing asked: the cluster's", () => {
    expect(deletionTimeouts({}, CLUSTER, SITE)).toEqual({ jobMs: 900_000, namespaceMs: 5_000, from: { job: 'cluster', namespace: 'cluster' } });
  });

  it('one of them set on the cluster: that one, the other the default', () => {
    expect(deletionTimeouts({}, { timeouts: { namespaceMs: 5_000 } }, SITE)).toEqual({ jobMs: 600_000, namespaceMs: 5_000, from: { job: 'default', namespace: 'cluster' } });
    expect(deletionTimeouts({}, { timeouts: { jobMs: 900_000 } }, SITE)).toEqual({ jobMs: 900_000, namespaceMs: 300_000, from: { job: 'cluster', namespace: 'default' } });
  });

  it('asked explicitly (--job-timeout, --timeout, the API): beats the cluster, each on its own', () => {
    expect(deletionTimeouts({ jobTimeoutMs: 60_000, waitTimeoutMs: 120_000 }, CLUSTER, SITE)).toEqual({ jobMs: 60_000, namespaceMs: 120_000, from: { job: 'asked', namespace: 'asked' } });
    expect(deletionTimeouts({ waitTimeoutMs: 120_000 }, CLUSTER, SITE)).toMatchObject({ jobMs: 900_000, namespaceMs: 120_000 });
    expect(deletionTimeouts({ jobTimeoutMs: 60_000 }, CLUSTER, SITE)).toMatchObject({ jobMs: 60_000, namespaceMs: 5_000 });
  });

  it("CUSTCTL_JOB_TIMEOUT set beats the cluster's job timeout, and --job-timeout beats it; the namespace wait is not its", () => {
    const site = { ...SITE, jobTimeoutMs: 120_000, jobTimeoutSet: true };
    expect(deletionTimeouts({}, CLUSTER, site)).toEqual({ jobMs: 120_000, namespaceMs: 5_000, from: { job: 'site', namespace: 'cluster' } });
    expect(deletionTimeouts({ jobTimeoutMs: 30_000 }, CLUSTER, site)).toMatchObject({ jobMs: 30_000, from: { job: 'asked' } });
  });
});

describe('jobOptions on a cluster', () => {
  const [eu] = parseClustersDoc({ clusters: [{ name: 'eu-1', kubeconfig: 'eu.yaml', timeouts: { job: '15m', namespace: '5s' } }] }, 'clusters.yaml', '/etc');

  it("a job on a cluster with timeouts gets them; without a cluster, the defaults", () => {
    const config = buildConfig({ HOME: '/home/op' }, {});
    expect(config.jobTimeoutSet).toBe(false);
    expect(jobOptions(config, {}, eu)).toMatchObject({ timeoutMs: 900_000, waitTimeoutMs: 5_000 });
    expect(jobOptions(config, {})).toMatchObject({ timeoutMs: 600_000, waitTimeoutMs: 300_000 });
    expect(jobOptions(config, { waitTimeoutMs: 60_000, jobTimeoutMs: 20_000 }, eu)).toMatchObject({ timeoutMs: 20_000, waitTimeoutMs: 60_000 });
  });

  it('CUSTCTL_JOB_TIMEOUT set: the job timeout is the site\'s, the namespace wait still the cluster\'s', () => {
    const config = buildConfig({ HOME: '/home/op', CUSTCTL_JOB_TIMEOUT: '2m' }, {});
    expect(config.jobTimeoutSet).toBe(true);
    expect(jobOptions(config, {}, eu)).toMatchObject({ timeoutMs: 120_000, waitTimeoutMs: 5_000 });
  });
});

describe("delete's flags", () => {
  it('--timeout and --job-timeout are left out unless given, so the cluster\'s can apply', async () => {
    const run = fromFlags(['cust_a'], { concurrency: 1 });
    expect(run).not.toHaveProperty('waitTimeoutMs');
    expect(run).not.toHaveProperty('jobTimeoutMs');
    expect(fromFlags(['cust_a'], { concurrency: 1, timeout: 7_000 })).toMatchObject({ waitTimeoutMs: 7_000 });
    // commander hands over no default for --timeout
    let seen: Record<string, unknown> | undefined;
    const cmd = makeDeleteCommand({} as never, () => undefined, async (r) => {
      seen = r as unknown as Record<string, unknown>;
      throw new Error('stop');
    });
    await cmd.parseAsync(['node', 'delete', 'cust_a', '--dry-run']).catch(() => undefined);
    expect(seen).toBeDefined();
    expect(seen).not.toHaveProperty('waitTimeoutMs');
  });
});
