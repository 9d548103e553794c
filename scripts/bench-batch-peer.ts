/**
 * @module
 * `npx tsx scripts/bench-batch-peer.ts [--rounds 5] [--encoding f32|int8] [--peer torch|numpy]`: batch-1000
 * inference of `createPredictor` (the benchmark's He-init network, 1 and 2 threads, after one single image as
 * `npm run bench` does) and the peer's, alternated round by round, so that a shared machine's changing load
 * slows both alike. Prints each round's figures and ratio, then the medians. `npm run bench` runs the peers
 * after all of ours, minutes apart; this is the check of its batch-1000 ratio.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createPredictor } from '../src/nn/index.ts';
import { benchModel } from './lib/bench-ours.ts';
import { peerBatch1000, type PeerName } from './lib/bench-peers.ts';
import { median, timeOnce } from './lib/bench-stats.ts';
import { loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { loadKernels } from './lib/kernels-node.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    encoding: { type: 'string', default: 'f32' },
    peer: { type: 'string', default: 'torch' },
  },
});
const encoding = values.encoding as 'f32' | 'int8';
const peer = values.peer as PeerName;
if (!['f32', 'int8'].includes(encoding) || !['torch', 'numpy'].includes(peer)) {
  console.error(
    'Usage: npx tsx scripts/bench-batch-peer.ts [--rounds 5] [--encoding f32|int8] [--peer torch|numpy]',
  );
  process.exit(2);
}
const root = new URL('..', import.meta.url).pathname;
const { test } = loadDataset(MNIST_DIR);
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
const theirs: number[] = [];
const ratios: number[] = [];
console.log(`bench-batch-peer: ${encoding} against ${peer}, load ${loadavg()[0].toFixed(2)}`);
for (let r = 0; r < Number(values.rounds); r++) {
  for (const side of ours) {
    side.predictor.predict(batch, 1000);
    const times = Array.from(
      { length: 20 },
      () => timeOnce(() => side.predictor.predict(batch, 1000)).wallMs,
    );
    side.figures.push(1e6 / median(times));
  }
  theirs.push(peerBatch1000(peer, root));
  const best = Math.max(...ours.map((s) => s.figures[r]));
  ratios.push(best / theirs[r]);
  console.log(
    `  round ${r + 1}: ours ${ours.map((s) => `${Math.round(s.figures[r])} (${s.threads} thread${s.threads > 1 ? 's' : ''})`).join(', ')}, ` +
      `${peer} ${Math.round(theirs[r])} img/s: ${ratios[r].toFixed(2)}x; load ${loadavg()[0].toFixed(2)}`,
  );
}
const bestMedian = Math.max(...ours.map((s) => median(s.figures)));
console.log(
  `medians: ours ${ours.map((s) => `${Math.round(median(s.figures))} (${s.threads})`).join(', ')}, ${peer} ` +
    `${Math.round(median(theirs))} img/s: ${(bestMedian / median(theirs)).toFixed(2)}x; median of the rounds' ratios ` +
    `${median(ratios).toFixed(2)}x`,
);
for (const side of ours) {
  side.predictor.dispose();
  await side.kernels.dispose();
}
