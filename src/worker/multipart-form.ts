/**
 * @module
 * An upload form read in place: the parts `scanForm` finds (where workerd's parser finds them, within its limits),
 * each named by its Content-Disposition as workerd reads it, its content a view into the body. The platform's
 * `formData()` costs the body three more copies (its own, the File's, the File's `arrayBuffer()`), 2 MiB each
 * for an upload. Not the route's use of the fields (`body.ts`, `writer/correction.ts`).
 */
import { ApiError } from './errors.ts';
import { scanForm } from './multipart-shape.ts';

/** One field of a form: its name, the file name when it is a file, and its bytes (a view into the body). */
export interface FormPart {
  name: string;
  filename: string | null;
  content: Uint8Array;
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * One `; key="value"` parameter at the start of the rest of a Content-Disposition, as workerd's grammar reads it:
 * the value quoted and non-empty (`\x` escapes x). workerd stops at the first parameter that does not read so and
 * ignores the rest (`name="a"; x=y; filename="f.png"` is a text field `a`), and so does this.
 */
const PARAMETER = /^;\s*([\w-]+)\s*=\s*"((?:[^"\\\n]|\\[^\n])+)"\s*/;

const utf8 = new TextDecoder();

function badForm(problem: string): ApiError {
  return new ApiError(400, 'bad_form', `the multipart/form-data body is refused: ${problem}`);
}

/** The first Content-Disposition of a part's header block. @throws {ApiError} 400 `bad_form` on a bad line. */
function dispositionHeader(headers: Uint8Array): string | undefined {
  let value: string | undefined;
  let first = true;
  for (const line of utf8.decode(headers).split(/\r?\n/)) {
    if (line === '') continue;
    // A line that starts with a space continues the one before (obsolete folding, which workerd still reads).
    if (/^[ \t]/.test(line) && !first) continue;
    first = false;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trimEnd() : '';
    if (!HEADER_NAME.test(name)) throw badForm('a part has a malformed header');
    if (value === undefined && name.toLowerCase() === 'content-disposition') value = line.slice(colon + 1);
  }
  return value;
}

/** The name and file name of a part's headers. @throws {ApiError} 400 `bad_form` when they do not say. */
function disposition(headers: Uint8Array): { name: string; filename: string | null } {
  const value = dispositionHeader(headers);
  const type = value === undefined ? null : /^\s*([\w-]+)\s*/.exec(value);
  if (!type || type[1] !== 'form-data') {
    throw badForm('a part has no `Content-Disposition: form-data; name="…"`');
  }
  const params = new Map<string, string>();
  let rest = value!.slice(type[0].length);
  for (let m = PARAMETER.exec(rest); m; rest = rest.slice(m[0].length), m = PARAMETER.exec(rest)) {
    params.set(m[1], m[2].replace(/\\(.)/g, '$1'));
  }
  const name = params.get('name');
  if (name === undefined) throw badForm('a part has no name');
  return { name, filename: params.get('filename') ?? null };
}

/**
 * The fields of a `multipart/form-data` body, in order.
 * @throws {ApiError} 400 `bad_form` past the shape limits (`multipart-shape.ts`), or when a part does not frame
 *   or name itself.
 */
export function readForm(body: Uint8Array, contentType: string): FormPart[] {
  const scanned = scanForm(body, contentType);
  if ('problem' in scanned) throw badForm(scanned.problem);
  return scanned.parts.map(({ headers, content }) => ({ ...disposition(headers), content }));
}

/** A text field's value (UTF-8, as the platform decodes it). */
export const fieldText = (part: FormPart): string => utf8.decode(part.content);
