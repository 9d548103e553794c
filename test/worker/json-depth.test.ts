import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../src/worker/json-depth.ts';

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('nestsDeeperThan', () => {
  it('should find the deepest nesting of arrays and objects', () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true);
    expect(nestsDeeperThan('{"a":{"b":[1,{"c":[]}]}}', 5)).toBe(false);
    expect(nestsDeeperThan('{"a":{"b":[1,{"c":[]}]}}', 4)).toBe(true);
    // Siblings do not add up: depth, not count.
    expect(nestsDeeperThan(`[${Array(1000).fill('[[]]').join(',')}]`, 3)).toBe(false);
  });

  it('should not count brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan(`{"s":"${'['.repeat(100)}"}`, 1)).toBe(false);
    expect(nestsDeeperThan(`{"s":"a\\"[[[[\\\\"}`, 1)).toBe(false);
    // After an escaped backslash the quote closes the string, so the brackets after it count.
    expect(nestsDeeperThan(`["\\\\",[[]]]`, 2)).toBe(true);
  });

  it('should read the common bodies as shallow', () => {
    const image = Array.from({ length: 28 }, () => Array(28).fill(0));
    const predict = JSON.stringify({ images: [image, image] });
    const fineTune = JSON.stringify({ examples: [{ image, label: 3 }] });
    expect(nestsDeeperThan(predict, 4)).toBe(false);
    expect(nestsDeeperThan(fineTune, 5)).toBe(false);
    expect(nestsDeeperThan(fineTune, 4)).toBe(true);
  });
});
