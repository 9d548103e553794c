/**
 * @module
 * `npx tsx scripts/bench-batch-peer.ts [--rounds 5] [--encoding f32|int8] [--peer torch|numpy] [--train]`:
 * batch-1000 inference of `createPredictor` (the benchmark's He-init network, 1 and 2 threads, after one single
 * image as `npm run bench` does) and the peer's, alternated round by round, so that a shared machine's changing
 * load slows both alike; with `--train`, training at batch 128 instead (`benchTraining`, 60 steps, against the
 * peer's `bench` mode at its setting). Prints each round's figures and ratio, then the medians. `npm run bench`
 * runs the peers after all of ours, minutes apart; this is the check of its ratios.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createPredictor } from '../src/nn/index.ts';
import { benchModel, benchTraining } from './lib/bench-ours.ts';
import { peerBatch1000, peerTrainExPerS, type PeerName } from './lib/bench-peers.ts';
import { median, timeOnce } from './lib/bench-stats.ts';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { loadKernels } from './lib/kernels-node.ts';

const TRAIN_BATCH = 128;
const TRAIN_STEPS = 60;
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    encoding: { type: 'string', default: 'f32' },
    peer: { type: 'string', default: 'torch' },
    train: { type: 'boolean', default: false },
  },
});
const encoding = values.encoding as 'f32' | 'int8';
const peer = values.peer as PeerName;
const training = values.train === true;
if (!['f32', 'int8'].includes(encoding) || !['torch', 'numpy'].includes(peer)) {
  console.error(
    'Usage: npx tsx scripts/bench-batch-peer.ts [--rounds 5] [--encoding f32|int8] [--peer torch|numpy] [--train]',
  );
  process.exit(2);
}
const root = new URL('..', import.meta.url).pathname;
const { train, test } = loadDataset(MNIST_DIR);
const d = 784;
const batch = test.images.subarray(0, 1000 * d);
const ours = await Promise.all(
  [1, 2].map(async (threads) => {
    const kernels = await loadKernels({ backend: 'wasm', threads });
    const predictor = createPredictor(benchModel(encoding, kernels), kernels);
    predictor.predict(test.images.subarray(0, d), 1);
    return { threads, kernels, predictor, figures: [] as number[] };
  }),
);

/** One round's figure of ours: training examples/s, or batch-1000 images/s (median of 20 batches). */
function oursOnce(side: (typeof ours)[number]): number {
  if (training) return benchTraining(side.kernels, side.threads, train, TRAIN_BATCH, TRAIN_STEPS, 1).exPerS;
  side.predictor.predict(batch, 1000);
  const times = Array.from({ length: 20 }, () => timeOnce(() => side.predictor.predict(batch, 1000)).wallMs);
  return 1e6 / median(times);
}

const theirs: number[] = [];
const ratios: number[] = [];
const what = training ? `training at batch ${TRAIN_BATCH}, ex/s` : `batch-1000 ${encoding}, img/s`;
console.log(`bench-batch-peer: ${what}, against ${peer}, load ${loadavg()[0].toFixed(2)}`);
for (let r = 0; r < Number(values.rounds); r++) {
  for (const side of ours) side.figures.push(oursOnce(side));
  theirs.push(training ? peerTrainExPerS(peer, root, TRAIN_BATCH, TRAIN_STEPS) : peerBatch1000(peer, root));
  ratios.push(Math.max(...ours.map((s) => s.figures[r])) / theirs[r]);
  const mine = ours.map(
    (s) => `${Math.round(s.figures[r])} (${s.threads} thread${s.threads > 1 ? 's' : ''})`,
  );
  console.log(
    `  round ${r + 1}: ours ${mine.join(', ')}, ${peer} ${Math.round(theirs[r])}: ${ratios[r].toFixed(2)}x; ` +
      `load ${loadavg()[0].toFixed(2)}`,
  );
}
const bestMedian = Math.max(...ours.map((s) => median(s.figures)));
console.log(
  `medians: ours ${ours.map((s) => `${Math.round(median(s.figures))} (${s.threads})`).join(', ')}, ${peer} ` +
    `${Math.round(median(theirs))}: ${(bestMedian / median(theirs)).toFixed(2)}x; median of the rounds' ratios ` +
    `${median(ratios).toFixed(2)}x`,
);
for (const side of ours) {
  side.predictor.dispose();
  await side.kernels.dispose();
}
