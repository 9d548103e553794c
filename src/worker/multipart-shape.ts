/**
 * @module
 * A cheap look at a `multipart/form-data` body before the platform parses it: how many parts it has and how long
 * each part's headers are. workerd's `formData()` spends ~150 ms of CPU on a 2 MiB form of 20,000 tiny parts or
 * one 1 MiB header line; an upload form needs a file and two flags. Not a parser (`formData()` is):
 * `checkedFormData` runs the check, then the platform's parser, for every route that takes a form.
 *
 * It finds the delimiters where workerd's parser does, or it could be fooled: the first `--boundary` of the body,
 * then only `--boundary` at the start of a line (after LF, so also after CRLF: RFC 2046's `CRLF--boundary`, with
 * bare LF tolerated as workerd tolerates it). A `--boundary--` inside a part's content is content, not the end.
 */

import { ApiError } from './errors.ts';

/** Most parts an upload form may have: the file, `preprocess`, `preview`, and room for what browsers add. */
export const MAX_FORM_PARTS = 16;
/** Longest header block of one part (Content-Disposition with a long file name, Content-Type). */
export const MAX_PART_HEADER_BYTES = 4096;

/** First index of `pattern` in `bytes` at or after `from`, or -1. */
function indexOf(bytes: Uint8Array, pattern: Uint8Array, from: number): number {
  const first = pattern[0];
  const last = bytes.length - pattern.length;
  outer: for (let i = bytes.indexOf(first, from); i !== -1 && i <= last; i = bytes.indexOf(first, i + 1)) {
    for (let k = 1; k < pattern.length; k++) if (bytes[i + k] !== pattern[k]) continue outer;
    return i;
  }
  return -1;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

/**
 * RFC 2046's boundary characters, less the space it allows inside quotes (no browser sends one, and readings of
 * an unquoted value with a space differ). Anything else is refused rather than guessed at.
 */
const BOUNDARY_CHARS = /^[0-9A-Za-z'()+_,\-./:=?]{1,70}$/;

/**
 * The boundary of a form's Content-Type, or why there is none this check can use: missing, repeated, or not
 * plain RFC 2046 characters (a quoted one with escapes, say), where a reading other than the platform's would scan
 * for the wrong delimiter.
 */
function boundaryOf(contentType: string): string | { problem: string } {
  const params = [...contentType.matchAll(/;\s*boundary\s*=\s*(?:"([^"]*)"|([^;]*))/gi)];
  if (params.length === 0) return { problem: 'the Content-Type has no boundary' };
  if (params.length > 1) return { problem: 'the Content-Type has more than one boundary' };
  const boundary = params[0][1] ?? params[0][2].trim();
  if (!BOUNDARY_CHARS.test(boundary)) {
    return { problem: 'the boundary is not 1-70 of the characters RFC 2046 allows (no spaces)' };
  }
  return boundary;
}

/**
 * Where a part's headers end (the index after the blank line, which is `\r?\n\r?\n` as workerd reads it), looking
 * at most `MAX_PART_HEADER_BYTES` past `from`; -1 when they run on past that or to the end of the body.
 */
function headersEnd(body: Uint8Array, from: number): number {
  const limit = from + MAX_PART_HEADER_BYTES + 1;
  for (let i = body.indexOf(LF, from); i !== -1 && i <= limit; i = body.indexOf(LF, i + 1)) {
    if (body[i + 1] === LF) return i + 2;
    if (body[i + 1] === CR && body[i + 2] === LF) return i + 3;
  }
  return -1;
}

/** Why a form was refused before parsing, or null when its shape is fine (the parser still checks the rest). */
export function formShapeProblem(body: Uint8Array, contentType: string): string | null {
  const boundary = boundaryOf(contentType);
  if (typeof boundary !== 'string') return boundary.problem;
  // `\n--boundary`: the delimiter of every part but the first, whose LF is optional (workerd's reading).
  const lineDelimiter = ascii(`\n--${boundary}`);
  let at = indexOf(body, lineDelimiter.subarray(1), 0);
  if (at === -1) return 'no part starts with the boundary';
  let parts = 0;
  for (;;) {
    let after = at + lineDelimiter.length - 1;
    if (body[after] === DASH && body[after + 1] === DASH) {
      return parts === 0 ? 'the form closes before any part' : null;
    }
    if (body[after] === CR) after++;
    if (body[after] !== LF) return 'a boundary is followed by neither a line break nor `--`';
    if (++parts > MAX_FORM_PARTS) return `more than ${MAX_FORM_PARTS} parts`;
    const content = headersEnd(body, after + 1);
    if (content === -1) return `a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes`;
    const next = indexOf(body, lineDelimiter, content);
    if (next === -1) return 'a part is not followed by a boundary (the form does not close)';
    at = next + 1;
  }
}

/**
 * A form body parsed by the platform once its shape passed `formShapeProblem`.
 * @throws {ApiError} 400 `bad_form` when the shape is refused or the platform cannot parse it.
 */
export async function checkedFormData(body: Uint8Array, contentType: string): Promise<FormData> {
  const problem = formShapeProblem(body, contentType);
  if (problem) throw new ApiError(400, 'bad_form', `the multipart/form-data body is refused: ${problem}`);
  try {
    return await new Response(body, { headers: { 'Content-Type': contentType } }).formData();
  } catch {
    throw new ApiError(400, 'bad_form', 'the multipart/form-data body cannot be parsed');
  }
}
