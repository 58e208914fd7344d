import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Backend } from '../balancer/types.js';
import type { Outcome } from './forward.js';

/**
 * HTTP Upgrade tunnels (WebSocket and any other Upgrade token): after a real 101 Switching Protocols to
 * a request that asked for it, the client's socket and the backend's socket are joined as a byte pipe,
 * both ways, until both sides have finished. The request stays one exchange in flight on its backend for
 * the whole life of the tunnel (Pool.start at the pick, Pool.end when the tunnel ends), so
 * least-connections, peak-EWMA and the dashboard see live sessions.
 */

/** The backend side of a tunnel: the upstream connection, whose reads are handed on by callback. */
export interface BackendPipe {
  readonly socket: net.Socket;
}

/** What the upstream connection tells its tunnel (it keeps reading with its shared buffer). */
export interface TunnelSink {
  /** Bytes from the backend: a view of a shared read buffer, valid only during the call. */
  onBackendData(view: Buffer): void;
  /** The backend sent FIN. */
  onBackendEnd(): void;
  /** The backend's socket closed; `error` is set when it closed by an error (a reset). */
  onBackendClose(error: string | undefined): void;
}

/** The exchange behind a tunnel: told once, when the tunnel has ended, how it ended. */
export interface TunnelOwner {
  readonly backend: Backend | undefined;
  tunnelEnded(outcome: Outcome, reason: string): void;
}

export interface TunnelOptions {
  /** A tunnel with no byte either way for this long is closed (HAProxy's `timeout tunnel`). */
  tunnelTimeoutMs: number;
  /** Tunnels open (or being opened) at once; an upgrade request beyond answers 503. */
  maxTunnels: number;
}

/**
 * The broker's tunnels: the cap, the open count per backend (metrics, /api/state), the idle timeout (one
 * sweep timer for all of them) and draining (no new upgrades; the broker closes what is left at the drain
 * timeout).
 */
export class Tunnels {
  /** Upgrade requests admitted and not yet ended, tunnels included: what the cap counts. */
  private admitted = 0;
  private readonly live = new Set<Tunnel>();
  private readonly perBackend = new Map<Backend, number>();
  private sweeper: NodeJS.Timeout | undefined = undefined;
  /** performance.now() as of the last sweep: a byte costs no clock read. */
  now = performance.now();
  draining = false;
  /** Tunnels opened since the start, and those ended (the soak compares them). */
  opened = 0;
  ended = 0;

  constructor(readonly opts: TunnelOptions) {}

  /** Tunnels open now. */
  get open(): number {
    return this.live.size;
  }

  /** Open tunnels on one backend. */
  openOn(b: Backend): number {
    return this.perBackend.get(b) ?? 0;
  }

  /** An upgrade request may go on: false while draining or at the cap (answer 503). */
  admit(): boolean {
    if (this.draining || this.admitted >= this.opts.maxTunnels) return false;
    this.admitted++;
    return true;
  }

  /** An admitted upgrade request ended without a tunnel (the backend said no, or it failed). */
  release(): void {
    this.admitted--;
  }

  /** Joins the client's socket (with the bytes it sent after its request) to the backend's, after a 101. */
  open101(
    owner: TunnelOwner,
    client: net.Socket,
    clientBytes: Buffer | undefined,
    backend: BackendPipe,
  ): Tunnel {
    // The sweep's clock may be old (no tunnel for a while): a new tunnel's idle time starts now.
    this.now = performance.now();
    const t = new Tunnel(this, owner, client, backend);
    this.live.add(t);
    this.opened++;
    const b = owner.backend!;
    this.perBackend.set(b, this.openOn(b) + 1);
    if (this.sweeper === undefined) {
      const period = Math.max(20, Math.min(1_000, this.opts.tunnelTimeoutMs / 4));
      this.sweeper = setInterval(() => this.sweep(), period).unref();
    }
    if (clientBytes !== undefined && clientBytes.length > 0) t.onClientData(clientBytes);
    // The client may have sent its FIN before the 101 came ('end' already emitted).
    if (client.readableEnded) t.onClientEnd();
    return t;
  }

  /** Stops new upgrades (503); open tunnels go on until they end or the broker's drain timeout. */
  drain(): void {
    this.draining = true;
  }

  /** Closes every tunnel now; resolves once each has ended (its exchange settled). */
  close(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const t of this.live) t.destroy();
    if (this.live.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onEmpty = resolve;
    });
  }

  private onEmpty: (() => void) | undefined = undefined;

  /** Called once per tunnel, when both of its sockets have closed. */
  ended1(t: Tunnel, b: Backend | undefined): void {
    if (!this.live.delete(t)) return;
    this.admitted--;
    this.ended++;
    if (b !== undefined) {
      const n = this.openOn(b) - 1;
      if (n > 0) this.perBackend.set(b, n);
      else this.perBackend.delete(b);
    }
    if (this.live.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
      this.onEmpty?.();
      this.onEmpty = undefined;
    }
  }

  private sweep(): void {
    const now = performance.now();
    this.now = now;
    const oldest = now - this.opts.tunnelTimeoutMs;
    for (const t of this.live) if (t.lastActivity <= oldest) t.timeOut();
  }

  /** Bytes the broker holds for tunnels, unsent (both directions): a slow reader must keep this bounded. */
  get buffered(): number {
    let n = 0;
    for (const t of this.live) n += t.buffered;
    return n;
  }
}

/**
 * One tunnel: bytes both ways with backpressure (a side that cannot take more pauses the other's reads),
 * FIN passed on each way (half-close), and one end, when both sockets have closed. An error or reset on
 * either side, or the idle timeout, destroys both.
 */
export class Tunnel implements TunnelSink {
  lastActivity: number;
  private clientEnded = false;
  private backendEnded = false;
  private clientClosed = false;
  private backendClosed = false;
  /** Which side closed first, and whether cleanly (FIN received, no error). */
  private firstClose: 'clean' | 'client-broke' | 'backend-broke' | undefined = undefined;
  private reason = '';
  private timedOut = false;
  private finished = false;
  private readonly upstream: net.Socket;

  constructor(
    private readonly tunnels: Tunnels,
    private readonly owner: TunnelOwner,
    private readonly client: net.Socket,
    backend: BackendPipe,
  ) {
    this.upstream = backend.socket;
    this.lastActivity = tunnels.now;
    client.on('data', this.onClientData);
    client.on('drain', this.onClientDrain);
    client.on('end', this.onClientEnd);
    client.on('close', this.onClientClose);
    this.upstream.on('drain', this.onUpstreamDrain);
    if (client.isPaused()) client.resume();
    // The client may have closed before the 101 came (its 'close' already emitted): end from here.
    if (client.closed) queueMicrotask(() => this.onClientClose(true));
  }

  get buffered(): number {
    return this.client.writableLength + this.upstream.writableLength;
  }

  readonly onClientData = (chunk: Buffer): void => {
    this.lastActivity = this.tunnels.now;
    if (this.upstream.destroyed) return;
    if (!this.upstream.write(chunk)) this.client.pause();
  };

  private readonly onUpstreamDrain = (): void => {
    if (!this.clientClosed) this.client.resume();
  };

  private readonly onClientDrain = (): void => {
    if (!this.backendClosed) this.upstream.resume();
  };

  onBackendData(view: Buffer): void {
    this.lastActivity = this.tunnels.now;
    if (this.client.destroyed) return;
    // The view is of a shared read buffer: what is written must be a copy.
    if (!this.client.write(Buffer.from(view))) this.upstream.pause();
  }

  readonly onClientEnd = (): void => {
    this.clientEnded = true;
    if (!this.upstream.destroyed) this.upstream.end();
  };

  onBackendEnd(): void {
    this.backendEnded = true;
    if (!this.client.destroyed) this.client.end();
  }

  private readonly onClientClose = (hadError: boolean): void => {
    if (this.clientClosed) return;
    this.clientClosed = true;
    this.firstClose ??= hadError || !this.clientEnded ? 'client-broke' : 'clean';
    // Both ways finished cleanly: the other socket closes once its last bytes are out; anything else
    // (a reset, a close without FIN) ends the tunnel now.
    if (this.clientEnded && this.backendEnded) this.upstream.destroySoon();
    else this.upstream.destroy();
    this.maybeEnd();
  };

  onBackendClose(error: string | undefined): void {
    if (this.backendClosed) return;
    this.backendClosed = true;
    if (this.firstClose === undefined) {
      this.firstClose = error !== undefined || !this.backendEnded ? 'backend-broke' : 'clean';
      this.reason = error ?? (this.backendEnded ? '' : 'backend closed the tunnel');
    }
    if (this.clientEnded && this.backendEnded) this.client.destroySoon();
    else this.client.destroy();
    this.maybeEnd();
  }

  /** No byte either way for the tunnel timeout. */
  timeOut(): void {
    this.timedOut = true;
    this.destroy();
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  private maybeEnd(): void {
    if (this.finished || !this.clientClosed || !this.backendClosed) return;
    this.finished = true;
    this.client.off('data', this.onClientData);
    this.client.off('drain', this.onClientDrain);
    this.client.off('end', this.onClientEnd);
    this.upstream.off('drain', this.onUpstreamDrain);
    this.tunnels.ended1(this, this.owner.backend);
    // How it ended, for the backend's health: a backend that reset or closed without FIN first broke the
    // try; a client that left, a timeout, or a clean close both ways are not its fault.
    if (this.timedOut) this.owner.tunnelEnded('ok', 'tunnel timed out');
    else if (this.firstClose === 'backend-broke') this.owner.tunnelEnded('broken', this.reason);
    else if (this.firstClose === 'client-broke') this.owner.tunnelEnded('client-gone', 'client went away');
    else this.owner.tunnelEnded('ok', '');
  }
}
