/**
 * @module
 * The rules that keep public feedback from steering the model, as pure functions: caps on what is pending (per
 * client, per label), duplicate and no-ink refusals, and the review check of a batch before it is applied (how
 * much of it contradicts confident predictions of the current model). Not storage, not HTTP.
 */
import { argmax } from '../../nn/classify.ts';

/** Caps on pending feedback; both count items not yet applied or dropped (pending and held). */
export interface PendingCaps {
  perClient: number;
  perLabel: number;
}

/** Why a correction is refused before it is stored; the route answers `status` with `code`. */
export interface Refusal {
  status: 409 | 422 | 429;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export interface PendingCounts {
  /** Pending items this client sent. */
  client: number;
  /** Pending items with this label. */
  label: number;
  /** The same image, when already stored (any status); `sameClient` when this client sent it. */
  duplicate: StoredCopy | null;
}

/** What a duplicate refusal may say of the stored copy: all of it to its sender, nothing to anyone else. */
export interface StoredCopy {
  id: number;
  sameClient: boolean;
  label: number;
  status: string;
}

/** Decides whether one correction may be stored; null when it may. */
export function admit(label: number, counts: PendingCounts, caps: PendingCaps): Refusal | null {
  const copy = counts.duplicate;
  if (copy) {
    // Its sender learns it is stored (a retry after a 503 whose first try was stored lands here), others do not.
    return {
      status: 409,
      code: 'duplicate_feedback',
      message: copy.sameClient
        ? `you already sent this image: it is stored as #${copy.id} (label ${copy.label}, ${copy.status}), once`
        : 'this image was already sent as feedback; it is stored once',
      details: copy.sameClient ? { ...copy } : { sameClient: false },
    };
  }
  if (counts.client >= caps.perClient) {
    return {
      status: 429,
      code: 'client_pending_cap',
      message: `this client already has ${counts.client} corrections waiting (at most ${caps.perClient}); send more once they are applied`,
      details: { pending: counts.client, max: caps.perClient },
    };
  }
  if (counts.label >= caps.perLabel) {
    return {
      status: 429,
      code: 'label_pending_cap',
      message: `${counts.label} corrections labelled ${label} are already waiting (at most ${caps.perLabel}); send more once they are applied`,
      details: { label, pending: counts.label, max: caps.perLabel },
    };
  }
  return null;
}

/** Total ink of an image in [0,1], in fully-inked pixels. */
export function inkOf(x: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i];
  return sum;
}

/** The review check of a batch against the current model. */
export interface ReviewPolicy {
  /** A prediction at least this probable counts as confident (0-1). */
  confident: number;
  /** The largest share of the batch that may contradict confident predictions (0-1). */
  maxDisagreement: number;
}

export interface Review {
  /** Items whose label differs from a confident prediction of the current model. */
  disagreeing: number;
  /** disagreeing / batch size. */
  share: number;
  /** Indices (into the batch) of the disagreeing items, for the reviewer. */
  indices: number[];
  /** Disagreeing items by label they were given, e.g. `{ "7": 12 }`. */
  byLabel: Record<string, number>;
  confident: number;
  maxDisagreement: number;
  /** True when the share is over the limit: the batch is held, not applied. */
  hold: boolean;
}

/**
 * Compares the labels of a batch with the current model's probabilities ([count×10]). Genuine corrections often
 * contradict the model, but rarely a confident answer on most of a batch; flipped labels on clean digits do.
 */
export function review(
  labels: ArrayLike<number>,
  probs: Float32Array,
  count: number,
  policy: ReviewPolicy,
): Review {
  const indices: number[] = [];
  const byLabel: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const best = argmax(probs, i * 10, 10);
    if (best !== labels[i] && probs[i * 10 + best] >= policy.confident) {
      indices.push(i);
      byLabel[labels[i]] = (byLabel[labels[i]] ?? 0) + 1;
    }
  }
  const share = count === 0 ? 0 : indices.length / count;
  return {
    disagreeing: indices.length,
    share,
    indices,
    byLabel,
    confident: policy.confident,
    maxDisagreement: policy.maxDisagreement,
    // A small epsilon so a share of exactly the limit passes despite float rounding.
    hold: share > policy.maxDisagreement + 1e-9,
  };
}
