/**
 * @module
 * Shared fixtures of the worker tests: small random models, synthetic images, a check set the model aces, and an
 * env per test (its own key prefix, so tests never share a model). Runs in workerd and in Node.
 */
import { encodeModel, type WeightEncoding } from '../../src/format/index.ts';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createRng, Mlp, predictedClasses } from '../../src/nn/index.ts';
import { encodeCheckSet } from '../../src/format/check-set.ts';
import type { Bindings } from '../../src/worker/config.ts';
import { ModelStore } from '../../src/worker/model-store.ts';

export const TOKEN = 'test-token-0123456789';
export const SIZES = [784, 32, 10];
export const CHECK_SET = 'checksets/test-64.bin';
/** Every guard bound at 100%: the guard cannot refuse (tests of what a fine-tune does, not of the guard). */
export const NO_GUARD = {
  GUARD_MAX_ACCURACY_DROP: '1',
  GUARD_MAX_CLASS_DROP: '1',
  GUARD_MAX_LINEAGE_DROP: '1',
  GUARD_MAX_LINEAGE_CLASS_DROP: '1',
};

let counter = 0;

/** A fresh env on the real local bucket with a unique prefix; overrides win. */
export function testEnv(base: Bindings, overrides: Record<string, string | undefined> = {}): Bindings {
  counter++;
  return {
    ...base,
    MODEL_PREFIX: `t${Date.now().toString(36)}-${counter}/`,
    MODEL_REVALIDATE_SECONDS: '0',
    FINE_TUNE_TOKEN: TOKEN,
    ...overrides,
  } as unknown as Bindings;
}

/** `count` random 0-255 images, as bytes. */
export function randomPixels(count: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const out = new Uint8Array(count * 784);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rng() * 256);
  return out;
}

/**
 * `count` random 0-255 images on a blank 3-pixel margin, as bytes: noise the verdict reads as ink (the margin is
 * the paper it is read against; noise up to the edges is judged `blank`, since no ink stands out from it).
 */
export function inkedPixels(count: number, seed: number): Uint8Array {
  const out = randomPixels(count, seed);
  for (let i = 0; i < out.length; i++) {
    const [y, x] = [Math.floor((i % 784) / 28), i % 28];
    if (y < 3 || y >= 25 || x < 3 || x >= 25) out[i] = 0;
  }
  return out;
}

export function imageAt(pixels: Uint8Array, i: number): number[] {
  return Array.from(pixels.subarray(i * 784, (i + 1) * 784));
}

/** A random network (by default [784, 32, 10]), its blob, and a check set labelled with its own predictions (accuracy 1). */
export function makeModel(
  seed = 1,
  encoding: WeightEncoding = 'f32',
  checkSet: string | null = CHECK_SET,
  sizes: number[] = SIZES,
) {
  const kernels = createTsKernels();
  const net = Mlp.create({ sizes, alpha: 0.01 }, kernels, { scheme: 'he', seed });
  const checkPixels = randomPixels(64, seed + 1000);
  const x = Float32Array.from(checkPixels, (v) => v / 255);
  const probs = net.predict(x, 64);
  const labels = predictedClasses(probs, 64, 10);
  const blob = encodeModel({
    sizes,
    alpha: 0.01,
    encoding,
    params: new Float32Array(net.params),
    metadata: {
      dataset: 'synthetic',
      createdAt: new Date().toISOString(),
      testAccuracy: 0.5,
      ...(checkSet ? { checkSet } : {}),
    },
  });
  return { net, blob, checkSetBytes: encodeCheckSet(checkPixels, labels), checkLabels: labels };
}

/** Publishes a random model whose recipe says `training` (null: says nothing), e.g. `{ preprocess: true }`. */
export async function publishTrained(env: Bindings, training: Record<string, unknown> | null, seedValue = 3) {
  const { net } = makeModel(seedValue);
  const blob = encodeModel({
    sizes: SIZES,
    alpha: 0.01,
    encoding: 'f32',
    params: new Float32Array(net.params),
    metadata: {
      dataset: 'synthetic',
      createdAt: new Date().toISOString(),
      ...(training ? { training } : {}),
    },
  });
  return new ModelStore(env.MODELS, env.MODEL_PREFIX!).publish(blob);
}

/** Publishes a fresh model (and its check set) into the env's store; returns the version. */
export async function seed(
  env: Bindings,
  seedValue = 1,
  encoding: WeightEncoding = 'f32',
  sizes: number[] = SIZES,
) {
  const store = new ModelStore(env.MODELS, env.MODEL_PREFIX!);
  const model = makeModel(seedValue, encoding, CHECK_SET, sizes);
  await store.putCheckSet(CHECK_SET, model.checkSetBytes);
  const { version } = await store.publish(model.blob);
  return { store, version, ...model };
}

export function post(
  body: unknown,
  token: string | null = TOKEN,
  headers: Record<string, string> = {},
): RequestInit {
  return {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

export interface ErrorJson {
  error: { code: string; message: string; details: unknown };
}

/**
 * `real`, but `hook` runs around each compare-and-swap of the pointer at `pointerKey` (its conditional put):
 * `before` ahead of the write (an outside writer publishing, a crash), `after` once it landed.
 */
export function aroundPointerSwap(
  real: R2Bucket,
  pointerKey: string,
  hook: { before?(): void | Promise<void>; after?(): void },
): R2Bucket {
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop !== 'put') return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      return async (key: string, body: unknown, options?: R2PutOptions) => {
        const swap = key === pointerKey && options?.onlyIf !== undefined;
        if (swap) await hook.before?.();
        const written = await target.put(key, body as string, options);
        if (swap) hook.after?.();
        return written;
      };
    },
  });
}
