import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * The classroom log (seed 004's log.txt): one line per event, `<Event>: <YYYY-MM-DD HH:MM:SS> - <detail>`,
 * local time, appended to the file as Python's logging FileHandler does. Lines are batched into large
 * writes so logging a load run does not cost a syscall per event.
 */

export type LogEvent =
  | 'Connection'
  | 'Message Sent'
  | 'Message Received'
  | 'Response Time'
  | 'Error'
  | 'Retry'
  | 'Strategy'
  | 'Throughput'
  | 'Latency';

const FLUSH_AT = 64 * 1024;

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

export function formatTimestamp(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export class ClassroomLog {
  private readonly stream: WriteStream;
  private pending = '';
  private stampSecond = -1;
  private stamp = '';
  private failed: Error | undefined;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: 'a' });
    this.stream.on('error', (err) => {
      this.failed = err;
    });
  }

  /** Opens the file now, so a bad path is reported before any request is sent. */
  async ready(): Promise<void> {
    if (this.failed) throw this.failed;
    await Promise.race([once(this.stream, 'ready'), once(this.stream, 'error')]);
    if (this.failed) throw this.failed;
  }

  event(event: LogEvent, detail: string): void {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== this.stampSecond) {
      this.stampSecond = second;
      this.stamp = formatTimestamp(new Date(now));
    }
    this.pending += `${event}: ${this.stamp} - ${detail}\n`;
    if (this.pending.length >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.pending === '') return;
    this.stream.write(this.pending);
    this.pending = '';
  }

  async close(): Promise<void> {
    this.flush();
    this.stream.end();
    await once(this.stream, 'close');
    if (this.failed) throw this.failed;
  }
}
