import { describe, expect, it } from 'vitest';
import web from '../../src/worker/web.ts';
import { drawingPage } from '../../src/worker/web/page.ts';
import { UPLOAD_SIDE, WIDGET_JS } from '../../src/worker/web/widget-script.ts';
import { DEFAULT_PNG_LIMITS, readHeader } from '../../src/data/png-chunks.ts';

/** The inline scripts of an HTML page. */
function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
}

describe('web', () => {
  it('should serve the drawing page with its widget, labels and live region', async () => {
    const res = await web.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/);
    expect(res.headers.get('Content-Security-Policy')).toContain("default-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script src="/widget.js" defer></script>');
    expect(html).toMatch(/<digit-pad id="pad"[^>]*preview/);
    expect(html).toMatch(/role="status" aria-live="polite"/);
    // Every form control has a label pointing at it.
    for (const id of ['file', 'label']) expect(html).toContain(`<label for="${id}">`);
    // Corrections go to /feedback: no token on a public page.
    expect(html).not.toContain('<label for="token">');
    // The upload form works without JavaScript: a multipart POST straight to /predict.
    expect(html).toMatch(
      /<form id="upload" action="\/predict" method="post" enctype="multipart\/form-data">/,
    );
  });

  it('should answer a matching If-None-Match with 304', async () => {
    const first = await web.request('/widget.js');
    const etag = first.headers.get('ETag')!;
    expect(etag).toMatch(/^"[0-9a-f]{24}"$/);
    const again = await web.request('/widget.js', { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const page = await web.request('/', { headers: { 'If-None-Match': etag } });
    expect(page.status).toBe(200);
  });

  it('should serve the widget as JavaScript any origin may load', async () => {
    const res = await web.request('/widget.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    const js = await res.text();
    expect(js).toBe(WIDGET_JS);
    expect(js).toContain("customElements.define('digit-pad', DigitPad)");
    expect(js).toContain('static formAssociated = true');
  });

  it('should ship scripts that parse', () => {
    // A syntax error in a template string would only show in a browser; compile them here.
    expect(() => new Function(WIDGET_JS)).not.toThrow();
    const scripts = inlineScripts(drawingPage());
    expect(scripts.length).toBe(1);
    expect(() => new Function(scripts[0])).not.toThrow();
  });

  it('should load the widget from the given source', () => {
    expect(drawingPage('https://cdn.example/w.js')).toContain(
      '<script src="https://cdn.example/w.js" defer>',
    );
  });

  it('should have <digit-pad> upload at most a size the PNG limits accept, as an RGBA canvas PNG (its costliest form)', () => {
    expect(WIDGET_JS).toContain(`const UPLOAD_SIDE = ${UPLOAD_SIDE};`);
    const ihdr = (side: number, depth: number) => {
      const data = new Uint8Array(13);
      new DataView(data.buffer).setUint32(0, side);
      new DataView(data.buffer).setUint32(4, side);
      data.set([depth, 6, 0, 0, 0], 8);
      return data;
    };
    expect(readHeader(ihdr(UPLOAD_SIDE, 8), DEFAULT_PNG_LIMITS).width).toBe(UPLOAD_SIDE);
    // The largest pad (1024) as it is would not be.
    expect(() => readHeader(ihdr(1024, 8), DEFAULT_PNG_LIMITS)).toThrow(/too large/);
  });
});
