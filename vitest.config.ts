import { defineConfig } from 'vitest/config';

const realParts = {
  globalSetup: ['test/env/global-setup.ts'],
  testTimeout: 120_000,
  hookTimeout: 120_000,
  teardownTimeout: 60_000,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          setupFiles: ['test/support/config-sections.ts'],
        },
      },
      {
        // real etcd + kube-apiserver + kube-controller-manager, PostgreSQL, Redis, helm, kubectl;
        // started once per `vitest run` and shared with 'serial' (see test/env/global-setup.ts)
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          ...realParts,
        },
      },
      {
        // tests asserting on cluster-wide state: one file at a time, after 'integration' is done
        test: {
          name: 'serial',
          include: ['test/serial/**/*.test.ts'],
          ...realParts,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
