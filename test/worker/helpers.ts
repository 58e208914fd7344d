import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { WorkerOptions } from '../../src/worker/options.js';
import { startWorker, type WorkerHandle } from '../../src/worker/worker.js';

export interface TestWorker {
  worker: WorkerHandle;
  port: number;
  logs: string[];
  /** Resolves with the first log line (already seen or to come) matching re. */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<string>;
}

const started: WorkerHandle[] = [];

/** A worker on 127.0.0.1 port 0 whose log is captured; closeWorkers() (afterEach) cuts it. */
export async function testWorker(opts: Partial<WorkerOptions> = {}): Promise<TestWorker> {
  const logs: string[] = [];
  const events = new EventEmitter();
  const worker = await startWorker({
    host: '127.0.0.1',
    port: 0,
    log: (line) => {
      logs.push(line);
      events.emit('line', line);
    },
    ...opts,
  });
  started.push(worker);
  const waitForLog = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = logs.find((l) => re.test(l));
      if (seen !== undefined) return resolve(seen);
      const timer = setTimeout(() => {
        events.off('line', on);
        reject(new Error(`no log line like ${re} within ${timeoutMs} ms; got:\n${logs.join('\n')}`));
      }, timeoutMs);
      const on = (line: string) => {
        if (!re.test(line)) return;
        clearTimeout(timer);
        events.off('line', on);
        resolve(line);
      };
      events.on('line', on);
    });
  return { worker, port: worker.port, logs, waitForLog };
}

export async function closeWorkers(): Promise<void> {
  await Promise.all(started.splice(0).map((w) => w.close({ timeoutMs: 0 })));
}

/** A raw TCP client that reads replies line by line. */
export class LineClient {
  private buffered = '';
  private readonly events = new EventEmitter();
  readonly closed: Promise<void>;
  private ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      this.buffered += s;
      this.events.emit('data');
    });
    socket.on('end', () => {
      this.ended = true;
      this.events.emit('data');
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(port: number): Promise<LineClient> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new LineClient(socket);
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Half-closes: "that is all I will send". */
  end(): void {
    this.socket.end();
  }

  /** The next reply line, newline included; rejects on timeout or if the server closes first. */
  readLine(timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.events.off('data', check);
        reject(new Error(`no reply line within ${timeoutMs} ms (have ${JSON.stringify(this.buffered)})`));
      }, timeoutMs);
      const check = () => {
        const nl = this.buffered.indexOf('\n');
        if (nl >= 0) {
          const line = this.buffered.slice(0, nl + 1);
          this.buffered = this.buffered.slice(nl + 1);
          done();
          resolve(line);
        } else if (this.ended) {
          done();
          reject(new Error(`server closed with ${JSON.stringify(this.buffered)} unread`));
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.events.off('data', check);
      };
      this.events.on('data', check);
      check();
    });
  }

  /** Resolves true if the server ends its side within timeoutMs, false if it keeps it open. */
  async serverEnds(timeoutMs: number): Promise<boolean> {
    if (this.ended) return true;
    const timer = new Promise<false>((r) => setTimeout(r, timeoutMs, false));
    return Promise.race([once(this.socket, 'end').then(() => true), timer]);
  }

  /** Everything not yet read as a line, once the connection has closed. */
  async rest(): Promise<string> {
    await this.closed;
    const rest = this.buffered;
    this.buffered = '';
    return rest;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Closes with a TCP RST, the way a killed client goes away. */
  reset(): void {
    this.socket.resetAndDestroy();
  }
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

/** One HTTP request on its own connection (no pooling to keep workers open). */
export function httpGet(
  port: number,
  path: string,
  opts: { method?: string; agent?: http.Agent } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method: opts.method ?? 'GET',
      agent: opts.agent ?? false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        body += s;
      });
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
        } catch {
          // not JSON: the caller looks at body
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    req.end();
  });
}
