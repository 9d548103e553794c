/**
 * @module
 * Keeps zod's work on a refused batch small. For each image that is not 784 numbers (or 28 rows of 28), zod's
 * `Image` union builds an issue per bad pixel in each branch: a 256-image batch of strings made ~400,000 issue
 * objects (~70 MB of an isolate's 128 MB) for one 400. So before zod sees a batch, every bad image after the first
 * is replaced by `null`: the first keeps its detailed issues, each later one gets the union's single issue at its
 * own path (`an image is 784 numbers or 28 rows of 28 numbers`, true of it too), and the batch keeps its length, so
 * the count checks and `total` still see every image. Valid bodies are passed as they are.
 */
import { IMAGE_SIDE, INPUT_SIZE } from '../nn/classify.ts';

/** Whether `value` is what `Image` accepts by shape: 784 numbers, or 28 arrays of 28 numbers. */
export function isImageShape(value: unknown): boolean {
  if (!Array.isArray(value)) return false;
  const numbers = (row: unknown[]) => {
    for (let i = 0; i < row.length; i++) if (typeof row[i] !== 'number') return false;
    return true;
  };
  if (value.length === INPUT_SIZE) return numbers(value);
  if (value.length !== IMAGE_SIDE) return false;
  for (const row of value)
    if (!Array.isArray(row) || row.length !== IMAGE_SIDE || !numbers(row)) return false;
  return true;
}

/** `list` with every item after the first whose image is bad replaced (`replace`), or `list` itself if none is. */
function boundList(
  list: unknown[],
  imageOf: (item: unknown) => unknown,
  replace: (item: unknown) => unknown,
) {
  let seenBad = false;
  let copy: unknown[] | null = null;
  for (let i = 0; i < list.length; i++) {
    if (isImageShape(imageOf(list[i]))) continue;
    if (!seenBad) seenBad = true;
    else (copy ??= list.slice())[i] = replace(list[i]);
  }
  return copy ?? list;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `/predict`'s JSON body with its `images` bounded (see the module). */
export function boundPredictBody(value: unknown): unknown {
  if (!isRecord(value) || !Array.isArray(value.images)) return value;
  const images = boundList(
    value.images,
    (image) => image,
    () => null,
  );
  return images === value.images ? value : { ...value, images };
}

/** `/fine-tune`'s body with its `examples[].image` bounded: a later bad example keeps its label, its image is null. */
export function boundFineTuneBody(value: unknown): unknown {
  if (!isRecord(value) || !Array.isArray(value.examples)) return value;
  const examples = boundList(
    value.examples,
    (e) => (isRecord(e) ? e.image : undefined),
    (e) => (isRecord(e) ? { ...e, image: null } : e),
  );
  return examples === value.examples ? value : { ...value, examples };
}
