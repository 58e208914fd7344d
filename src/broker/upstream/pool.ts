import { performance } from 'node:perf_hooks';
import { UpstreamConnection } from './connection.js';
import type { UpstreamExchange, UpstreamOptions, UpstreamSlot } from './types.js';

/**
 * The keep-alive connections to one backend: idle ones are reused most recent first (the hot ones stay
 * warm, the rest age out), new ones are opened up to maxConnections, and past that requests wait in
 * arrival order, as behind HAProxy's maxconn. A sweep closes connections idle for idleTimeoutMs, so one
 * timer serves the whole pool rather than one per connection.
 */
export class UpstreamPool implements UpstreamSlot {
  /** `host: <address>` for requests that came without a Host field (HTTP/1.0 clients). */
  readonly hostField: string;
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly waiting = new WaitQueue();
  private sweeper: NodeJS.Timeout | undefined = undefined;
  /**
   * performance.now() as of the last sweep: idle stamps cost no clock read per request. A stamp is then
   * up to one sweep period early, so a connection may close that much sooner than idleTimeoutMs, never later.
   */
  private now = performance.now();
  private closing = false;
  /** The last TLS session a connection to this backend got: new connections resume it (no full handshake). */
  tlsSession: Buffer | undefined = undefined;

  constructor(readonly opts: UpstreamOptions) {
    this.hostField = `host: ${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}\r\n`;
  }

  /** Connections open or opening. */
  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  send(ex: UpstreamExchange): void {
    const idle = this.idle;
    const conn = idle.length > 0 ? idle[idle.length - 1] : undefined;
    if (conn !== undefined && !conn.reading) {
      idle.pop();
      conn.start(ex, ex.attemptAt);
    } else if (this.all.size < this.opts.maxConnections) this.openFor(ex);
    else {
      ex.upstream = this;
      this.waiting.push(ex);
      conn?.handOverLater(); // still in the read that ended its last response (see handOverLater)
    }
  }

  /** A new connection for ex (also for a request whose keep-alive connection turned out to be stale). */
  openFor(ex: UpstreamExchange): void {
    this.all.add(new UpstreamConnection(this, ex));
    this.sweeper ??= setInterval(
      () => this.sweep(),
      Math.max(50, Math.min(1_000, this.opts.idleTimeoutMs / 2)),
    ).unref();
  }

  /** A connection finished a response and may carry another. */
  release(conn: UpstreamConnection): void {
    if (this.closing) return conn.destroy();
    if (conn.reading && this.waiting.size > 0) return conn.handOverLater();
    const next = this.waiting.shift();
    if (next !== undefined) return conn.start(next, performance.now()); // it waited: a fresh clock
    conn.idleSince = this.now;
    this.idle.push(conn);
  }

  /** Takes an idle connection out of the idle list (to hand it on). */
  unidle(conn: UpstreamConnection): void {
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** A connection closed, for whatever reason. */
  closed(conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    const next = this.closing ? undefined : this.waiting.shift();
    if (next !== undefined) this.openFor(next);
  }

  /** A waiting request's client went away. */
  cancel(ex: UpstreamExchange): void {
    this.waiting.remove(ex);
    ex.upstream = undefined;
  }

  resume(): void {}

  /** Stops reusing connections: idle ones close now, busy ones after their response. */
  close(): void {
    this.closing = true;
    for (const c of this.all) c.closeIdle();
    clearInterval(this.sweeper);
  }

  /** Closes every connection at once; requests on them fail as the backend closing would fail them. */
  destroy(): void {
    this.close();
    for (const c of this.all) c.destroy();
    for (let ex = this.waiting.shift(); ex !== undefined; ex = this.waiting.shift()) {
      ex.upstream = undefined;
      ex.onUpstreamError('connect-failed', 'broker shutting down');
    }
  }

  private sweep(): void {
    const idle = this.idle;
    this.now = performance.now();
    const oldest = this.now - this.opts.idleTimeoutMs;
    // Most recently used last: the expired ones are a prefix.
    let n = 0;
    while (n < idle.length && idle[n].idleSince <= oldest) n++;
    if (n === 0) return;
    for (const c of idle.splice(0, n)) c.destroy();
  }
}

/** A FIFO of waiting requests with O(1) push and shift (an array and a moving head). */
class WaitQueue {
  private items: (UpstreamExchange | undefined)[] = [];
  private head = 0;

  /** Entries not yet shifted (removed ones included: only used to ask whether any may wait). */
  get size(): number {
    return this.items.length - this.head;
  }

  push(ex: UpstreamExchange): void {
    this.items.push(ex);
  }

  shift(): UpstreamExchange | undefined {
    while (this.head < this.items.length) {
      const ex = this.items[this.head];
      this.items[this.head++] = undefined;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (ex !== undefined) return ex;
    }
    return undefined;
  }

  remove(ex: UpstreamExchange): void {
    const i = this.items.indexOf(ex, this.head);
    if (i >= 0) this.items[i] = undefined;
  }
}
