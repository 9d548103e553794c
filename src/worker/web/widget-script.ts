/**
 * @module
 * The source of `/widget.js`: a form-associated custom element `<digit-pad>` that any page on any origin can use.
 * Plain browser JavaScript in a string (no build step, no framework); not the page (see `page.ts`).
 */

/**
 * `<digit-pad name="age" required size="160" endpoint="https://…/predict" preview>`
 * - The user draws with a mouse, finger or pen (pointer events), or with the keyboard: Space lowers/lifts the pen,
 *   arrow keys move it (Shift for bigger steps), Delete or Escape clears.
 * - After each stroke (and every `LIVE_MS` while drawing) the canvas is sent as `image/png` to `endpoint` (default:
 *   `/predict` on the origin that served this script) and the digit becomes the element's form value, but only
 *   when the answer's `verdict` is `confident`. An `uncertain` or `not_a_digit` answer shows "Not sure, please
 *   write it again", leaves the value empty and the element invalid with that message (so the form cannot be
 *   submitted with a guess, `required` or not); a `blank` one counts as no drawing.
 * - `min-confidence="0.95"`: the confidence a digit needs, sent as the request's `minConfidence` (the deployment's
 *   default otherwise); an answer without a `verdict` (an older server) is judged against it here (default 0.9).
 * - Attributes set by the element: `value`, `confidence`, `verdict`; events: `predict` (detail: the API's answer),
 *   `change`, `clear`, `predict-error` (detail: `{ status, code, message }`).
 * - `timeout="15000"`: how long (ms, 500-120000) a request may take; past it the request is abandoned and the element
 *   answers `predict-error` with code `timeout` (an answer that never comes must not leave it busy forever).
 * - `size` may be 56-1024 px; the drawing is sent at most `UPLOAD_SIDE` px a side (scaled down, smoothed), which the
 *   server's PNG limits always accept (an RGBA canvas past ~362 px a side exceeds them: 413 `image_too_large`).
 * - `pad.correct(label)` sends the drawing with the right digit to `/feedback` (beside `endpoint`) as a pending
 *   correction; resolves to the API's answer, rejects with `{ status, code, message }`.
 */
/**
 * The largest side the pad uploads: a 256×256 RGBA PNG is 2^18 bytes of scanlines, half the decoder's limit, and
 * far more than the 20×20 the digit is fitted to (`test/worker/web.test.ts` checks the limits accept it).
 */
export const UPLOAD_SIDE = 256;

export const WIDGET_JS = String.raw`(() => {
'use strict';
if (customElements.get('digit-pad')) return;
const SCRIPT = document.currentScript;
const DEFAULT_ENDPOINT = new URL('/predict', SCRIPT && SCRIPT.src ? SCRIPT.src : location.href).href;
const LIVE_MS = 300;
const UPLOAD_SIDE = ${UPLOAD_SIDE};
const KEY_STEP = 1 / 28;
const DEFAULT_MIN_CONFIDENCE = 0.9;
const DEFAULT_TIMEOUT_MS = 15000;
const UNSURE = 'Not sure, please write it again.';
const EMPTY = 'Please draw a digit.';

const STYLE = ${'`'}
:host { display: inline-block; font: 14px/1.4 system-ui, sans-serif; color: #111; }
.wrap { position: relative; display: inline-block; }
canvas { display: block; background: #fff; border: 2px solid #555; border-radius: 6px; touch-action: none;
  cursor: crosshair; }
canvas:focus-visible { outline: 3px solid #1565c0; outline-offset: 2px; }
.pen { position: absolute; width: 10px; height: 10px; margin: -7px 0 0 -7px; border: 2px solid #1565c0;
  border-radius: 50%; pointer-events: none; display: none; }
.pen.down { background: #1565c0; }
output.unsure { color: #b71c1c; }
.row { display: flex; gap: .5rem; align-items: center; margin-top: .35rem; }
button { font: inherit; padding: .2rem .7rem; }
output { min-width: 6em; }
${'`'};

class DigitPad extends HTMLElement {
  static formAssociated = true;
  static get observedAttributes() { return ['size', 'required', 'min-confidence']; }

  constructor() {
    super();
    this.internals = this.attachInternals ? this.attachInternals() : null;
    const root = this.attachShadow({ mode: 'open', delegatesFocus: true });
    root.innerHTML = '<style>' + STYLE + '</style>' +
      '<div class="wrap"><canvas part="canvas" tabindex="0" role="img"></canvas><div class="pen" aria-hidden="true"></div></div>' +
      '<div class="row"><button type="button" part="clear">Clear</button>' +
      '<output part="output" aria-live="polite"></output></div>';
    this.canvas = root.querySelector('canvas');
    this.pen = root.querySelector('.pen');
    this.out = root.querySelector('output');
    this.ctx = this.canvas.getContext('2d');
    this.ink = false;
    this.drawing = false;
    this.last = null;
    this.seq = 0;
    this.timer = 0;
    this.queued = false;
    this.lastSent = 0;
    this.key = { x: 0.5, y: 0.5, down: false };
    this._value = '';
    this.refusal = '';
    root.querySelector('button').addEventListener('click', () => { this.clear(); this.canvas.focus(); });
    this.canvas.addEventListener('pointerdown', (e) => this.onDown(e));
    this.canvas.addEventListener('pointermove', (e) => this.onMove(e));
    this.canvas.addEventListener('pointerup', (e) => this.onUp(e));
    this.canvas.addEventListener('pointercancel', (e) => this.onUp(e));
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.canvas.addEventListener('focus', () => this.showPen(this.canvas.matches(':focus-visible')));
    this.canvas.addEventListener('blur', () => this.showPen(false));
  }

  connectedCallback() {
    this.resize();
    const label = this.getAttribute('aria-label') || this.getAttribute('label') || 'Digit';
    this.canvas.setAttribute('aria-label', label + ': drawing pad. Draw one digit with the mouse or a finger. ' +
      'Keyboard: Space lowers or lifts the pen, arrow keys move it, Delete clears.');
    this.updateValidity();
  }

  attributeChangedCallback(name) {
    if (name === 'size' && this.isConnected) this.resize();
    if (name === 'required') this.updateValidity();
    if (name === 'min-confidence' && this.ink) this.schedule(0);
  }

  get endpoint() { return this.getAttribute('endpoint') || DEFAULT_ENDPOINT; }
  get value() { return this._value; }
  get name() { return this.getAttribute('name'); }
  get form() { return this.internals ? this.internals.form : null; }
  get confidence() { const c = this.getAttribute('confidence'); return c === null ? null : Number(c); }
  get verdict() { return this.getAttribute('verdict'); }
  /** The timeout attribute in ms, clamped to 500-120000; the default when absent or not a number. */
  get timeoutMs() {
    const v = Number(this.getAttribute('timeout'));
    return this.hasAttribute('timeout') && v > 0 ? Math.max(500, Math.min(120000, v)) : DEFAULT_TIMEOUT_MS;
  }

  /** fetch with the element's timeout: a request past it rejects with code 'timeout'. */
  async send(url, init) {
    try {
      return await fetch(url, Object.assign({ signal: AbortSignal.timeout(this.timeoutMs) }, init));
    } catch (err) {
      if (err && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
        throw { status: 0, code: 'timeout', message: 'no answer from the server in ' + Math.round(this.timeoutMs / 1000) + ' s' };
      }
      throw err;
    }
  }

  /** The min-confidence attribute when it is a number in (0, 1], else null (the server's default applies). */
  get minConfidence() {
    const raw = this.getAttribute('min-confidence');
    const v = raw === null || raw.trim() === '' ? NaN : Number(raw);
    return v > 0 && v <= 1 ? v : null;
  }

  resize() {
    const size = Math.max(56, Math.min(1024, Number(this.getAttribute('size')) || 160));
    this.size = size;
    this.canvas.width = size;
    this.canvas.height = size;
    this.canvas.style.width = size + 'px';
    this.canvas.style.height = size + 'px';
    this.blank();
  }

  blank() {
    const c = this.ctx;
    c.fillStyle = '#fff';
    c.fillRect(0, 0, this.size, this.size);
    c.strokeStyle = '#000';
    c.fillStyle = '#000';
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.lineWidth = Math.max(4, this.size / 14);
    this.ink = false;
  }

  /** Forgets the drawing and the value. */
  clear() {
    this.seq++;
    clearTimeout(this.timer);
    this.queued = false;
    this.idle();
    this.blank();
    this.setValue('', null);
    this.setVerdict(null);
    this.out.textContent = '';
    this.dispatchEvent(new CustomEvent('clear', { bubbles: true, composed: true }));
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: (e.clientX - r.left) * (this.size / r.width), y: (e.clientY - r.top) * (this.size / r.height) };
  }

  line(a, b) {
    const c = this.ctx;
    c.beginPath();
    c.moveTo(a.x, a.y);
    c.lineTo(b.x, b.y);
    c.stroke();
    if (a.x === b.x && a.y === b.y) {
      c.beginPath();
      c.arc(a.x, a.y, c.lineWidth / 2, 0, Math.PI * 2);
      c.fill();
    }
    this.ink = true;
  }

  onDown(e) {
    if (e.button !== undefined && e.button > 0) return;
    e.preventDefault();
    this.canvas.focus();
    this.canvas.setPointerCapture && this.canvas.setPointerCapture(e.pointerId);
    this.drawing = true;
    this.last = this.point(e);
    this.line(this.last, this.last);
  }

  onMove(e) {
    if (!this.drawing) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) {
      const p = this.point(ev);
      this.line(this.last, p);
      this.last = p;
    }
    // Live prediction while drawing, at most every LIVE_MS.
    if (Date.now() - this.lastSent > LIVE_MS) this.predict();
  }

  onUp() {
    if (!this.drawing) return;
    this.drawing = false;
    this.schedule(60);
  }

  showPen(on) {
    this.pen.style.display = on ? 'block' : 'none';
    this.placePen();
  }

  placePen() {
    const k = this.key;
    this.pen.style.left = (2 + k.x * this.size) + 'px';
    this.pen.style.top = (2 + k.y * this.size) + 'px';
    this.pen.classList.toggle('down', k.down);
  }

  onKey(e) {
    const k = this.key;
    const step = (e.shiftKey ? 3 : 1) * KEY_STEP;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (e.key === ' ' || e.key === 'Enter') {
      k.down = !k.down;
      if (k.down) {
        const p = { x: k.x * this.size, y: k.y * this.size };
        this.line(p, p);
      } else {
        this.schedule(0);
      }
    } else if (moves[e.key]) {
      this.showPen(true);
      const from = { x: k.x * this.size, y: k.y * this.size };
      k.x = Math.min(1, Math.max(0, k.x + moves[e.key][0] * step));
      k.y = Math.min(1, Math.max(0, k.y + moves[e.key][1] * step));
      if (k.down) {
        this.line(from, { x: k.x * this.size, y: k.y * this.size });
        this.schedule(400);
      }
    } else if (e.key === 'Delete' || e.key === 'Escape' || e.key === 'Backspace') {
      this.clear();
    } else {
      return;
    }
    e.preventDefault();
    this.placePen();
  }

  /** Predicts after ms; the element is aria-busy from now until the answer (or a clear). */
  schedule(ms) {
    clearTimeout(this.timer);
    this.queued = true;
    this.setAttribute('aria-busy', 'true');
    this.timer = setTimeout(() => this.predict(), ms);
  }

  idle() {
    if (!this.queued) this.removeAttribute('aria-busy');
  }

  /** The drawing as a PNG the server accepts: the canvas itself, or scaled down to UPLOAD_SIDE when larger. */
  pngBlob() {
    let source = this.canvas;
    if (this.size > UPLOAD_SIDE) {
      source = document.createElement('canvas');
      source.width = UPLOAD_SIDE;
      source.height = UPLOAD_SIDE;
      const c = source.getContext('2d');
      c.imageSmoothingEnabled = true;
      c.imageSmoothingQuality = 'high';
      c.drawImage(this.canvas, 0, 0, UPLOAD_SIDE, UPLOAD_SIDE);
    }
    return new Promise((resolve) => source.toBlob(resolve, 'image/png'));
  }

  /** Sends the drawing to the API; answers that arrive after a newer request or a clear are dropped. */
  async predict() {
    clearTimeout(this.timer);
    this.queued = false;
    if (!this.ink) return this.idle();
    const seq = ++this.seq;
    this.lastSent = Date.now();
    const blob = await this.pngBlob();
    const url = new URL(this.endpoint, location.href);
    if (this.hasAttribute('preview')) url.searchParams.set('preview', '1');
    if (this.minConfidence !== null) url.searchParams.set('minConfidence', String(this.minConfidence));
    this.setAttribute('aria-busy', 'true');
    try {
      const res = await this.send(url, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blob });
      const body = await res.json().catch(() => null);
      if (seq !== this.seq) return;
      if (res.ok && !body) {
        this.fail({ status: res.status, code: 'bad_answer', message: 'the answer could not be read' });
        return;
      }
      if (!res.ok) {
        const err = (body && body.error) || { code: 'http_' + res.status, message: 'request failed (' + res.status + ')' };
        this.fail({ status: res.status, code: err.code, message: err.message });
        return;
      }
      this.lastAnswer = body;
      const verdict = this.judge(body);
      this.setVerdict(verdict);
      if (verdict === 'confident') {
        this.setValue(String(body.digit), body.confidence);
        this.out.textContent = body.digit + ' (' + Math.round(body.confidence * 100) + '%)';
      } else {
        this.setValue('', null);
        this.out.textContent = verdict === 'blank' ? EMPTY : UNSURE;
      }
      this.dispatchEvent(new CustomEvent('predict', { detail: body, bubbles: true, composed: true }));
      this.dispatchEvent(new Event('change', { bubbles: true }));
    } catch (err) {
      if (seq !== this.seq) return;
      if (err && err.code === 'timeout') this.fail(err);
      else this.fail({ status: 0, code: 'network_error', message: String(err && err.message || err) });
    } finally {
      if (seq === this.seq) this.idle();
    }
  }

  /** Sends the drawing as a correction (a pending example; a token holder applies corrections in batches). */
  async correct(label) {
    if (!this.ink || !this.lastAnswer) throw { status: 0, code: 'nothing_to_correct', message: 'draw a digit first' };
    const blob = await this.pngBlob();
    const url = new URL('feedback', new URL(this.endpoint, location.href));
    url.searchParams.set('label', String(label));
    url.searchParams.set('modelVersion', this.lastAnswer.modelVersion);
    url.searchParams.set('predicted', String(this.lastAnswer.digit));
    const res = await this.send(url, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: blob });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw Object.assign({ status: res.status }, (body && body.error) || { code: 'http_' + res.status, message: 'request failed' });
    return body;
  }

  /** The answer's verdict; an answer without one (an older server) is judged by its confidence here. */
  judge(body) {
    if (typeof body.verdict === 'string') return body.verdict;
    if (typeof body.confidence !== 'number' || typeof body.digit !== 'number') return 'uncertain';
    return body.confidence >= (this.minConfidence ?? DEFAULT_MIN_CONFIDENCE) ? 'confident' : 'uncertain';
  }

  /** Remembers the verdict; an unsure or not-a-digit one makes the element invalid whether or not it is required. */
  setVerdict(verdict) {
    if (verdict === null) this.removeAttribute('verdict');
    else this.setAttribute('verdict', verdict);
    this.refusal = verdict === 'uncertain' || verdict === 'not_a_digit' ? UNSURE : '';
    this.out.classList.toggle('unsure', this.refusal !== '');
    this.updateValidity();
  }

  fail(detail) {
    this.setValue('', null);
    this.setVerdict(null);
    this.out.textContent = detail.code === 'empty_image' ? 'Draw a digit' : 'Error: ' + detail.message;
    this.dispatchEvent(new CustomEvent('predict-error', { detail, bubbles: true, composed: true }));
  }

  setValue(value, confidence) {
    this._value = value;
    if (this.internals) this.internals.setFormValue(value === '' ? null : value);
    if (value === '') {
      this.removeAttribute('value');
      this.removeAttribute('confidence');
    } else {
      this.setAttribute('value', value);
      this.setAttribute('confidence', confidence.toFixed(4));
    }
    this.updateValidity();
  }

  updateValidity() {
    if (!this.internals || !this.internals.setValidity) return;
    if (this.refusal) {
      this.internals.setValidity({ customError: true }, this.refusal, this.canvas);
    } else if (this.hasAttribute('required') && this._value === '') {
      this.internals.setValidity({ valueMissing: true }, EMPTY, this.canvas);
    } else {
      this.internals.setValidity({});
    }
  }

  get validity() { return this.internals ? this.internals.validity : null; }
  get validationMessage() { return this.internals ? this.internals.validationMessage : ''; }
  checkValidity() { return this.internals ? this.internals.checkValidity() : true; }
  reportValidity() { return this.internals ? this.internals.reportValidity() : true; }

  formResetCallback() { this.clear(); }
}

customElements.define('digit-pad', DigitPad);
})();
`;
