import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { BrokerControl, ReloadResult } from '../broker/control.js';
import type { Broker } from '../broker/server.js';
import { backendSchema, strategySchema, weightSchema } from '../config/schema.js';
import { ApiError, readJson, sendJson, validate } from './http.js';
import { describeLab, runLab } from './lab.js';
import type { LiveStats } from './live.js';
import type { BackendView } from './snapshot.js';

export interface ApiContext {
  broker: Broker;
  control: BrokerControl;
  live: LiveStats;
  /** Re-reads the config file and applies it; absent when the broker runs without one. */
  reload?: () => Promise<ReloadResult>;
}

const strategyBody = z.strictObject({ strategy: strategySchema });
const weightBody = z.strictObject({ weight: weightSchema });
const labBody = z
  .strictObject({
    long: z
      .int({ error: 'must be a whole number' })
      .min(0, { error: 'must be >= 0' })
      .max(100, { error: 'must be <= 100' }),
    short: z
      .int({ error: 'must be a whole number' })
      .min(0, { error: 'must be >= 0' })
      .max(100, { error: 'must be <= 100' }),
  })
  .partial()
  .optional();

const recordBody = z.strictObject({ action: z.enum(['start', 'stop'], { error: 'must be start or stop' }) });

function recordingView(ctx: ApiContext) {
  const rec = ctx.live.recording;
  return {
    recording: rec?.recording ?? false,
    seconds: rec ? Math.round(((rec.stoppedAt ?? performance.now()) - rec.startedAt) / 100) / 10 : 0,
    records: rec ? rec.records() : [],
  };
}

type Handler = (
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  id: string,
) => Promise<void> | void;

/** `/api/...` routes: path pattern -> method -> handler (`:id` is the one parameter there is). */
const ROUTES: Array<[RegExp, Record<string, Handler>]> = [
  [/^\/api\/state$/, { GET: (ctx, _req, res) => sendJson(res, 200, ctx.live.state()) }],
  [
    /^\/api\/strategy$/,
    {
      GET: (ctx, _req, res) => sendJson(res, 200, { strategy: ctx.broker.balancer.strategyName }),
      PUT: async (ctx, req, res) => {
        const body = validate(strategyBody, await readJson(req), '{"strategy": "round-robin"}');
        sendJson(res, 200, { strategy: ctx.control.setStrategy(body.strategy) });
      },
    },
  ],
  [
    /^\/api\/backends$/,
    {
      GET: (ctx, _req, res) => sendJson(res, 200, ctx.live.state().backends),
      POST: async (ctx, req, res) => {
        const body = validate(
          backendSchema,
          await readJson(req),
          '{"address": "127.0.0.1:9005", "weight": 1}',
        );
        const b = ctx.control.addBackend({ id: body.id, address: body.address, weight: body.weight });
        sendJson(res, 201, view(ctx, b.id), { location: `/api/backends/${encodeURIComponent(b.id)}` });
      },
    },
  ],
  [
    /^\/api\/backends\/([^/]+)$/,
    {
      GET: (ctx, _req, res, id) => sendJson(res, 200, view(ctx, id)),
      PATCH: async (ctx, req, res, id) => {
        ctx.control.backend(id);
        const body = validate(weightBody, await readJson(req), '{"weight": 2}');
        ctx.control.setWeight(id, body.weight);
        sendJson(res, 200, view(ctx, id));
      },
      DELETE: async (ctx, _req, res, id) => {
        const b = ctx.control.backend(id);
        void ctx.control.remove(id);
        if (ctx.broker.balancer.pool.get(id) !== b) return sendJson(res, 200, { id, removed: true });
        // Requests are still in flight: it leaves the pool when they end.
        sendJson(res, 202, { id, removed: false, state: 'draining', inFlight: b.inFlight });
      },
    },
  ],
  [
    /^\/api\/backends\/([^/]+)\/drain$/,
    {
      POST: (ctx, _req, res, id) => {
        ctx.control.drain(id);
        sendJson(res, 200, view(ctx, id));
      },
    },
  ],
  [
    /^\/api\/backends\/([^/]+)\/undrain$/,
    {
      POST: (ctx, _req, res, id) => {
        ctx.control.undrain(id);
        sendJson(res, 200, view(ctx, id));
      },
    },
  ],
  [
    /^\/api\/reload$/,
    {
      POST: async (ctx, _req, res) => {
        if (!ctx.reload) {
          throw new ApiError(
            409,
            'this broker was started without --config: there is no file to reload',
            'ERR_NO_CONFIG',
          );
        }
        sendJson(res, 200, await ctx.reload());
      },
    },
  ],
  [
    /^\/api\/reset$/,
    {
      POST: (ctx, _req, res) => {
        const inFlight = ctx.broker.balancer.pool.backends.reduce((n, b) => n + b.inFlight, 0);
        if (inFlight > 0) {
          throw new ApiError(
            409,
            `${inFlight} request(s) in flight: reset when the broker is idle, so no strategy starts mid-request`,
            'ERR_BUSY',
          );
        }
        ctx.broker.balancer.reset();
        ctx.live.resetCounters();
        ctx.live.event('admin', 'counters reset: totals, latency estimates and strategy state start afresh');
        sendJson(res, 200, { reset: true, strategy: ctx.broker.balancer.strategyName });
      },
    },
  ],
  [
    /^\/api\/record$/,
    {
      POST: async (ctx, req, res) => {
        const body = validate(recordBody, await readJson(req), '{"action": "start"}');
        if (body.action === 'start') ctx.live.startRecording();
        else {
          if (!ctx.live.recording)
            throw new ApiError(409, 'nothing is being recorded: start first', 'ERR_NOT_RECORDING');
          ctx.live.recording.stop();
          ctx.live.event('admin', 'recording stopped');
        }
        sendJson(res, 200, recordingView(ctx));
      },
      GET: (ctx, req, res) => {
        const rec = ctx.live.recording;
        if (!rec)
          throw new ApiError(
            404,
            'no recording: POST /api/record {"action": "start"} first',
            'ERR_NOT_RECORDING',
          );
        const format = new URL(req.url ?? '/', 'http://x').searchParams.get('format') ?? 'json';
        if (format === 'jsonl' || format === 'csv') {
          const csv = format === 'csv';
          const body = csv ? rec.csv() : rec.jsonLines();
          res.writeHead(200, {
            'content-type': csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
            'content-disposition': `attachment; filename="timbang-live.${csv ? 'csv' : 'jsonl'}"`,
            'cache-control': 'no-store',
          });
          res.end(body);
          return;
        }
        sendJson(res, 200, recordingView(ctx));
      },
    },
  ],
  [
    /^\/api\/lab$/,
    {
      POST: async (ctx, req, res) => {
        const body = validate(labBody, await readJson(req), '{"long": 10, "short": 10}') ?? {};
        const long = body.long ?? 10;
        const short = body.short ?? 10;
        ctx.live.event('lab', `lab: sending ${long} Long and ${short} Short jobs`);
        const result = await runLab(ctx.broker, long, short);
        ctx.live.event('lab', describeLab(result));
        sendJson(res, 200, result);
      },
    },
  ],
];

/** Answers an `/api/` request; returns false when no route has this path. */
export async function handleApi(
  ctx: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  for (const [pattern, methods] of ROUTES) {
    const m = pattern.exec(path);
    if (!m) continue;
    const handler = methods[req.method ?? 'GET'];
    if (!handler) {
      const allow = Object.keys(methods).join(', ');
      throw new ApiError(405, `${req.method} is not allowed on ${path}; use ${allow}`, 'ERR_METHOD', {
        allow,
      });
    }
    let id = '';
    if (m[1] !== undefined) {
      try {
        id = decodeURIComponent(m[1]);
      } catch {
        throw new ApiError(400, `bad backend id in ${path}`);
      }
    }
    await handler(ctx, req, res, id);
    return true;
  }
  return false;
}

function view(ctx: ApiContext, id: string): BackendView {
  const b = ctx.live.state().backends.find((v) => v.id === id);
  if (!b) throw new ApiError(404, `no backend with id '${id}'`, 'ERR_UNKNOWN_BACKEND');
  return b;
}
