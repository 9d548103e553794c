/**
 * @module
 * Node access to the worker's R2 bucket for the publish and seed scripts: the local bucket that `wrangler dev`
 * persists (or the real one with `remote`), through wrangler's `getPlatformProxy`, so the same `ModelStore`
 * code moves the pointer. Also builds the guard's check set from MNIST. Not the worker.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { experimental_readRawConfig, getPlatformProxy } from 'wrangler';
import { parseIdxImages, parseIdxLabels } from '../../src/data/idx.ts';
import { decodeMaster, encodeModel } from '../../src/format/index.ts';
import { encodeCheckSet } from '../../src/format/check-set.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import { checkServable } from '../../src/worker/servable.ts';
import { IDX_FILES, MNIST_DIR, readMaybeGzip } from './dataset.ts';

/** Where `wrangler dev` keeps local state by default (`--persist-to`). */
export const DEFAULT_PERSIST_TO = '.wrangler/state';
/** The check set the default model is published with: every 20th MNIST test image (500 images). */
export const DEFAULT_CHECK_SET = 'checksets/mnist-test-500.bin';

export interface BucketHandle {
  store: ModelStore;
  dispose(): Promise<void>;
}

/**
 * Opens the bucket bound as `MODELS` in `wrangler.toml`, with the deployment's `MODEL_PREFIX`.
 * Local: the state directory `wrangler dev --persist-to <persistTo>` uses. Remote: the real bucket (needs
 * `wrangler login`); done through a copy of the config marking the binding `remote = true`.
 */
export async function openBucket(options: { persistTo?: string; remote?: boolean }): Promise<BucketHandle> {
  let configPath = 'wrangler.toml';
  if (!options.remote) configPath = bucketOnlyConfig(configPath);
  if (options.remote) {
    const toml = readFileSync(configPath, 'utf8').replace(/(bucket_name\s*=\s*"[^"]*")/, '$1\nremote = true');
    mkdirSync('.wrangler', { recursive: true });
    configPath = join('.wrangler', 'publish-remote.toml');
    writeFileSync(configPath, toml.replace(/^main\s*=\s*"/m, 'main = "../'));
  }
  process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false'; // no network needed for a local bucket
  const proxy = await getPlatformProxy<{ MODELS: R2Bucket; MODEL_PREFIX?: string }>({
    configPath,
    persist: options.remote ? false : { path: join(resolve(options.persistTo ?? DEFAULT_PERSIST_TO), 'v3') },
    remoteBindings: Boolean(options.remote),
  });
  return {
    store: new ModelStore(proxy.env.MODELS, proxy.env.MODEL_PREFIX ?? 'models/'),
    dispose: () => proxy.dispose(),
  };
}

/**
 * A copy of the config with only what the bucket needs (its binding and `MODEL_PREFIX`), `.wrangler/bucket-only.json`: the
 * whole one also declares the writer Durable Object and the token secret, which `getPlatformProxy` cannot run and
 * warns about four times on every `npm start` ("will not work in local development", "no such Durable Object
 * class is exported", "missing required secrets"), alarming and untrue for the server that follows. The bucket is
 * named as in the config, so the local data is the same that `wrangler dev` reads.
 */
function bucketOnlyConfig(configPath: string): string {
  const { rawConfig } = experimental_readRawConfig({ config: configPath });
  const config = {
    name: `${rawConfig.name ?? 'edge-mlp'}-bucket`,
    compatibility_date: rawConfig.compatibility_date,
    r2_buckets: rawConfig.r2_buckets,
    vars: { MODEL_PREFIX: rawConfig.vars?.MODEL_PREFIX ?? 'models/' },
  };
  mkdirSync('.wrangler', { recursive: true });
  const path = join('.wrangler', 'bucket-only.json');
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

/** 500 labelled MNIST test images (every 20th) in the check-set format. */
export function buildMnistCheckSet(step = 20): Uint8Array {
  const images = parseIdxImages(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testImages)));
  const labels = parseIdxLabels(readMaybeGzip(join(MNIST_DIR, IDX_FILES.testLabels)));
  const count = Math.floor(images.count / step);
  const pixels = new Uint8Array(count * 784);
  const picked = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    pixels.set(images.pixels.subarray(i * step * 784, (i * step + 1) * 784), i * 784);
    picked[i] = labels.labels[i * step];
  }
  return encodeCheckSet(pixels, picked);
}

/** A set to upload beside a model: its store key (relative to the prefix) and bytes. */
export interface NamedSet {
  name: string;
  bytes: Uint8Array;
}

/**
 * Publishes a model blob as a new current version with its fine-tune files: the check set and replay set are
 * uploaded and the blob re-encoded with `metadata.checkSet` / `metadata.replaySet` naming them (weights untouched),
 * and the float32 master is stored beside the version. A null set keeps what the blob already names.
 * @returns the new version and the previous current one.
 */
export async function publishBlob(
  store: ModelStore,
  blob: Uint8Array,
  checkSet: NamedSet | null,
  extra: { replaySet?: NamedSet | null; master?: Uint8Array | null } = {},
): Promise<{ version: string; previous: string | null; bytes: number }> {
  // The worker's own check, so nothing is made current that /predict would refuse (before touching the bucket).
  const model = checkServable(blob);
  let bytes = blob;
  const names: Record<string, string> = {};
  for (const [key, set] of [
    ['checkSet', checkSet],
    ['replaySet', extra.replaySet ?? null],
  ] as const) {
    if (!set) continue;
    await store.putCheckSet(set.name, set.bytes);
    if (model.metadata[key] !== set.name) names[key] = set.name;
  }
  if (Object.keys(names).length) {
    bytes = encodeModel({ ...model, metadata: { ...model.metadata, ...names } });
  }
  const master = extra.master ?? null;
  if (master) decodeMaster(model, master); // refuse a master that is not this blob's before uploading anything
  const { version, pointer } = await store.publish(bytes, master);
  return { version, previous: pointer.history[0].parent, bytes: bytes.length };
}
