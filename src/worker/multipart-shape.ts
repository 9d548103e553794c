/**
 * @module
 * A cheap look at a `multipart/form-data` body before the platform parses it: how many parts it has and how long
 * each part's headers are. workerd's `formData()` spends ~150 ms of CPU on a 2 MiB form of 20,000 tiny parts or
 * one 1 MiB header line; an upload form needs a file and two flags. Pure. The parts it finds are read by
 * `multipart-form.ts`, so the platform's parser (and its copies of the body) is not needed at all.
 *
 * It finds the delimiters where workerd's parser does, or it could be fooled: the first `--boundary` of the body,
 * then only `--boundary` at the start of a line (after LF, so also after CRLF: RFC 2046's `CRLF--boundary`, with
 * bare LF tolerated as workerd tolerates it). A `--boundary--` inside a part's content is content, not the end.
 */

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

/** One part of a form as bytes: its header block and its content, views into the body (nothing copied). */
export interface PartBytes {
  headers: Uint8Array;
  content: Uint8Array;
}

/**
 * The parts of a form where workerd's parser finds them, or why the form is refused: its shape is past the limits
 * or it does not frame. Cheap (one pass, no copies); the parts' headers are not read here (`multipart-form.ts`).
 */
export function scanForm(
  body: Uint8Array,
  contentType: string,
): { problem: string } | { parts: PartBytes[] } {
  const boundary = boundaryOf(contentType);
  if (typeof boundary !== 'string') return boundary;
  // `\n--boundary`: the delimiter of every part but the first, whose LF is optional (workerd's reading).
  const lineDelimiter = ascii(`\n--${boundary}`);
  let at = indexOf(body, lineDelimiter.subarray(1), 0);
  if (at === -1) return { problem: 'no part starts with the boundary' };
  const parts: PartBytes[] = [];
  for (;;) {
    let after = at + lineDelimiter.length - 1;
    if (body[after] === DASH && body[after + 1] === DASH) {
      return parts.length === 0 ? { problem: 'the form closes before any part' } : { parts };
    }
    if (body[after] === CR) after++;
    if (body[after] !== LF) return { problem: 'a boundary is followed by neither a line break nor `--`' };
    if (parts.length === MAX_FORM_PARTS) return { problem: `more than ${MAX_FORM_PARTS} parts` };
    const content = headersEnd(body, after + 1);
    if (content === -1) return { problem: `a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes` };
    const next = indexOf(body, lineDelimiter, content);
    if (next === -1) return { problem: 'a part is not followed by a boundary (the form does not close)' };
    // The CR of a CRLF before the delimiter is not content (the LF is the delimiter's).
    const end = next > content && body[next - 1] === CR ? next - 1 : next;
    parts.push({ headers: body.subarray(after + 1, content), content: body.subarray(content, end) });
    at = next + 1;
  }
}

/** Why a form was refused before parsing, or null when its shape is fine (the parser still checks the rest). */
export function formShapeProblem(body: Uint8Array, contentType: string): string | null {
  const scanned = scanForm(body, contentType);
  return 'problem' in scanned ? scanned.problem : null;
}
