import { describe, expect, it } from 'vitest';
import { printDeleteReport, type DeleteReport } from '../../src/commands/delete.js';
import type { Deps } from '../../src/deps.js';
import { Reporter } from '../../src/io.js';
import { planView, renderPlan } from '../../src/output/plan.js';
import { renderJob } from '../../src/output/job-view.js';
import type { Inspection } from '../../src/pipeline/types.js';
import type { Job } from '../../src/domain/job.js';
import { bufferIO } from '../support/buffer-io.js';

const row = { id: 1, customerId: 'cust_abc123', email: '', companyName: '', deploymentStatus: 'deployed' as const, instanceNamespace: 'customer-abc123', instanceUrl: 'https://x', deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null, createdAt: '', updatedAt: '' };

const inspection: Inspection = {
  customer: { id: 'cust_abc123', key: 'abc123' },
  namespace: 'customer-abc123',
  row,
  releases: [{ name: 'customer-abc123', namespace: 'customer-abc123', status: 'deployed', chart: 'customer-instance-0.1.0', revision: '1', clusterScoped: [], outsideNamespace: [], clusterRbac: [], unreadable: [], deleteHooks: [], removal: { by: 'namespace', why: 'no delete hooks' } }],
  ns: { name: 'customer-abc123', uid: 'u1', phase: 'Active', conditions: [], finalizers: ['kubernetes'] },
  rbac: { owned: [{ kind: 'ClusterRole', name: 'cabc123-customer-instance-opencost', rule: 'opencost-name' }], keptByPolicy: [], keptUnowned: [] },
  pvcs: [
    { name: 'data', phase: 'Bound', storage: '1Gi', volumeName: 'pv-1', reclaimPolicy: 'Retain' },
    { name: 'cache', phase: 'Bound', storage: '1Gi', volumeName: 'pv-2', reclaimPolicy: 'Delete' },
  ],
  objects: [{ resource: 'configmaps', kind: 'ConfigMap', count: 12 }, { resource: 'secrets', kind: 'Secret', count: 3 }],
};

describe('the plan', () => {
  it('shows releases, objects by kind, PVC data loss, RBAC and the row change', () => {
    const text = renderPlan(planView(inspection, row, 'cust_abc123', 'customer-abc123', false), bufferIO().io.chalk).text;
    expect(text).toContain('delete customer-abc123 with 15 objects: 12 configmaps, 3 secrets');
    expect(text).toContain('remove customer-abc123 (deployed, customer-instance-0.1.0): removed with the namespace: no delete hooks (no helm process)');
    expect(text).toMatch(/PVC\s+data 1Gi Bound → pv-1: volume kept \(Retain\)/);
    expect(text).toMatch(/PVC\s+cache 1Gi Bound → pv-2: volume and data deleted/);
    expect(text).toMatch(/delete ClusterRole cabc123-customer-instance-opencost \(opencost-name\)/);
    expect(text).toContain('deployment_status deployed → deleting → pending');
  });

  it('says per release whether helm runs and why, and shows a manifest document it could not read', () => {
    const hooked = { ...inspection, releases: [{ ...(inspection.releases[0] as Inspection['releases'][number]), removal: { by: 'helm' as const, why: 'delete hooks: pre-delete Job/drain' }, unreadable: [{ index: 3, source: 'c/templates/x.yaml', reason: 'no kind' }] }] };
    const text = renderPlan(planView(hooked, row, 'cust_abc123', 'customer-abc123', false), bufferIO().io.chalk).text;
    expect(text).toContain('uninstall customer-abc123 (deployed, customer-instance-0.1.0) with helm: delete hooks: pre-delete Job/drain');
    expect(text).toContain('unknown manifest document 3 (c/templates/x.yaml) could not be read: no kind: treated as possibly cluster-scoped');
  });

  it('says when the namespace is already gone, and marks a simulated plan', () => {
    const text = renderPlan(planView({ ...inspection, ns: null, releases: [], pvcs: undefined, objects: undefined }, row, 'cust_abc123', 'customer-abc123', true), bufferIO().io.chalk).text;
    expect(text).toContain('not found (already gone)');
    expect(text).toContain('simulated');
  });
});

describe('delete results', () => {
  const report: DeleteReport = {
    dryRun: false,
    simulated: false,
    target: { context: 'prod', server: 'https://k', database: 'postgres://u@h:5432/db' },
    exitCode: 5,
    results: [
      {
        customerId: 'cust_a', namespace: 'customer-a', jobId: '1', state: 'completed', exitCode: 0, simulated: false, error: null,
        result: { customerId: 'cust_a', namespace: 'customer-a', jobId: '1', simulated: false, outcome: 'deleted', releases: [{ name: 'customer-a', outcome: 'uninstalled' }], namespaceOutcome: 'deleted', rbac: { deleted: [{ kind: 'ClusterRole', name: 'ca-customer-instance' }], alreadyGone: [], keptByPolicy: [], keptUnowned: [], failed: [] }, retainedVolumes: [], row: { status: 'pending' }, warnings: [], durationMs: 1 },
      },
      { customerId: 'cust_b', namespace: 'customer-b', jobId: '2', state: 'failed', exitCode: 5, simulated: false, error: { error: 'timeout', message: 'namespace customer-b still exists after waiting 5m', details: ['spec.finalizers: kubernetes'] }, result: null },
    ],
  };

  const deps = (tty = false) => {
    const b = bufferIO({ tty });
    return { b, d: { io: b.io, log: new Reporter(b.io, () => new Date(0)) } as unknown as Deps };
  };

  it('prints a table on stdout and the errors with their details on stderr', async () => {
    const { b, d } = deps();
    await printDeleteReport(d, report, 'table');
    expect(b.out()).toMatch(/CUSTOMER\s+NAMESPACE\s+JOB\s+RESULT\s+DETAIL/);
    expect(b.out()).toMatch(/cust_a\s+customer-a\s+1\s+deleted\s+releases 1, namespace deleted, rbac deleted 1/);
    expect(b.out()).toMatch(/cust_b\s+customer-b\s+2\s+failed\s+exit 5/);
    expect(b.err()).toMatch(/^Error: cust_b: namespace customer-b still exists/m);
    expect(b.out()).toMatch(/\n\n1 deleted, 1 failed\n$/);
    expect(b.err()).toContain('spec.finalizers: kubernetes');
    expect(b.out()).not.toContain('\x1b[');
  });

  it('JSON is the report itself, without ANSI', async () => {
    const { b, d } = deps(true);
    await printDeleteReport(d, report, 'json');
    expect(JSON.parse(b.out())).toEqual(report);
    expect(b.out()).not.toContain('\x1b[');
  });
});

describe('job view', () => {
  it('shows state, attempts with their logs, and the failure', () => {
    const job: Job = {
      id: '12', name: 'delete', state: 'failed', progress: 25, data: { customerId: 'cust_a', namespace: 'customer-a' },
      opts: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 }, timeoutMs: 600_000 },
      attemptsMade: 3, maxAttempts: 3, delayUntil: null, failedReason: 'namespace customer-a still exists after waiting 5m\nspec.finalizers: kubernetes', failedCode: 'timeout',
      stacktrace: [], returnvalue: null, requestedBy: 'op (cli)', simulated: false, timestamp: 0, processedOn: 1000, finishedOn: 61_000,
      attempts: [{ attempt: 1, startedOn: 0, finishedOn: 5000, worker: '1@h', outcome: 'failed', error: 'namespace customer-a still exists', log: ['t INFO  Deleting Kubernetes namespace'] }],
      lease: null,
    };
    const text = renderJob(job, bufferIO().io.chalk, 100_000).text;
    expect(text).toMatch(/Job\s+12 \(delete\)\s+failed\s+progress 25%/);
    expect(text).toMatch(/Attempts\s+3 of 3 made/);
    expect(text).toMatch(/Failed\s+namespace customer-a still exists after waiting 5m \(timeout\)/);
    expect(text).toContain('spec.finalizers: kubernetes');
    expect(text).toMatch(/Attempt 1\s+failed after 5s/);
    expect(text).toContain('Deleting Kubernetes namespace');
  });
});
