import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { CertStore, TLS_SERVER_DEFAULTS } from '../broker/tls-certs.js';
import { listenError } from '../errors.js';
import { type ApiContext, handleApi } from './api.js';
import { browserGuard, checkAdminExposure, checkTokenStrength, tokenMatches } from './auth.js';
import { EventStream } from './events.js';
import { ApiError, sendError, sendJson } from './http.js';
import type { BrokerMetrics } from './metrics.js';
import type { AdminOptions } from './options.js';
import { dashboardAssets } from './web/page.js';

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly events: EventStream;
  /** The admin listener's certificates when it serves HTTPS (a reload swaps them). */
  readonly certificates: CertStore | undefined;
  close(): Promise<void>;
}

export interface AdminDeps extends ApiContext {
  metrics: BrokerMetrics;
  /** Dashboard tick, 500 ms by default. */
  tickMs?: number;
}

/**
 * The admin listener, apart from the public port (which never answers admin paths): the JSON API under
 * /api, Prometheus metrics at /metrics, the dashboard at /. Loopback only unless a token is set; with a
 * token every request must carry it.
 */
export async function startAdmin(opts: AdminOptions, deps: AdminDeps): Promise<AdminServer> {
  checkAdminExposure(opts);
  checkTokenStrength(opts.token);
  const events = new EventStream(deps.live, deps.tickMs);
  const assets = dashboardAssets();
  const token = opts.token;

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err) => sendError(res, err));
  };
  const serverOptions = { keepAliveTimeout: 5_000, headersTimeout: 10_000 };
  // admin.tls: the same certificate loading and checks as the broker's HTTPS listeners.
  const certificates = opts.tls === undefined ? undefined : new CertStore(opts.tls);
  const server =
    certificates === undefined
      ? http.createServer(serverOptions, onRequest)
      : https.createServer(
          {
            ...serverOptions,
            ...certificates.serverOptions(),
            ...TLS_SERVER_DEFAULTS,
            handshakeTimeout: 10_000,
          },
          onRequest,
        );
  if (certificates !== undefined) {
    certificates.attach(server as https.Server);
    server.on('tlsClientError', (_err: Error, socket: import('node:tls').TLSSocket) => socket.destroy());
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Probes (Kubernetes, a load balancer in front): no token and no Host check, and nothing they could misuse.
    if (req.url === '/health' || req.url === '/health/live') return health(req, res);
    const refused = browserGuard(req, token !== undefined);
    if (refused) throw new ApiError(403, refused, 'ERR_FORBIDDEN');
    if (token !== undefined && !tokenMatches(req.headers.authorization, token)) {
      throw new ApiError(
        401,
        'this admin API needs a token: send Authorization: Bearer <token>',
        'ERR_UNAUTHORIZED',
        {
          'www-authenticate': 'Basic realm="timbang admin", charset="UTF-8"',
        },
      );
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/api/events') {
      if (req.method !== 'GET')
        throw new ApiError(405, 'use GET /api/events', 'ERR_METHOD', { allow: 'GET' });
      return events.subscribe(req, res);
    }
    if (path.startsWith('/api/')) {
      if (await handleApi(deps, req, res, path)) return;
      throw new ApiError(
        404,
        `no such API route: ${req.method} ${path}; see GET /api/state`,
        'ERR_NOT_FOUND',
      );
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new ApiError(405, `${req.method} is not allowed on ${path}`, 'ERR_METHOD', {
        allow: 'GET, HEAD',
      });
    }
    if (path === '/metrics') {
      const text = await deps.metrics.text();
      res.writeHead(200, { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    const asset = assets.get(path);
    if (asset) {
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': asset.body.length,
        'cache-control': path === '/' ? 'no-store' : 'max-age=300',
        'x-content-type-options': 'nosniff',
        ...(path === '/' ? { 'content-security-policy': "default-src 'self'; frame-ancestors 'none'" } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 404, { error: `not found: ${path}`, code: 'ERR_NOT_FOUND' });
  }

  /**
   * `/health/live`: 200 while the process answers (liveness). `/health`: 200 while the broker can route,
   * 503 when no backend is up (readiness: take this broker out of rotation, another may see backends).
   * The admin listener closes first on SIGTERM, so a draining broker stops being ready at once.
   */
  function health(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new ApiError(405, `use GET ${req.url}`, 'ERR_METHOD', { allow: 'GET, HEAD' });
    }
    const pool = deps.broker.balancer.pool;
    const up = pool.eligible.length;
    const live = req.url === '/health/live';
    const ok = live || up > 0;
    const body = { status: ok ? 'ok' : 'no backend up', backends: pool.backends.length, up };
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
  }

  server.listen(opts.port, opts.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw listenError(err as NodeJS.ErrnoException, opts.host, opts.port);
  }
  events.start();
  const port = (server.address() as AddressInfo).port;
  const shownHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host;

  return {
    host: opts.host,
    port,
    url: `${certificates === undefined ? 'http' : 'https'}://${shownHost}:${port}`,
    events,
    certificates,
    close: async () => {
      events.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
