/**
 * `readForm` against workerd's own `formData()`: the same fields, names, file names and bytes for the forms
 * clients send, and a 400 `bad_form` for what workerd cannot parse either.
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/worker/errors.ts';
import { fieldText, readForm } from '../../src/worker/multipart-form.ts';

const B = 'XyZ';
const TYPE = `multipart/form-data; boundary=${B}`;
const bytes = (s: string) => new TextEncoder().encode(s);
const png = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919) & 255);

/** Every entry as [name, file name or null, bytes], in order. */
async function platform(body: Uint8Array, type: string): Promise<[string, string | null, number[]][]> {
  const form = await new Response(body, { headers: { 'Content-Type': type } }).formData();
  const out: [string, string | null, number[]][] = [];
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') out.push([name, null, [...bytes(value)]]);
    else out.push([name, (value as File).name, [...new Uint8Array(await (value as File).arrayBuffer())]]);
  }
  return out;
}

const ours = (body: Uint8Array, type: string) =>
  readForm(body, type).map((p) => [p.name, p.filename, [...p.content]]);

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  const list = parts.map((p) => (typeof p === 'string' ? bytes(p) : p));
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('readForm', () => {
  it('should read the forms workerd serialises as workerd parses them', async () => {
    const data = new FormData();
    data.append('note', 'hello\r\nworld');
    data.append('image', new File([png], 'digit 7 "ä".png', { type: 'image/png' }));
    data.append('preview', '1');
    data.append('ünïcode', 'välue');
    data.append('empty', '');
    data.append('image', new File([new Uint8Array(0)], 'e.png'));
    const res = new Response(data);
    const body = new Uint8Array(await res.arrayBuffer());
    const type = res.headers.get('Content-Type')!;
    expect(ours(body, type)).toEqual(await platform(body, type));
    expect(fieldText(readForm(body, type)[0])).toBe('hello\r\nworld');
  });

  it.each([
    [
      'a preamble and LF line ends',
      concat('junk\n--XyZ\nContent-Disposition: form-data; name="a"\n\nv\n--XyZ--'),
    ],
    [
      'a browser-style form with an escaped quote in the file name',
      concat(
        `--${B}\r\ncontent-disposition: form-data; name="image"; filename="a\\"b.png"\r\nContent-Type: image/png\r\n\r\n`,
        png,
        `\r\n--${B}\r\nContent-Disposition: form-data; name="preprocess"\r\n\r\n0\r\n--${B}--\r\n`,
      ),
    ],
    [
      'content that holds a closing boundary',
      concat(`--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx--${B}--\r\n--${B}--`),
    ],
    ...[
      ...[
        'form-data; name="a"; filename=""',
        'FORM-DATA; name="a"',
        'form-data; name = "a" ; filename = "b.png"',
        'form-data; name="a"; name="b"',
        'form-data; name=""',
        `form-data; name="a"; filename*=UTF-8''b.png`,
        'form-data; name="a"; filename=b.png',
        'form-data; name="a"; x=y; filename="f.png"',
        'form-data;name="a";filename="f.png"; x',
        'form-data; filename="f.png"; name="a"',
        'form-data; name="a"; filename="f\\\\.png"',
        'form-data ; name="a"',
        'form-data; name="a"; FILENAME="f.png"',
        'form-data; NAME="a"',
        'form-datax; name="a"',
        'form-data x; name="a"',
      ].map((d) => `Content-Disposition: ${d}`),
      'Content-Disposition: form-data; name="a"\r\nX-A: 1\r\n X-folded',
      'Content-Disposition : form-data; name="a"',
      'Content-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"',
      'content-type: image/png\r\nCONTENT-DISPOSITION: form-data; name="a"; filename="f.png"',
    ].map((headers) => [headers, concat(`--${B}\r\n${headers}\r\n\r\nv\r\n--${B}--\r\n`)]),
  ])('should read %s as workerd does', async (_, body) => {
    const theirs = await platform(body as Uint8Array, TYPE).catch(() => 'refused');
    const mine = (() => {
      try {
        return ours(body as Uint8Array, TYPE);
      } catch {
        return 'refused';
      }
    })();
    expect(mine).toEqual(theirs);
  });

  it.each([
    ['no name', 'Content-Disposition: form-data; filename="a.png"'],
    ['an unquoted name', 'Content-Disposition: form-data; name=a'],
    ['no Content-Disposition', 'Content-Type: text/plain'],
    ['another disposition', 'Content-Disposition: attachment; name="a"'],
    ['a header line without a colon', 'Content-Disposition: form-data; name="a"\r\nnonsense'],
    ['a first header line that starts with a space', ' Content-Disposition: form-data; name="a"'],
  ])('should refuse a part with %s with 400 bad_form, as workerd refuses it', async (_, headers) => {
    const body = bytes(`--${B}\r\n${headers}\r\n\r\nv\r\n--${B}--\r\n`);
    await expect(platform(body, TYPE)).rejects.toThrow();
    expect(() => readForm(body, TYPE)).toThrow(expect.objectContaining({ status: 400, code: 'bad_form' }));
    expect(() => readForm(body, TYPE)).toThrow(ApiError);
  });
});
