/**
 * @module
 * The decoded model as the rest of the code sees it. Shapes only; the byte layout is in `layout.ts`.
 */

export type WeightEncoding = 'f32' | 'f16' | 'int8';

/** Stored as one JSON object; unknown extra keys are preserved. */
export interface ModelMetadata {
  /** E.g. `mnist`, `fashion-mnist`. */
  dataset: string;
  /** ISO 8601. */
  createdAt: string;
  testAccuracy?: number;
  validationAccuracy?: number;
  /** Flags used, epochs, time… */
  training?: Record<string, unknown>;
  /** The version this one was fine-tuned from. */
  parentVersion?: string | null;
  /** How the served probabilities are calibrated: softmax(logits / temperature). */
  calibration?: ModelCalibration;
  [key: string]: unknown;
}

/** The `calibration` metadata key; further keys (what it was fitted on, before/after figures) are kept. */
export interface ModelCalibration {
  /** The only method so far; may be left out. */
  method?: 'temperature';
  /** Finite and > 0; 1 changes nothing. */
  temperature: number;
  [key: string]: unknown;
}

export interface ModelData {
  /** Layer widths, input first: `[784, 1024, 512, 10]`. */
  sizes: number[];
  /** LeakyReLU slope of the hidden layers (0 = ReLU). */
  alpha: number;
  encoding: WeightEncoding;
  /**
   * Flat, in the network's layout: for each layer l, weight [out×in] row-major, then bias [out].
   * For f16/int8 after decode: the dequantized values.
   */
  params: Float32Array;
  /**
   * Per layer, set by decode for int8. Encode uses it if present (so encode(decode(b)) is byte-identical; the
   * weights in `params` are then ignored), else it quantizes `params`.
   */
  quantized?: {
    q: Int8Array;
    scale: Float32Array;
    /** The layer's biases (as in `params`); set by decode, so that int8 inference need not read `params`. */
    bias?: Float32Array;
  }[];
  metadata: ModelMetadata;
}
