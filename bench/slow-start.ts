import { type JoinConfig, simulateJoin } from '../src/sim/join.js';

/**
 * The README's slow-start figure: a backend joins a busy least-connections pool (10 backends of 16
 * cores at load 0.9, cold for 5 s), without and with a 5 s slow start. Prints, per 250 ms after the join,
 * the most requests the newcomer held at once, and the others' mean. Usage: node dist-bench/bench/slow-start.js
 */
const BUSY: JoinConfig = {
  strategy: process.argv[2] ?? 'least-connections',
  backends: 9,
  cores: 16,
  load: 0.9,
  meanMs: 100,
  joinAtMs: 5_000,
  slowStartMs: 0,
  afterMs: 7_000,
  binMs: 250,
  seed: 1,
  coldFactor: 4,
  warmMs: 5_000,
};

const off = simulateJoin(BUSY);
const on = simulateJoin({ ...BUSY, slowStartMs: 5_000 });
const bar = (n: number) => '#'.repeat(Math.round(n));
console.log(
  `${BUSY.strategy}: newcomer's peak in flight per 250 ms after it joins (others' mean in brackets)`,
);
console.log('   t   no slow start                   slow start 5 s');
for (let k = 0; k < off.bins.length; k += 2) {
  const a = off.bins[k];
  const b = on.bins[k];
  const left = `${String(a.peakInFlight).padStart(2)} ${bar(a.peakInFlight)}`.padEnd(24);
  console.log(
    `${(a.t / 1000).toFixed(1).padStart(4)} s ${left} [${a.othersInFlight.toFixed(0).padStart(2)}]  ${String(b.peakInFlight).padStart(2)} ${bar(b.peakInFlight)}`,
  );
}
const fmt = (o: typeof off) =>
  `newcomer served ${o.newcomer.count}, mean ${o.newcomer.meanMs.toFixed(0)} ms, p99 ${o.newcomer.p99Ms.toFixed(0)} ms; all p99 ${o.all.p99Ms.toFixed(0)} ms`;
console.log(`no slow start: ${fmt(off)}`);
console.log(`slow start:    ${fmt(on)}`);
