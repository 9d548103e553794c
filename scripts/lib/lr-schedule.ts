/**
 * @module
 * Learning-rate schedules as pure functions of the step: the value to set on the trainer before each step.
 */

export type ScheduleKind = 'none' | 'cosine' | 'step';

/**
 * The learning rate for step `t` of `total` (0-based) from the peak `lr`:
 * `none` keeps it, `cosine` falls from lr to 0 along half a cosine, `step` multiplies it by 0.1 at 50% and
 * again at 75% of the run.
 */
export function learningRate(kind: ScheduleKind, lr: number, t: number, total: number): number {
  const progress = total > 0 ? Math.min(t / total, 1) : 0;
  switch (kind) {
    case 'none':
      return lr;
    case 'cosine':
      return 0.5 * lr * (1 + Math.cos(Math.PI * progress));
    case 'step':
      return progress < 0.5 ? lr : progress < 0.75 ? lr * 0.1 : lr * 0.01;
  }
}
