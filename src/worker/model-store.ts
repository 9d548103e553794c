/**
 * @module
 * The model store: the only code that touches R2. Model versions are immutable objects; a small JSON pointer
 * names the current one and keeps the recent history, and it is only ever moved by compare-and-swap on its etag.
 * Not a decoder: it moves bytes; `model-cache.ts` decodes and validates them.
 */

/** How a version became current. */
export type HistorySource = 'publish' | 'fine-tune' | 'rollback';

export interface HistoryEntry {
  /** The version that became current. */
  version: string;
  /** The version it was derived from (fine-tune) or replaced (publish, rollback); null for the first. */
  parent: string | null;
  source: HistorySource;
  /** ISO time the pointer moved. */
  at: string;
}

/** The pointer object: the current version and the recent history, newest first. */
export interface Pointer {
  current: string;
  history: HistoryEntry[];
}

/**
 * Raised when R2 holds something the store cannot read (e.g. a pointer that is not valid JSON) or an R2 call
 * throws (`model_store_unavailable`); `onError` answers 503 (409 for `conflict` and `already_current`).
 */
export class StoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** How many history entries the pointer keeps. */
export const HISTORY_LIMIT = 50;
const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$/;

/** A fresh, sortable, unique version id, e.g. `20261127T150824123Z-3f9a1c`. */
export function newVersionId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  const rand = new Uint8Array(3);
  crypto.getRandomValues(rand);
  return `${stamp}-${[...rand].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function isVersionId(s: string): boolean {
  return VERSION_RE.test(s);
}

/** Returns the pointer with `version` made current and recorded at the head of the history. */
export function advancePointer(
  previous: Pointer | null,
  version: string,
  parent: string | null,
  source: HistorySource,
): Pointer {
  const entry: HistoryEntry = { version, parent, source, at: new Date().toISOString() };
  return { current: version, history: [entry, ...(previous?.history ?? [])].slice(0, HISTORY_LIMIT) };
}

function parsePointer(text: string): Pointer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StoreError('pointer_corrupt', 'the current-model pointer is not valid JSON');
  }
  const p = value as Partial<Pointer> | null;
  if (!p || typeof p.current !== 'string' || !isVersionId(p.current) || !Array.isArray(p.history)) {
    throw new StoreError('pointer_corrupt', 'the current-model pointer lacks a valid `current` or `history`');
  }
  return { current: p.current, history: p.history as HistoryEntry[] };
}

export class ModelStore {
  /**
   * @param bucket the R2 binding (`env.MODELS`)
   * @param prefix key prefix of this deployment's objects, e.g. `models/`
   */
  constructor(
    private readonly bucket: R2Bucket,
    readonly prefix: string,
  ) {}

  /** Runs one R2 call; an exception from R2 becomes a `StoreError` (503), not an unexplained 500. */
  private async r2<T>(op: string, key: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new StoreError('model_store_unavailable', `R2 ${op} of ${key} failed: ${message}`);
    }
  }

  pointerKey(): string {
    return `${this.prefix}current.json`;
  }

  versionKey(version: string): string {
    return `${this.prefix}versions/${version}.bin`;
  }

  /** The float32 master of an int8/f16 version (models/README.md, "Master weights"). */
  masterKey(version: string): string {
    return `${this.prefix}versions/${version}.master.bin`;
  }

  /** The master blob of a version; null when it has none (f32 versions, older int8 ones). */
  async getMaster(version: string): Promise<Uint8Array | null> {
    if (!isVersionId(version)) return null;
    return this.readBytes(this.masterKey(version));
  }

  /** `relative` is what model metadata stores, e.g. `checksets/mnist-500.bin`. */
  checkSetKey(relative: string): string {
    return `${this.prefix}${relative}`;
  }

  /**
   * Reads the pointer and its etag; null when no model was ever published.
   * @throws {StoreError} when the pointer is unreadable.
   */
  async readPointer(): Promise<{ pointer: Pointer; etag: string } | null> {
    const key = this.pointerKey();
    const read = await this.r2('get', key, async () => {
      const obj = await this.bucket.get(key);
      return obj && { text: await obj.text(), etag: obj.etag };
    });
    if (!read) return null;
    return { pointer: parsePointer(read.text), etag: read.etag };
  }

  /**
   * A cheap revalidation: a conditional get that transfers the pointer only when its etag differs from `etag`.
   * @returns `'unchanged'`, null when the pointer is gone, or the new pointer.
   * @throws {StoreError} when the new pointer is unreadable.
   */
  async readPointerIfChanged(
    etag: string | null,
  ): Promise<'unchanged' | null | { pointer: Pointer; etag: string }> {
    if (etag === null) return this.readPointer();
    const key = this.pointerKey();
    const read = await this.r2('get', key, async () => {
      const obj = await this.bucket.get(key, { onlyIf: { etagDoesNotMatch: etag } });
      if (!obj || !('body' in obj)) return obj && ('unchanged' as const);
      return { text: await (obj as R2ObjectBody).text(), etag: obj.etag };
    });
    if (read === null || read === 'unchanged') return read;
    return { pointer: parsePointer(read.text), etag: read.etag };
  }

  /**
   * Moves the pointer only if it still has `expectedEtag` (null: only if there is no pointer yet).
   * @returns the new etag, or null when another writer moved it first (nothing was written).
   */
  async swapPointer(expectedEtag: string | null, next: Pointer): Promise<string | null> {
    const onlyIf: R2Conditional =
      expectedEtag === null ? { etagDoesNotMatch: '*' } : { etagMatches: expectedEtag };
    const key = this.pointerKey();
    const written = await this.r2('put', key, () =>
      this.bucket.put(key, JSON.stringify(next), {
        onlyIf,
        httpMetadata: { contentType: 'application/json' },
      }),
    );
    return written ? written.etag : null;
  }

  /** The bytes of an immutable version; null when missing. */
  async getVersion(version: string): Promise<Uint8Array | null> {
    if (!isVersionId(version)) return null;
    return this.readBytes(this.versionKey(version));
  }

  async hasVersion(version: string): Promise<boolean> {
    if (!isVersionId(version)) return false;
    const key = this.versionKey(version);
    return (await this.r2('head', key, () => this.bucket.head(key))) !== null;
  }

  /**
   * Stores a new immutable version (not yet current), with its float32 master when given, and returns its id
   * (`version` when the caller chose it beforehand, e.g. to record it first).
   */
  async putVersion(
    bytes: Uint8Array,
    customMetadata: Record<string, string> = {},
    master: Uint8Array | null = null,
    version = newVersionId(),
  ): Promise<string> {
    const key = this.versionKey(version);
    // The master first, so a version is never readable without the master its metadata names.
    if (master) {
      const masterKey = this.masterKey(version);
      await this.r2('put', masterKey, () =>
        this.bucket.put(masterKey, master, { httpMetadata: { contentType: 'application/octet-stream' } }),
      );
    }
    await this.r2('put', key, () =>
      this.bucket.put(key, bytes, {
        httpMetadata: { contentType: 'application/octet-stream' },
        customMetadata,
      }),
    );
    return version;
  }

  /** Removes a version that never became current (the loser of a race, or one whose pointer swap failed). */
  async deleteVersion(version: string): Promise<void> {
    if (!isVersionId(version)) return;
    const keys = [this.versionKey(version), this.masterKey(version)];
    await this.r2('delete', keys[0], () => this.bucket.delete(keys));
  }

  async getCheckSet(relative: string): Promise<Uint8Array | null> {
    return this.readBytes(this.checkSetKey(relative));
  }

  private readBytes(key: string): Promise<Uint8Array | null> {
    return this.r2('get', key, async () => {
      const obj = await this.bucket.get(key);
      return obj ? new Uint8Array(await obj.arrayBuffer()) : null;
    });
  }

  async putCheckSet(relative: string, bytes: Uint8Array): Promise<void> {
    const key = this.checkSetKey(relative);
    await this.r2('put', key, () =>
      this.bucket.put(key, bytes, { httpMetadata: { contentType: 'application/octet-stream' } }),
    );
  }

  /**
   * Makes `version` current, retrying the compare-and-swap on a lost race (the change is independent of the
   * current weights, unlike a fine-tune). Used by publish and rollback.
   * @returns the pointer that was written.
   * @throws {StoreError} `conflict` after `attempts` lost races, `already_current` when `version` is current.
   */
  async makeCurrent(version: string, source: HistorySource, attempts = 5): Promise<Pointer> {
    for (let i = 0; i < attempts; i++) {
      const read = await this.readPointer();
      if (read?.pointer.current === version) {
        // Nothing to do, and nothing written: a history entry that is its own parent would say nothing.
        throw new StoreError(
          'already_current',
          `version ${version} is already the current one; nothing changed`,
        );
      }
      const next = advancePointer(read?.pointer ?? null, version, read?.pointer.current ?? null, source);
      if ((await this.swapPointer(read?.etag ?? null, next)) !== null) return next;
    }
    throw new StoreError('conflict', `the pointer kept moving; gave up after ${attempts} attempts`);
  }

  /** Whether the pointer names `version`, as current or in its history (a publish read back). */
  async pointerNames(version: string): Promise<boolean> {
    const read = await this.readPointer();
    return read !== null && read.pointer.history.some((h) => h.version === version);
  }

  /**
   * Runs `pointTo`, the pointer write that makes the just-stored `version` reachable. If it throws, the version
   * is deleted (best effort: R2 may be what failed) so no unreferenced blob is left, and the error rethrown;
   * unless the write landed and only its answer was lost: a version the pointer names (or may name, when the
   * pointer cannot be read back) is never deleted.
   */
  async pointOrDelete<T>(version: string, pointTo: () => Promise<T>): Promise<T> {
    try {
      return await pointTo();
    } catch (err) {
      const named = await this.pointerNames(version).catch(() => true);
      if (!named) await this.deleteVersion(version).catch(() => {});
      throw err;
    }
  }

  /** Uploads `bytes` (and its float32 master) as a new version and makes it current. */
  async publish(
    bytes: Uint8Array,
    master: Uint8Array | null = null,
  ): Promise<{ version: string; pointer: Pointer }> {
    const version = await this.putVersion(bytes, { source: 'publish' }, master);
    const pointer = await this.pointOrDelete(version, () => this.makeCurrent(version, 'publish'));
    return { version, pointer };
  }
}
