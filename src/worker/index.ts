/**
 * @module
 * The Worker entry point named by `wrangler.toml`: the Hono app's fetch handler (all routes live in `app.ts`), the
 * scheduled apply of feedback, and the model writer Durable Object class.
 */
import app from './app.ts';
import { scheduled } from './writer/scheduled.ts';

export { ModelWriter } from './writer/model-writer.ts';

/** `fetch` for the runtime, `request` for tests (both Hono's), `scheduled` for cron triggers. */
export default { fetch: app.fetch, request: app.request, scheduled } satisfies ExportedHandler<Env> & {
  request: typeof app.request;
};
