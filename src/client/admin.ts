import http from 'node:http';
import { TimbangError } from '../errors.js';

/**
 * A small client of a broker's admin API (src/admin/api.ts): what `timbang client` needs to give every
 * strategy of a comparison the same starting state, and what a live scenario needs for its actions.
 */
export class AdminClient {
  constructor(
    readonly host: string,
    readonly port: number,
    private readonly token?: string,
  ) {}

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** The broker's state (GET /api/state); throws ERR_CONNECT when nothing answers like an admin API. */
  async state(): Promise<AdminState> {
    return (await this.call('GET', '/api/state')) as AdminState;
  }

  /** POST /api/reset: totals, latency estimates and strategy state start afresh (409 while busy). */
  async reset(): Promise<void> {
    await this.call('POST', '/api/reset');
  }

  async setStrategy(strategy: string): Promise<void> {
    await this.call('PUT', '/api/strategy', { strategy });
  }

  async addBackend(address: string, id?: string, weight?: number): Promise<void> {
    await this.call('POST', '/api/backends', {
      address,
      ...(id ? { id } : {}),
      ...(weight ? { weight } : {}),
    });
  }

  async setWeight(id: string, weight: number): Promise<void> {
    await this.call('PATCH', `/api/backends/${encodeURIComponent(id)}`, { weight });
  }

  async remove(id: string): Promise<void> {
    await this.call('DELETE', `/api/backends/${encodeURIComponent(id)}`);
  }

  call(method: string, path: string, body?: unknown): Promise<unknown> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.host, port: this.port, method, path, headers, agent: false, timeout: 5_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(json);
            const why = (json as { error?: string } | undefined)?.error ?? text.slice(0, 200);
            reject(
              new TimbangError('ERR_ADMIN', `admin API ${method} ${path} at ${this.url}: ${status} ${why}`),
            );
          });
        },
      );
      req.once('timeout', () => req.destroy(new Error('timed out')));
      req.once('error', (err) =>
        reject(new TimbangError('ERR_CONNECT', `cannot reach the admin API at ${this.url} (${err.message})`)),
      );
      req.end(payload);
    });
  }
}

/** The part of GET /api/state a client reads. */
export interface AdminState {
  strategy: string;
  listen: { host: string; port: number };
  backends: Array<{ id: string; address: string; weight: number; state: string; total: number }>;
  settings: { requestTimeoutMs: number; retries: number };
}

/** `host:port` or `:port` or `port` for --admin; undefined when it is not one. */
export function parseAdminAddress(
  value: string,
  defaultHost: string,
): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  const host = m[1] ?? (m[2] !== undefined && m[2] !== '' ? m[2] : defaultHost);
  return { host, port };
}
