/**
 * @module
 * `npm run corpus:hostile -- [--out build/hostile-corpus]`: writes the hostile-upload corpus of issue #11
 * (`scripts/lib/hostile-corpus.ts`) to files, one body per case plus `index.json` with each case's content type
 * and expected answer, for trying a running worker by hand:
 * `curl -s -H 'Content-Type: image/png' --data-binary @build/hostile-corpus/bomb-iccp-1GB.png localhost:8787/predict`.
 * The tests build the same corpus in memory; nothing here is committed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hostileCorpus } from './lib/hostile-corpus.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'build/hostile-corpus' } } });
const out = values.out!;
mkdirSync(out, { recursive: true });
const index = hostileCorpus().map((c) => {
  const file = `${c.name}.${c.contentType === 'image/png' ? 'png' : 'multipart'}`;
  writeFileSync(join(out, file), c.body);
  return {
    file,
    contentType: c.contentType,
    bytes: c.body.length,
    decoder: c.decoder,
    status: c.status,
    error: c.error,
  };
});
writeFileSync(join(out, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
console.log(`${index.length} cases written to ${out}/ (index.json lists content types and expected answers)`);
