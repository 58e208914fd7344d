/**
 * One request in flight and what came back. The driver reuses these objects (a free list), and a
 * transport fills in the outcome and calls `sink.done` exactly once per try: no per-request closures.
 */
export class Exchange {
  /** Index into the messages table: which type and app id. */
  typeIdx = 0;
  appIdx = 0;
  /** When the request should have been sent (open loop) or was first sent (closed loop), ms. */
  intendedAt = 0;
  /** Tries made so far, counting the one in flight. */
  tries = 0;

  ok = false;
  /** The failure is worth another try (connect error, broker had no backend, 502/503/504). */
  retryable = false;
  backend = '';
  bytes = 0;
  /** HTTP status, or 0 on the line protocol. */
  status = 0;
  /** Short failure kind: 'timeout', 'connection refused', 'http 503', 'ERROR no backend available'. */
  errorKind = '';
  /** The reply's text; filled only when a transport is asked to keep it (logging, single request). */
  reply = '';
  /** Transport-private per-exchange state, created once and reused with the exchange. */
  slot: unknown = undefined;

  reset(): void {
    this.ok = false;
    this.retryable = false;
    this.backend = '';
    this.bytes = 0;
    this.status = 0;
    this.errorKind = '';
    this.reply = '';
  }
}

export interface Sink {
  /** The message is going out on a connected socket now (after any 'Connection'), for the log. */
  sent(ex: Exchange): void;
  done(ex: Exchange): void;
}

/** Sends exchanges to the broker over one protocol; `done` is called once per `send`. */
export interface Transport {
  send(ex: Exchange): void;
  /** The message as the classroom log shows it, e.g. `App1:Long:round-robin` or `GET /work?...`. */
  describe(ex: Exchange): string;
  close(): Promise<void>;
}

/** What a transport needs to build its messages: types and app ids by index, and a strategy or none. */
export interface MessageSpec {
  types: readonly string[];
  appIds: readonly string[];
  strategy: string | undefined;
}
