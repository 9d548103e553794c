import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { blobCrc32 } from '../../src/worker/checksum.ts';
import { crc32 } from '../../src/format/index.ts';
import { checksumChecks } from './checksum-checks.ts';

describe('blobCrc32 in workerd', () => {
  it("should be the runtime's native zlib.crc32, not the format's JavaScript loop", () => {
    expect(typeof zlib.crc32).toBe('function');
    expect(blobCrc32).not.toBe(crc32);
  });
  checksumChecks();
});
