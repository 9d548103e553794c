/**
 * @module
 * Accuracy guard for the int8 inference path: test accuracy of a model blob through `createPredictor` (int8
 * weights; 6-bit activations in the relaxed-SIMD build, int16 in the plain one) against the same weights run
 * in float32 by `Mlp.fromParams`, on the test images prepared as `/predict` prepares them for this model. Exits with 1 when an int8 path is more than --max-drop points below float32.
 * Usage: tsx scripts/check-int8.ts [--model models/default.bin] [--data DIR] [--max-drop 0.1]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Kernels } from '../src/kernels/kernels.ts';
import { decodeModel } from '../src/format/index.ts';
import { argmax, createPredictor, Mlp, type Predictor } from '../src/nn/index.ts';
import { loadDataset, MNIST_DIR, type Examples } from './lib/dataset.ts';
import { asServed } from './lib/interop.ts';
import { loadKernels } from './lib/kernels-node.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default.bin' },
    data: { type: 'string', default: MNIST_DIR },
    'max-drop': { type: 'string', default: '0.1' },
  },
});
const maxDrop = Number(values['max-drop']);

const model = decodeModel(new Uint8Array(readFileSync(values.model!)));
if (!model.quantized) throw new Error(`${values.model} is not an int8 model (encoding ${model.encoding})`);
// As JSON /predict feeds them to this model: prepared (and deskewed) when its recipe was.
const test = asServed(model.metadata, loadDataset(values.data!).test);

/** Predicted class of each test image, one image per call as the Worker serves them. */
function classify(predictor: Predictor, examples: Examples): Uint8Array {
  const d = examples.images.length / examples.count;
  const classes = predictor.spec.sizes[predictor.spec.sizes.length - 1];
  const out = new Uint8Array(examples.count);
  for (let i = 0; i < examples.count; i++) {
    out[i] = argmax(predictor.predict(examples.images.subarray(i * d, (i + 1) * d), 1), 0, classes);
  }
  return out;
}

/** Percent of predictions equal to their label. */
function percentCorrect(predicted: Uint8Array, labels: Uint8Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return (100 * correct) / labels.length;
}

async function run(relaxed: boolean): Promise<{ name: string; float: Uint8Array; int8: Uint8Array }> {
  const kernels: Kernels & { dispose(): Promise<void> } = await loadKernels({
    backend: 'wasm',
    threads: 1,
    relaxed,
  });
  const spec = { sizes: model.sizes, alpha: model.alpha };
  const floatNet = Mlp.fromParams(spec, kernels, model.params);
  const int8Net = createPredictor(model, kernels);
  const result = { name: kernels.name, float: classify(floatNet, test), int8: classify(int8Net, test) };
  floatNet.dispose();
  int8Net.dispose();
  await kernels.dispose();
  return result;
}

let failed = false;
console.log(`${values.model}: ${model.sizes.join('-')}, ${test.count} test images, one per call`);
for (const relaxed of [true, false]) {
  const { name, float, int8 } = await run(relaxed);
  const [fa, ia] = [percentCorrect(float, test.labels), percentCorrect(int8, test.labels)];
  let differ = 0;
  for (let i = 0; i < test.count; i++) if (float[i] !== int8[i]) differ++;
  const drop = fa - ia;
  const ok = drop <= maxDrop;
  failed ||= !ok;
  console.log(
    `${name.padEnd(18)} float32 ${fa.toFixed(2)}%  int8 ${ia.toFixed(2)}%  drop ${drop.toFixed(2)} points ` +
      `(${differ} predictions differ)  ${ok ? 'ok' : `FAIL: more than ${maxDrop}`}`,
  );
}
process.exitCode = failed ? 1 : 0;
