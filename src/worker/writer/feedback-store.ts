/**
 * @module
 * Pending feedback in the model writer's SQLite storage: the schema, and every query on it. Each row is one
 * correction (the 28×28 network input as bytes, how it was prepared, its label, who sent it); `applies`
 * records each apply and which
 * version consumed which rows. Synchronous like the SQL API; not policy (see `policy.ts`), not HTTP.
 */
import type { PreparedAs } from '../../format/index.ts';
import type { StoredCopy } from './policy.ts';

export type FeedbackStatus = 'pending' | 'held' | 'applied' | 'dropped';
export const STATUSES: FeedbackStatus[] = ['pending', 'held', 'applied', 'dropped'];

const SCHEMA = `
CREATE TABLE IF NOT EXISTS feedback (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  digest TEXT NOT NULL UNIQUE,
  pixels BLOB NOT NULL,
  label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
  predicted INTEGER CHECK (predicted BETWEEN 0 AND 9),
  answered_by TEXT,
  client TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'held', 'applied', 'dropped')),
  created_at TEXT NOT NULL,
  apply_id INTEGER,
  prepared TEXT CHECK (prepared IN ('none', 'plain', 'deskew'))
);
CREATE INDEX IF NOT EXISTS feedback_by_status ON feedback (status, id);
CREATE INDEX IF NOT EXISTS feedback_by_client ON feedback (client, status);
CREATE INDEX IF NOT EXISTS feedback_by_label ON feedback (label, status);
CREATE TABLE IF NOT EXISTS applies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'held', 'refused')),
  version TEXT,
  parent TEXT NOT NULL,
  examples INTEGER NOT NULL,
  at TEXT NOT NULL,
  detail TEXT NOT NULL
);
`;

/** One stored correction as listed (pixels only on request). */
export interface FeedbackItem {
  id: number;
  label: number;
  predicted: number | null;
  answeredBy: string | null;
  status: FeedbackStatus;
  createdAt: string;
  /** The version that consumed it, once applied. */
  appliedIn: string | null;
  /** How its pixels were prepared (`PreparedAs`); null for items stored before this was recorded. */
  prepared: PreparedAs | null;
  pixels?: number[];
}

export interface NewFeedback {
  /** The network input, 784 bytes (0-255). */
  pixels: Uint8Array;
  /** How `pixels` were prepared: an apply trains a model only on inputs prepared as it prepares them. */
  prepared: PreparedAs;
  /** Hex SHA-256 of `pixels`: duplicates are refused by it. */
  digest: string;
  label: number;
  predicted: number | null;
  answeredBy: string | null;
  /** An opaque per-client key (a hash of the address). */
  client: string;
}

export interface ApplyRecord {
  id: number;
  outcome: 'applied' | 'held' | 'refused';
  version: string | null;
  parent: string;
  examples: number;
  at: string;
  /** JSON text: the review, or the guard and scores (text, so it crosses the RPC boundary typed). */
  detail: string;
}

type Row = Record<string, SqlStorageValue>;

export class FeedbackStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Creates the tables, and the columns added since; idempotent (run in the object's constructor). */
  migrate(): void {
    this.sql.exec(SCHEMA);
    const columns = this.sql.exec('PRAGMA table_info(feedback)').toArray();
    if (!columns.some((c) => c.name === 'prepared')) {
      // Storage made before corrections were tagged: their rows stay null (prepared as the model of the day).
      this.sql.exec(
        "ALTER TABLE feedback ADD COLUMN prepared TEXT CHECK (prepared IN ('none', 'plain', 'deskew'))",
      );
    }
  }

  /** What the caps look at before `insert`. */
  countsFor(client: string, label: number, digest: string) {
    const one = (q: string, ...b: unknown[]) => Number(this.sql.exec(q, ...b).one().n);
    return {
      client: one(
        `SELECT COUNT(*) AS n FROM feedback WHERE client = ? AND status IN ('pending', 'held')`,
        client,
      ),
      label: one(
        `SELECT COUNT(*) AS n FROM feedback WHERE label = ? AND status IN ('pending', 'held')`,
        label,
      ),
      duplicate: this.copyOf(digest, client),
    };
  }

  /** The stored item with this image, if any, and whether `client` sent it. */
  private copyOf(digest: string, client: string): StoredCopy | null {
    const rows = this.sql
      .exec('SELECT id, client, label, status FROM feedback WHERE digest = ?', digest)
      .toArray();
    if (!rows.length) return null;
    const r = rows[0];
    return {
      id: Number(r.id),
      sameClient: r.client === client,
      label: Number(r.label),
      status: String(r.status),
    };
  }

  insert(item: NewFeedback, now = new Date()): number {
    const row = this.sql
      .exec(
        `INSERT INTO feedback (digest, pixels, prepared, label, predicted, answered_by, client, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        item.digest,
        item.pixels.slice().buffer,
        item.prepared,
        item.label,
        item.predicted,
        item.answeredBy,
        item.client,
        now.toISOString(),
      )
      .one();
    return Number(row.id);
  }

  /** Items of the given statuses with id > `after`, oldest first. */
  list(statuses: FeedbackStatus[], after: number, limit: number, withPixels: boolean): FeedbackItem[] {
    const marks = statuses.map(() => '?').join(', ');
    const rows = this.sql
      .exec(
        `SELECT f.id, f.label, f.predicted, f.answered_by, f.status, f.created_at, a.version, f.prepared,
                ${withPixels ? 'f.pixels' : 'NULL AS pixels'}
         FROM feedback f LEFT JOIN applies a ON a.id = f.apply_id
         WHERE f.status IN (${marks}) AND f.id > ? ORDER BY f.id LIMIT ?`,
        ...statuses,
        after,
        limit,
      )
      .toArray();
    return rows.map((r: Row) => ({
      id: Number(r.id),
      label: Number(r.label),
      predicted: r.predicted === null ? null : Number(r.predicted),
      answeredBy: r.answered_by as string | null,
      status: r.status as FeedbackStatus,
      createdAt: r.created_at as string,
      appliedIn: r.version as string | null,
      prepared: r.prepared as PreparedAs | null,
      ...(withPixels ? { pixels: Array.from(new Uint8Array(r.pixels as ArrayBuffer)) } : {}),
    }));
  }

  /** Counts by status and, for each status, by label ("0".."9"). */
  counts(): Record<FeedbackStatus, { total: number; byLabel: Record<string, number> }> {
    const out = Object.fromEntries(
      STATUSES.map((s) => [
        s,
        { total: 0, byLabel: Object.fromEntries([...Array(10).keys()].map((d) => [String(d), 0])) },
      ]),
    ) as Record<FeedbackStatus, { total: number; byLabel: Record<string, number> }>;
    for (const r of this.sql.exec(
      'SELECT status, label, COUNT(*) AS n FROM feedback GROUP BY status, label',
    )) {
      const entry = out[r.status as FeedbackStatus];
      entry.byLabel[String(r.label)] = Number(r.n);
      entry.total += Number(r.n);
    }
    return out;
  }

  /** Marks items dropped (only pending or held ones); returns the ids that were. */
  drop(ids: number[]): number[] {
    const dropped: number[] = [];
    for (const id of ids) {
      const r = this.sql
        .exec(
          `UPDATE feedback SET status = 'dropped' WHERE id = ? AND status IN ('pending', 'held') RETURNING id`,
          id,
        )
        .toArray();
      if (r.length) dropped.push(id);
    }
    return dropped;
  }

  /** Whether any item has one of the given statuses. */
  hasAny(statuses: FeedbackStatus[]): boolean {
    const marks = statuses.map(() => '?').join(', ');
    return (
      this.sql.exec(`SELECT 1 FROM feedback WHERE status IN (${marks}) LIMIT 1`, ...statuses).toArray()
        .length > 0
    );
  }

  /**
   * Drops the pending and held items tagged with a preparation not in `usable` (a model that prepares its images
   * otherwise can never learn from them); returns their ids. Untagged items (stored before tags) are kept.
   */
  dropOtherwisePrepared(usable: PreparedAs[]): number[] {
    const ways = usable.map(() => '?').join(', ');
    return this.sql
      .exec(
        `UPDATE feedback SET status = 'dropped'
         WHERE status IN ('pending', 'held') AND prepared IS NOT NULL AND prepared NOT IN (${ways})
         RETURNING id`,
        ...usable,
      )
      .toArray()
      .map((r: Row) => Number(r.id))
      .sort((a, b) => a - b);
  }

  /**
   * The oldest `limit` items of the given statuses prepared in one of the `usable` ways (or not tagged: stored
   * before tags), with their pixels as network input in [0,1].
   */
  batch(
    statuses: FeedbackStatus[],
    limit: number,
    usable: PreparedAs[],
  ): { ids: number[]; x: Float32Array; labels: Uint8Array } {
    const marks = statuses.map(() => '?').join(', ');
    const ways = usable.map(() => '?').join(', ');
    const rows = this.sql
      .exec(
        `SELECT id, pixels, label FROM feedback
         WHERE status IN (${marks}) AND (prepared IS NULL OR prepared IN (${ways})) ORDER BY id LIMIT ?`,
        ...statuses,
        ...usable,
        limit,
      )
      .toArray();
    const x = new Float32Array(rows.length * 784);
    const labels = new Uint8Array(rows.length);
    rows.forEach((r: Row, i) => {
      const px = new Uint8Array(r.pixels as ArrayBuffer);
      for (let j = 0; j < 784; j++) x[i * 784 + j] = px[j] / 255;
      labels[i] = Number(r.label);
    });
    return { ids: rows.map((r: Row) => Number(r.id)), x, labels };
  }

  /** Records an apply and moves its items to `status` (applied, or held for review). */
  recordApply(
    record: Omit<ApplyRecord, 'id' | 'at' | 'detail'> & { detail: unknown },
    ids: number[],
    status: FeedbackStatus | null,
    now = new Date(),
  ): number {
    const applyId = Number(
      this.sql
        .exec(
          `INSERT INTO applies (outcome, version, parent, examples, at, detail) VALUES (?, ?, ?, ?, ?, ?)
           RETURNING id`,
          record.outcome,
          record.version,
          record.parent,
          record.examples,
          now.toISOString(),
          JSON.stringify(record.detail ?? null),
        )
        .one().id,
    );
    if (status) {
      for (const id of ids) {
        this.sql.exec(
          `UPDATE feedback SET status = ?, apply_id = ? WHERE id = ?`,
          status,
          status === 'applied' ? applyId : null,
          id,
        );
      }
    }
    return applyId;
  }

  /** The most recent applies, newest first. */
  applies(limit: number): ApplyRecord[] {
    return this.sql
      .exec(
        'SELECT id, outcome, version, parent, examples, at, detail FROM applies ORDER BY id DESC LIMIT ?',
        limit,
      )
      .toArray()
      .map((r: Row) => ({
        id: Number(r.id),
        outcome: r.outcome as ApplyRecord['outcome'],
        version: r.version as string | null,
        parent: r.parent as string,
        examples: Number(r.examples),
        at: r.at as string,
        detail: r.detail as string,
      }));
  }
}
