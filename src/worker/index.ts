/**
 * @module
 * The Worker entry point named by `wrangler.toml`: the Hono app's fetch handler. All routes live in `app.ts`.
 */
import app from './app.ts';

export default app;
