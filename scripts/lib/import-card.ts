/**
 * @module
 * The model card of an imported network (`npm run import`): where the weights came from, their shapes, the test
 * accuracy measured here per encoding, and the command. Text only; the caller writes the file.
 */
import { cardHead, otherAccuracies, percent } from './model-card.ts';

export interface ImportCardInput {
  blobName: string;
  blobBytes: number;
  source: { file: string; bytes: number; sha256: string; tensors: string[]; encoding: string | null };
  dataset: string;
  testCount: number;
  sizes: number[];
  alpha: number;
  alphaFrom: string;
  encoding: string;
  /** Test accuracy per encoding measured; `f32` always. */
  testAccuracy: Record<string, number>;
  /** The exporting blob's metadata, when the file came from `npm run export`. */
  sourceMetadata: Record<string, unknown> | null;
  createdAt: string;
  command: string;
}

export function renderImportCard(c: ImportCardInput): string {
  const others = otherAccuracies(c.testAccuracy, c.encoding);
  const rows: [string, string][] = [
    [
      'Source',
      `\`${c.source.file}\`, ${c.source.bytes} bytes, sha256 \`${c.source.sha256}\`` +
        (c.source.encoding ? ` (exported from an ${c.source.encoding} edge-mlp blob)` : ''),
    ],
    ['Tensors', c.source.tensors.map((t) => `\`${t}\``).join(', ')],
    [
      'Network',
      `${c.sizes.join(' → ')}, LeakyReLU α=${Number(c.alpha.toPrecision(6))} (${c.alphaFrom}), softmax`,
    ],
    [
      'Test accuracy',
      `**${percent(c.testAccuracy[c.encoding])}** as stored (${c.encoding})${others ? `; ${others}` : ''}, ` +
        `${c.testCount} ${c.dataset} test images, measured here`,
    ],
    ['Blob', `\`${c.blobName}\`, ${c.blobBytes} bytes, ${c.encoding} weights`],
    ['Created', c.createdAt],
  ];
  const training = c.sourceMetadata?.training;
  return [
    ...cardHead(
      c.blobName,
      `An MLP imported by \`scripts/import.ts\` from a safetensors state dict; the weights were not retrained here.`,
      rows,
      c.command,
    ),
    ...(training
      ? [
          '## Training (from the source metadata)',
          '',
          '```json',
          JSON.stringify(training, null, 2),
          '```',
          '',
        ]
      : []),
  ].join('\n');
}
