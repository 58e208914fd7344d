import pino from 'pino';
import type { Backend } from '../balancer/types.js';
import type { LogFormat } from './options.js';

/** What the log reads of a finished request; both front ends' exchanges implement it. */
export interface RequestRecord {
  readonly protocol: 'http' | 'line' | 'tcp';
  /** An HTTP request that came over HTTP/2 (the front end's protocol; backends are spoken to in HTTP/1.1). */
  readonly h2?: boolean;
  readonly client: string;
  readonly strategyName: string;
  /** The backend that answered, or the last one tried. */
  readonly backend: Backend | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;
  /** Classroom job fields, when the request is one (`App1:Long`, `/work?type=long&app=App1`). */
  readonly app: string | undefined;
  readonly type: string | undefined;
  /** HTTP status, or for the line protocol 200 / 502 / 503 / 504 by the same meaning. */
  readonly status: number;
  readonly bytes: number;
  /** Backends tried, the one that answered included. */
  tries: number;
  totalMs: number;
  readonly error: string | undefined;
}

export interface BrokerLog {
  request(rec: RequestRecord): void;
  /** Health transitions, start and stop: rare events, always printed. */
  event(message: string, fields?: Record<string, unknown>): void;
  flush(): void;
}

export function createBrokerLog(format: LogFormat, out: NodeJS.WritableStream = process.stdout): BrokerLog {
  if (format === 'json') return new JsonLog(out);
  if (format === 'none') return new HumanLog(out, false);
  return new HumanLog(out, true);
}

function capitalize(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1).toLowerCase();
}

/** The classroom's voice: `Broker: forwarded 'App1' (Long) to worker 2 on port 9003 in 1004 ms`. */
export function formatRequest(rec: RequestRecord): string {
  const ms = Math.round(rec.totalMs);
  const what =
    rec.protocol === 'tcp'
      ? `connection from ${rec.client}`
      : rec.app !== undefined && rec.type !== undefined
        ? `'${rec.app}' (${capitalize(rec.type)})`
        : `${rec.method ?? ''} ${rec.path ?? ''}`.trim() || 'message';
  const b = rec.backend;
  const tries = rec.tries > 1 ? ` after ${rec.tries} tries` : '';
  if (rec.error !== undefined || b === undefined) {
    return `Broker: could not forward ${what}: ${rec.error ?? 'no backend'}${tries} (${ms} ms)`;
  }
  const status = rec.protocol === 'http' ? ` -> ${rec.status}` : '';
  return `Broker: forwarded ${what} to worker ${b.id} on port ${b.port}${status} in ${ms} ms${tries}`;
}

class HumanLog implements BrokerLog {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly requests: boolean,
  ) {}

  request(rec: RequestRecord): void {
    if (this.requests) this.out.write(`${formatRequest(rec)}\n`);
  }

  event(message: string): void {
    this.out.write(`Broker: ${message}\n`);
  }

  flush(): void {}
}

/**
 * One JSON object per line (pino, asynchronous destination so logging never blocks the proxy path).
 * The field names are what `timbang simulate --trace` reads back.
 */
class JsonLog implements BrokerLog {
  private readonly logger: pino.Logger;
  private readonly destination: pino.DestinationStream | undefined;

  constructor(out: NodeJS.WritableStream) {
    if (out === process.stdout) {
      const dest = pino.destination({ dest: 1, sync: false, minLength: 4096 });
      this.destination = dest;
      this.logger = pino({ base: undefined }, dest);
    } else {
      this.logger = pino({ base: undefined }, out as pino.DestinationStream);
    }
  }

  request(rec: RequestRecord): void {
    const b = rec.backend;
    this.logger.info(
      {
        protocol: rec.protocol,
        client: rec.client,
        backend: b?.id,
        address: b?.address,
        strategy: rec.strategyName,
        method: rec.method,
        path: rec.path,
        app: rec.app,
        type: rec.type?.toLowerCase(),
        status: rec.status,
        bytes: rec.bytes,
        tries: rec.tries,
        totalMs: Math.round(rec.totalMs * 1000) / 1000,
        error: rec.error,
      },
      'request',
    );
  }

  event(message: string, fields?: Record<string, unknown>): void {
    this.logger.info(fields ?? {}, message);
    // Events are rare and an operator waits for them (listening, DNS changes, health): out at once, not
    // after 4 KiB of request lines (in Kubernetes, `kubectl logs` showed nothing until traffic came).
    this.flush();
  }

  flush(): void {
    const d = this.destination as unknown as { flushSync?: () => void } | undefined;
    try {
      d?.flushSync?.();
    } catch {
      // Not ready yet (nothing written): nothing to flush.
    }
  }
}
