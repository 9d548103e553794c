/**
 * @module
 * The scheduled trigger (`[triggers] crons` in `wrangler.toml`, none by default): asks the model writer of this
 * deployment's lineage to apply pending feedback once `FEEDBACK_AUTO_APPLY_MIN` (> 0) items are pending.
 */
import { readConfig, type Bindings } from '../config.ts';
import type { ApplyAnswer, WriterResult } from './model-writer.ts';
import { callWriter, readFeedbackSettings } from './settings.ts';

export async function scheduled(_controller: ScheduledController, env: Bindings): Promise<void> {
  const feedback = readFeedbackSettings(env);
  if (feedback.autoApplyMin <= 0) return;
  const config = readConfig(env);
  let result: WriterResult<ApplyAnswer> | null;
  try {
    result = (await callWriter(env, config.prefix, (writer) =>
      writer.autoApply({ config, feedback }),
    )) as WriterResult<ApplyAnswer> | null;
  } catch (err) {
    // The next tick tries again; open write intents are concluded when the writer restarts.
    console.warn(`scheduled apply not made: ${(err as Error).message}`);
    return;
  }
  if (result === null) return;
  if (result.ok) {
    console.info(
      `scheduled apply: ${result.value.consumed.length} corrections → version ${result.value.version}`,
    );
  } else {
    console.warn(`scheduled apply not made: ${result.error.code}: ${result.error.message}`);
  }
}
