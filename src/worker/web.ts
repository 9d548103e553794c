/**
 * @module
 * The browser-facing routes as a sub-app: the drawing page (`GET /`) and the embeddable `<digit-pad>` script
 * (`GET /widget.js`). Mounted with `app.route('/', web)`; not the prediction API (uploads are read in `body.ts`, decoded in `png.ts`).
 */
import { Hono } from 'hono';
import { drawingPage } from './web/page.ts';
import { WIDGET_JS } from './web/widget-script.ts';

const PAGE = drawingPage();

/** Hashes the body so browsers and caches can revalidate cheaply; the assets change only on deploy. */
async function etagOf(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  const hex = Array.from(new Uint8Array(digest).subarray(0, 12), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  );
  return `"${hex}"`;
}

const web = new Hono();

web.get('/', async (c) => {
  const etag = await etagOf(PAGE);
  if (c.req.header('If-None-Match') === etag) return c.body(null, 304, { ETag: etag });
  return c.html(PAGE, 200, {
    ETag: etag,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy':
      "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  });
});

web.get('/widget.js', async (c) => {
  const etag = await etagOf(WIDGET_JS);
  // Any origin may load the widget, as a classic script or a CORS module fetch.
  const headers = { ETag: etag, 'Cache-Control': 'public, max-age=300', 'Access-Control-Allow-Origin': '*' };
  if (c.req.header('If-None-Match') === etag) return c.body(null, 304, headers);
  return c.body(WIDGET_JS, 200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' });
});

export default web;
