import { describe, expect, it } from 'vitest';
import { exportName, TASK_LAYOUT, TaskWriter } from '../../src/kernels/task-layout.ts';
import { compileBuild } from '../../scripts/lib/kernels-node.ts';

/** Exported globals of the module that are not part of the task interface. */
const NOT_LAYOUT = new Set(['RELAXED_SIMD', 'DOT_MAX_ROWS', 'AXPY_MAX_ROWS']);

/** Every constant of the TypeScript layout under the name the module exports it by. */
function tsConstants(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [prefix, group] of Object.entries(TASK_LAYOUT)) {
    for (const [field, value] of Object.entries(group)) out.set(exportName(prefix, field), value);
  }
  return out;
}

describe('the task interface', () => {
  for (const [build, relaxed] of [
    ['plain', false],
    ['relaxed', true],
  ] as const) {
    it(`should declare the same kinds and offsets on both sides (${build} build)`, () => {
      const module = compileBuild('plain', relaxed);
      const memory = new WebAssembly.Memory({ initial: 1 });
      const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
      const wasm = new Map<string, number>();
      for (const [name, value] of Object.entries(exports)) {
        if (value instanceof WebAssembly.Global && !NOT_LAYOUT.has(name)) wasm.set(name, Number(value.value));
      }
      expect(Object.fromEntries(wasm)).toEqual(Object.fromEntries(tsConstants()));
    });
  }

  it('should give every field of a block its own 4 bytes inside the block', () => {
    const { TASK, EPILOGUE, KIND, LAYOUT, ACTIVATION, ...blocks } = TASK_LAYOUT;
    void [KIND, LAYOUT, ACTIVATION];
    for (const [name, group] of Object.entries(blocks)) {
      const spans: [number, number, string][] = Object.entries(group).map(([field, offset]) => [
        offset,
        offset + (field === 'epilogue' ? EPILOGUE.bytes : 4),
        field,
      ]);
      spans.push([TASK.kind, TASK.kind + 4, 'kind']);
      spans.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) {
        expect(spans[i][0], `${name}.${spans[i][2]} overlaps ${spans[i - 1][2]}`).toBeGreaterThanOrEqual(
          spans[i - 1][1],
        );
      }
      expect(spans[spans.length - 1][1], name).toBeLessThanOrEqual(TASK.bytes);
    }
  });

  it('should write every field of each kind where the layout says, ints as i32 and the rest as f32', () => {
    const view = new DataView(new ArrayBuffer(TASK_LAYOUT.TASK.bytes));
    const writer = new TaskWriter(view);
    const kinds = {
      gemm: 'GEMM',
      rowsPart: 'ROWS',
      reduceRows: 'REDUCE',
      linearInt8: 'INT8',
      sgd: 'SGD',
      adam: 'ADAM',
    } as const;
    const epilogue = { alpha: 0.5, bias: 1001, activation: 2, slope: 0.25, gate: 1003 } as const;
    for (const [kind, group] of Object.entries(kinds)) {
      const offsets = TASK_LAYOUT[group] as Record<string, number>;
      // Distinct values: 100 + offset, a whole number so that it reads back the same as f32 or i32.
      const fields = Object.fromEntries(Object.entries(offsets).map(([f, o]) => [f, 100 + o]));
      new Uint8Array(view.buffer).fill(0xff);
      (writer[kind as keyof typeof kinds] as (at: number, f: object, e: object) => void).call(
        writer,
        0,
        fields,
        epilogue,
      );
      expect(view.getInt32(TASK_LAYOUT.TASK.kind, true), kind).toBe(TASK_LAYOUT.KIND[kind as 'gemm']);
      for (const [field, offset] of Object.entries(offsets)) {
        if (field === 'epilogue') {
          const e = TASK_LAYOUT.EPILOGUE;
          expect(view.getFloat32(offset + e.alpha, true)).toBe(0.5);
          expect(view.getInt32(offset + e.bias, true)).toBe(1001);
          expect(view.getInt32(offset + e.activation, true)).toBe(2);
          expect(view.getFloat32(offset + e.slope, true)).toBe(0.25);
          expect(view.getInt32(offset + e.gate, true)).toBe(1003);
          continue;
        }
        const asInt = view.getInt32(offset, true);
        const asFloat = view.getFloat32(offset, true);
        expect(asInt === 100 + offset || asFloat === 100 + offset, `${kind}.${field}`).toBe(true);
      }
    }
  });
});
