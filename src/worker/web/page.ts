/**
 * @module
 * The HTML of `GET /`: a drawing pad (the `<digit-pad>` element from `/widget.js`), probability bars, the 28×28
 * input the model saw, a plain PNG upload form, and a correction sent to `/feedback`. No framework, no CDN.
 */

const STYLE = `
  :root { color-scheme: light; --accent: #1565c0; }
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 56rem; margin: 1.5rem auto; padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.6rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; }
  .grid { display: grid; grid-template-columns: auto 1fr; gap: 1.5rem; align-items: start; }
  @media (max-width: 40rem) { .grid { grid-template-columns: 1fr; } }
  #answer { font-size: 2.4rem; font-weight: 700; min-height: 3.6rem; margin: 0; }
  .bars { list-style: none; padding: 0; margin: 0; }
  .bars li { display: grid; grid-template-columns: 1.2rem 1fr 3.5rem; gap: .5rem; align-items: center; height: 1.5rem; }
  .bars .track { background: #eceff1; height: .9rem; border-radius: 3px; overflow: hidden; }
  .bars .fill { background: #90a4ae; height: 100%; width: 0; transition: width .15s; }
  .bars li.top .fill { background: var(--accent); } .bars li.top { font-weight: 700; }
  .bars .pct { text-align: right; font-variant-numeric: tabular-nums; font-size: .85rem; }
  #preview { width: 112px; height: 112px; image-rendering: pixelated; border: 1px solid #999; background: #000; }
  fieldset { border: 1px solid #ccc; border-radius: 6px; margin: 1rem 0; }
  label { display: inline-block; margin: .25rem .75rem .25rem 0; }
  input, select, button { font: inherit; } button { padding: .25rem .8rem; }
  .status { min-height: 1.5rem; } .error { color: #b00020; } .muted { color: #555; font-size: .9rem; }
`;

const SCRIPT = `
const pad = document.getElementById('pad');
const answer = document.getElementById('answer');
const bars = document.getElementById('bars');
const preview = document.getElementById('preview').getContext('2d');
const status = document.getElementById('status');
const correction = document.getElementById('correction');
const fixFields = document.getElementById('fix-fields');
const fixStatus = document.getElementById('fix-status');
let lastInput = null;
let lastAnswer = null;

for (let d = 0; d < 10; d++) {
  const li = document.createElement('li');
  li.innerHTML = '<span>' + d + '</span><span class="track"><span class="fill"></span></span><span class="pct">–</span>';
  li.setAttribute('aria-label', 'digit ' + d);
  bars.appendChild(li);
}

function show(result) {
  // The pad has judged the answer (its verdict attribute): only a confident digit is shown as the answer.
  const verdict = pad.verdict || 'confident';
  if (verdict === 'blank' || !result.probabilities) {
    reset();
    status.textContent = 'The canvas is empty: draw a digit.';
    return;
  }
  const probs = result.probabilities;
  Array.from(bars.children).forEach((li, d) => {
    const pct = (probs[d] * 100).toFixed(1) + '%';
    li.querySelector('.fill').style.width = (probs[d] * 100) + '%';
    li.querySelector('.pct').textContent = pct;
    li.classList.toggle('top', d === result.digit);
    li.setAttribute('aria-label', 'digit ' + d + ': ' + pct);
  });
  const pctOf = (v) => Math.round(v * 100) + '%';
  if (verdict === 'confident') {
    answer.textContent = String(result.digit);
    status.textContent = 'Prediction: ' + result.digit + ' with ' + pctOf(result.confidence) +
      ' confidence (model ' + result.modelVersion + ').';
  } else {
    answer.textContent = '?';
    status.textContent = 'Not sure, please write it again. (' +
      (verdict === 'not_a_digit' ? 'This does not look like a digit' : 'Best guess ' + result.digit + ' at ' + pctOf(result.confidence)) +
      '; model ' + result.modelVersion + '.)';
  }
  status.classList.remove('error');
  if (result.input) {
    lastInput = result.input;
    const img = preview.createImageData(28, 28);
    result.input.forEach((v, i) => { img.data.set([v, v, v, 255], i * 4); });
    preview.putImageData(img, 0, 0);
  }
  lastAnswer = result;
  fixFields.disabled = !lastInput;
  correction.label.value = String(result.digit);
}

function reset() {
  answer.textContent = '';
  Array.from(bars.children).forEach((li, d) => {
    li.querySelector('.fill').style.width = '0';
    li.querySelector('.pct').textContent = '–';
    li.classList.remove('top');
    li.setAttribute('aria-label', 'digit ' + d);
  });
  preview.clearRect(0, 0, 28, 28);
  lastInput = null;
  fixFields.disabled = true;
}

function fail(message) {
  status.textContent = message;
  status.classList.add('error');
}

pad.addEventListener('predict', (e) => show(e.detail));
pad.addEventListener('clear', () => { reset(); status.textContent = 'Cleared.'; });
pad.addEventListener('predict-error', (e) => {
  reset();
  fail(e.detail.code === 'empty_image' ? 'The canvas is empty: draw a digit.' : 'Error: ' + e.detail.message);
});

// The upload form works without JavaScript (it posts multipart/form-data and shows the JSON); with it, the
// answer lands in the bars instead.
document.getElementById('upload').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.currentTarget;
  if (!form.image.files.length) { fail('Choose a PNG file first.'); return; }
  const body = new FormData(form);
  body.set('preview', '1');
  const res = await fetch(form.action, { method: 'POST', body });
  const json = await res.json();
  if (res.ok) show(json); else { reset(); fail('Upload refused: ' + json.error.message); }
});

correction.addEventListener('submit', async (e) => {
  e.preventDefault();
  const label = Number(correction.label.value);
  if (!lastInput || !lastAnswer) { fixStatus.textContent = 'Draw a digit first.'; return; }
  fixStatus.textContent = 'Sending…';
  const res = await fetch('/feedback', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      pixelScale: '0-255',
      image: lastInput,
      label,
      modelVersion: lastAnswer.modelVersion,
      predicted: lastAnswer.digit,
      // lastInput is the network input /predict answered with: store it as it is, saying how it was prepared.
      preprocess: false,
      ...(lastAnswer.prepared ? { prepared: lastAnswer.prepared } : {}),
    }),
  });
  const json = await res.json().catch(() => ({}));
  const copy = json.error && json.error.code === 'duplicate_feedback' ? json.error.details : null;
  if (copy && copy.sameClient) {
    fixStatus.textContent = 'Already stored: you sent this drawing before, as correction #' + copy.id + ' (' + copy.label + ').';
    return;
  }
  if (!res.ok) {
    fixStatus.textContent = 'Not stored: ' + (json.error ? json.error.message : res.status);
    return;
  }
  fixStatus.textContent = 'Thanks: correction #' + json.id + ' (' + label + ') is stored; corrections are applied in batches.';
});
`;

/** The page; `widgetSrc` is where the page loads `<digit-pad>` from (normally `/widget.js`). */
export function drawingPage(widgetSrc = '/widget.js'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-mlp: draw a digit</title>
<style>${STYLE}</style>
<script src="${widgetSrc}" defer></script>
</head>
<body>
<header>
  <h1>Draw a digit</h1>
  <p class="muted">An MLP trained on MNIST, served from the edge. Your drawing is cropped, straightened, scaled to 20×20
  and centred the way the model's training digits were before it sees it. <a href="/docs">API docs</a></p>
</header>
<main>
  <div class="grid">
    <section aria-labelledby="draw-h">
      <h2 id="draw-h">Canvas</h2>
      <digit-pad id="pad" size="280" preview aria-label="Digit"></digit-pad>
      <p class="muted" id="keys">Mouse, finger or keyboard (Space pen up/down, arrows move, Delete clears).</p>
    </section>
    <section aria-labelledby="result-h">
      <h2 id="result-h">Prediction</h2>
      <p id="answer" aria-hidden="true"></p>
      <p id="status" class="status" role="status" aria-live="polite">Draw a digit to see what the model reads.</p>
      <ol id="bars" class="bars" aria-label="Probability of each digit"></ol>
      <h2 id="preview-h">What the model saw (28×28)</h2>
      <canvas id="preview" width="28" height="28" role="img" aria-labelledby="preview-h"></canvas>
    </section>
  </div>

  <form id="upload" action="/predict" method="post" enctype="multipart/form-data">
    <fieldset>
      <legend>Or upload a PNG</legend>
      <label for="file">PNG image</label>
      <input id="file" name="image" type="file" accept="image/png" required>
      <label><input type="checkbox" name="preprocess" value="false"> skip MNIST-style preprocessing</label>
      <button type="submit">Predict upload</button>
    </fieldset>
  </form>

  <form id="correction">
    <fieldset id="fix-fields" disabled>
      <legend>Wrong answer? Teach the model</legend>
      <label for="label">The right digit</label>
      <select id="label" name="label">${Array.from({ length: 10 }, (_, d) => `<option>${d}</option>`).join('')}</select>
      <button type="submit">Send correction</button>
      <p id="fix-status" class="status" role="status" aria-live="polite"></p>
    </fieldset>
  </form>
</main>
<script type="module">${SCRIPT}</script>
</body>
</html>`;
}
