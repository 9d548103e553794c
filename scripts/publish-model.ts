/**
 * @module
 * `npm run publish-model -- models/x.bin [--remote] [--persist-to DIR] [--check-set FILE|none]`: uploads a model
 * blob as a new immutable version with its guard check set and makes it current (compare-and-swap on the pointer).
 * Local bucket by default (what `npm start` serves); `--remote` for the real bucket (needs `wrangler login`).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { checkServable } from '../src/worker/servable.ts';
import { readFineTuneAssets } from './lib/fine-tune-assets.ts';
import { buildMnistCheckSet, DEFAULT_CHECK_SET, openBucket, publishBlob } from './lib/model-bucket.ts';

const USAGE =
  'usage: npm run publish-model -- <model.bin> [--remote] [--persist-to DIR] [--check-set FILE|none]\n' +
  '  --check-set  a check-set file (CHK1) for the fine-tune guard; default: x.checkset.bin beside the blob (its\n' +
  '               validation split; with x.replay.bin and x.master.bin), else 500 MNIST test images; none: keep\n' +
  '               the one the blob names (if any)';

function parseArgs(argv: string[]) {
  const out = { file: '', remote: false, persistTo: undefined as string | undefined, checkSet: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--remote') out.remote = true;
    else if (a === '--persist-to') out.persistTo = argv[++i];
    else if (a === '--check-set') out.checkSet = argv[++i] ?? '';
    else if (a === '--help' || a === '-h') throw new Error(USAGE);
    else if (a.startsWith('-') || out.file) throw new Error(`unexpected argument ${a}\n${USAGE}`);
    else out.file = a;
  }
  if (!out.file) throw new Error(USAGE);
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const blob = new Uint8Array(readFileSync(args.file));
  const model = checkServable(blob); // refuse a blob the worker cannot serve before touching the bucket
  const assets = readFineTuneAssets(args.file, model.metadata.dataset);
  const checkSet =
    args.checkSet === 'none'
      ? null
      : args.checkSet
        ? { name: `checksets/${basename(args.checkSet)}`, bytes: new Uint8Array(readFileSync(args.checkSet)) }
        : (assets.checkSet ?? { name: DEFAULT_CHECK_SET, bytes: buildMnistCheckSet() });
  const bucket = await openBucket({ persistTo: args.persistTo, remote: args.remote });
  try {
    const r = await publishBlob(bucket.store, blob, checkSet, {
      replaySet: assets.replaySet,
      master: assets.master,
    });
    console.log(
      `published ${args.file} (${model.sizes.join('-')} ${model.encoding}, ${r.bytes} bytes) as version ${r.version}` +
        ` to the ${args.remote ? 'remote' : 'local'} bucket; previous: ${r.previous ?? 'none'}`,
    );
  } finally {
    await bucket.dispose();
  }
}

main().catch((err: Error) => {
  console.error(`publish-model: ${err.message}`);
  process.exit(1);
});
