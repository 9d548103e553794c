/**
 * @module
 * The network, pure TypeScript (typed arrays and Math only): shared by the training script and the Worker.
 */
export {
  Mlp,
  Workspace,
  layoutOf,
  checkSpec,
  type MlpSpec,
  type InitOptions,
  type LayerLayout,
} from './mlp.ts';
export {
  Trainer,
  checkOptimizer,
  type OptimizerOptions,
  type StepResult,
  type TrainerOptions,
} from './trainer.ts';
export { createPredictor, type Predictor, type PredictorSource } from './predictor.ts';
export { createRng, createNormal, shuffleInPlace } from './rng.ts';
export * from './layers.ts';
export * from './classify.ts';
export {
  DEFAULT_UPDATE,
  fineTuneUpdate,
  fitToWork,
  UpdateDiverged,
  STEP_ROWS,
  workOf,
  type UpdateInput,
  type UpdateResult,
  type UpdateSettings,
} from './fine-tune-update.ts';
