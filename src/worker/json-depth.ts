/**
 * @module
 * How deep a JSON text nests, found by one pass over its characters before anything parses it. `JSON.parse` of
 * 2 million nested arrays (a 3.8 MiB body, under `/predict`'s 4 MiB limit) holds ~110 MB while it builds them,
 * most of a 128 MB isolate, for a body zod would refuse anyway. No request of this API nests past 5 levels
 * (`{"examples":[{"image":[[…]]}]}`).
 */
import { ApiError } from './errors.ts';

/** Deepest nesting of arrays and objects any body may have: the API needs 5, so this leaves room. */
export const MAX_JSON_DEPTH = 16;

/**
 * Bodies at most this long are not scanned: 64 KiB nest at most 32,768 levels, a few MB while parsed. A single
 * image (~3 KB) never pays for the scan.
 */
export const SCAN_FROM_BYTES = 64 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_SQUARE = 0x5b;
const CLOSE_SQUARE = 0x5d;
const OPEN_CURLY = 0x7b;
const CLOSE_CURLY = 0x7d;

/**
 * Whether `text` nests arrays and objects deeper than `max` anywhere, outside strings. Malformed JSON is not
 * judged here (the parser refuses it); only its depth is.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string, escapes included.
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_SQUARE || c === OPEN_CURLY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_SQUARE || c === CLOSE_CURLY) {
      depth--;
    }
  }
  return false;
}

/**
 * Refuses a JSON body that nests past `MAX_JSON_DEPTH`, reading it first when it may be long (no
 * `Content-Length`, or one past `SCAN_FROM_BYTES`). The text is read through Hono's request, which keeps it, so
 * the route's validator parses the same text without reading the body again.
 * @throws {ApiError} 400 `json_too_deep`.
 */
export async function refuseDeepJson(req: { raw: Request; text(): Promise<string> }): Promise<void> {
  const declared = Number(req.raw.headers.get('Content-Length') ?? NaN);
  if (declared <= SCAN_FROM_BYTES) return;
  const text = await req.text();
  if (text.length > SCAN_FROM_BYTES && nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ApiError(
      400,
      'json_too_deep',
      `the JSON body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels (no request needs more than 5)`,
      { maxDepth: MAX_JSON_DEPTH },
    );
  }
}
