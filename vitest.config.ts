import { defineConfig } from 'vitest/config';

// Three projects: fast pure tests, tests against real servers (Prosody, kube-apiserver, Chromium)
// started by the shared harness in dev/, and the long fault-injection runs kept out of CI.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          // Servers start in seconds (the Kubernetes binaries are built by `node dev/prepare.ts` beforehand);
          // a hook that needs longer says so itself, and its slow steps are named (dev/harness/wait.ts step()).
          hookTimeout: 300_000,
          // Real servers share two cores: run files one after the other.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
