/**
 * @module
 * `npm start [-- --port N] [--ip ADDR] [--persist-to DIR] [--model FILE]`: seeds the local R2 bucket with the default model
 * (if none is current) and runs `wrangler dev` on it. No Cloudflare account or network needed.
 */
import { spawn } from 'node:child_process';
import { DEFAULT_PERSIST_TO } from './lib/model-bucket.ts';
import { seedLocal } from './seed-local.ts';

const argv = process.argv.slice(2);
const at = (flag: string, fallback: string) =>
  argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : fallback;
const persistTo = at('--persist-to', DEFAULT_PERSIST_TO);
const port = at('--port', '8787');
const ip = at('--ip', '127.0.0.1');

await seedLocal({ persistTo, model: argv.includes('--model') ? at('--model', '') : undefined });
const args = [
  'dev',
  '--port',
  port,
  '--ip',
  ip,
  '--persist-to',
  persistTo,
  '--show-interactive-dev-session=false',
];
// No network: skip wrangler's telemetry and its download of a sample `request.cf` object.
const env = { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', ...process.env };
const dev = spawn('node_modules/.bin/wrangler', args, { stdio: 'inherit', env });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => dev.kill(signal));
dev.on('exit', (code) => process.exit(code ?? 0));
