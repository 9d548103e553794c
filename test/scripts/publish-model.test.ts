import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeModel } from '../../src/format/index.ts';
import { decodeCheckSet } from '../../src/format/check-set.ts';
import { buildMnistCheckSet, DEFAULT_CHECK_SET, openBucket } from '../../scripts/lib/model-bucket.ts';
import { makeModel } from '../worker/helpers.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'edge-mlp-publish-'));
const persistTo = join(dir, 'state');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('publish-model', () => {
  it('should build a 500-image MNIST check set', () => {
    const set = decodeCheckSet(buildMnistCheckSet());
    expect(set.count).toBe(500);
    expect(set.labels[0]).toBe(7); // the first MNIST test image is a 7
  });

  it('should publish versions into the local bucket, each current in turn, with the check set', async () => {
    const file = join(dir, 'm.bin');
    writeFileSync(file, makeModel(1, 'int8', null).blob);
    const cli = ['tsx', 'scripts/publish-model.ts', file, '--persist-to', persistTo];
    const first = await run('npx', cli);
    const second = await run('npx', cli);
    const versionOf = (out: string) => /as version (\S+)/.exec(out)![1];
    const [v1, v2] = [versionOf(first.stdout), versionOf(second.stdout)];
    expect(second.stdout).toContain(`previous: ${v1}`);

    const bucket = await openBucket({ persistTo });
    try {
      const { pointer } = (await bucket.store.readPointer())!;
      expect(pointer.current).toBe(v2);
      expect(pointer.history.map((h) => [h.version, h.parent])).toEqual([
        [v2, v1],
        [v1, null],
      ]);
      const stored = decodeModel((await bucket.store.getVersion(v2))!);
      expect(stored.metadata.checkSet).toBe(DEFAULT_CHECK_SET);
      expect(stored.encoding).toBe('int8');
      expect(decodeCheckSet((await bucket.store.getCheckSet(DEFAULT_CHECK_SET))!).count).toBe(500);
    } finally {
      await bucket.dispose();
    }
  }, 120_000);

  it('should refuse a corrupt blob without touching the bucket', async () => {
    const file = join(dir, 'bad.bin');
    writeFileSync(file, new Uint8Array([1, 2, 3, 4]));
    await expect(
      run('npx', ['tsx', 'scripts/publish-model.ts', file, '--persist-to', join(dir, 'other')]),
    ).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('publish-model:'),
    });
  }, 60_000);
});
