/**
 * @module
 * The model writer: a Durable Object, one per model lineage (store prefix), through which every write goes:
 * fine-tunes, feedback, applying it, rollback. Writes to the model run one at a time in arrival order, so no two
 * fine-tunes race for the pointer and none is retrained because it lost; drops of feedback queue with them (an
 * apply under way may have read the item); reads of pending feedback are answered between them. `/predict` never comes here. Errors cross the RPC boundary as values (see `unwrap`). A version
 * is published only after its write intent is on disk (`intents.ts`); open intents are concluded from the pointer
 * when the object starts and before the next write, so a crash never repeats or loses a consumption.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Config } from '../config.ts';
import { ApiError } from '../errors.ts';
import {
  fineTuneLineage,
  type LineageAnswer,
  type LineageJob,
  type PublishHooks,
} from '../lineage-workflow.ts';
import { ModelStore, StoreError } from '../model-store.ts';
import { rollbackTo } from '../rollback.ts';
import { applyPending, type ApplyAnswer, type ApplyOptions } from './apply.ts';
import { FeedbackStore, type FeedbackStatus, type NewFeedback } from './feedback-store.ts';
import { IntentLog } from './intents.ts';
import { admit } from './policy.ts';
import type { FeedbackSettings } from './settings.ts';

export type { ApplyAnswer, ApplyOptions } from './apply.ts';

/** An ApiError as plain data, so it survives the RPC boundary. */
export interface WriterError {
  status: number;
  code: string;
  message: string;
  details: unknown;
  headers: Record<string, string>;
}
export type WriterResult<T> = { ok: true; value: T } | { ok: false; error: WriterError };

/** What every call needs from the calling worker's env (tests give each their own prefix and limits). */
export interface WriterContext {
  config: Config;
  feedback: FeedbackSettings;
}

async function settle<T>(work: () => Promise<T>): Promise<WriterResult<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    if (err instanceof ApiError) {
      return {
        ok: false,
        error: {
          status: err.status,
          code: err.code,
          message: err.message,
          details: err.details,
          headers: err.headers,
        },
      };
    }
    if (err instanceof StoreError) {
      // As `handleError` maps them (errors.ts).
      const status = err.code === 'conflict' || err.code === 'already_current' ? 409 : 503;
      return {
        ok: false,
        error: { status, code: err.code, message: err.message, details: null, headers: {} },
      };
    }
    throw err;
  }
}

/** The worker side: the value, or the writer's error thrown as the `ApiError` it was. */
export function unwrap<T>(result: WriterResult<T>): T {
  if (result.ok) return result.value;
  const e = result.error;
  throw new ApiError(e.status as ApiError['status'], e.code, e.message, e.details, e.headers);
}

export class ModelWriter extends DurableObject<Env> {
  private readonly feedback: FeedbackStore;
  private readonly intents: IntentLog;
  /** The end of the queue of model writes; each write starts when the one before it settled. */
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.feedback = new FeedbackStore(ctx.storage.sql);
    this.feedback.migrate();
    this.intents = new IntentLog(ctx.storage, this.feedback);
    this.intents.migrate();
    // A restart after a crash: conclude what the last instance left open before any call is delivered. When R2
    // cannot be read now, the first write tries again (and refuses with 503 until it can).
    if (this.intents.count() > 0) {
      void ctx.blockConcurrencyWhile(() =>
        this.recover().catch((err: unknown) => {
          console.warn('model writer: open write intents not concluded yet', (err as Error).message);
        }),
      );
    }
  }

  private store(ctx: WriterContext): ModelStore {
    return new ModelStore(this.env.MODELS, ctx.config.prefix);
  }

  /** Concludes every open write intent from its lineage's pointer (`IntentLog.recover`). */
  private async recover() {
    const done = await this.intents.recover((prefix) => new ModelStore(this.env.MODELS, prefix));
    for (const c of done) {
      console.info(
        `model writer: write intent of ${c.version} concluded as ${c.published ? 'published' : 'not published'}`,
      );
    }
    return done;
  }

  /** Runs `write` after every write queued before it, and after any open write intent is concluded. */
  private serially<T>(write: () => Promise<T>): Promise<T> {
    this.queued++;
    const start = async () => {
      if (this.intents.count() > 0) await this.recover();
      return write();
    };
    const run = this.tail.then(start, start).finally(() => this.queued--);
    this.tail = run.catch(() => {});
    return run;
  }

  /** Hooks that keep a write intent for a fine-tune's version while its swap is in flight (no orphan blob). */
  private fineTuneHooks(prefix: string): PublishHooks {
    return {
      beforeWrite: (version) =>
        this.intents.record({ version, prefix, kind: 'fine-tune', items: [], record: null }),
      afterSwap: (version, published) => void this.intents.conclude(version, published),
    };
  }

  /** Writes waiting or running (for tests and the status line of GET /feedback). */
  queueLength(): number {
    return this.queued;
  }

  /** `/fine-tune`: the lineage workflow (settings, lineage guard, master), after every write queued before it. */
  fineTune(ctx: WriterContext, job: LineageJob): Promise<WriterResult<LineageAnswer>> {
    return settle(() =>
      this.serially(() =>
        fineTuneLineage(this.store(ctx), ctx.config, job, this.fineTuneHooks(ctx.config.prefix)),
      ),
    );
  }

  /** Makes an earlier stored version current. */
  rollback(ctx: WriterContext, version: string) {
    return settle(() => this.serially(() => rollbackTo(this.store(ctx), version)));
  }

  /** Stores one correction as pending, unless a cap or the duplicate rule refuses it. Never touches the model. */
  addFeedback(ctx: WriterContext, item: NewFeedback) {
    return settle(async () => {
      const refusal = admit(
        item.label,
        this.feedback.countsFor(item.client, item.label, item.digest),
        ctx.feedback.caps,
      );
      if (refusal) throw new ApiError(refusal.status, refusal.code, refusal.message, refusal.details);
      const id = this.feedback.insert(item);
      return { id, status: 'pending' as const };
    });
  }

  listFeedback(query: { statuses: FeedbackStatus[]; after: number; limit: number; pixels: boolean }) {
    const items = this.feedback.list(query.statuses, query.after, query.limit, query.pixels);
    return {
      items,
      next: items.length === query.limit ? items[items.length - 1].id : null,
      counts: this.feedback.counts(),
      applies: this.feedback.applies(10),
      writesQueued: this.queued,
    };
  }

  /**
   * Drops pending or held items, after every write queued before it and after any open write intent is
   * concluded: an apply that already read an item has consumed it (or left it pending) by then, so the answer
   * lists exactly the items that are now `dropped` and that no version was trained on.
   */
  dropFeedback(ids: number[]): Promise<WriterResult<{ dropped: number[] }>> {
    return settle(() => this.serially(async () => ({ dropped: this.feedback.drop(ids) })));
  }

  /**
   * One guarded fine-tune on the oldest pending feedback (up to the apply limit), after every write queued before
   * it: `applyPending` (apply.ts).
   */
  applyFeedback(ctx: WriterContext, options: ApplyOptions): Promise<WriterResult<ApplyAnswer>> {
    return settle(() =>
      this.serially(() =>
        applyPending(
          {
            feedback: this.feedback,
            intents: this.intents,
            store: this.store(ctx),
            config: ctx.config,
            settings: ctx.feedback,
          },
          options,
        ),
      ),
    );
  }

  /** The scheduled trigger: applies when at least `autoApplyMin` (> 0) items are pending. */
  async autoApply(ctx: WriterContext): Promise<WriterResult<ApplyAnswer> | null> {
    const min = ctx.feedback.autoApplyMin;
    if (min <= 0 || this.feedback.counts().pending.total < min) return null;
    return this.applyFeedback(ctx, { reviewed: false });
  }
}
