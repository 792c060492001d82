/**
 * The one fake process environment (`Deps`) of unit tests: a buffer or stream IO, a real file
 * journal, fakes of the cluster and the store (test/support/fakes.ts), no metrics, no webhooks.
 * A test passes what it needs to see or change; the rest has a default. The jobs client is made
 * by the test (`client`), from the Deps it is given, at its first use.
 */
import { singleCluster } from '../../src/adapters/clusters.js';
import type { Helm } from '../../src/adapters/helm.js';
import type { Kube } from '../../src/adapters/kube.js';
import type { JobQueue } from '../../src/adapters/queue.js';
import type { CustomerStore } from '../../src/adapters/store.js';
import type { Config } from '../../src/config.js';
import { sleep, type Deps } from '../../src/deps.js';
import { Reporter, type IO } from '../../src/io.js';
import type { JobsClient } from '../../src/service/service.js';
import type { JobsEnv } from '../../src/jobs/jobs-env.js';

export interface FakeDepsOptions {
  io: IO;
  config: Config;
  queue: JobQueue;
  store: CustomerStore;
  kube: Kube;
  /** default: refuses (a simulated run or a kind that needs no helm) */
  helm?: Helm;
  /** the process environment (default `{ USER: 'tester' }`) */
  env?: Record<string, string>;
  /** default: the real clock */
  now?: () => Date;
  /** the jobs client of this Deps (e.g. `(d) => new LocalJobsClient(d)`); default: none */
  client?: (d: Deps) => JobsClient;
}

export function fakeDeps(o: FakeDepsOptions): Deps {
  const now = o.now ?? (() => new Date());
  let client: JobsClient | undefined;
  const d: Deps = {
    io: o.io,
    env: o.env ?? { USER: 'tester' },
    now,
    sleep,
    log: new Reporter(o.io, now),
    worker: 'test@host',
    shutdown: new AbortController().signal,
    config: () => o.config,
    kube: async () => o.kube,
    helm: async () => o.helm ?? Promise.reject(new Error('no helm in this test')),
    store: async () => o.store,
    jobs: async () => o.queue,
    client: async () => {
      if (!o.client) throw new Error('no jobs client in this test');
      return (client ??= o.client(d));
    },
    wantMetrics: () => undefined,
    metrics: async () => null,
    close: async () => o.queue.close(),
  };
  return d;
}

/**
 * A jobs environment over a queue, a store and a configuration; `clusters` defaults to one cluster
 * that refuses (a unit test that reaches the cluster says so by passing one).
 */
export function fakeJobsEnv(o: { queue: JobQueue; store: CustomerStore; config: Config; now?: () => number; clusters?: JobsEnv['clusters'] }): JobsEnv {
  return {
    queue: o.queue,
    store: o.store,
    config: o.config,
    now: o.now ?? (() => Date.now()),
    clusters: o.clusters ?? NO_CLUSTER,
  };
}

/** One cluster whose adapters refuse: a unit test that reaches the cluster passes its own. */
const NO_CLUSTER = singleCluster({
  kube: async () => { throw new Error('no cluster in unit tests'); },
  helm: async () => { throw new Error('no cluster in unit tests'); },
});
