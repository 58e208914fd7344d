import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LiveStats } from './live.js';
import type { HelloMessage, TickMessage } from './snapshot.js';

/** A dashboard that cannot keep up (a stalled tab) is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1 << 20;

/**
 * Server-Sent Events for the dashboards: one tick every `tickMs`, computed once and written to every
 * subscriber (never per subscriber, never polled). The tick runs even with nobody watching, so the
 * charts have their last minutes of history when a dashboard opens.
 */
export class EventStream {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  ticks = 0;

  constructor(
    private readonly live: LiveStats,
    private readonly tickMs = 500,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  get subscribers(): number {
    return this.clients.size;
  }

  subscribe(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    req.socket.setNoDelay(true);
    const hello: HelloMessage = {
      state: this.live.state(),
      history: this.live.historyView(),
      events: this.live.recentEvents(),
    };
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`);
    this.clients.add(res);
    res.once('close', () => this.clients.delete(res));
  }

  tick(): void {
    this.ticks++;
    const message: TickMessage = this.live.tick();
    if (this.clients.size === 0) return;
    const frame = `event: tick\ndata: ${JSON.stringify(message)}\n\n`;
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
      else res.write(frame);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
