import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import {
  advancePointer,
  HISTORY_LIMIT,
  isVersionId,
  ModelStore,
  newVersionId,
  StoreError,
} from '../../src/worker/model-store.ts';
import { aroundPointerSwap } from './helpers.ts';

let n = 0;
const fresh = () => new ModelStore((env as unknown as Bindings).MODELS, `store-test-${Date.now()}-${n++}/`);

describe('ModelStore', () => {
  it('should create the pointer only when none exists', async () => {
    const store = fresh();
    const p = advancePointer(null, newVersionId(), null, 'publish');
    expect(await store.swapPointer(null, p)).toEqual(expect.any(String));
    expect(await store.swapPointer(null, p)).toBeNull();
  });

  it('should move the pointer only from the etag it was read at', async () => {
    const store = fresh();
    await store.publish(new Uint8Array([1]));
    const read = (await store.readPointer())!;
    const a = advancePointer(read.pointer, newVersionId(), read.pointer.current, 'fine-tune');
    const b = advancePointer(read.pointer, newVersionId(), read.pointer.current, 'fine-tune');
    expect(await store.swapPointer(read.etag, a)).not.toBeNull();
    expect(await store.swapPointer(read.etag, b)).toBeNull();
    expect((await store.readPointer())!.pointer.current).toBe(a.current);
  });

  it('should revalidate with a conditional get', async () => {
    const store = fresh();
    await store.publish(new Uint8Array([1]));
    const read = (await store.readPointer())!;
    expect(await store.readPointerIfChanged(read.etag)).toBe('unchanged');
    const { version } = await store.publish(new Uint8Array([2]));
    const changed = await store.readPointerIfChanged(read.etag);
    expect(changed).not.toBe('unchanged');
    expect((changed as { pointer: { current: string } }).pointer.current).toBe(version);
  });

  it('should keep versions immutable and history bounded, newest first', async () => {
    const store = fresh();
    const first = await store.publish(new Uint8Array([1, 2, 3]));
    const second = await store.publish(new Uint8Array([4]));
    for (let i = 0; i < HISTORY_LIMIT + 2; i++) {
      await store.makeCurrent(i % 2 ? second.version : first.version, 'rollback');
    }
    const { pointer } = (await store.readPointer())!;
    expect(pointer.history).toHaveLength(HISTORY_LIMIT);
    expect(pointer.history.at(-1)!.source).toBe('rollback');
    expect([...(await store.getVersion(first.version))!]).toEqual([1, 2, 3]);
  });

  it('should refuse to make the current version current again, writing nothing', async () => {
    const store = fresh();
    const { version } = await store.publish(new Uint8Array([1]));
    const before = (await store.readPointer())!;
    await expect(store.makeCurrent(version, 'rollback')).rejects.toMatchObject({ code: 'already_current' });
    expect((await store.readPointer())!.etag).toBe(before.etag);
  });

  it('should remove the uploaded blob when publishing cannot move the pointer', async () => {
    const real = (env as unknown as Bindings).MODELS;
    const prefix = `store-test-${Date.now()}-${n++}/`;
    // R2 that stores blobs but refuses every write of the pointer.
    const bucket = aroundPointerSwap(real, new ModelStore(real, prefix).pointerKey(), {
      before() {
        throw new Error('injected pointer write failure');
      },
    });
    await expect(new ModelStore(bucket, prefix).publish(new Uint8Array([1]))).rejects.toThrowError(
      StoreError,
    );
    expect((await real.list({ prefix })).objects).toEqual([]);
  });

  it('should keep the blob when the pointer write landed but its answer was lost', async () => {
    const real = (env as unknown as Bindings).MODELS;
    const prefix = `store-test-${Date.now()}-${n++}/`;
    // R2 that writes the pointer, then fails the call (a timeout after the write, as a caller sees it).
    const bucket = aroundPointerSwap(real, new ModelStore(real, prefix).pointerKey(), {
      after() {
        throw new Error('injected lost answer');
      },
    });
    await expect(new ModelStore(bucket, prefix).publish(new Uint8Array([1]))).rejects.toThrowError(
      StoreError,
    );
    // The pointer names the version, so its blob must still be there (deleting it would leave the pointer dangling).
    const store = new ModelStore(real, prefix);
    const { pointer } = (await store.readPointer())!;
    expect(await store.getVersion(pointer.current)).toEqual(new Uint8Array([1]));
  });

  it('should reject a pointer that is not JSON with a named error', async () => {
    const store = fresh();
    await (env as unknown as Bindings).MODELS.put(store.pointerKey(), '{not json');
    await expect(store.readPointer()).rejects.toThrowError(StoreError);
  });

  it('should only accept safe version ids', () => {
    expect(isVersionId(newVersionId())).toBe(true);
    for (const bad of ['', '../x', 'a/b', '.hidden', 'x'.repeat(101)]) expect(isVersionId(bad)).toBe(false);
  });
});
