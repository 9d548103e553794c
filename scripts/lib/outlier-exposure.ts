/**
 * @module
 * Outlier exposure (Hendrycks et al., 2019) for `npm run train`: each batch of digits gets `rows` generated
 * non-digits appended whose target is the uniform distribution (`UNIFORM_TARGET`: cross-entropy to uniform), so
 * the OE term's weight is rows / batch (32 / 128: λ = 0.25 of the digits' term). Measured alternatives: a random
 * label per non-digit (the same expected gradient, no new loss) cost 1.5 points of validation accuracy in a
 * 6-epoch run; a separate OE step at a scaled learning rate does not scale it (momentum carries the gradient on). Negatives come from a pool that is partly redrawn every step, each shifted by
 * up to 2 pixels when it is used, so a run sees tens of thousands of distinct ones at little drawing cost.
 */
import { existsSync } from 'node:fs';
import type { Kernels } from '../../src/kernels/kernels.ts';
import { createRng, UNIFORM_TARGET, type Trainer } from '../../src/nn/index.ts';
import { shiftImage } from './augment.ts';
import { loadDataset } from './dataset.ts';
import { NegativeSource, TRAIN_KINDS, type NegativeKind } from './negatives.ts';
import { fontFaces, renderTypedGlyphs, TYPED_NON_DIGITS } from './typed-digits.ts';

/** Debian's `dataset-fashion-mnist`: clothing, one of the training kinds when it is installed. */
export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';

const INPUT = 784;

export interface OutlierExposureOptions {
  seed: number;
  /** Non-digits appended to each batch. */
  rows: number;
  /** The largest batch of digits. */
  batch: number;
  /** Negatives kept ready. */
  pool?: number;
  /** Pool entries redrawn per step. */
  refresh?: number;
  kinds?: readonly NegativeKind[];
  /** Fashion-MNIST training images [count×784], for the `fashion` kind (left out when absent). */
  fashion?: Float32Array;
  /** Typed non-digits [count×784], for the `typed` kind. */
  typed?: Float32Array;
  /**
   * How served inputs are prepared (`prepareInto` when training preprocesses): applied to each negative as it
   * enters the pool, so the network learns "not a digit" on what `/predict` will hand it, and then not shifted
   * (preprocessing centres every served image).
   */
  prepare?: (image: Float32Array, dst: Float32Array) => void;
}

/** Typed non-digits a training run renders for the `typed` kind (the pool samples them). */
export const TYPED_BANK = 6000;

/**
 * The kinds and pictures a training run uses: all training kinds, clothing when Fashion-MNIST is installed, typed
 * letters and signs when the font packages are (`seed`: their rendering's).
 */
export function trainingNegatives(
  fashionDir = FASHION_DIR,
  seed = 1,
  /** Typed pictures to render (a pool smaller than `TYPED_BANK` needs no more). */
  typedBank = TYPED_BANK,
): {
  kinds: NegativeKind[];
  fashion?: Float32Array;
  typed?: Float32Array;
  note: string;
} {
  const kinds: NegativeKind[] = TRAIN_KINDS.filter((k) => k !== 'fashion' && k !== 'typed');
  const missing: string[] = [];
  let fashion: Float32Array | undefined;
  let typed: Float32Array | undefined;
  // The training split only: the benchmark's clothing comes from the test split.
  if (existsSync(fashionDir)) {
    fashion = loadDataset(fashionDir).train.images;
    kinds.push('fashion');
  } else missing.push(`no Fashion-MNIST at ${fashionDir}`);
  const faces = fontFaces();
  if (faces.length > 0) {
    typed = renderTypedGlyphs(TYPED_NON_DIGITS, typedBank, seed ^ 0x7e7, faces).images;
    kinds.push('typed');
  } else missing.push('no @fontsource fonts for typed letters');
  const note = kinds.join(', ') + (missing.length ? ` (${missing.join('; ')})` : '');
  return { kinds, fashion, typed, note };
}

/**
 * The benchmarks' stream of training kinds from another seed (`eval-ood` and the experiments): every training
 * kind but clothing (they take Fashion-MNIST's test split themselves), the typed ones rendered afresh from `seed`.
 */
export function heldOutSeedNegatives(seed: number, typedCount: number): NegativeSource {
  return new NegativeSource({
    seed,
    kinds: TRAIN_KINDS.filter((k) => k !== 'fashion'),
    typed: renderTypedGlyphs(TYPED_NON_DIGITS, typedCount, seed).images,
  });
}

export class OutlierExposure {
  readonly rows: number;
  /** Labels of the mixed batch: the digits', then `UNIFORM_TARGET` for the non-digits. */
  readonly labels: Uint8Array;
  private readonly pool: Float32Array;
  private readonly poolSize: number;
  private readonly refresh: number;
  private readonly source: NegativeSource;
  private readonly rng: () => number;
  private readonly x: Float32Array;
  private readonly scratch = new Float32Array(INPUT);
  private readonly prepare: ((image: Float32Array, dst: Float32Array) => void) | null;
  private next = 0;

  constructor(
    options: OutlierExposureOptions,
    /** Where the mixed batch lives (kernel memory, or plain arrays in the batch thread). */
    private readonly kernels: Pick<Kernels, 'alloc' | 'free'>,
  ) {
    this.rows = options.rows;
    this.poolSize = options.pool ?? 8192;
    this.refresh = options.refresh ?? 4;
    this.source = new NegativeSource({
      seed: options.seed,
      kinds: options.kinds ?? TRAIN_KINDS,
      fashion: options.fashion,
      typed: options.typed,
    });
    this.rng = createRng(options.seed ^ 0x0e1a);
    this.prepare = options.prepare ?? null;
    this.pool = new Float32Array(this.poolSize * INPUT);
    for (let i = 0; i < this.poolSize; i++) this.draw(i);
    this.x = kernels.alloc((options.batch + options.rows) * INPUT);
    this.labels = new Uint8Array(options.batch + options.rows);
  }

  /**
   * The batch to train on: the `n` digits of `x`/`labels`, then `rows` non-digits from the pool (each shifted by
   * up to 2 pixels); `labels` holds the matching labels. A few pool entries are redrawn at every call.
   */
  mix(x: Float32Array, labels: Uint8Array, n: number): Float32Array {
    for (let r = 0; r < this.refresh; r++) {
      this.draw(this.next);
      this.next = (this.next + 1) % this.poolSize;
    }
    this.x.set(x.subarray(0, n * INPUT));
    this.labels.set(labels.subarray(0, n));
    for (let i = n; i < n + this.rows; i++) {
      const e = Math.floor(this.rng() * this.poolSize);
      const entry = this.pool.subarray(e * INPUT, (e + 1) * INPUT);
      const dst = this.x.subarray(i * INPUT, (i + 1) * INPUT);
      if (this.prepare) {
        dst.set(entry);
      } else {
        this.scratch.set(entry);
        const shift = () => Math.floor(this.rng() * 5) - 2;
        shiftImage(this.scratch, dst, 28, 28, shift(), shift());
      }
      this.labels[i] = UNIFORM_TARGET;
    }
    return this.x;
  }

  /** Draws pool entry `i` afresh (prepared as served when `prepare` is set). */
  private draw(i: number): void {
    const entry = this.pool.subarray(i * INPUT, (i + 1) * INPUT);
    if (!this.prepare) return void this.source.next(entry);
    this.source.next(this.scratch);
    this.prepare(this.scratch, entry);
  }

  dispose(): void {
    this.kernels.free(this.x);
  }
}
