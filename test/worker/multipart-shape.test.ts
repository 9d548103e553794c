/** The form shape check: delimiters found where workerd's parser finds them, limits that a decoy cannot end. */
import { describe, expect, it } from 'vitest';
import { formShapeProblem, MAX_FORM_PARTS, MAX_PART_HEADER_BYTES } from '../../src/worker/multipart-shape.ts';

const B = 'XyZ';
const TYPE = `multipart/form-data; boundary=${B}`;
const bytes = (s: string) => new TextEncoder().encode(s);

/** A form of `parts` ([headers, content]) with CRLF delimiters (`eol` to vary it) and a closing boundary. */
function form(parts: [string, string][], { eol = '\r\n', close = true } = {}): string {
  const body = parts
    .map(([headers, content]) => `--${B}${eol}${headers}${eol}${eol}${content}${eol}`)
    .join('');
  return close ? `${body}--${B}--${eol}` : body;
}
const field = (name: string, value: string): [string, string] => [
  `Content-Disposition: form-data; name="${name}"`,
  value,
];
const file: [string, string] = [
  'Content-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png',
  '\x89PNG\r\n\x1a\n...',
];
const decoy = field('decoy', `x--${B}--`);

describe('formShapeProblem', () => {
  it('should pass what a platform serialises, and a closing boundary inside content as content', async () => {
    const data = new FormData();
    data.append('image', new File([bytes('\x89PNG--not-a-boundary--')], 'd.png', { type: 'image/png' }));
    data.append('preview', '1');
    const res = new Response(data);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(formShapeProblem(body, res.headers.get('Content-Type')!)).toBeNull();
    expect(formShapeProblem(bytes(form([file, decoy, field('preview', '1')])), TYPE)).toBeNull();
    expect(formShapeProblem(bytes(`preamble\r\n${form([file])}`), TYPE)).toBeNull();
    expect(formShapeProblem(bytes(form([file])), `multipart/form-data; boundary="${B}"`)).toBeNull();
  });

  it('should count the parts after a `--boundary--` inside a part (the reviewer repro: 39,000 empty parts)', () => {
    const body = form([file, decoy, ...Array.from({ length: 39_000 }, () => field('f', ''))]);
    expect(formShapeProblem(bytes(body), TYPE)).toBe(`more than ${MAX_FORM_PARTS} parts`);
    const atLimit = form([file, decoy, ...Array.from({ length: MAX_FORM_PARTS - 2 }, () => field('f', ''))]);
    expect(formShapeProblem(bytes(atLimit), TYPE)).toBeNull();
  });

  it('should check the headers of a part after the decoy (a 2 MB header line)', () => {
    const long: [string, string] = [`${field('f', '')[0]}\r\nX-Pad: ${'a'.repeat(2_000_000)}`, ''];
    expect(formShapeProblem(bytes(form([file, decoy, long])), TYPE)).toBe(
      `a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes`,
    );
  });

  it(`should allow ${MAX_PART_HEADER_BYTES} bytes of part headers and not one more`, () => {
    const headers = (n: number) => `Content-Disposition: form-data; name="f"\r\nX: ${'a'.repeat(n)}`;
    const fits = headers(MAX_PART_HEADER_BYTES - headers(0).length);
    expect(formShapeProblem(bytes(form([file, [fits, 'v']])), TYPE)).toBeNull();
    expect(formShapeProblem(bytes(form([file, [`${fits}a`, 'v']])), TYPE)).toMatch(/headers are longer/);
  });

  it('should count bare-LF delimiters and header ends, as workerd reads them', () => {
    const parts = Array.from({ length: MAX_FORM_PARTS + 1 }, () => field('f', ''));
    expect(formShapeProblem(bytes(form(parts, { eol: '\n' })), TYPE)).toBe(
      `more than ${MAX_FORM_PARTS} parts`,
    );
    expect(formShapeProblem(bytes(form([file, decoy], { eol: '\n' })), TYPE)).toBeNull();
  });

  it.each([
    ['no boundary parameter', form([file]), 'multipart/form-data', /no boundary/],
    ['two boundary parameters', form([file]), `${TYPE}; boundary=other`, /more than one boundary/],
    ['an escaped quote in the boundary', form([file]), 'multipart/form-data; boundary="a\\"b"', /RFC 2046/],
    ['a space in the boundary', form([file]), 'multipart/form-data; boundary=Xy Z', /RFC 2046/],
    [
      'a boundary of 71 characters',
      form([file]),
      `multipart/form-data; boundary=${'b'.repeat(71)}`,
      /RFC 2046/,
    ],
    ['no delimiter at all', 'just text', TYPE, /no part starts/],
    ['a close before any part', `--${B}--\r\n${form([file])}`, TYPE, /closes before any part/],
    ['no close', form([file], { close: false }), TYPE, /does not close/],
    [
      'a boundary followed by other bytes',
      `--${B}zz\r\n${form([file]).slice(B.length + 4)}`,
      TYPE,
      /neither/,
    ],
    [
      'headers that never end',
      `--${B}\r\nContent-Disposition: form-data; name="f"`,
      TYPE,
      /headers are longer/,
    ],
  ])('should refuse %s', (_, body, type, problem) => {
    expect(formShapeProblem(bytes(body), type)).toMatch(problem);
  });
});
