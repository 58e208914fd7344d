import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Pool } from '../src/balancer/pool.js';
import { createRandom } from '../src/balancer/random.js';
import { STRATEGIES } from '../src/balancer/strategies/index.js';
import type { Backend, PickContext, Strategy } from '../src/balancer/types.js';

/**
 * The balancing core alone, no sockets: picks per second for each strategy at 3 and at 1,000 backends.
 * Two figures per cell: `picks/s` is pick() alone against a pool that has requests in flight; `cycles/s`
 * is pick, Pool.start, and Pool.end of the request started WINDOW picks earlier, so the least-cost heaps
 * and counters move as they do in the broker. Usage: node dist-bench/bench/core.js [--ms 300]
 */
export interface CoreRow {
  strategy: string;
  backends: number;
  picksPerSec: number;
  cyclesPerSec: number;
}

/** Requests in flight while cycling: each end is of the pick WINDOW steps before. */
const WINDOW = 64;
const SELF = fileURLToPath(import.meta.url);
const KEYS = Array.from({ length: 1024 }, (_, i) => `App${i}`);

function setup(strategyIndex: number, n: number): { pool: Pool; s: Strategy; ctx: PickContext } {
  const pool = new Pool(
    Array.from({ length: n }, (_, i) => ({ id: String(i + 1), address: `127.0.0.1:${10000 + i}` })),
  );
  const s = STRATEGIES[strategyIndex].create();
  pool.attach(s);
  const ctx: PickContext = { now: 0, rand: createRandom(42), key: undefined, avoid: undefined };
  return { pool, s, ctx };
}

/** Runs fn in batches until ms have passed; returns iterations per second. */
function rate(ms: number, batch: number, fn: (iterations: number) => void): number {
  fn(batch); // warm-up: let the JIT see it first
  fn(batch);
  let iterations = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    fn(batch);
    iterations += batch;
    t = performance.now();
  }
  return (iterations * 1000) / (t - t0);
}

/** Measures one strategy (by its index in STRATEGIES) at each pool size, in this process. */
export function benchStrategy(si: number, ms: number, sizes: readonly number[]): CoreRow[] {
  const rows: CoreRow[] = [];
  const keyed = STRATEGIES[si].name === 'consistent-hash';
  for (const n of sizes) {
    // Pick alone, over a pool with WINDOW requests in flight.
    const a = setup(si, n);
    for (let i = 0; i < WINDOW; i++) a.pool.start(a.s.pick(a.pool, a.ctx)!, 0);
    let sink = 0;
    const picksPerSec = rate(ms, 100_000, (iterations) => {
      const { pool, s, ctx } = a;
      for (let i = 0; i < iterations; i++) {
        if (keyed) ctx.key = KEYS[i & 1023];
        sink += s.pick(pool, ctx)!.slot;
      }
    });

    // pick -> start -> end of the request picked WINDOW steps earlier.
    const c = setup(si, n);
    const ring: Backend[] = [];
    for (let i = 0; i < WINDOW; i++) {
      const b = c.s.pick(c.pool, c.ctx)!;
      c.pool.start(b, 0);
      ring.push(b);
    }
    let head = 0;
    const cyclesPerSec = rate(ms, 50_000, (iterations) => {
      const { pool, s, ctx } = c;
      for (let i = 0; i < iterations; i++) {
        ctx.now += 0.01;
        const now = ctx.now;
        if (keyed) ctx.key = KEYS[i & 1023];
        const b = s.pick(pool, ctx)!;
        pool.start(b, now);
        pool.end(ring[head], now, 1 + (i & 7), true);
        ring[head] = b;
        head = head + 1 === WINDOW ? 0 : head + 1;
      }
    });
    if (sink < 0) console.log(sink); // keeps the pick loop from being optimised away
    rows.push({ strategy: STRATEGIES[si].name, backends: n, picksPerSec, cyclesPerSec });
  }
  return rows;
}

/**
 * Every strategy, each in a fresh process: the broker runs one strategy, so its call sites stay
 * monomorphic; measuring all in one process would charge each for the others' shapes.
 */
export function coreBench(ms = 300, sizes: readonly number[] = [3, 1000]): CoreRow[] {
  const rows: CoreRow[] = [];
  for (let si = 0; si < STRATEGIES.length; si++) {
    const out = execFileSync(
      process.execPath,
      [SELF, '--only', String(si), '--ms', String(ms), '--sizes', sizes.join(',')],
      {
        encoding: 'utf8',
      },
    );
    rows.push(...(JSON.parse(out) as CoreRow[]));
  }
  return rows;
}

const millions = (x: number) => `${(x / 1e6).toFixed(1)} M`;

export function coreTable(rows: readonly CoreRow[]): string {
  const lines = ['| strategy | backends | picks/s | pick+start+end/s |', '| --- | ---: | ---: | ---: |'];
  for (const r of rows) {
    lines.push(
      `| ${r.strategy} | ${r.backends} | ${millions(r.picksPerSec)} | ${millions(r.cyclesPerSec)} |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] === SELF) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const ms = Number(arg('--ms') ?? 300);
  const sizes = (arg('--sizes') ?? '3,1000').split(',').map(Number);
  const only = arg('--only');
  if (only !== undefined) console.log(JSON.stringify(benchStrategy(Number(only), ms, sizes)));
  else console.log(coreTable(coreBench(ms, sizes)));
}
