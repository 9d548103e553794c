import { describe, expect, it } from 'vitest';
import { createTsKernels } from '../../src/kernels/ts-kernels.ts';
import { createNormal, createRng } from '../../src/nn/index.ts';
import { fitSharedGaussians, symmetricEigen } from '../../scripts/lib/gaussian-fit.ts';

/** A·v for a row-major n×n matrix. */
const times = (a: Float64Array, v: ArrayLike<number>, n: number) =>
  Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[i * n + j] * v[j];
    return s;
  });

describe('symmetricEigen', () => {
  it('should find the eigenpairs of a matrix built from known ones, largest first', () => {
    // Q diag(5, 3, 1, 0.5) Qᵀ with Q a rotation in the (0,1) and (2,3) planes.
    const n = 4;
    const [c, s] = [Math.cos(0.3), Math.sin(0.3)];
    const q = [
      [c, -s, 0, 0],
      [s, c, 0, 0],
      [0, 0, c, s],
      [0, 0, -s, c],
    ];
    const lambda = [1, 5, 0.5, 3];
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += q[i][k] * lambda[k] * q[j][k];
    const { values, vectors } = symmetricEigen(a, n);
    expect(Array.from(values).map((v) => +v.toFixed(9))).toEqual([5, 3, 1, 0.5]);
    for (let r = 0; r < n; r++) {
      const v = vectors.subarray(r * n, (r + 1) * n);
      const av = times(a, v, n);
      for (let j = 0; j < n; j++) expect(av[j]).toBeCloseTo(values[r] * v[j], 9);
      expect(v.reduce((t, x) => t + x * x, 0)).toBeCloseTo(1, 12);
    }
    // the eigenvector of 5 is Q's column 1
    const top = vectors.subarray(0, n);
    expect(Math.abs(top[0] * q[0][1] + top[1] * q[1][1])).toBeCloseTo(1, 9);
  });
});

describe('fitSharedGaussians', () => {
  // Three classes around known means, one known covariance (diag 4, 1, 0.25 in a rotated basis).
  const dim = 3;
  const means = [
    [0, 0, 0],
    [10, -2, 1],
    [-5, 5, 3],
  ];
  const count = 30000;
  const rng = createRng(3);
  const normal = createNormal(rng);
  const labels = new Uint8Array(count);
  const features = new Float32Array(count * dim);
  const [c, s] = [Math.cos(0.5), Math.sin(0.5)];
  for (let i = 0; i < count; i++) {
    const y = i % 3;
    labels[i] = y;
    const e = [2 * normal(), normal(), 0.5 * normal()];
    const rotated = [c * e[0] - s * e[1], s * e[0] + c * e[1], e[2]];
    for (let j = 0; j < dim; j++) features[i * dim + j] = means[y][j] + rotated[j];
  }
  const expected = [
    [4 * c * c + s * s, (4 - 1) * c * s, 0],
    [(4 - 1) * c * s, 4 * s * s + c * c, 0],
    [0, 0, 0.25],
  ];

  for (const kernels of [undefined, createTsKernels()]) {
    it(`should recover the class means and the within-class covariance (${kernels ? 'kernels' : 'float64 loop'})`, () => {
      const g = fitSharedGaussians(features, labels, dim, 3, kernels);
      expect(g.counts).toEqual([10000, 10000, 10000]);
      for (let y = 0; y < 3; y++)
        for (let j = 0; j < dim; j++)
          expect(Math.abs(g.classMeans[y * dim + j] - means[y][j])).toBeLessThan(0.05);
      for (let j = 0; j < dim; j++)
        expect(g.mean[j]).toBeCloseTo(
          (g.classMeans[j] + g.classMeans[dim + j] + g.classMeans[2 * dim + j]) / 3,
          9,
        );
      for (let a = 0; a < dim; a++)
        for (let b = 0; b < dim; b++)
          expect(Math.abs(g.covariance[a * dim + b] - expected[a][b])).toBeLessThan(0.08);
      const { values } = symmetricEigen(g.covariance, dim);
      expect(values[0]).toBeCloseTo(4, 0);
      expect(values[2]).toBeCloseTo(0.25, 1);
    });
  }

  it('should refuse a class without features', () => {
    expect(() => fitSharedGaussians(new Float32Array(6), [0, 0], 3, 2)).toThrow(RangeError);
  });
});
