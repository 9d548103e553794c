/** Uploads take turns in an isolate: one at a time, in order, a bounded queue, and a failure frees the turn. */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/worker/errors.ts';
import { inUploadTurn, MAX_WAITING_UPLOADS, pause } from '../../src/worker/upload-turns.ts';

describe('inUploadTurn', () => {
  it('should run uploads one at a time, in arrival order, while other work runs between their steps', async () => {
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const upload = (name: string) =>
      inUploadTurn(async () => {
        most = Math.max(most, ++running);
        for (let step = 0; step < 3; step++) {
          log.push(`${name}${step}`);
          await pause();
        }
        running--;
        return name;
      });
    // Another request's work, ready while the uploads run: it must get a turn before the first upload ends.
    const other = pause().then(() => {
      log.push('other');
      return 'other';
    });
    expect(await Promise.all([upload('a'), upload('b'), upload('c'), other])).toEqual([
      'a',
      'b',
      'c',
      'other',
    ]);
    expect(most).toBe(1);
    expect(log.filter((l) => l !== 'other')).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'c0', 'c1', 'c2']);
    expect(log.indexOf('other')).toBeLessThan(log.indexOf('a2'));
  });

  it('should answer 503 busy with Retry-After past MAX_WAITING_UPLOADS waiting, and take uploads again after', async () => {
    let release!: () => void;
    const first = inUploadTurn(() => new Promise<void>((r) => (release = r)));
    const waiting = Array.from({ length: MAX_WAITING_UPLOADS }, () => inUploadTurn(async () => 'served'));
    const refused = await inUploadTurn(async () => 'served').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 503, code: 'busy', headers: { 'Retry-After': '1' } });
    release();
    await first;
    expect(await Promise.all(waiting)).toEqual(Array(MAX_WAITING_UPLOADS).fill('served'));
    expect(await inUploadTurn(async () => 'served')).toBe('served');
  });

  it('should free the turn when an upload fails', async () => {
    const failed = inUploadTurn(async () => {
      throw new Error('bad image');
    });
    const next = inUploadTurn(async () => 'served');
    await expect(failed).rejects.toThrow('bad image');
    expect(await next).toBe('served');
  });
});
