/**
 * A refused batch costs zod a bounded number of issues (`bounded-issues.ts`): 256 images of strings made ~400,000
 * issue objects (~70 MB) before. The answer keeps its first image's details, an issue at every bad image's path,
 * and the batch's length for the count checks; valid bodies are untouched.
 */
import { describe, expect, it } from 'vitest';
import { boundFineTuneBody, boundPredictBody, isImageShape } from '../../src/worker/bounded-issues.ts';
import { withBoundedExamples, withFastPath } from '../../src/worker/fast-predict-request.ts';
import { FineTuneRequest } from '../../src/worker/fine-tune-schemas.ts';
import { PredictRequest } from '../../src/worker/schemas.ts';

/** Every issue zod made, nested ones (a union's branches) included. */
function countIssues(issues: readonly unknown[]): number {
  let n = 0;
  for (const issue of issues) {
    n++;
    const nested = (issue as { errors?: unknown[][] }).errors;
    if (nested) for (const branch of nested) n += countIssues(branch);
  }
  return n;
}

const strings = () => Array(784).fill('a');
const rowsOf = (v: unknown) => Array.from({ length: 28 }, () => Array(28).fill(v));

describe('zod on a refused batch', () => {
  const predict = withFastPath(PredictRequest);

  it('makes a bounded number of issues for 256 images of strings, one per image at its path', async () => {
    const body = { images: Array.from({ length: 256 }, (_, i) => (i % 2 ? strings() : rowsOf('a'))) };
    const unbounded = PredictRequest.safeParse(body);
    expect(countIssues(unbounded.error!.issues)).toBeGreaterThan(100_000);
    const result = await predict.safeParseAsync(body);
    expect(result.success).toBe(false);
    const issues = result.error!.issues;
    expect(countIssues(issues)).toBeLessThan(2_000);
    expect(issues.map((i) => i.path.join('.'))).toEqual(body.images.map((_, i) => `images.${i}`));
    // The first bad image keeps the details zod gives it alone.
    expect(issues[0]).toEqual(PredictRequest.safeParse({ images: [body.images[0]] }).error!.issues[0]);
    for (const issue of issues.slice(1)) expect(issue.message).toBe(issues[0].message);
  });

  it('still refuses a batch that is too long, and answers alike when only one image is bad', async () => {
    const good = Array(784).fill(0);
    const long = { images: [...Array(300).fill(good), ...Array(3).fill(strings())] };
    const issues = (await predict.safeParseAsync(long)).error!.issues;
    expect(issues.some((i) => i.code === 'too_big' && i.path.join('.') === 'images')).toBe(true);
    expect(countIssues(issues)).toBeLessThan(2_000);
    const one = { images: [good, rowsOf(0).map((r, y) => (y === 5 ? r.slice(1) : r)), good] };
    expect((await predict.safeParseAsync(one)).error!.issues).toEqual(
      PredictRequest.safeParse(one).error!.issues,
    );
  });

  it("bounds /fine-tune's examples the same way, labels kept", async () => {
    const body = {
      pixelScale: '0-255',
      examples: Array.from({ length: 256 }, (_, i) => ({ image: strings(), label: i % 10 })),
    };
    expect(countIssues(FineTuneRequest.safeParse(body).error!.issues)).toBeGreaterThan(100_000);
    const issues = (await withBoundedExamples(FineTuneRequest).safeParseAsync(body)).error!.issues;
    expect(countIssues(issues)).toBeLessThan(2_000);
    expect(issues.map((i) => i.path.join('.'))).toEqual(body.examples.map((_, i) => `examples.${i}.image`));
  });

  it('leaves valid bodies and single bad images as they are', () => {
    const valid = { images: [Array(784).fill(1), rowsOf(0)] };
    expect(boundPredictBody(valid)).toBe(valid);
    const oneBad = { images: [Array(784).fill(1), strings()] };
    expect(boundPredictBody(oneBad)).toBe(oneBad);
    const tune = { examples: [{ image: strings(), label: 1 }] };
    expect(boundFineTuneBody(tune)).toBe(tune);
    expect(isImageShape(rowsOf(0))).toBe(true);
    expect(isImageShape([...Array(783).fill(0), '1'])).toBe(false);
    expect(isImageShape(rowsOf(0).map((r, y) => (y === 27 ? [...r, 0] : r)))).toBe(false);
  });
});
