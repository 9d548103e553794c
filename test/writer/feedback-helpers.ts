/**
 * @module
 * Requests the writer tests make of `/feedback` through the whole app (so workerd only: the app imports the
 * kernels' WebAssembly), beside `test/worker/helpers.ts`'s fixtures, which also run in Node.
 */
import { expect } from 'vitest';
import type { Bindings } from '../../src/worker/config.ts';
import app from '../../src/worker/index.ts';
import { imageAt, post, TOKEN } from '../worker/helpers.ts';

/** `GET /feedback` + `query` (e.g. `?status=pending,held`) as the token holder: checked 200, parsed. */
export async function listFeedback<T>(e: Bindings, query = ''): Promise<T> {
  const res = await app.request(`/feedback${query}`, { headers: { Authorization: `Bearer ${TOKEN}` } }, e);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/**
 * Posts images 0…count-1 of `pixels` as corrections (image i labelled i mod 10, answered by `v1`), each from its
 * own address `${subnet}.${i}`, each checked 201.
 */
export async function sendCorrections(e: Bindings, pixels: Uint8Array, count: number, subnet: string) {
  for (let i = 0; i < count; i++) {
    const body = { pixelScale: '0-255', image: imageAt(pixels, i), label: i % 10, modelVersion: 'v1' };
    const res = await app.request('/feedback', post(body, null, { 'CF-Connecting-IP': `${subnet}.${i}` }), e);
    expect(res.status).toBe(201);
  }
}
