import { describe } from 'vitest';
import { checksumChecks } from './checksum-checks.ts';

describe('blobCrc32 in Node', () => {
  checksumChecks();
});
