/**
 * @module
 * Fixtures of the browser tests: the real local worker (`npm start`'s script on a free port, its own local R2
 * seeded with a trained model), a second origin serving `examples/` and recording form posts, and headless Debian Chromium.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startLocalServer, type LocalServer } from '../../scripts/lib/local-server.ts';

/** The model the worker serves: the committed default, or another blob named by `EDGE_MLP_TEST_MODEL`. */
export const MODEL = process.env.EDGE_MLP_TEST_MODEL ?? 'models/default.bin';
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const TOKEN = 'browser-test-token';

export type WorkerServer = LocalServer;

/** The product as `npm start` runs it (the real app, page and widget mounted) on a fresh bucket seeded with `MODEL`. */
export function startWorker(): Promise<WorkerServer> {
  return startLocalServer({
    command: ['node_modules/.bin/tsx', 'scripts/start.ts'],
    model: MODEL,
    env: { FINE_TUNE_TOKEN: TOKEN },
    startupMs: 120_000,
  });
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
