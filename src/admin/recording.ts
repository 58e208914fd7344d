import { csvCell } from '../report/csv-cell.js';

/**
 * The dashboard's "Record": what the broker saw between Start and Stop, per strategy, in the shape
 * `timbang simulate --json` writes (one JSON object per line: strategy, backends, requests, completed,
 * throughputPerSec, latencyMs {mean, p50, p90, p99, max}, perBackend [{id, requests, meanLatencyMs,
 * utilization}]), so a live run and a simulation load into the same notebook. Latencies are whole
 * requests as the broker saw them (first pick to answer, retries included).
 */

/** Enough for an hour of a classroom's traffic; beyond it, latencies are no longer kept (counts are). */
const MAX_SAMPLES = 1_000_000;

interface StrategyTally {
  latencies: number[];
  requests: number;
  completed: number;
  backends: Map<string, { requests: number; sumMs: number }>;
}

export class Recording {
  readonly startedAt = performance.now();
  stoppedAt: number | undefined = undefined;
  private readonly by = new Map<string, StrategyTally>();
  /** Per backend id: ticks seen, and ticks it had a request in flight (utilisation, tick-sampled). */
  private readonly busy = new Map<string, { ticks: number; busy: number }>();
  private samples = 0;

  get recording(): boolean {
    return this.stoppedAt === undefined;
  }

  /** A request finished (after its retries); ok: answered below 500. */
  finish(strategy: string, backend: string | undefined, ok: boolean, totalMs: number): void {
    if (!this.recording) return;
    let t = this.by.get(strategy);
    if (!t) {
      t = { latencies: [], requests: 0, completed: 0, backends: new Map() };
      this.by.set(strategy, t);
    }
    t.requests++;
    if (!ok) return;
    t.completed++;
    if (this.samples < MAX_SAMPLES) {
      t.latencies.push(totalMs);
      this.samples++;
    }
    if (backend !== undefined) {
      let b = t.backends.get(backend);
      if (!b) {
        b = { requests: 0, sumMs: 0 };
        t.backends.set(backend, b);
      }
      b.requests++;
      b.sumMs += totalMs;
    }
  }

  /** Once per dashboard tick: which backends are busy now. */
  tick(backends: ReadonlyArray<{ id: string; inFlight: number }>): void {
    if (!this.recording) return;
    for (const b of backends) {
      let u = this.busy.get(b.id);
      if (!u) {
        u = { ticks: 0, busy: 0 };
        this.busy.set(b.id, u);
      }
      u.ticks++;
      if (b.inFlight > 0) u.busy++;
    }
  }

  stop(): void {
    this.stoppedAt ??= performance.now();
  }

  /** One record per strategy, in simulate --json's fields and order. */
  records(): Array<Record<string, unknown>> {
    const seconds = Math.max(1e-3, ((this.stoppedAt ?? performance.now()) - this.startedAt) / 1000);
    const r3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
    const out: Array<Record<string, unknown>> = [];
    for (const [strategy, t] of this.by) {
      const sorted = t.latencies.slice().sort((a, b) => a - b);
      const at = (p: number) =>
        sorted.length === 0
          ? Number.NaN
          : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
      const mean = sorted.length === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length;
      const ids = [...new Set([...this.busy.keys(), ...t.backends.keys()])].sort((a, b) =>
        a.localeCompare(b, undefined, { numeric: true }),
      );
      out.push({
        strategy,
        backends: ids.length,
        requests: t.requests,
        completed: t.completed,
        throughputPerSec: r3(t.completed / seconds),
        latencyMs: {
          mean: r3(mean),
          p50: r3(at(50)),
          p90: r3(at(90)),
          p99: r3(at(99)),
          max: r3(sorted.at(-1) ?? Number.NaN),
        },
        perBackend: ids.map((id) => {
          const b = t.backends.get(id);
          const u = this.busy.get(id);
          return {
            id,
            requests: b?.requests ?? 0,
            meanLatencyMs: r3(b && b.requests > 0 ? b.sumMs / b.requests : 0),
            utilization: u && u.ticks > 0 ? Math.round((u.busy / u.ticks) * 1e6) / 1e6 : 0,
          };
        }),
      });
    }
    return out;
  }

  jsonLines(): string {
    return this.records()
      .map((r) => `${JSON.stringify(r)}\n`)
      .join('');
  }

  /** The same records flat: one row per strategy and backend. */
  csv(): string {
    const lines = [
      'strategy,backends,requests,completed,throughput_per_sec,mean_ms,p50_ms,p90_ms,p99_ms,max_ms,backend,backend_requests,backend_mean_ms,backend_utilization',
    ];
    for (const r of this.records()) {
      const l = r.latencyMs as Record<string, number | null>;
      const head = [
        csvCell(String(r.strategy)),
        r.backends,
        r.requests,
        r.completed,
        r.throughputPerSec ?? '',
        l.mean ?? '',
        l.p50 ?? '',
        l.p90 ?? '',
        l.p99 ?? '',
        l.max ?? '',
      ];
      for (const b of r.perBackend as Array<Record<string, unknown>>) {
        lines.push(
          [...head, csvCell(String(b.id)), b.requests, b.meanLatencyMs ?? '', b.utilization].join(','),
        );
      }
    }
    return `${lines.join('\n')}\n`;
  }
}
