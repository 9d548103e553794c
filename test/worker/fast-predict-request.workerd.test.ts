/**
 * The Worker's `/predict` route puts the hand-checked common body in front of zod (`withFastPath` in `app.ts`):
 * after the app is loaded, `PredictRequest.safeParseAsync` (what the route's validator calls) answers a common
 * body with the pixels as sent, which zod never does (it copies them); its query is fronted the same way.
 */
import { describe, expect, it } from 'vitest';
import '../../src/worker/index.ts';
import { withFastQuery } from '../../src/worker/fast-predict-request.ts';
import { PredictQuery, PredictRequest } from '../../src/worker/schemas.ts';

describe('the /predict validator', () => {
  it('takes the fast path on a common body and gives zod the rest', async () => {
    const body = { image: Array.from({ length: 784 }, (_, i) => i % 256) };
    const fast = await PredictRequest.safeParseAsync(body);
    expect(fast.success && fast.data.image).toBe(body.image);
    expect(PredictRequest.safeParse(body).data?.image).not.toBe(body.image);
    const refused = await PredictRequest.safeParseAsync({ image: [...body.image.slice(1), 300] });
    expect(refused.success).toBe(false);
  });

  it("fronts the route's query with the fast path too (already installed: a second call changes nothing)", async () => {
    const installed = PredictQuery.safeParseAsync;
    withFastQuery(PredictQuery);
    expect(PredictQuery.safeParseAsync).toBe(installed);
    expect(await PredictQuery.safeParseAsync({})).toStrictEqual({ success: true, data: {} });
  });
});
