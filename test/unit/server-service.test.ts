// buildServer takes the service (src/service/server-service.ts): every route and console page
// calls it, never a store or a queue of its own.
import { fakeJobsEnv } from '../support/fake-deps.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import { buildConfig } from '../../src/config.js';
import type { Logger } from '../../src/io.js';
import type { JobsEnv } from '../../src/jobs/env.js';
import { submitDeletion } from '../../src/jobs/kinds/delete.js';
import { buildServer } from '../../src/server/app.js';
import { parseTokensFile, sha256Hex } from '../../src/server/auth.js';
import { serverService, type ServerService } from '../../src/service/server-service.js';
import { FakeStore } from '../support/fakes.js';

const ADMIN = 'adm1n-T0KEN-for-tests-0123456789';
const TOKENS = parseTokensFile(`ops:admin:${sha256Hex(ADMIN)}\n`, 'test');
const auth = { authorization: `Bearer ${ADMIN}` };
const log: Logger = { info: () => undefined, ok: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

let dir: string;
let queue: FileJournal;
let store: FakeStore;
let app: FastifyInstance;
let calls: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custctl-server-service-'));
  queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test' });
  store = new FakeStore();
  await store.add({ customerId: 'cust_abc123', email: 'e@x', companyName: 'Co', deploymentStatus: 'deployed', instanceNamespace: 'customer-abc123', instanceUrl: 'https://x' });
  calls = [];
  const env: JobsEnv = fakeJobsEnv({ queue, store, config: buildConfig({}, {}) });
  const inner = serverService({ store, queue, now: () => Date.now(), submit: (c, by, o) => submitDeletion(env, c, { ...o, requestedBy: by }), runSync: async (j) => j });
  // the service, recording what the edge asks of it
  const service: ServerService = new Proxy(inner, {
    get(target, key: keyof ServerService) {
      const v = target[key];
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  app = buildServer({ service, tokens: TOKENS, log });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await queue.close();
  await rm(dir, { recursive: true, force: true });
});

describe('buildServer({ service })', () => {
  it('answers every route through the service: readiness, a deletion, the customer, the jobs, a retry refused, the audit', async () => {
    expect((await app.inject({ method: 'GET', url: '/readyz', headers: auth })).json()).toEqual({ status: 'ready', store: store.description, queue: 'file' });
    const del = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123', headers: auth });
    expect(del.statusCode).toBe(200);
    const jobId = (del.json() as { jobId: string }).jobId;
    const customer = (await app.inject({ method: 'GET', url: '/api/customers/cust_abc123', headers: auth })).json() as { customer: { deploymentStatus: string }; jobs: Array<{ id: string }> };
    expect(customer.customer.deploymentStatus).toBe('deleting');
    expect(customer.jobs.map((j) => j.id)).toEqual([jobId]);
    expect(((await app.inject({ method: 'GET', url: '/api/admin/jobs?state=waiting', headers: auth })).json() as Array<{ id: string }>).map((j) => j.id)).toEqual([jobId]);
    expect((await app.inject({ method: 'GET', url: `/api/admin/jobs/${jobId}`, headers: auth })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: `/api/admin/jobs/${jobId}/retry`, headers: auth })).statusCode).toBe(409);
    expect((await app.inject({ method: 'GET', url: '/api/admin/audit', headers: auth })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: `/api/admin/jobs/${jobId}/cancel`, headers: auth })).statusCode).toBe(501); // this service has no cancel
    expect(calls).toEqual(['problems', 'where', 'submit', 'row', 'latestJobs', 'jobs', 'job', 'retry', 'audit']);
  });
});
