import { describe, expect, it } from 'vitest';
import { parsePeerTraining, peerTrainArgs } from '../../scripts/lib/bench-peers.ts';

// The lines of `torch_mlp.py train --epochs 3`, as its stdout prints them (JSON-parsed, trimmed).
const HEADER = { peer: 'torch', mode: 'train', dataset: 'mnist', n_train: 57000, n_val: 3000, threads: 1 };
const EPOCHS = [
  {
    epoch: 1,
    epoch_s: 2.5,
    train_s_cum: 2.5,
    wall_s: 2.9,
    val_acc: 0.97,
    test_acc: 0.9712,
    train_loss: 0.09,
  },
  {
    epoch: 2,
    epoch_s: 2.4,
    train_s_cum: 4.9,
    wall_s: 5.7,
    val_acc: 0.98,
    test_acc: 0.9803,
    train_loss: 0.05,
  },
  {
    epoch: 3,
    epoch_s: 2.6,
    train_s_cum: 7.5,
    wall_s: 8.6,
    val_acc: 0.98,
    test_acc: 0.9799,
    train_loss: 0.03,
  },
];
const SUMMARY = {
  summary: { final_test_acc: 0.9799, max_test_acc: 0.9803, time_to_target: null, target: 0.98 },
};

describe('parsePeerTraining', () => {
  it("should time each target by the peer's training seconds (train_s_cum), evaluation excluded", () => {
    const r = parsePeerTraining([HEADER, ...EPOCHS, SUMMARY], [0.98, 0.99]);
    expect(r.reached).toEqual([
      { target: 0.98, seconds: 4.9, epoch: 2 },
      { target: 0.99, seconds: null, epoch: null },
    ]);
    expect(r.trainCount).toBe(57000);
    expect(r.epochs).toBe(3);
    expect(r.bestAccuracy).toBe(0.9803);
    expect(r.points.map((p) => p.epochEnd)).toEqual([true, true, true]);
  });

  it('should count the epochs actually run when the peer stopped early (its max-seconds note)', () => {
    const r = parsePeerTraining(
      [HEADER, EPOCHS[0], { note: 'stopping: max_seconds reached' }, SUMMARY],
      [0.98],
    );
    expect(r.epochs).toBe(1);
    expect(r.reached[0].seconds).toBeNull();
  });

  it('should refuse output without the header, without epoch rows, or with a broken row', () => {
    expect(() => parsePeerTraining([...EPOCHS, SUMMARY], [0.98])).toThrow(/no header/);
    expect(() => parsePeerTraining([HEADER, SUMMARY], [0.98])).toThrow(/no epoch rows/);
    expect(() => parsePeerTraining([HEADER, { epoch: 1, train_s_cum: 2.5 }], [0.98])).toThrow(/test_acc/);
  });
});

describe('peerTrainArgs', () => {
  it('should ask torch_mlp.py for our recipe: SGD with momentum, He init, cosine, one thread, our hold-out', () => {
    const args = peerTrainArgs({ epochs: 60, batch: 128, lr: 0.05, momentum: 0.9, valFrac: 0.05, seed: 1 });
    expect(args[0]).toBe('train');
    const flag = (name: string) => args[args.indexOf(name) + 1];
    expect([flag('--batch'), flag('--lr'), flag('--momentum'), flag('--epochs')]).toEqual([
      '128',
      '0.05',
      '0.9',
      '60',
    ]);
    expect([flag('--optimizer'), flag('--init'), flag('--val-frac'), flag('--threads')]).toEqual([
      'sgd',
      'he',
      '0.05',
      '1',
    ]);
    expect(args).toContain('--cosine');
    // No penalty flags: the peer's --alpha/--beta path would also add sign(w) work to its steps.
    expect(args).not.toContain('--alpha');
    expect(args).not.toContain('--beta');
  });
});
