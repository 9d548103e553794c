/**
 * Two test projects: `node` runs `test/**\/*.test.ts` in Node (math, format, scripts);
 * `workerd` runs `test/**\/*.workerd.test.ts` inside the real Workers runtime with a local R2 bucket.
 */
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.workerd.test.ts', 'test/browser/**', 'node_modules/**'],
          testTimeout: 60_000,
        },
      },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml' } })],
        test: {
          name: 'workerd',
          include: ['test/**/*.workerd.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        // Headless Debian Chromium against `wrangler dev` (see test/browser/servers.ts).
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
