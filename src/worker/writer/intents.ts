/**
 * @module
 * Write intents in the model writer's SQLite storage: a version about to be stored in R2 and swapped in by the
 * pointer's compare-and-swap, with the feedback items it would consume. Recorded before both and concluded once its
 * outcome is known, so a crash between the swap and the bookkeeping can neither lose nor repeat a consumption:
 * the next start (or the next write) reads the pointer and concludes what is still open. Not policy, not HTTP.
 */
import type { ModelStore } from '../model-store.ts';
import type { FeedbackStore } from './feedback-store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS intents (
  version TEXT PRIMARY KEY,
  prefix TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('fine-tune', 'apply')),
  items TEXT NOT NULL,
  record TEXT NOT NULL,
  at TEXT NOT NULL
);
`;

/** What the `applies` row of a published apply says (`FeedbackStore.recordApply`). */
export interface AppliedRecord {
  version: string;
  parent: string;
  examples: number;
  detail: unknown;
}

export interface Intent {
  /** The version being stored in R2 and swapped in. */
  version: string;
  /** The store prefix of its lineage: recovery reads that pointer. */
  prefix: string;
  kind: 'fine-tune' | 'apply';
  /** Feedback ids it consumes once published (apply only). */
  items: number[];
  /** The apply's record, written when it is published (apply only). */
  record: AppliedRecord | null;
}

/** How an open intent ended: published (its items consumed), or never published (its items left pending). */
export interface Conclusion {
  version: string;
  published: boolean;
  /** The `applies` id of a published apply, else null. */
  applyId: number | null;
}

type Row = Record<string, SqlStorageValue>;

export class IntentLog {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly feedback: FeedbackStore,
  ) {}

  /** Creates the table; idempotent (run in the object's constructor). */
  migrate(): void {
    this.storage.sql.exec(SCHEMA);
  }

  /**
   * Records `intent` before its version is stored and its swap sent. The object's output gate holds those R2
   * calls until this write is durable, so neither lands without its intent on disk.
   */
  record(intent: Intent, now = new Date()): void {
    this.storage.sql.exec(
      'INSERT OR REPLACE INTO intents (version, prefix, kind, items, record, at) VALUES (?, ?, ?, ?, ?, ?)',
      intent.version,
      intent.prefix,
      intent.kind,
      JSON.stringify(intent.items),
      JSON.stringify(intent.record),
      now.toISOString(),
    );
  }

  /** Intents whose outcome is not recorded yet, oldest first. */
  open(): Intent[] {
    return this.storage.sql
      .exec('SELECT version, prefix, kind, items, record FROM intents ORDER BY at, version')
      .toArray()
      .map((r: Row) => ({
        version: r.version as string,
        prefix: r.prefix as string,
        kind: r.kind as Intent['kind'],
        items: JSON.parse(r.items as string) as number[],
        record: JSON.parse(r.record as string) as AppliedRecord | null,
      }));
  }

  count(): number {
    return Number(this.storage.sql.exec('SELECT COUNT(*) AS n FROM intents').one().n);
  }

  /**
   * Records the outcome of `version`'s swap in one transaction: a published apply marks its items applied (with
   * its `applies` row); an unpublished one leaves them pending. Either way the intent is closed.
   */
  conclude(version: string, published: boolean): Conclusion {
    return this.storage.transactionSync(() => {
      const intent = this.open().find((i) => i.version === version);
      this.storage.sql.exec('DELETE FROM intents WHERE version = ?', version);
      if (!intent || intent.kind !== 'apply' || !intent.record || !published) {
        return { version, published, applyId: null };
      }
      const applyId = this.feedback.recordApply(
        { outcome: 'applied', ...intent.record },
        intent.items,
        'applied',
      );
      return { version, published, applyId };
    });
  }

  /**
   * Concludes every open intent from its lineage's pointer: a version the pointer names was published; any other
   * never was (its swap was not sent, or lost), so its blob is deleted and its items stay pending.
   * @throws {StoreError} when R2 cannot be read: the intents stay open, to be concluded by the next call.
   */
  async recover(storeOf: (prefix: string) => ModelStore): Promise<Conclusion[]> {
    const done: Conclusion[] = [];
    for (const intent of this.open()) {
      const store = storeOf(intent.prefix);
      const published = await store.pointerNames(intent.version);
      if (!published) await store.deleteVersion(intent.version);
      done.push(this.conclude(intent.version, published));
    }
    return done;
  }
}
