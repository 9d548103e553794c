/**
 * @module
 * The Worker with one extra route, `POST /__bench/run?piece=NAME&n=N`, for `scripts/bench-workerd.ts`: runs one
 * piece of `/predict`'s work for one JSON image N times inside this isolate, with the code the Worker runs (the
 * real app, its zod schema, the serving model from local R2). workerd's clocks stop while a request runs, so the
 * bench reads the CPU the kernel accounts to workerd around a call with N and one with N = 0: the difference over
 * N is the piece's CPU per image, without the HTTP layer of `wrangler dev`. `POST /__bench/bodies` first hands
 * over the request bodies (a JSON list of JSON texts). Only `wrangler dev` of the bench runs this entry.
 */
import worker, { ModelWriter } from '../../src/worker/index.ts';
import app from '../../src/worker/app.ts';
import { readConfig } from '../../src/worker/config.ts';
import { validationHook } from '../../src/worker/errors.ts';
import { fastPredictRequest } from '../../src/worker/fast-predict-request.ts';
import { ModelStore } from '../../src/worker/model-store.ts';
import { jsonInput, jsonModelInput as inputFor } from '../../src/worker/json-input.ts';
import { predict } from '../../src/worker/predict.ts';
import { withServingModel } from '../../src/worker/model-cache.ts';
import { getKernels } from '../../src/worker/kernels.ts';
import { crc32 } from '../../src/format/crc32.ts';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { decodeModel } from '../../src/format/decode.ts';
import { blobCrc32 } from '../../src/worker/checksum.ts';
import { createPredictor } from '../../src/nn/index.ts';
// Fronted by the hand-checked common body (`withFastPath`) when `app.ts`, imported above, declares the route.
import { PredictRequest } from '../../src/worker/schemas.ts';
import { temperatureOf, toVerdictPredictions } from '../../src/worker/verdicts.ts';
import { benchApps } from './bench-workerd-apps.ts';

export { ModelWriter };

type Body = Parameters<typeof jsonInput>[0];
type Input = ReturnType<typeof jsonInput>;
const fastValid = (value: unknown) => fastPredictRequest(value) as Body;

let bodies: string[] = [];
let apps: ReturnType<typeof benchApps> | undefined;
const URL_PREDICT = 'http://bench.local/predict';
const JSON_HEADERS = { 'content-type': 'application/json' };

/** The request the runtime would hand the Worker. */
const request = (i: number) => {
  const body = bodies[i % bodies.length];
  // Content-Length as a client sends it (the body limit reads a body without one chunk by chunk); ASCII bodies.
  const headers = { ...JSON_HEADERS, 'content-length': String(body.length) };
  return new Request(URL_PREDICT, { method: 'POST', body, headers });
};

/** One step of the pieces, each a function of the body's index; async ones are awaited. */
function pieces(env: Env, ctx: ExecutionContext) {
  const cfg = readConfig(env);
  const store = new ModelStore(env.MODELS, cfg.prefix);
  const parsed = bodies.map((b) => JSON.parse(b) as unknown);
  const valid = parsed.map((p) => PredictRequest.parse(p) as Body);
  const inputs: Input[] = valid.map((v) => jsonInput(v, cfg));
  return withServingModel(store, cfg.revalidateMs, (serving) => {
    const xs = inputs.map((inp) => inputFor(inp, serving.model.metadata));
    const probs = xs.map((x) => serving.predictor.predict(x, 1).slice());
    const temperature = temperatureOf(serving.model.metadata);
    const verdicts = (p: Float32Array, inp: Input) =>
      toVerdictPredictions(p, 1, { temperature, minConfidence: cfg.minConfidence, blank: inp.blank });
    const n = bodies.length;
    const answers = probs.map((p, i) =>
      JSON.stringify({ ...verdicts(p.slice(), inputs[i])[0], modelVersion: 'v' }),
    );
    const answerBytes = answers.map((a) => new TextEncoder().encode(a));
    const answerHeaders = { 'Content-Type': 'application/json', 'X-Model-Version': 'v' };
    apps ??= benchApps(JSON.parse(answers[0]) as Record<string, unknown>);
    const table: Record<string, (i: number) => unknown> = {
      request: (i) => request(i),
      read: (i) => request(i).text(),
      'read-bytes': async (i) => new TextDecoder().decode(await request(i).arrayBuffer()),
      'read-json': (i) => request(i).json(),
      parse: (i) => JSON.parse(bodies[i % n]),
      validate: async (i) => validationHook(await PredictRequest.safeParseAsync(parsed[i % n])),
      input: (i) => jsonInput(valid[i % n], cfg),
      prepare: (i) => inputFor(inputs[i % n], serving.model.metadata),
      infer: (i) => serving.predictor.predict(xs[i % n], 1),
      verdict: (i) => verdicts(probs[i % n].slice(), inputs[i % n]),
      answer: (i) =>
        JSON.stringify({ ...verdicts(probs[i % n].slice(), inputs[i % n])[0], modelVersion: 'v' }),
      // The route's work after Hono: body text, parse, validate, input, prepare + infer + verdict, the answer.
      handler: async (i) => {
        const result = await PredictRequest.safeParseAsync(JSON.parse(await request(i).text()));
        validationHook(result);
        const input = jsonInput(result.data as Body, cfg);
        return JSON.stringify((await predict(store, cfg, input)).body);
      },
      // The body read, then the route from the already parsed text on: whether reading slows what follows.
      'read-then-parsed': async (i) => {
        await request(i).text();
        const result = await PredictRequest.safeParseAsync(JSON.parse(bodies[i % n]));
        validationHook(result);
        const input = jsonInput(result.data as Body, cfg);
        return JSON.stringify((await predict(store, cfg, input)).body);
      },
      // The same with the route's work made synchronous: predict-call's parts without its awaits.
      'read-then-sync': async (i) => {
        await request(i).text();
        const input = jsonInput(fastValid(parsed[i % n]), cfg);
        return withServingModel(store, cfg.revalidateMs, (serving) => {
          const x = inputFor(input, serving.model.metadata);
          return JSON.stringify(verdicts(serving.predictor.predict(x, 1), input)[0]);
        });
      },
      'sync-only': (i) => {
        const input = jsonInput(fastValid(parsed[i % n]), cfg);
        return withServingModel(store, cfg.revalidateMs, (serving) => {
          const x = inputFor(input, serving.model.metadata);
          return JSON.stringify(verdicts(serving.predictor.predict(x, 1), input)[0]);
        });
      },
      // predict() alone on a ready input: the model cache, preparation, the network, the verdict, the body.
      'predict-call': (i) => predict(store, cfg, inputs[i % n]),
      // The route without Hono, from the parsed body on (no Request, no body text).
      'handler-parsed': async (i) => {
        const result = await PredictRequest.safeParseAsync(JSON.parse(bodies[i % n]));
        validationHook(result);
        const input = jsonInput(result.data as Body, cfg);
        return JSON.stringify((await predict(store, cfg, input)).body);
      },
      // All of it through Hono (routing, CORS, body middleware, zod-openapi's validator, c.json), as served.
      app: (i) => app.fetch(request(i), env, ctx),
      health: () => app.fetch(new Request('http://bench.local/health'), env, ctx),
      // The same request through apps with more and more of the real app's layers (`bench-workerd-apps.ts`).
      ...Object.fromEntries(
        Object.entries(apps).map(([name, layered]) => [
          name,
          (i: number) => layered.fetch(request(i), env, ctx),
        ]),
      ),
      // What making the answer costs in workerd, three ways (for the Hono path's overhead).
      'response-object': (i) => new Response(answers[i % n], { status: 200, headers: answerHeaders }),
      'response-headers': (i) =>
        new Response(answers[i % n], { status: 200, headers: new Headers(answerHeaders) }),
      'response-bytes': (i) => new Response(answerBytes[i % n], { status: 200, headers: answerHeaders }),
    };
    return table;
  });
}

/** What the cold steps keep between requests: the blob, its decoded model. */
const cold: {
  bytes?: Uint8Array;
  version?: string;
  crc?: number;
  model?: ReturnType<typeof decodeModel>;
  parsed?: unknown;
  valid?: Body;
  input?: Input;
} = {};

/**
 * The request path's steps for the first handed-over body, cold (after `serving`): `parse`, `validate` (the
 * route's fronted zod schema), `input`, `prepare`, `route` (the whole request through Hono), `route-refused` (a
 * text/plain body through Hono and the middleware to the 415, no model work), `health` (`GET /health`).
 */
async function coldRequestStep(step: string, env: Env, ctx: ExecutionContext): Promise<boolean> {
  const cfg = readConfig(env);
  if (step === 'parse') cold.parsed = JSON.parse(bodies[0]);
  else if (step === 'validate') cold.valid = (await PredictRequest.safeParseAsync(cold.parsed)).data as Body;
  else if (step === 'input') cold.input = jsonInput(cold.valid!, cfg);
  else if (step === 'prepare') {
    await withServingModel(new ModelStore(env.MODELS, cfg.prefix), cfg.revalidateMs, (serving) =>
      inputFor(cold.input!, serving.model.metadata),
    );
  } else if (step === 'route') await (await app.fetch(request(0), env, ctx)).text();
  else if (step === 'route-refused') {
    // Through Hono, CORS, the upload limit and the body limit to onError's 415, no model work.
    const refused = new Request(URL_PREDICT, {
      method: 'POST',
      body: bodies[0],
      headers: { 'content-type': 'text/plain' },
    });
    await (await app.fetch(refused, env, ctx)).text();
  } else if (step === 'health')
    await (await app.fetch(new Request('http://bench.local/health'), env, ctx)).text();
  else return false;
  return true;
}

/**
 * One step of a fresh isolate's model loading, each its own request (`?step=`), so the bench reads each one's
 * CPU cold: `blob` (pointer and blob read from R2), or `pointer` then `blob-only` (the blob as the store reads
 * it) or `blob-reader` (its body read chunk by chunk into one array), `kernels`, `crc-js` / `crc-wasm` /
 * `crc-zlib` (the blob's CRC-32 by the format's, the kernels', the runtime's; `crc-check` answers all three),
 * `decode` (as the model cache decodes), `pack` (layer 0 into input pairs), `sums` (its row sums), `predictor`
 * (built from the decoded model), `serving` (all of the serving model's loading, as `/predict` does it: blob,
 * decode, predictor), `predict` (one image through the serving model's predictor), `noop` (the request alone);
 * and `coldRequestStep`'s.
 */
async function coldStep(step: string, env: Env, ctx: ExecutionContext): Promise<Response> {
  const kernels = getKernels();
  if (await coldRequestStep(step, env, ctx)) return Response.json({ step });
  if (step === 'blob') {
    const store = new ModelStore(env.MODELS, readConfig(env).prefix);
    const { pointer } = (await store.readPointer())!;
    cold.bytes = (await store.getVersion(pointer.current))!;
  } else if (step === 'pointer') {
    cold.version = (await new ModelStore(env.MODELS, readConfig(env).prefix).readPointer())!.pointer.current;
  } else if (step === 'blob-only') {
    cold.bytes = (await new ModelStore(env.MODELS, readConfig(env).prefix).getVersion(cold.version!))!;
  } else if (step === 'blob-reader') {
    const obj = (await env.MODELS.get(`${readConfig(env).prefix}versions/${cold.version}.bin`))!;
    const out = new Uint8Array(obj.size);
    const reader = obj.body.getReader();
    let at = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      out.set(value, at);
      at += value.length;
    }
    cold.bytes = out;
  } else if (step === 'crc-js') crc32(cold.bytes!.subarray(0, cold.bytes!.length - 4));
  else if (step === 'crc-zlib') cold.crc = zlibCrc32(cold.bytes!.subarray(0, cold.bytes!.length - 4));
  else if (step === 'crc-check') {
    const body = cold.bytes!.subarray(0, cold.bytes!.length - 4);
    return Response.json({ zlib: cold.crc, js: crc32(body), wasm: kernels.crc32!(body) });
  } else if (step === 'crc-wasm') kernels.crc32!(cold.bytes!.subarray(0, cold.bytes!.length - 4));
  else if (step === 'decode') cold.model = decodeModel(cold.bytes!, { crc32: blobCrc32, adopt: true });
  else if (step === 'predictor') createPredictor(cold.model!, kernels);
  else if (step === 'pack' || step === 'sums') {
    const [n, k] = [cold.model!.sizes[1], cold.model!.sizes[0]];
    const q = cold.model!.quantized![0].q;
    kernels.free(step === 'pack' ? kernels.packInt8T!(n, k, q) : kernels.rowSumsInt8!(n, k, q));
  } else if (step === 'serving' || step === 'predict') {
    const cfg = readConfig(env);
    const x = new Float32Array(784).map((_, i) => ((i * 37) % 11) / 10);
    await withServingModel(new ModelStore(env.MODELS, cfg.prefix), cfg.revalidateMs, (serving) =>
      step === 'predict' ? serving.predictor.predict(x, 1) : null,
    );
  } else if (step !== 'noop' && step !== 'kernels') return new Response(`no step ${step}`, { status: 404 });
  return Response.json({ step });
}

async function run(url: URL, env: Env, ctx: ExecutionContext): Promise<Response> {
  const table = await pieces(env, ctx);
  const name = url.searchParams.get('piece') ?? '';
  const piece = table[name];
  if (!piece) return new Response(`pieces: ${Object.keys(table).join(' ')}`, { status: 404 });
  const n = Number(url.searchParams.get('n') ?? '0');
  let sink = 0;
  for (let i = 0; i < n; i++) {
    let out = piece(i);
    if (out instanceof Promise) out = await out;
    if (out instanceof Response) sink += out.status;
  }
  return Response.json({ piece: name, n, sink });
}

export default {
  async fetch(req, env, ctx) {
    const url = new URL(req.url);
    if (req.method === 'POST' && url.pathname === '/__bench/bodies') {
      bodies = (await req.json()) as string[];
      return Response.json({ bodies: bodies.length });
    }
    if (req.method === 'POST' && url.pathname === '/__bench/run') return run(url, env, ctx);
    if (req.method === 'POST' && url.pathname === '/__bench/cold') {
      return coldStep(url.searchParams.get('step') ?? '', env, ctx);
    }
    return worker.fetch(req, env, ctx);
  },
  scheduled: worker.scheduled,
} satisfies ExportedHandler<Env>;
