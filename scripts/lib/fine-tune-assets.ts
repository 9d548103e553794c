/**
 * @module
 * What a trained model needs to be fine-tuned safely, written beside its blob at training time:
 * - the **check set** the guard scores on: a class-balanced sample of the *validation* split (never the test set);
 * - the **replay set** a fine-tune may mix in: a class-balanced sample of the *training* split;
 * - the **float32 master** (`<stem>.master.bin`) when the blob itself is int8 or f16.
 * The blob's metadata records them (`fineTuneSets`, `master`), as `models/README.md` specifies; the publish and seed
 * scripts upload them and name the uploaded sets in the stored blob's metadata (`checkSet`, `replaySet`).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32, type ModelData } from '../../src/format/index.ts';
import { encodeMaster, masterFileOf, withMaster } from '../../src/format/master.ts';
import { encodeCheckSet } from '../../src/format/check-set.ts';
import type { Examples } from './dataset.ts';

/** Images per class in the check set (validation) and the replay set (training). */
export const CHECK_PER_CLASS = 100;
export const REPLAY_PER_CLASS = 100;

/** The files beside a blob `x.bin`: `x.checkset.bin`, `x.replay.bin`, `x.master.bin`. */
export function assetFiles(blobPath: string): { checkSet: string; replaySet: string; master: string } {
  const stem = blobPath.replace(/\.bin$/, '');
  return {
    checkSet: `${stem}.checkset.bin`,
    replaySet: `${stem}.replay.bin`,
    master: masterFileOf(blobPath),
  };
}

/** Indices of the first `perClass` examples of each class, in the examples' own order. */
export function stratifiedPick(labels: Uint8Array, perClass: number, classes = 10): number[] {
  const taken = new Array<number>(classes).fill(0);
  const picked: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (c < classes && taken[c] < perClass) {
      taken[c]++;
      picked.push(i);
    }
  }
  return picked;
}

/** The picked examples as a check-set (CHK1) file: pixels back to 0-255 bytes. */
export function toCheckSetBytes(examples: Examples, picked: number[]): Uint8Array {
  const d = examples.images.length / Math.max(1, examples.count);
  const pixels = new Uint8Array(picked.length * d);
  const labels = new Uint8Array(picked.length);
  picked.forEach((e, i) => {
    for (let j = 0; j < d; j++) pixels[i * d + j] = Math.round(examples.images[e * d + j] * 255);
    labels[i] = examples.labels[e];
  });
  return encodeCheckSet(pixels, labels);
}

/**
 * The training hook: writes the check set (from `validation`), the replay set (from `train`) and, for an int8 or
 * f16 model, the float32 master beside `out`, and returns the model with metadata saying so (`fineTuneSets`, and
 * `master` naming the master blob). A set whose split is empty is not written.
 */
export function withFineTuneAssets(
  model: ModelData,
  out: string,
  train: Examples,
  validation: Examples,
): ModelData {
  const files = assetFiles(out);
  mkdirSync(dirname(out), { recursive: true });
  const checkPicked = stratifiedPick(validation.labels, CHECK_PER_CLASS);
  const replayPicked = stratifiedPick(train.labels, REPLAY_PER_CLASS);
  if (checkPicked.length > 0) writeAtomically(files.checkSet, toCheckSetBytes(validation, checkPicked));
  if (replayPicked.length > 0) writeAtomically(files.replaySet, toCheckSetBytes(train, replayPicked));
  let result: ModelData = {
    ...model,
    metadata: {
      ...model.metadata,
      fineTuneSets: {
        checkSet: checkPicked.length > 0 ? { split: 'validation', count: checkPicked.length } : null,
        replaySet: replayPicked.length > 0 ? { split: 'train', count: replayPicked.length } : null,
      },
    },
  };
  if (model.encoding !== 'f32') {
    const master = encodeMaster(result);
    writeAtomically(files.master, master);
    result = withMaster(result, master);
  }
  return result;
}

function writeAtomically(path: string, data: Uint8Array): void {
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

/** A file to upload beside a model, under its store key (relative to the prefix). */
export interface AssetFile {
  name: string;
  bytes: Uint8Array;
}

/** Content-addressed store keys, so two models never overwrite each other's sets in the bucket. */
function named(folder: string, stem: string, bytes: Uint8Array): AssetFile {
  const crc = crc32(bytes).toString(16).padStart(8, '0');
  return { name: `${folder}/${stem}-${crc}.bin`, bytes };
}

/**
 * The fine-tune files beside the blob at `path`, ready to upload: check set, replay set (null when absent) and the
 * master's bytes (null when absent: an f32 blob is its own master; an older int8 blob has none).
 */
export function readFineTuneAssets(
  path: string,
  dataset: string,
): {
  checkSet: AssetFile | null;
  replaySet: AssetFile | null;
  master: Uint8Array | null;
} {
  const files = assetFiles(path);
  const read = (file: string) => (existsSync(file) ? new Uint8Array(readFileSync(file)) : null);
  const check = read(files.checkSet);
  const replay = read(files.replaySet);
  return {
    checkSet: check && named('checksets', `${dataset}-val`, check),
    replaySet: replay && named('replay', `${dataset}-train`, replay),
    master: read(files.master),
  };
}
