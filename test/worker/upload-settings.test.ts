/** An upload's settings: each from the query string or the form, once; a repeat is refused, naming the field. */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/worker/errors.ts';
import type { FormPart } from '../../src/worker/multipart-form.ts';
import { uploadSettings } from '../../src/worker/upload-settings.ts';

const KEYS = ['preprocess', 'preview', 'minConfidence'];

/** Form parts as `readForm` gives them: a Blob stands for a file. */
function formOf(entries: [string, string | Blob][]): FormPart[] {
  return entries.map(([name, value]) => ({
    name,
    filename: typeof value === 'string' ? null : 'f.bin',
    content: new TextEncoder().encode(typeof value === 'string' ? value : 'file'),
  }));
}

function refusal(run: () => unknown): { status: number; code: string; details: unknown } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    const { status, code, details } = error as ApiError;
    return { status, code, details };
  }
  throw new Error('expected an ApiError');
}

describe('uploadSettings', () => {
  it('should take each setting from the query string or the form, and leave absent ones absent', () => {
    const got = uploadSettings(
      KEYS,
      new URLSearchParams('preview=1&other=a&other=b'),
      formOf([['minConfidence', '0.5']]),
    );
    expect([...got]).toEqual([
      ['preview', '1'],
      ['minConfidence', '0.5'],
    ]);
    expect(got.get('preprocess')).toBeNull();
    expect([...uploadSettings(KEYS, new URLSearchParams('preprocess=0'))]).toEqual([['preprocess', '0']]);
  });

  it.each([
    ['twice in the query string', 'minConfidence=0.5&minConfidence=0', [], { query: 2, form: 0 }],
    [
      'twice in the form',
      '',
      [
        ['minConfidence', '0.5'],
        ['minConfidence', '0'],
      ],
      { query: 0, form: 2 },
    ],
    [
      'in the query string and the form',
      'minConfidence=0.5',
      [['minConfidence', '0']],
      { query: 1, form: 1 },
    ],
    ['twice with the same value', 'minConfidence=0.5&minConfidence=0.5', [], { query: 2, form: 0 }],
    [
      'once as a field and once as a file',
      '',
      [
        ['minConfidence', '0.5'],
        ['minConfidence', new Blob(['0'])],
      ],
      { query: 0, form: 2 },
    ],
  ] as [string, string, [string, string | Blob][], object][])(
    'should refuse a setting given %s with 400 repeated_field naming it',
    (_, query, entries, counts) => {
      expect(refusal(() => uploadSettings(KEYS, new URLSearchParams(query), formOf(entries)))).toEqual({
        status: 400,
        code: 'repeated_field',
        details: { field: 'minConfidence', ...counts },
      });
    },
  );
});
