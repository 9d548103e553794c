/**
 * @module
 * The fine-tune guard's decision, as pure functions of figures: may this child be saved? It bounds the step (the
 * child against its parent) and the lineage (the child against its root, the last published model), each overall
 * and per class, so twenty small steps cannot add up to one large one; and, when the request held a slice of its
 * own examples back, the child must do better than the parent on them. Also the stratified held-out split.
 * No model, no I/O: the workflow measures, this decides.
 */
import { DIGIT_CLASSES } from '../nn/classify.ts';

/** Accuracy of one model on the check set, overall and per class. */
export interface CheckFigures {
  count: number;
  accuracy: number;
  /** Accuracy on each class's images; null for a class the check set lacks. */
  perClass: (number | null)[];
}

/** The largest drops (fractions: 0.02 = 2 points) a child may show and still be saved. From `wrangler.toml`. */
export interface GuardBounds {
  /** Overall, against the parent. */
  maxDrop: number;
  /** Any one class, against the parent. */
  maxClassDrop: number;
  /** Overall, against the lineage's root. */
  maxLineageDrop: number;
  /** Any one class, against the lineage's root. */
  maxLineageClassDrop: number;
}

export interface Score {
  loss: number;
  accuracy: number;
}

/** Parent and child on the request's held-out examples. */
export interface HeldOutFigures {
  count: number;
  parent: Score;
  child: Score;
}

export type GuardCheckName = 'parent' | 'parent-class' | 'root' | 'root-class' | 'held-out';

export interface GuardCheck {
  name: GuardCheckName;
  /** The reference's figure (parent or root accuracy; the parent's held-out accuracy). */
  reference: number;
  child: number;
  /** reference − child: positive is worse. For `held-out`, the bound is 0 and `passed` needs an improvement. */
  drop: number;
  bound: number;
  passed: boolean;
  /** For the per-class checks: the class with the largest drop. */
  class?: number;
}

export interface GuardVerdict {
  passed: boolean;
  checks: GuardCheck[];
  /** One sentence per failed check, for the error message. */
  reasons: string[];
}

/** Allowed slack so that a drop of exactly the bound passes despite float rounding. */
const EPS = 1e-9;

/** Check-set figures from predicted and true classes. */
export function checkFigures(
  predicted: ArrayLike<number>,
  labels: ArrayLike<number>,
  count: number,
  classes = DIGIT_CLASSES,
): CheckFigures {
  const right = new Array<number>(classes).fill(0);
  const seen = new Array<number>(classes).fill(0);
  let correct = 0;
  for (let i = 0; i < count; i++) {
    const c = labels[i];
    seen[c]++;
    if (predicted[i] === c) {
      right[c]++;
      correct++;
    }
  }
  return {
    count,
    accuracy: count === 0 ? 0 : correct / count,
    perClass: seen.map((n, c) => (n === 0 ? null : right[c] / n)),
  };
}

/** The class whose accuracy fell most from `reference` to `child`, and by how much (−Infinity when none). */
function worstClass(reference: CheckFigures, child: CheckFigures): { class: number; drop: number } {
  let worst = { class: -1, drop: -Infinity };
  reference.perClass.forEach((r, c) => {
    const k = child.perClass[c];
    if (r === null || k === null || k === undefined) return;
    if (r - k > worst.drop) worst = { class: c, drop: r - k };
  });
  return worst;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}

/** Whether the child did better than the parent on the held-out examples: more right, or as many at lower loss. */
export function heldOutHelped(h: HeldOutFigures): boolean {
  if (h.child.accuracy > h.parent.accuracy + EPS) return true;
  return Math.abs(h.child.accuracy - h.parent.accuracy) <= EPS && h.child.loss < h.parent.loss;
}

/**
 * The guard's verdict on a child, from its check-set figures and those of its parent and of the lineage's root
 * (the same model as the parent for a first fine-tune), and the held-out figures when a slice was held back.
 */
export function guardVerdict(input: {
  parent: CheckFigures;
  root: CheckFigures;
  child: CheckFigures;
  heldOut: HeldOutFigures | null;
  bounds: GuardBounds;
}): GuardVerdict {
  const { parent, root, child, heldOut, bounds } = input;
  const checks: GuardCheck[] = [];
  const reasons: string[] = [];
  const overall = (name: 'parent' | 'root', ref: CheckFigures, bound: number) => {
    const drop = ref.accuracy - child.accuracy;
    const passed = drop <= bound + EPS;
    checks.push({ name, reference: ref.accuracy, child: child.accuracy, drop, bound, passed });
    if (!passed) {
      reasons.push(
        `check-set accuracy falls from ${pct(ref.accuracy)} (${name === 'root' ? 'the lineage root' : 'the parent'}) ` +
          `to ${pct(child.accuracy)}, more than the allowed ${pct(bound)}`,
      );
    }
  };
  const perClass = (name: 'parent-class' | 'root-class', ref: CheckFigures, bound: number) => {
    const worst = worstClass(ref, child);
    if (worst.class < 0) return;
    const drop = worst.drop;
    const passed = drop <= bound + EPS;
    checks.push({
      name,
      reference: ref.perClass[worst.class]!,
      child: child.perClass[worst.class]!,
      drop,
      bound,
      passed,
      class: worst.class,
    });
    if (!passed) {
      reasons.push(
        `accuracy on digit ${worst.class} falls from ${pct(ref.perClass[worst.class]!)} ` +
          `(${name === 'root-class' ? 'the lineage root' : 'the parent'}) to ${pct(child.perClass[worst.class]!)}, ` +
          `more than the allowed ${pct(bound)}`,
      );
    }
  };
  overall('parent', parent, bounds.maxDrop);
  perClass('parent-class', parent, bounds.maxClassDrop);
  overall('root', root, bounds.maxLineageDrop);
  perClass('root-class', root, bounds.maxLineageClassDrop);
  if (heldOut) {
    const passed = heldOutHelped(heldOut);
    checks.push({
      name: 'held-out',
      reference: heldOut.parent.accuracy,
      child: heldOut.child.accuracy,
      drop: heldOut.parent.accuracy - heldOut.child.accuracy,
      bound: 0,
      passed,
    });
    if (!passed) {
      reasons.push(
        `on the ${heldOut.count} held-out examples the child is not better than the parent ` +
          `(${pct(heldOut.child.accuracy)} vs ${pct(heldOut.parent.accuracy)}, loss ` +
          `${heldOut.child.loss.toFixed(4)} vs ${heldOut.parent.loss.toFixed(4)})`,
      );
    }
  }
  return { passed: reasons.length === 0, checks, reasons };
}

/** Why a held-out slice cannot be taken from these examples. */
export class HoldOutError extends Error {
  override readonly name = 'HoldOutError';
}

/** Fewest examples for which a held-out slice is taken without being asked for. */
export const AUTO_HOLD_OUT_MIN_EXAMPLES = 40;
/** The share held out when the request does not say. */
export const DEFAULT_HOLD_OUT = 0.1;

/**
 * A stratified split of example indices: from each class with at least two examples, `fraction` of them (rounded,
 * at least one, never all) are held out, chosen by a seeded shuffle; classes with one example all train.
 * @throws {HoldOutError} when no example or only one class is given, or nothing could be held out.
 */
export function holdOutSplit(
  labels: ArrayLike<number>,
  count: number,
  fraction: number,
  rng: () => number,
): { train: number[]; held: number[] } {
  if (count === 0) throw new HoldOutError('a held-out slice needs examples, and none were given');
  if (!(fraction > 0 && fraction < 1)) throw new HoldOutError(`holdOut must be in (0, 1), got ${fraction}`);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const list = byClass.get(labels[i]) ?? [];
    list.push(i);
    byClass.set(labels[i], list);
  }
  if (byClass.size < 2) {
    throw new HoldOutError(
      `a held-out slice needs examples of at least two classes; all ${count} are labelled ${labels[0]}`,
    );
  }
  const train: number[] = [];
  const held: number[] = [];
  for (const [, list] of [...byClass].sort((a, b) => a[0] - b[0])) {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
    const k =
      list.length < 2 ? 0 : Math.min(list.length - 1, Math.max(1, Math.round(list.length * fraction)));
    held.push(...list.slice(0, k));
    train.push(...list.slice(k));
  }
  if (held.length === 0) throw new HoldOutError('no class has two examples, so none can be held out');
  train.sort((a, b) => a - b);
  held.sort((a, b) => a - b);
  return { train, held };
}
