import { describe, expect, it } from 'vitest';
import { flipImage, gatherBatch, shiftImage } from '../../scripts/lib/augment.ts';
import { learningRate } from '../../scripts/lib/lr-schedule.ts';
import { renderModelCard, type CardInput } from '../../scripts/lib/model-card.ts';
import { DEFAULTS, helpText, parseTrainArgs, UsageError } from '../../scripts/lib/train-options.ts';

describe('parseTrainArgs', () => {
  it('should give the defaults for an empty command line', () => {
    expect(parseTrainArgs([])).toEqual(DEFAULTS);
    expect(DEFAULTS.hidden).toEqual([1024, 512]);
    expect(DEFAULTS.threads).toBeGreaterThanOrEqual(1);
  });

  it("should read the origin's recipe", () => {
    const o = parseTrainArgs(
      '--init origin --lr 0.001 --batch 16 --momentum 0 --lr-schedule none --no-augment --l1 0.0001 --l2 0.0005 --val-frac 0.35'.split(
        ' ',
      ),
    );
    expect(o).toMatchObject({
      init: 'origin',
      lr: 0.001,
      batch: 16,
      momentum: 0,
      lrSchedule: 'none',
      l1: 1e-4,
      l2: 5e-4,
      valFrac: 0.35,
      augment: false,
    });
  });

  it('should read sizes, names, switches and a target given in percent', () => {
    const o = parseTrainArgs([
      '--hidden',
      '300, 100',
      '--encoding',
      'int8',
      '--augment',
      '--target',
      '98.5',
      '--data',
      'd',
    ]);
    expect(o).toMatchObject({
      hidden: [300, 100],
      encoding: 'int8',
      augment: true,
      target: 0.985,
      data: 'd',
    });
    expect(parseTrainArgs(['--target', '0.9']).target).toBe(0.9);
    expect(DEFAULTS.augment).toBe(true);
    expect(parseTrainArgs(['--no-augment']).augment).toBe(false);
    expect(parseTrainArgs(['--shift', '1', '--flip'])).toMatchObject({ shift: 1, flip: true });
    expect(DEFAULTS).toMatchObject({ shift: 2, flip: false });
  });

  const bad: [string[], string][] = [
    [['--lr', 'fast'], '--lr: expected a number ≥ 0, got "fast"'],
    [['--lr', ''], '--lr: expected a number ≥ 0, got ""'],
    [['--epochs', '1.5'], '--epochs: expected an integer ≥ 1, got "1.5"'],
    [['--momentum', '1'], '--momentum: expected a number in [0, 1), got "1"'],
    [['--hidden', '10,,5'], '--hidden: expected sizes like 1024,512 (each 1-65536), got "10,,5"'],
    [['--optimizer', 'rmsprop'], '--optimizer: expected one of sgd, adam, got "rmsprop"'],
    [['--target', '101'], '--target: expected an accuracy like 0.985 or 98.5, got "101"'],
  ];
  for (const [argv, message] of bad) {
    it(`should reject ${argv.join(' ')}`, () => {
      expect(() => parseTrainArgs(argv)).toThrow(new UsageError(message));
    });
  }

  it('should reject unknown flags and positional arguments in one line', () => {
    for (const argv of [['--lerning-rate', '1'], ['data/']]) {
      try {
        parseTrainArgs(argv);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        expect((error as Error).message).not.toContain('\n');
        expect((error as Error).message).toContain('--help');
      }
    }
  });

  it('should document every flag with its default in --help', () => {
    const help = helpText();
    for (const flag of [
      '--data DIR',
      '--hidden N,N',
      '--l1 N',
      '--l2 N',
      '--val-frac N',
      '--encoding NAME',
      '--target N',
      '--quiet',
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toContain('[1024,512]');
    expect(help).toContain('[cosine]');
  });
});

describe('learningRate', () => {
  it('should keep the rate without a schedule', () => {
    expect(learningRate('none', 0.1, 500, 1000)).toBe(0.1);
  });
  it('should follow half a cosine from lr to 0', () => {
    expect(learningRate('cosine', 0.1, 0, 1000)).toBeCloseTo(0.1, 12);
    expect(learningRate('cosine', 0.1, 500, 1000)).toBeCloseTo(0.05, 12);
    expect(learningRate('cosine', 0.1, 250, 1000)).toBeCloseTo(0.05 * (1 + Math.SQRT1_2), 12);
    expect(learningRate('cosine', 0.1, 1000, 1000)).toBeCloseTo(0, 12);
  });
  it('should divide by 10 at half and three quarters of the run', () => {
    expect([0, 499, 500, 749, 750, 999].map((t) => learningRate('step', 1, t, 1000))).toEqual([
      1, 1, 0.1, 0.1, 0.01, 0.01,
    ]);
  });
});

describe('shiftImage', () => {
  // 3×3 image 1..9
  const src = Float32Array.from({ length: 9 }, (_, i) => i + 1);
  const shifted = (dx: number, dy: number) => {
    const dst = new Float32Array(9).fill(-1);
    shiftImage(src, dst, 3, 3, dx, dy);
    return Array.from(dst);
  };
  it('should copy the image unchanged with no shift', () => {
    expect(shifted(0, 0)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
  it('should move right and down, filling with zeros', () => {
    expect(shifted(1, 0)).toEqual([0, 1, 2, 0, 4, 5, 0, 7, 8]);
    expect(shifted(0, 1)).toEqual([0, 0, 0, 1, 2, 3, 4, 5, 6]);
    expect(shifted(2, 2)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });
  it('should move left and up', () => {
    expect(shifted(-1, -1)).toEqual([5, 6, 0, 8, 9, 0, 0, 0, 0]);
  });
  it('should give zeros when shifted out entirely', () => {
    expect(shifted(3, 0)).toEqual(new Array(9).fill(0));
  });
});

describe('gatherBatch', () => {
  // four 2×2 images, image e filled with e+1
  const images = Float32Array.from({ length: 16 }, (_, i) => Math.floor(i / 4) + 1);
  const labels = Uint8Array.of(10, 11, 12, 13);
  const order = Uint32Array.of(3, 1, 0, 2);

  it('should copy examples in the given order with their labels', () => {
    const x = new Float32Array(8);
    const y = new Uint8Array(2);
    gatherBatch(images, labels, order, 1, 2, 2, 2, x, y, null);
    expect(Array.from(x)).toEqual([2, 2, 2, 2, 1, 1, 1, 1]);
    expect(Array.from(y)).toEqual([11, 10]);
  });

  it('should pass each image through the transform, keeping labels', () => {
    const x = new Float32Array(8);
    const y = new Uint8Array(2);
    gatherBatch(images, labels, order, 0, 2, 2, 2, x, y, (src, dst) => {
      for (let i = 0; i < src.length; i++) dst[i] = src[i] * 10;
    });
    expect(Array.from(x)).toEqual([40, 40, 40, 40, 20, 20, 20, 20]);
    expect(Array.from(y)).toEqual([13, 11]);
  });
});

describe('flipImage', () => {
  it('should mirror each row left-right', () => {
    const img = Float32Array.of(1, 2, 3, 4, 5, 6); // 2 rows × 3 cols
    flipImage(img, 2, 3);
    expect(Array.from(img)).toEqual([3, 2, 1, 6, 5, 4]);
  });
});

describe('renderModelCard', () => {
  const input: CardInput = {
    blobName: 'mnist.bin',
    blobBytes: 1234,
    dataset: 'mnist',
    sizes: [784, 32, 10],
    alpha: 0.01,
    encoding: 'int8',
    counts: { train: 540, validation: 60, test: 10000 },
    testAccuracy: { f32: 0.8512, int8: 0.8507 },
    validationAccuracy: 0.85,
    bestEpoch: 2,
    epochs: [1, 2].map((epoch) => ({
      epoch,
      dataLoss: 1 / epoch,
      penalty: 0.01,
      trainAccuracy: 0.5,
      valAccuracy: 0.8 + epoch / 100,
      lr: 0.05,
      seconds: 1.5,
      examplesPerSecond: 360,
      partial: epoch === 2,
    })),
    settings: { lr: 0.05, hidden: [32] },
    trainSeconds: 3,
    kernels: 'ts',
    createdAt: '2026-01-01T00:00:00.000Z',
    command: 'npm run train -- --hidden 32',
    interrupted: true,
  };
  const card = renderModelCard(input);

  it('should state the stored and float accuracies, sizes, time, date and command', () => {
    expect(card).toContain('| Test accuracy | **85.07%** as stored (int8); f32 85.12% |');
    expect(card).toContain('784 → 32 → 10');
    expect(card).toContain('3.0 s on ts (interrupted with Ctrl-C)');
    expect(card).toContain('2026-01-01T00:00:00.000Z');
    expect(card).toContain('npm run train -- --hidden 32');
    expect(card).toContain('| hidden | 32 |');
  });

  it('should list each epoch and mark the best and the partial one', () => {
    expect(card).toContain('| 1 | 1.0000 | 0.0100 | 50.00% | 81.00% |');
    expect(card).toContain('| 2 (partial) * | 0.5000 |');
  });
});
