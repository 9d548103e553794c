/**
 * @module
 * The model card written next to a trained blob: a short Markdown page with the dataset, sizes, accuracies, the
 * settings, the time it took and the command that made it. Text only; the caller writes the file.
 */

export interface EpochRecord {
  epoch: number;
  /** Mean cross-entropy over the epoch's batches (before each update). */
  dataLoss: number;
  /** The L1/L2 term at the end of the epoch, reported apart from the data loss. */
  penalty: number;
  trainAccuracy: number;
  /** Null without a validation set. */
  valAccuracy: number | null;
  /** Learning rate at the end of the epoch. */
  lr: number;
  seconds: number;
  examplesPerSecond: number;
  /** True when Ctrl-C cut this epoch short. */
  partial: boolean;
}

export interface CardInput {
  blobName: string;
  blobBytes: number;
  dataset: string;
  sizes: number[];
  alpha: number;
  encoding: string;
  counts: { train: number; validation: number; test: number };
  /** Test accuracy per encoding that was measured; `f32` always. */
  testAccuracy: Record<string, number>;
  validationAccuracy: number | null;
  bestEpoch: number;
  epochs: EpochRecord[];
  settings: Record<string, unknown>;
  trainSeconds: number;
  kernels: string;
  createdAt: string;
  command: string;
  interrupted: boolean;
}

export const percent = (v: number | null, digits = 2): string =>
  v === null ? '-' : `${(v * 100).toFixed(digits)}%`;

/** The test accuracies of the encodings other than `stored`, e.g. `f32 98.90%, int8 98.85%`. */
export function otherAccuracies(testAccuracy: Record<string, number>, stored: string): string {
  return Object.entries(testAccuracy)
    .filter(([encoding]) => encoding !== stored)
    .map(([encoding, accuracy]) => `${encoding} ${percent(accuracy)}`)
    .join(', ');
}

/** The lines every card starts with: its title, where the model came from, the table of `rows`, the command. */
export function cardHead(
  blobName: string,
  origin: string,
  rows: [string, string][],
  command: string,
): string[] {
  return [
    `# Model card: ${blobName}`,
    '',
    origin,
    '',
    '| | |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Command',
    '',
    '```',
    command,
    '```',
    '',
  ];
}

/** Renders the card. */
export function renderModelCard(c: CardInput): string {
  const stored = c.testAccuracy[c.encoding];
  const others = otherAccuracies(c.testAccuracy, c.encoding);
  const rows: [string, string][] = [
    [
      'Dataset',
      `${c.dataset}: ${c.counts.train} training, ${c.counts.validation} validation, ${c.counts.test} test examples`,
    ],
    ['Network', `${c.sizes.join(' → ')}, LeakyReLU α=${c.alpha}, softmax`],
    ['Test accuracy', `**${percent(stored)}** as stored (${c.encoding})${others ? `; ${others}` : ''}`],
    [
      'Validation accuracy',
      `${percent(c.validationAccuracy)} (best epoch ${c.bestEpoch} of ${c.epochs.length})`,
    ],
    ['Blob', `\`${c.blobName}\`, ${c.blobBytes} bytes, ${c.encoding} weights`],
    [
      'Training time',
      `${c.trainSeconds.toFixed(1)} s on ${c.kernels}${c.interrupted ? ' (interrupted with Ctrl-C)' : ''}`,
    ],
    ['Created', c.createdAt],
  ];
  const lines = [
    ...cardHead(
      c.blobName,
      `An MLP trained by \`scripts/train.ts\` on ${c.dataset}; the epoch with the best validation accuracy was kept.`,
      rows,
      c.command,
    ),
    '## Settings',
    '',
    '| setting | value |',
    '|---|---|',
    ...Object.entries(c.settings).map(([k, v]) => `| ${k} | ${Array.isArray(v) ? v.join(',') : String(v)} |`),
    '',
    '## Epochs',
    '',
    '| epoch | data loss | L1/L2 penalty | train acc | val acc | lr | seconds | examples/s |',
    '|---|---|---|---|---|---|---|---|',
    ...c.epochs.map(
      (e) =>
        `| ${e.epoch}${e.partial ? ' (partial)' : ''}${e.epoch === c.bestEpoch ? ' *' : ''} | ${e.dataLoss.toFixed(4)} | ` +
        `${e.penalty.toFixed(4)} | ${percent(e.trainAccuracy)} | ${percent(e.valAccuracy)} | ` +
        `${e.lr.toPrecision(3)} | ${e.seconds.toFixed(1)} | ${Math.round(e.examplesPerSecond)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
