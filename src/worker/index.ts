import { Hono } from 'hono';
const app = new Hono<{ Bindings: { MODELS: R2Bucket } }>();
app.get('/health', (c) => c.json({ ok: true }));
export default app;
