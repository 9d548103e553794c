/**
 * @module
 * Starts the product the way a user does (`npm start`: seed a local R2 bucket, then `wrangler dev`) on a free
 * loopback port with its own bucket, waits until `/health` answers, and stops the whole process tree.
 * Shared by the end-to-end test, the browser tests and the load test; not the server itself (`scripts/start.ts`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface LocalServerOptions {
  /** The command before its flags: `npm start --` by default; `tsx scripts/start.ts` skips the wasm build. */
  command?: string[];
  /** A model blob to seed instead of `models/default.bin`. */
  model?: string;
  /** Extra environment, e.g. `FINE_TUNE_TOKEN` (wrangler dev reads declared secrets from it). */
  env?: Record<string, string>;
  /** How long to wait for `/health` before giving up. */
  startupMs?: number;
  /** A bucket folder shared with another server (kept on stop); default: a fresh one, deleted on stop. */
  persistTo?: string;
}

export interface LocalServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Everything the server printed so far. */
  log(): string;
  /** The process group of the whole tree (its leader's pid): for measuring the server's CPU. */
  pgid: number;
  /** Stops the whole tree (npm, tsx, wrangler, workerd) and deletes its bucket. */
  stop(): Promise<void>;
}

/**
 * Starts a server on a fresh bucket in a temporary folder.
 * @throws {Error} with the end of the server's log when it exits, fails to build, or is not healthy in time.
 */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const { command = ['npm', 'start', '--'], model, env = {}, startupMs = 240_000 } = options;
  const port = await freePort();
  const persistTo = options.persistTo ?? mkdtempSync(join(tmpdir(), 'edge-mlp-server-'));
  const args = [...command.slice(1), '--port', String(port), '--persist-to', persistTo];
  if (model) args.push('--model', model);
  // Its own process group, so the whole tree is stopped together.
  const child: ChildProcess = spawn(command[0], args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid!, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    if (!options.persistTo) rmSync(persistTo, { recursive: true, force: true });
  };
  const deadline = Date.now() + startupMs;
  let problem = `not healthy after ${startupMs} ms`;
  while (Date.now() < deadline) {
    // wrangler keeps running after a failed build, waiting for a fix: give up at once instead.
    if (child.exitCode !== null) {
      problem = `exited with ${child.exitCode}`;
      break;
    }
    if (log.includes('Build failed')) {
      problem = 'failed to build';
      break;
    }
    try {
      if ((await fetch(`${url}/health`)).status === 200)
        return { url, log: () => log, stop, pgid: child.pid! };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`${command.join(' ')} on ${url} ${problem}:\n${log.slice(-4000)}`);
}
