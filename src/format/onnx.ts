/**
 * @module
 * An edge-mlp network as an ONNX model (opset 13, IR version 8): input `input` float32 [N,784] in [0, 1], one
 * `Gemm` per layer with a `LeakyRelu` after each hidden one, `Softmax` over axis 1 to `probabilities` [N,10].
 * int8 models are written as QDQ: each weight is an int8 initializer with per-row float scales and a
 * `DequantizeLinear` (axis 0) in front of its Gemm, so the file keeps the exact int8 weights and the runtime
 * computes in float32 (activations are not quantized). f16 weights are written as float32. A model with a
 * `calibration` temperature T ≠ 1 divides the logits by T before the softmax, as the Worker serves it.
 *
 * The protobuf is written by `onnx-proto` (protobufjs code generated from onnx.proto). Not exported from
 * `index.ts`, so the Worker bundle does not carry protobufjs; scripts import this file directly.
 */
import onnxProto from 'onnx-proto';
import { exportMetadata, sequentialIndex } from './state-dict.ts';
import type { ModelData } from './types.ts';

const { onnx } = onnxProto;

export const ONNX_OPSET = 13;
/** IR version 8 (ONNX 1.10+): read by every onnxruntime since 1.10. */
export const ONNX_IR_VERSION = 8;
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'probabilities';

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT8 = onnx.TensorProto.DataType.INT8;

const bytesOf = (a: Float32Array | Int8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

const floatTensor = (name: string, dims: number[], values: Float32Array) =>
  onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: bytesOf(values) });

const valueInfo = (name: string, dims: (number | string)[]) =>
  onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: {
          dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })),
        },
      },
    },
  });

const attribute = (name: string, value: number, kind: 'int' | 'float') =>
  kind === 'int'
    ? onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value })
    : onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });

/**
 * The ONNX model bytes of a decoded model. Initializers take the PyTorch names of `modelToSafetensors`
 * (`0.weight`, `0.bias`, …; for int8 `0.weight_quantized`, `0.weight_scale`, `0.weight_zero_point`).
 */
export function modelToOnnx(model: ModelData, producerVersion: string): Uint8Array {
  const { sizes, params, alpha } = model;
  const int8 = model.quantized !== undefined;
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  const initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  let x = ONNX_INPUT;
  const last = sizes.length - 2;
  for (let l = 0, at = 0; l <= last; l++) {
    const [inSize, outSize] = [sizes[l], sizes[l + 1]];
    const i = sequentialIndex(l);
    const weight = `${i}.weight`;
    if (int8) {
      const { q, scale } = model.quantized![l];
      initializers.push(
        onnx.TensorProto.create({
          name: `${weight}_quantized`,
          dims: [outSize, inSize],
          dataType: INT8,
          rawData: bytesOf(q),
        }),
        floatTensor(`${weight}_scale`, [outSize], scale),
        onnx.TensorProto.create({
          name: `${weight}_zero_point`,
          dims: [outSize],
          dataType: INT8,
          rawData: new Uint8Array(outSize),
        }),
      );
      nodes.push(
        onnx.NodeProto.create({
          name: `${i}.dequantize`,
          opType: 'DequantizeLinear',
          input: [`${weight}_quantized`, `${weight}_scale`, `${weight}_zero_point`],
          output: [weight],
          attribute: [attribute('axis', 0, 'int')],
        }),
      );
    } else {
      initializers.push(floatTensor(weight, [outSize, inSize], params.subarray(at, at + outSize * inSize)));
    }
    const bias = params.subarray(at + outSize * inSize, at + outSize * (inSize + 1));
    initializers.push(floatTensor(`${i}.bias`, [outSize], bias));
    const y = l < last ? `${i}.linear` : 'logits';
    nodes.push(
      onnx.NodeProto.create({
        name: `${i}.gemm`,
        opType: 'Gemm',
        input: [x, weight, `${i}.bias`],
        output: [y],
        attribute: [attribute('transB', 1, 'int')],
      }),
    );
    x = y;
    if (l < last) {
      const activated = `${i + 1}.leaky_relu`;
      nodes.push(
        onnx.NodeProto.create({
          name: activated,
          opType: 'LeakyRelu',
          input: [x],
          output: [activated],
          attribute: [attribute('alpha', alpha, 'float')],
        }),
      );
      x = activated;
    }
    at += outSize * (inSize + 1);
  }
  // A calibrated model serves softmax(logits / T): the graph does the same, so its probabilities are the served ones.
  const temperature = model.metadata.calibration?.temperature;
  if (temperature !== undefined && temperature !== 1) {
    initializers.push(floatTensor('temperature', [], Float32Array.of(temperature)));
    nodes.push(
      onnx.NodeProto.create({
        name: 'calibrate',
        opType: 'Div',
        input: [x, 'temperature'],
        output: ['calibrated'],
      }),
    );
    x = 'calibrated';
  }
  nodes.push(
    onnx.NodeProto.create({
      name: 'softmax',
      opType: 'Softmax',
      input: [x],
      output: [ONNX_OUTPUT],
      attribute: [attribute('axis', 1, 'int')],
    }),
  );

  const graph = onnx.GraphProto.create({
    name: 'edge-mlp',
    node: nodes,
    initializer: initializers,
    input: [valueInfo(ONNX_INPUT, ['N', sizes[0]])],
    output: [valueInfo(ONNX_OUTPUT, ['N', sizes[sizes.length - 1]])],
    docString: `MLP ${sizes.join('-')}, LeakyReLU(${alpha}), softmax; pixels in [0, 1]`,
  });
  const metadataProps = Object.entries(exportMetadata(model))
    .filter(([key]) => key !== 'format')
    .map(([key, value]) => ({ key, value }));
  const proto = onnx.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'edge-mlp',
    producerVersion,
    docString: `edge-mlp ${sizes.join('-')} ${model.encoding}${int8 ? ' (QDQ int8 weights)' : ''}`,
    graph,
    metadataProps,
  });
  return onnx.ModelProto.encode(proto).finish();
}
