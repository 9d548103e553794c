/**
 * @module
 * `npm run export -- MODEL.bin --format safetensors|onnx --out FILE [--keep-int8]`: writes a model blob as a
 * PyTorch state dict in safetensors, or as an ONNX model (names and layout: models/README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { decodeModel, describeModel, MAX_PARAMS, ModelFormatError } from '../src/format/index.ts';
import { masterFileOf, MasterMismatchError, startingWeights } from '../src/format/master.ts';
import { modelToOnnx, ONNX_OPSET } from '../src/format/onnx.ts';
import { modelToSafetensors } from '../src/format/state-dict.ts';
import { CliError, readBounded, runCli, writeAtomically } from './lib/interop.ts';

const USAGE =
  'usage: npm run export -- MODEL.bin --format safetensors|onnx --out FILE [--keep-int8] [--master FILE|none]\n' +
  '  --format     safetensors: a PyTorch nn.Sequential state dict (0.weight, 0.bias, 2.weight, …), float32\n' +
  `               onnx: Gemm/LeakyRelu/Softmax, opset ${ONNX_OPSET}; int8 models as QDQ (int8 weights + DequantizeLinear)\n` +
  '               (default: from the extension of --out)\n' +
  '  --keep-int8  safetensors of an int8 model: N.weight_int8 + N.weight_scale instead of dequantized N.weight\n' +
  '  --master     float32 safetensors of an int8/f16 model: the float32 master blob its metadata names (default:\n' +
  '               MODEL.master.bin when it exists); none: the dequantized serving weights';

interface ExportArgs {
  model: string;
  format: 'safetensors' | 'onnx';
  out: string;
  keepInt8: boolean;
  /** '' for the default (the master beside the model, if any). */
  master: string;
}

function parseArgs(argv: string[]): ExportArgs {
  let [model, format, out, keepInt8, master] = ['', '', '', false, ''];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new CliError(`${a} needs a value\n${USAGE}`, 2);
      return v;
    };
    if (a === '--format') format = value();
    else if (a === '--out') out = value();
    else if (a === '--keep-int8') keepInt8 = true;
    else if (a === '--master') master = value();
    else if (a === '--help' || a === '-h') throw new CliError(USAGE, 0);
    else if (a.startsWith('-') || model) throw new CliError(`unexpected argument ${a}\n${USAGE}`, 2);
    else model = a;
  }
  if (!model || !out) throw new CliError(`MODEL.bin and --out are required\n${USAGE}`, 2);
  if (!format) format = out.endsWith('.onnx') ? 'onnx' : out.endsWith('.safetensors') ? 'safetensors' : '';
  if (format !== 'safetensors' && format !== 'onnx') {
    throw new CliError(`--format must be safetensors or onnx${format ? `, not ${format}` : ''}\n${USAGE}`, 2);
  }
  if (keepInt8 && format === 'onnx') {
    throw new CliError('--keep-int8 is for safetensors; an int8 model always goes to ONNX as QDQ', 2);
  }
  return { model, format, out, keepInt8, master };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  // The largest blob: f32 weights of MAX_PARAMS parameters plus the metadata limit.
  const blob = readBounded(args.model, 4 * MAX_PARAMS + (2 << 20));
  let model;
  try {
    model = decodeModel(blob);
  } catch (error) {
    if (error instanceof ModelFormatError) throw new CliError(`${args.model}: ${error.message}`);
    throw error;
  }
  if (args.keepInt8 && model.encoding !== 'int8') {
    throw new CliError(`${args.model}: --keep-int8 needs an int8 model, this one is ${model.encoding}`, 2);
  }
  // Float32 safetensors of a quantized model: the master weights it was quantized from, when there are some.
  let weights = model.encoding === 'f32' ? 'float32' : 'dequantized';
  const masterPath = args.master || masterFileOf(args.model);
  const wantsFloat = args.format === 'safetensors' && !args.keepInt8 && model.encoding !== 'f32';
  if (wantsFloat && args.master !== 'none' && (args.master || existsSync(masterPath))) {
    try {
      const master = startingWeights(model, readBounded(masterPath, 4 * MAX_PARAMS + (2 << 20)));
      model = { ...model, params: master.params };
      weights = `float32 master ${masterPath}`;
    } catch (error) {
      if (error instanceof MasterMismatchError || error instanceof ModelFormatError) {
        throw new CliError(`${masterPath}: not the master of ${args.model}: ${error.message}`);
      }
      throw error;
    }
  }
  const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
  const bytes =
    args.format === 'onnx'
      ? modelToOnnx(model, String(version))
      : modelToSafetensors(model, { keepInt8: args.keepInt8 });
  writeAtomically(args.out, bytes);
  const how =
    args.format === 'onnx'
      ? `ONNX opset ${ONNX_OPSET}${model.encoding === 'int8' ? ', QDQ int8 weights' : ', float32'}`
      : `safetensors, ${args.keepInt8 ? 'int8 weights + float32 scales' : `${weights} weights`}`;
  console.log(
    `export: ${args.model} (${describeModel(model)}) → ${args.out} (${how}, ${bytes.length} bytes)`,
  );
}

runCli('export', main);
