/**
 * @module
 * A small self-contained API docs page that renders `/openapi.json` in the browser (no CDN assets).
 * Not the spec itself: that is generated from the zod schemas in `app.ts`.
 */

/** The HTML of `/docs`. */
export function docsPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-mlp API</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { margin-bottom: 0; } .op { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: .5rem 1rem; }
  .m { font-weight: bold; text-transform: uppercase; margin-right: .5rem; } .get { color: #06c; } .post { color: #080; }
  pre { background: #f6f6f6; padding: .5rem; overflow: auto; font-size: 13px; } code { background: #f3f3f3; }
  .lock::after { content: " (bearer token)"; color: #a60; font-size: 13px; }
</style>
</head>
<body>
<h1>edge-mlp API</h1>
<p id="desc">Loading <a href="/openapi.json">/openapi.json</a>…</p>
<div id="ops"></div>
<script>
fetch('/openapi.json').then((r) => r.json()).then((spec) => {
  document.getElementById('desc').textContent = spec.info.description;
  const ops = document.getElementById('ops');
  const esc = (s) => String(s).replace(/[&<>]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[ch]);
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const body = op.requestBody && op.requestBody.content['application/json'].schema;
      const codes = Object.entries(op.responses).map(([k, v]) => '<li><b>' + k + '</b> ' + esc(v.description) + '</li>').join('');
      const el = document.createElement('div');
      el.className = 'op';
      el.innerHTML = '<p><span class="m ' + method + '">' + method + '</span><code' + (op.security ? ' class="lock"' : '') +
        '>' + esc(path) + '</code> ' + esc(op.summary || '') + '</p>' +
        (body ? '<details><summary>Request body</summary><pre>' + esc(JSON.stringify(body, null, 2)) + '</pre></details>' : '') +
        '<ul>' + codes + '</ul>';
      ops.appendChild(el);
    }
  }
  const schemas = document.createElement('details');
  schemas.innerHTML = '<summary>Schemas</summary><pre>' + esc(JSON.stringify(spec.components.schemas, null, 2)) + '</pre>';
  ops.appendChild(schemas);
});
</script>
</body>
</html>`;
}
