import { encode as encodePng } from 'fast-png';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchChromium,
  startExampleSite,
  startWorker,
  TOKEN,
  type ExampleSite,
  type WorkerServer,
} from './servers.ts';
import { createClient, EdgeMlpError } from '../../src/client.ts';
import { decodeModel } from '../../src/format/index.ts';
import { DIGIT_STROKES, drawDigit, drawStrokes, SCRIBBLE_STROKES } from './strokes.ts';
import { UPLOAD_SIDE } from '../../src/worker/web/widget-script.ts';

/** Whether the committed default model was trained with outlier exposure and calibrated (issue #13). */
const DEFAULT_IS_CALIBRATED =
  'calibration' in decodeModel(new Uint8Array(readFileSync('models/default.bin'))).metadata;

let worker: WorkerServer;
let site: ExampleSite;
let browser: Browser;

beforeAll(async () => {
  worker = await startWorker();
  site = await startExampleSite(worker.url);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await site?.stop();
  await worker?.stop();
});

/** The canvas inside a `<digit-pad>` (Playwright's CSS locators pierce open shadow roots). */
const padCanvas = (page: Page, selector = 'digit-pad'): Locator => page.locator(`${selector} canvas`);

/** Draws `digit` in the pad and waits for the answer to the prediction sent after the last stroke. */
async function drawAndRead(page: Page, digit: number, selector = 'digit-pad'): Promise<string | null> {
  await drawDigit(page, padCanvas(page, selector), digit);
  // The pad is aria-busy from the end of a stroke until the answer to its final prediction.
  await page.waitForSelector(`${selector}:not([aria-busy])`);
  return page.locator(selector).getAttribute('value');
}

/** A dark-on-light PNG of a stroke-drawn digit (blank for an unknown digit), off-centre on a larger white canvas, as a phone photo might be. */
function digitPng(digit: number): Uint8Array {
  const width = 240;
  const height = 180;
  const data = new Uint8Array(width * height).fill(250);
  const ox = 110;
  const oy = 20;
  const size = 120;
  const r = 6;
  for (const stroke of DIGIT_STROKES[digit] ?? []) {
    for (let s = 1; s < stroke.length; s++) {
      const [ax, ay] = stroke[s - 1];
      const [bx, by] = stroke[s];
      const steps = Math.ceil(Math.hypot(bx - ax, by - ay) * size);
      for (let k = 0; k <= steps; k++) {
        const cx = ox + (ax + ((bx - ax) * k) / steps) * size;
        const cy = oy + (ay + ((by - ay) * k) / steps) * size;
        for (let y = Math.floor(cy - r); y <= cy + r; y++) {
          for (let x = Math.floor(cx - r); x <= cx + r; x++) {
            if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) data[y * width + x] = 20;
          }
        }
      }
    }
  }
  return encodePng({ width, height, data, channels: 1, depth: 8 });
}

describe('drawing page', () => {
  it('should predict digits drawn with the mouse, show the bars and the 28×28 input', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 860 } });
    await page.goto(`${worker.url}/`);
    const results: Record<number, string | null> = {};
    for (const digit of [0, 1, 2, 3, 4, 7]) {
      await page.getByRole('button', { name: 'Clear' }).click();
      results[digit] = await drawAndRead(page, digit);
      await expect.poll(() => page.locator('#answer').textContent()).toBe(results[digit]);
    }
    expect(results).toEqual({ 0: '0', 1: '1', 2: '2', 3: '3', 4: '4', 7: '7' });

    // The live region announces the answer; the top bar matches; the preview shows the model's input.
    await expect
      .poll(() => page.locator('#status').textContent())
      .toMatch(/^Prediction: 7 with \d+% confidence/);
    expect(await page.locator('#bars li.top span').first().textContent()).toBe('7');
    // Runs in the page (a string: the tests are typed without the DOM library).
    const inked = await page.evaluate<number>(`(() => {
      const px = document.getElementById('preview').getContext('2d').getImageData(0, 0, 28, 28).data;
      let lit = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] > 128) lit++;
      return lit;
    })()`);
    expect(inked).toBeGreaterThan(20);
    expect(inked).toBeLessThan(400);

    // The README's picture; written only on request so a test run leaves the work tree clean.
    const shot = await page.screenshot({ fullPage: true });
    expect(shot.subarray(1, 4).toString()).toBe('PNG');
    if (process.env.UPDATE_SCREENSHOT) {
      mkdirSync('docs', { recursive: true });
      writeFileSync('docs/screenshot.png', shot);
    }
    await page.close();
  });

  it('should clear to an empty state and say so', async () => {
    const page = await browser.newPage();
    await page.goto(`${worker.url}/`);
    await drawAndRead(page, 1);
    await page.getByRole('button', { name: 'Clear' }).click();
    expect(await page.locator('digit-pad').getAttribute('value')).toBeNull();
    expect(await page.locator('#answer').textContent()).toBe('');
    await expect.poll(() => page.locator('#status').textContent()).toBe('Cleared.');
    await page.close();
  });

  it('should draw with the keyboard alone', async () => {
    const page = await browser.newPage();
    await page.goto(`${worker.url}/`);
    await padCanvas(page).focus();
    // The pen starts in the middle: move up, lower it, draw a long vertical bar down.
    for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Space');
    for (let i = 0; i < 20; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Space');
    await page.waitForSelector('digit-pad:not([aria-busy])');
    await expect.poll(() => page.locator('digit-pad').getAttribute('value')).toBe('1');
    await page.close();
  });

  it('should predict a PNG uploaded through the plain form, with and without JavaScript', async () => {
    const file = join(tmpdir(), `edge-mlp-upload-${process.pid}.png`);
    writeFileSync(file, digitPng(4));

    const page = await browser.newPage();
    await page.goto(`${worker.url}/`);
    await page.getByLabel('PNG image').setInputFiles(file);
    await page.getByRole('button', { name: 'Predict upload' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toMatch(/^Prediction: 4 /);
    await page.close();

    // Without JavaScript the form posts multipart/form-data and the browser shows the JSON answer.
    const context = await browser.newContext({ javaScriptEnabled: false });
    const plain = await context.newPage();
    await plain.goto(`${worker.url}/`);
    await plain.getByLabel('PNG image').setInputFiles(file);
    await Promise.all([
      plain.waitForURL(`${worker.url}/predict`),
      plain.getByRole('button', { name: 'Predict upload' }).click(),
    ]);
    const answer = JSON.parse((await plain.locator('body').textContent())!);
    expect(answer.digit).toBe(4);
    expect(answer.preprocessed).toBe(true);
    expect(answer.source).toEqual({ width: 240, height: 180 });
    await context.close();
  });
});

describe('digit-pad widget', () => {
  it('should fill a form on another origin with the drawn digit', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/digit-form.html`);
    expect(new URL(page.url()).origin).not.toBe(worker.url);
    await page.getByLabel('Name').fill('Ada');

    // Required and empty: the browser refuses to submit.
    await page.getByRole('button', { name: 'Send' }).click();
    expect(site.posts).toHaveLength(0);
    expect(await page.evaluate<boolean>(`document.getElementById('signup').checkValidity()`)).toBe(false);

    const value = await drawAndRead(page, 7);
    expect(value).toBe('7');
    const confidence = Number(await page.locator('digit-pad').getAttribute('confidence'));
    expect(confidence).toBeGreaterThan(0.1);
    expect(confidence).toBeLessThanOrEqual(1);
    await expect.poll(() => page.locator('#confidence').textContent()).toMatch(/^Read as 7 \(\d+% sure\)/);

    await Promise.all([
      page.waitForURL(`${site.origin}/signup`),
      page.getByRole('button', { name: 'Send' }).click(),
    ]);
    expect(site.posts).toHaveLength(1);
    expect(Object.fromEntries(site.posts[0])).toEqual({ name: 'Ada', age: '7' });
    await page.close();
  });
});

describe('digit-pad sizes', () => {
  it('should send a 1024 px pad scaled down to what the server accepts, and read its digit', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1200 } });
    await page.goto(`${site.origin}/digit-form.html`);
    await page.evaluate(`document.querySelector('digit-pad').setAttribute('size', '1024')`);
    // 1024 px of canvas inside a 2 px border.
    expect((await padCanvas(page).boundingBox())!.width).toBe(1028);
    await page.evaluate(`(() => {
      window.padErrors = [];
      document.querySelector('digit-pad').addEventListener('predict-error', (e) => window.padErrors.push(e.detail));
    })()`);
    expect(await drawAndRead(page, 7)).toBe('7');
    // The server says what it decoded: the upload's own size.
    expect(await page.evaluate(`document.querySelector('digit-pad').lastAnswer.source`)).toEqual({
      width: UPLOAD_SIDE,
      height: UPLOAD_SIDE,
    });
    expect(await page.evaluate(`window.padErrors`)).toEqual([]);
    await page.close();
  });
});

describe('digit-pad without an answer', () => {
  it('should give up on a request past its timeout: not busy, no value, a timeout error', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/digit-form.html`);
    // The server never answers: Playwright holds every /predict and never fulfils it.
    await page.route('**/predict*', () => {});
    await page.evaluate(`(() => {
      window.padErrors = [];
      const pad = document.querySelector('digit-pad');
      pad.setAttribute('timeout', '1000');
      pad.addEventListener('predict-error', (e) => window.padErrors.push(e.detail));
    })()`);
    const started = Date.now();
    expect(await drawAndRead(page, 7)).toBeNull();
    expect(Date.now() - started).toBeLessThan(25_000);
    const errors = await page.evaluate<{ code: string; message: string }[]>(`window.padErrors`);
    expect(errors.map((e) => e.code)).toContain('timeout');
    expect(errors.every((e) => e.code === 'timeout')).toBe(true);
    expect(await page.evaluate(`document.querySelector('digit-pad').checkValidity()`)).toBe(false);
    await page.close();
  });
});

describe('digit-pad verdicts', () => {
  /** The pad's form validity, as the browser sees it. */
  const validity = (page: Page) =>
    page.evaluate<{ valid: boolean; message: string; formValid: boolean }>(`(() => {
      const pad = document.querySelector('digit-pad');
      return { valid: pad.checkValidity(), message: pad.validationMessage,
        formValid: document.getElementById('signup').checkValidity() };
    })()`);

  it('should block a required form while the pad is empty', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/digit-form.html`);
    await page.getByLabel('Name').fill('Ada');
    const posts = site.posts.length;
    await page.getByRole('button', { name: 'Send' }).click();
    expect(await validity(page)).toEqual({ valid: false, message: 'Please draw a digit.', formValid: false });
    expect(site.posts).toHaveLength(posts);
    await page.close();
  });

  // Refusing non-digits is learned by outlier exposure (issue #13): a default model trained before it (no
  // calibration in its metadata) reads this scribble as an 8 at 98%, so the test waits for the retrained one.
  it.skipIf(!DEFAULT_IS_CALIBRATED)(
    'should refuse a scribble: no value, "not sure" shown, the form blocked, required or not',
    async () => {
      const page = await browser.newPage();
      await page.goto(`${site.origin}/digit-form.html`);
      await page.getByLabel('Name').fill('Ada');
      const posts = site.posts.length;
      for (const required of [true, false]) {
        if (!required) await page.evaluate(`document.querySelector('digit-pad').removeAttribute('required')`);
        await page.locator('digit-pad button').click();
        await drawStrokes(page, padCanvas(page), SCRIBBLE_STROKES);
        await page.waitForSelector('digit-pad:not([aria-busy])');
        const pad = page.locator('digit-pad');
        expect(await pad.getAttribute('value')).toBeNull();
        expect(['uncertain', 'not_a_digit']).toContain(await pad.getAttribute('verdict'));
        expect(await page.locator('digit-pad output').textContent()).toBe('Not sure, please write it again.');
        expect(await validity(page)).toEqual({
          valid: false,
          message: 'Not sure, please write it again.',
          formValid: false,
        });
        await page.getByRole('button', { name: 'Send' }).click();
        expect(site.posts).toHaveLength(posts);
      }
      // A clear digit after the scribble fills the field and the form goes through.
      await page.locator('digit-pad button').click();
      expect(await drawAndRead(page, 7)).toBe('7');
      expect(await page.locator('digit-pad').getAttribute('verdict')).toBe('confident');
      expect((await validity(page)).formValid).toBe(true);
      await page.close();
    },
  );

  it('should send min-confidence with the drawing and refuse a digit under it', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/digit-form.html`);
    await page.evaluate(`document.querySelector('digit-pad').setAttribute('min-confidence', '1')`);
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().includes('/predict')),
      drawDigit(page, padCanvas(page), 7),
    ]);
    expect(new URL(request.url()).searchParams.get('minConfidence')).toBe('1');
    await page.waitForSelector('digit-pad:not([aria-busy])');
    // Only a digit at the full 100% passes; anything less is refused, not guessed.
    const pad = page.locator('digit-pad');
    const verdict = await pad.getAttribute('verdict');
    if (verdict === 'confident') expect(await pad.getAttribute('confidence')).toBe('1.0000');
    else {
      expect(verdict).toBe('uncertain');
      expect(await pad.getAttribute('value')).toBeNull();
    }
    await page.close();
  });
});

describe('correction form', () => {
  it('should send the model input with the right label and the answering version to /feedback', async () => {
    const page = await browser.newPage();
    await page.goto(`${worker.url}/`);
    const send = page.getByRole('button', { name: 'Send correction' });
    expect(await send.isDisabled()).toBe(true);
    await drawAndRead(page, 1);
    await page.getByLabel('The right digit').selectOption('4');
    const [request, response] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith('/feedback')),
      page.waitForResponse((r) => r.url().endsWith('/feedback')),
      send.click(),
    ]);
    const body = request.postDataJSON();
    expect(body.label).toBe(4);
    expect(body.predicted).toBe(1);
    expect(body.image).toHaveLength(784);
    // The image is /predict's network input: stored as it is, not prepared a second time.
    expect(body.preprocess).toBe(false);
    // …and says how it was prepared (the committed default deskews), so an apply knows which model it suits.
    expect(body.prepared).toBe('deskew');
    expect(body.modelVersion).toMatch(/^\d{8}T/);
    expect(response.status()).toBe(201);
    const { id } = await response.json();
    await expect
      .poll(() => page.locator('#fix-status').textContent())
      .toBe(`Thanks: correction #${id} (4) is stored; corrections are applied in batches.`);
    // The same drawing again is a duplicate: stored once, and the page says it already is.
    await send.click();
    await expect
      .poll(() => page.locator('#fix-status').textContent())
      .toBe(`Already stored: you sent this drawing before, as correction #${id} (4).`);
    await page.close();
  });

  it('should let <digit-pad> send its drawing as a correction', async () => {
    const page = await browser.newPage();
    await page.goto(`${worker.url}/`);
    await drawAndRead(page, 7);
    const pad = page.locator('#pad');
    const answer = await pad.evaluate((el) =>
      (el as unknown as { correct(l: number): Promise<unknown> }).correct(1),
    );
    expect(answer).toMatchObject({ status: 'pending', label: 1 });
    const again = await pad.evaluate((el) =>
      (el as unknown as { correct(l: number): Promise<unknown> }).correct(1).catch((e: unknown) => e),
    );
    expect(again).toMatchObject({ status: 409, code: 'duplicate_feedback' });
    await page.close();
  });
});

describe('createClient', () => {
  it('should call the running worker with typed answers and typed errors', async () => {
    const api = createClient(worker.url, { token: TOKEN });
    const health = await api.health();
    expect(health.status).toBe('ok');
    const png = await api.predictPng(digitPng(7), { preview: true });
    expect(png.digit).toBe(7);
    expect(png.modelVersion).toBe(health.modelVersion);
    expect(png.input).toHaveLength(784);
    const json = await api.predict(png.input!, '0-255');
    expect(json.digit).toBe(7);
    expect(json.probabilities).toHaveLength(10);
    const batch = await api.predictBatch([png.input!, png.input!], '0-255');
    expect(batch.predictions.map((p) => p.digit)).toEqual([7, 7]);
    const tuned = await api.fineTune({
      pixelScale: '0-255',
      examples: [{ image: png.input!, label: 7 }],
      dryRun: true,
    });
    expect(tuned.dryRun).toBe(true);
    expect(tuned.version).toBeNull();

    const anonymous = createClient(worker.url);
    const unauthorised = await anonymous
      .fineTune({ pixelScale: '0-1', examples: [{ image: png.input!, label: 7 }] })
      .catch((e) => e);
    expect(unauthorised).toBeInstanceOf(EdgeMlpError);
    expect(unauthorised.status).toBe(401);
    const empty = await api.predictPng(digitPng(-1));
    expect([empty.verdict, empty.digit]).toEqual(['blank', null]);
    const refused = await api.predictPng(digitPng(7), { minConfidence: 2 }).catch((e) => e);
    expect([refused.status, refused.code]).toEqual([400, 'bad_threshold']);
  });
});
