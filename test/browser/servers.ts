/**
 * @module
 * Fixtures of the browser tests: a real local worker (`wrangler dev` on a free port, its own local R2 seeded with
 * a trained model), a second origin serving `examples/` and recording form posts, and headless Debian Chromium.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { seedLocal } from '../../scripts/seed-local.ts';

/** The model the worker serves: the committed default, or another blob named by `EDGE_MLP_TEST_MODEL`. */
export const MODEL = process.env.EDGE_MLP_TEST_MODEL ?? 'models/default.bin';
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const TOKEN = 'browser-test-token';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface WorkerServer {
  origin: string;
  stop(): Promise<void>;
}

/** Seeds a fresh local bucket with `MODEL` and runs `wrangler dev` on the test entry until `/health` answers. */
export async function startWorker(): Promise<WorkerServer> {
  const persistTo = mkdtempSync(join(tmpdir(), 'edge-mlp-browser-'));
  await seedLocal({ persistTo, model: MODEL });
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn(
    'npx',
    [
      'wrangler',
      'dev',
      'test/browser/worker-entry.ts',
      '--port',
      String(port),
      '--ip',
      '127.0.0.1',
      '--persist-to',
      persistTo,
      '--var',
      `FINE_TUNE_TOKEN:${TOKEN}`,
      '--show-interactive-dev-session=false',
    ],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
    },
  );
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const stop = async () => {
    if (child.exitCode === null) {
      // The whole group: npx, wrangler and workerd.
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    rmSync(persistTo, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    // wrangler keeps running after a failed build, waiting for a fix: give up at once instead.
    if (child.exitCode !== null || log.includes('Build failed')) break;
    try {
      const res = await fetch(`${origin}/health`);
      if (res.ok) return { origin, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`wrangler dev did not become healthy on ${origin}:\n${log.slice(-4000)}`);
}

export interface ExampleSite {
  origin: string;
  /** Bodies of the form posts received, parsed as `application/x-www-form-urlencoded`. */
  posts: URLSearchParams[];
  stop(): Promise<void>;
}

/**
 * Serves `examples/<file>` on a second origin, with the widget's script origin rewritten to the worker's, and
 * records every POST so a test can assert what a form submitted.
 */
export async function startExampleSite(workerOrigin: string): Promise<ExampleSite> {
  const posts: URLSearchParams[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        posts.push(new URLSearchParams(body));
        res
          .writeHead(200, { 'Content-Type': 'text/html' })
          .end('<!doctype html><title>Thanks</title><h1>Thanks</h1>');
      });
      return;
    }
    const name = (req.url ?? '/').slice(1).split('?')[0];
    if (!/^[\w-]+\.html$/.test(name)) {
      res.writeHead(404).end();
      return;
    }
    const html = readFileSync(join('examples', name), 'utf8').replaceAll(
      'http://localhost:8787',
      workerOrigin,
    );
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    posts,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
