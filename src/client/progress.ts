import cliProgress from 'cli-progress';
import type { Recorder } from './recorder.js';
import type { ClientStrategyResult } from './types.js';

/** Progress on stderr: a bar on a terminal (cli-progress), a plain line every few seconds otherwise. */
export interface Progress {
  begin(strategy: string, expectedRequests: number | undefined): void;
  update(rec: Recorder): void;
  /** The strategy's end line; undefined: the run was abandoned, just clear the bar. */
  end(result: ClientStrategyResult | undefined): void;
}

const PLAIN_EVERY_MS = 5000;

function rateOf(rec: Recorder): number {
  const started = rec.startedAt;
  const elapsed = (performance.now() - started) / 1000;
  return elapsed > 0 ? rec.completed / elapsed : 0;
}

export function endLine(r: ClientStrategyResult): string {
  return `[${r.strategy}] done: ${r.requests} requests, ${r.errors} errors, ${r.throughputPerSec.toFixed(1)} req/s in ${r.durationSec.toFixed(1)} s`;
}

/** For pipes and CI logs: a line every 5 s while a strategy runs, and one when it ends. */
export class PlainProgress implements Progress {
  private lastAt = 0;
  private expected: number | undefined;

  constructor(private readonly out: NodeJS.WritableStream = process.stderr) {}

  begin(_strategy: string, expectedRequests: number | undefined): void {
    this.expected = expectedRequests;
    this.lastAt = performance.now();
  }

  update(rec: Recorder): void {
    const now = performance.now();
    if (now - this.lastAt < PLAIN_EVERY_MS) return;
    this.lastAt = now;
    const of = this.expected ? `/${this.expected}` : '';
    this.out.write(
      `[${rec.strategy}] ${rec.completed + rec.errors}${of} done, ${rec.errors} errors, ${rec.inFlight} in flight, ${rateOf(rec).toFixed(1)} req/s\n`,
    );
  }

  end(result: ClientStrategyResult | undefined): void {
    if (result) this.out.write(`${endLine(result)}\n`);
  }
}

/** On a terminal: a redrawn bar per strategy, then the strategy's end line. */
export class BarProgress implements Progress {
  private bar: cliProgress.SingleBar | undefined;

  begin(strategy: string, expectedRequests: number | undefined): void {
    this.bar = new cliProgress.SingleBar(
      {
        format: `${strategy.padEnd(26)} [{bar}] {value}/{total} | {errors} errors | {inFlight} in flight | {rate} req/s`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(expectedRequests ?? 0, 0, { errors: 0, inFlight: 0, rate: '0.0' });
  }

  update(rec: Recorder): void {
    const done = rec.completed + rec.errors;
    if (this.bar && this.bar.getTotal() < done) this.bar.setTotal(done);
    this.bar?.update(done, { errors: rec.errors, inFlight: rec.inFlight, rate: rateOf(rec).toFixed(1) });
  }

  end(result: ClientStrategyResult | undefined): void {
    if (result) this.bar?.update(result.completed + result.errors);
    this.bar?.stop();
    if (result) process.stderr.write(`${endLine(result)}\n`);
  }
}
