/**
 * @module
 * A cheap look at a `multipart/form-data` body before the platform parses it: how many parts it has and how long
 * each part's headers are. workerd's `formData()` spends ~150 ms of CPU on a 2 MiB form of 20,000 tiny parts or
 * one 1 MiB header line; an upload form needs a file and two flags. Pure; not a parser (`formData()` is).
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
const HEADERS_END = ascii('\r\n\r\n');

/** Why a form was refused before parsing, or null when its shape is fine (the parser still checks the rest). */
export function formShapeProblem(body: Uint8Array, contentType: string): string | null {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!boundary) return 'the Content-Type has no boundary';
  const delimiter = ascii(`--${boundary[1] ?? boundary[2]}`);
  let parts = 0;
  for (
    let at = indexOf(body, delimiter, 0);
    at !== -1;
    at = indexOf(body, delimiter, at + delimiter.length)
  ) {
    const after = at + delimiter.length;
    if (body[after] === 0x2d && body[after + 1] === 0x2d) return null; // the closing delimiter
    if (++parts > MAX_FORM_PARTS) return `more than ${MAX_FORM_PARTS} parts`;
    const headersEnd = indexOf(body, HEADERS_END, after);
    if (headersEnd === -1 || headersEnd - after > MAX_PART_HEADER_BYTES) {
      return `a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes`;
    }
  }
  return parts === 0 ? 'no part starts with the boundary' : null;
}
