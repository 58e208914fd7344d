import http from 'node:http';
import type net from 'node:net';
import { request } from 'undici';
import type { AdminOptions } from '../../src/admin/options.js';
import { type RunningBroker, startBrokerWithAdmin } from '../../src/admin/run.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { mergeSettings } from '../../src/config/settings.js';
import { closeServer, MemoryLog, type Stack } from '../helpers/backends.js';
import { listen } from '../helpers/net.js';

export interface FakeWorker {
  readonly id: string;
  port: number;
  jobs: number;
  /** Stops listening and drops its connections: a killed worker. */
  kill(): Promise<void>;
  /** Listens on the same port again. */
  revive(): Promise<void>;
}

/**
 * Answers like a timbang worker: `GET /work?type=long|short&app=` after longMs / shortMs with
 * `{"worker","type","app","ms"}`, `GET /health` with 200, anything else echoed.
 */
export async function fakeWorker(stack: Stack, id: string, longMs = 300, shortMs = 60): Promise<FakeWorker> {
  const sockets = new Set<net.Socket>();
  let server: http.Server;
  const make = () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/health') return res.end('ok');
      const type = url.searchParams.get('type') ?? 'short';
      const ms = type === 'long' ? longMs : shortMs;
      w.jobs++;
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ worker: id, type, app: url.searchParams.get('app'), ms }));
      }, ms);
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
  };
  const w: FakeWorker = {
    id,
    port: 0,
    jobs: 0,
    kill: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
    revive: async () => {
      make();
      server.listen(w.port, '127.0.0.1');
      await new Promise((resolve, reject) => {
        server.once('listening', resolve);
        server.once('error', reject);
      });
    },
  };
  make();
  w.port = await listen(server!);
  stack.add(() => w.kill());
  return w;
}

/** A broker on port 0 in front of the workers, its admin on 127.0.0.1 port 0, quiet logs. */
export async function startLab(
  stack: Stack,
  ports: number[],
  broker: Partial<BrokerOptions> = {},
  admin: Partial<AdminOptions> = {},
): Promise<{ running: RunningBroker; api: string; url: string; log: MemoryLog }> {
  const log = new MemoryLog();
  const settings = mergeSettings({
    broker: {
      host: '127.0.0.1',
      port: 0,
      backends: ports.map((p, i) => ({ id: String(i + 1), address: `127.0.0.1:${p}` })),
      drainTimeoutMs: 2_000,
      ...broker,
    },
    admin: { host: '127.0.0.1', port: 0, ...admin },
  });
  const running = await startBrokerWithAdmin(settings, { log, tickMs: 100 });
  stack.add(() => running.close());
  return {
    running,
    api: running.admin ? running.admin.url : '',
    url: `http://127.0.0.1:${running.broker.port}`,
    log,
  };
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience, the shape is asserted by each test
  json: any;
}

/** One HTTP call; a JSON body is sent as JSON, a string as it is. */
export async function call(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await request(url, {
    method: method as 'GET',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}
