/**
 * The worker bundles as `wrangler deploy` would upload it (`--dry-run`: no account, no network), within the
 * Workers size limit; prints the size. Needs `npm run build` (the wasm kernels) first, as `npm test` does.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The Workers Free plan's limit on a compressed upload. */
const FREE_PLAN_GZIP_LIMIT_KIB = 3 * 1024;

describe('worker bundle', () => {
  it('should build with wrangler deploy --dry-run within the size limit', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'edge-mlp-bundle-'));
    try {
      const out = execFileSync('node_modules/.bin/wrangler', ['deploy', '--dry-run', '--outdir', outdir], {
        encoding: 'utf8',
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const match = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(out);
      expect(match, out).not.toBeNull();
      const [total, gzip] = [Number(match![1]), Number(match![2])];
      console.log(`worker bundle: ${total} KiB, gzip ${gzip} KiB`);
      expect(statSync(join(outdir, 'index.js')).size).toBeGreaterThan(10_000);
      expect(gzip).toBeLessThan(FREE_PLAN_GZIP_LIMIT_KIB);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
