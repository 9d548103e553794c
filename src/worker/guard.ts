/**
 * @module
 * The fine-tune guard's decision, pure: given the parent's and the child's accuracy on the held-out check set
 * and the allowed drop, may the child be saved? No I/O and no math beyond the comparison; the accuracies are
 * measured by `fine-tune.ts`. Superseded by the lineage guard (`lineage-guard.ts`, `lineage-workflow.ts`).
 */

export interface GuardInput {
  /** The check set's name in the store, e.g. `checksets/mnist-test-500.bin`. */
  checkSet: string;
  /** Images in the check set. */
  size: number;
  parentAccuracy: number;
  accuracy: number;
  /** The largest drop of accuracy (0-1) allowed. */
  maxDrop: number;
}

/** The guard's verdict, as `/fine-tune` reports it. */
export interface GuardVerdict extends GuardInput {
  passed: boolean;
}

/** Slack for float rounding, so that a drop of exactly `maxDrop` passes. */
export const GUARD_EPSILON = 1e-9;

/** Passes unless the child's accuracy fell below the parent's by more than `maxDrop`; NaN never passes. */
export function guardVerdict(input: GuardInput): GuardVerdict {
  const drop = input.parentAccuracy - input.accuracy;
  return { ...input, passed: drop <= input.maxDrop + GUARD_EPSILON };
}
