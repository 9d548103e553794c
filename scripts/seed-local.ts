/**
 * @module
 * `npm run seed-local [-- --persist-to DIR] [--model FILE] [--force]`: puts the committed default model (and its
 * check set) into the local R2 bucket that `wrangler dev` serves, unless a model is already current there (so
 * fine-tunes survive restarts). Run by `npm start`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { decodeModel } from '../src/format/index.ts';
import { readFineTuneAssets } from './lib/fine-tune-assets.ts';
import { buildMnistCheckSet, DEFAULT_CHECK_SET, openBucket, publishBlob } from './lib/model-bucket.ts';

export const DEFAULT_MODEL = 'models/default.bin';

/** Seeds the local bucket; returns the version now current. */
export async function seedLocal(options: {
  persistTo?: string;
  model?: string;
  force?: boolean;
}): Promise<string> {
  const model = options.model ?? DEFAULT_MODEL;
  const bucket = await openBucket({ persistTo: options.persistTo });
  try {
    const current = await bucket.store.readPointer();
    if (current && !options.force) {
      console.log(
        `seed-local: model ${current.pointer.current} is already current; kept (--force to replace)`,
      );
      return current.pointer.current;
    }
    if (!existsSync(model)) throw new Error(`${model} not found: train one with \`npm run train\` first`);
    const blob = new Uint8Array(readFileSync(model));
    // The fine-tune files beside the blob (validation check set, replay set, master); the old MNIST-test check set
    // only for a model that has none.
    const assets = readFineTuneAssets(model, decodeModel(blob).metadata.dataset);
    const r = await publishBlob(
      bucket.store,
      blob,
      assets.checkSet ?? { name: DEFAULT_CHECK_SET, bytes: buildMnistCheckSet() },
      { replaySet: assets.replaySet, master: assets.master },
    );
    console.log(`seed-local: published ${model} as version ${r.version}`);
    return r.version;
  } finally {
    await bucket.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const at = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  seedLocal({ persistTo: at('--persist-to'), model: at('--model'), force: argv.includes('--force') }).catch(
    (err: Error) => {
      console.error(`seed-local: ${err.message}`);
      process.exit(1);
    },
  );
}
