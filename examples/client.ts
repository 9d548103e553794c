/**
 * @module
 * Example app code using the typed client: `npx tsx examples/client.ts [http://localhost:8787]` with `npm start`
 * running. Predicts a digit from 784 numbers and from a PNG, then (with FINE_TUNE_TOKEN set) a dry-run fine-tune.
 */
import { encode } from 'fast-png';
import { createClient, EdgeMlpError } from '../src/client.ts';

const base = process.argv[2] ?? 'http://localhost:8787';
const api = createClient(base, { token: process.env.FINE_TUNE_TOKEN });

// A crude "1": a vertical bar, 0-255 on black, as MNIST stores digits.
const one = Array.from({ length: 784 }, (_, i) =>
  i % 28 >= 13 && i % 28 <= 15 && i >= 4 * 28 && i < 24 * 28 ? 255 : 0,
);

const model = await api.model();
console.log(`model ${model.version}: sizes ${model.sizes.join('-')}, ${model.encoding}`);

const json = await api.predict(one, '0-255');
console.log(`pixels → ${json.digit} (${(json.confidence * 100).toFixed(1)}%)`);

// The same digit drawn large, dark on light, off-centre: the server crops, scales and centres it.
const width = 200;
const height = 150;
const rgba = new Uint8Array(width * height * 4).fill(255);
for (let y = 20; y < 130; y++) for (let x = 150; x < 162; x++) rgba.set([0, 0, 0, 255], (y * width + x) * 4);
const png = await api.predictPng(encode({ width, height, data: rgba, channels: 4, depth: 8 }), {
  preview: true,
});
console.log(
  `PNG ${png.source.width}×${png.source.height} → ${png.digit} (${(png.confidence * 100).toFixed(1)}%)`,
);

try {
  const tuned = await api.fineTune({
    pixelScale: '0-255',
    examples: [{ image: one, label: 1 }],
    steps: 5,
    dryRun: true,
  });
  console.log(`dry-run fine-tune: loss ${tuned.before.loss.toFixed(3)} → ${tuned.after.loss.toFixed(3)}`);
} catch (err) {
  // 401/403 without a token: the client turns the API's error body into a typed error.
  if (err instanceof EdgeMlpError)
    console.log(`fine-tune refused: ${err.status} ${err.code}: ${err.message}`);
  else throw err;
}
