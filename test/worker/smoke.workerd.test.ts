import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import app from '../../src/worker/index.ts';
describe('smoke', () => {
  it('should answer health and reach R2', async () => {
    const res = await app.request('/health', {}, env);
    expect(res.status).toBe(200);
    await env.MODELS.put('x', 'y');
    expect(await (await env.MODELS.get('x'))!.text()).toBe('y');
  });
});
