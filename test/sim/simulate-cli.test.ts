import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRATEGIES } from '../../src/balancer/strategies/index.js';
import { type CliResult as Run, runCli } from '../client/run-cli.js';
import { BIN } from '../helpers/cli.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/broker-log.jsonl', import.meta.url));

/** Runs `node bin/timbang.js simulate ...` (the built CLI) to the end, within 60 s. */
const simulate = (args: string[]) => runCli(['simulate', ...args], 60_000);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-sim-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('timbang simulate (CLI)', () => {
  it('--json prints one object per strategy in the contract format, byte-identical for the same seed', async () => {
    const args = ['--backends', '20', '--requests', '20000', '--load', '0.9', '--seed', '7', '--json'];
    const [a, b] = await Promise.all([simulate(args), simulate(args)]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const lines = a.stdout.trimEnd().split('\n');
    // No --strategy: all of them, in registry order.
    expect(lines.map((l) => JSON.parse(l).strategy)).toEqual(STRATEGIES.map((s) => s.name));
    const first = JSON.parse(lines[0]);
    expect(Object.keys(first)).toEqual([
      'strategy',
      'backends',
      'requests',
      'completed',
      'throughputPerSec',
      'latencyMs',
      'perBackend',
      'seed',
    ]);
    expect(first.seed).toBe(7);
    expect(Object.keys(first.latencyMs)).toEqual(['mean', 'p50', 'p90', 'p99', 'max']);
    expect(Object.keys(first.perBackend[0])).toEqual(['id', 'requests', 'meanLatencyMs', 'utilization']);
    expect(first.backends).toBe(20);
    expect(first.requests).toBe(20000);
    // Warm-up: the first 10% of arrivals are not measured; everything else completes (the run drains).
    expect(first.completed).toBe(18000);
    expect(first.perBackend.reduce((n: number, b: { requests: number }) => n + b.requests, 0)).toBe(18000);
    for (const b of first.perBackend) expect(b.utilization).toBeGreaterThan(0.8);
    const other = await simulate([
      '--backends',
      '20',
      '--requests',
      '20000',
      '--load',
      '0.9',
      '--seed',
      '8',
      '--json',
    ]);
    expect(other.stdout).not.toBe(a.stdout);
  });

  it('prints the shared table, utilisation, and its own speed', async () => {
    const r = await simulate([
      '--backends',
      '4',
      '--requests',
      '5000',
      '--strategy',
      'rr,p2c',
      '--service',
      'mix',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/mean 1800 ms/);
    expect(r.stdout).toMatch(/^round-robin\s+5000\s+0\s/m);
    expect(r.stdout).toMatch(/^power-of-two\s+5000\s+0\s/m);
    expect(r.stdout).toMatch(/b:4/);
    expect(r.stdout).toMatch(/utilisation per backend/);
    expect(r.stdout).toMatch(
      / {2}power-of-two {2}min [\d.]+%, mean [\d.]+%, max [\d.]+% {2}\[1: [\d.]+%, 2: [\d.]+%, 3: [\d.]+%, 4: [\d.]+%\]/,
    );
    expect(r.stdout).toMatch(/simulated 10000 requests in [\d.]+ s of wall time: \d+ requests\/s/);
  });

  it('replays a broker log under every strategy and names the lowest p99', async () => {
    const r = await simulate(['--trace', FIXTURE, '--cores', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /trace: 62 requests over [\d.]+ h \(3 other lines skipped\); 3 backend\(s\) and strategy round-robin/,
    );
    const best = /lowest p99 on this traffic: ([\w-]+) \(([\d.]+) ms\)/.exec(r.stdout);
    expect(best).not.toBeNull();
    expect(STRATEGIES.map((s) => s.name)).toContain(best![1]);
    const json = await simulate(['--trace', FIXTURE, '--json', '--strategy', 'lc']);
    expect(JSON.parse(json.stdout).requests).toBe(62);
  });

  it('writes the shared HTML report', async () => {
    const file = join(dir, 'report.html');
    const r = await simulate([
      '--backends',
      '3',
      '--requests',
      '3000',
      '--strategy',
      'random,lc',
      '--report',
      file,
    ]);
    expect(r.code).toBe(0);
    const html = await readFile(file, 'utf8');
    expect(html).toContain('<title>timbang simulate</title>');
    expect(html).toContain('Simulated run');
    expect(html).toContain('least-connections');
  });

  it('turns bad flags into one clear line and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--load', 'lots'], /--load/],
      [['--strategy', 'fastest'], /unknown strategy 'fastest'/],
      [['--arrival', 'trace'], /--arrival trace needs --trace/],
      [['--service', 'mix', '--mean-ms', '5'], /--mean-ms does not apply to --service mix/],
      [['--service', 'det', '--mix', 'long:1'], /need --service mix/],
      [['--backends', '3', '--weights', '1,2'], /--weights has 2 values but there are 3 backends/],
      [['--weights', 'random:5-1'], /bad --weights/],
      [['--trace', join(dir, 'missing.jsonl')], /cannot read trace/],
      [['--trace', FIXTURE, '--load', '0.5'], /--load does not apply to --trace/],
      [['--cores', '0'], /--cores/],
    ];
    const runs = await Promise.all(cases.map(([args]) => simulate(args)));
    runs.forEach((r, i) => {
      expect(r.code, cases[i][0].join(' ')).toBe(2);
      expect(r.stderr).toMatch(cases[i][1]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  });

  it('--help shows every flag with its default', async () => {
    const r = await simulate(['--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--backends',
      '--weights',
      '--strategy',
      '--load',
      '--arrival',
      '--service',
      '--mean-ms',
      '--mix',
      '--long-ms',
      '--short-ms',
      '--cores',
      '--capacity',
      '--requests',
      '--warmup',
      '--seed',
      '--trace',
      '--json',
      '--report',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/\(default: all\)/);
    expect(r.stdout).toMatch(/\(default: 0\.8\)/);
  });
});

describe('timbang simulate: seeds', () => {
  it('the default seed is fixed (two runs are byte-identical), and --seed random draws one and records it', async () => {
    const args = ['--backends', '5', '--requests', '3000', '--strategy', 'random,p2c', '--json'];
    const [a, b, c, d] = await Promise.all([
      simulate(args),
      simulate(args),
      simulate([...args, '--seed', 'random']),
      simulate([...args, '--seed', 'random']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout.split('\n')[0]).seed).toBe(1);
    const seedOf = (r: Run) => JSON.parse(r.stdout.split('\n')[0]).seed as number;
    // Two draws from 2^31 seeds collide with probability 5e-10.
    expect(seedOf(c)).not.toBe(seedOf(d));
    // The seed recorded replays the run.
    const replay = await simulate([...args, '--seed', String(seedOf(c))]);
    expect(replay.stdout).toBe(c.stdout);
  });

  it("a lesson's prediction: the same with no seed given, and --seed replaces the lesson's", async () => {
    const lesson = ['--scenario', 'examples/lessons/classroom.yaml', '--json'];
    const [a, b, c] = await Promise.all([
      simulate(lesson),
      simulate(lesson),
      simulate([...lesson, '--seed', '8']),
    ]);
    const rows = (r: Run) => {
      const j = JSON.parse(r.stdout) as { seed: number; rows: unknown[] };
      return { seed: j.seed, rows: JSON.stringify(j.rows) };
    };
    expect(rows(a)).toEqual(rows(b));
    expect(rows(a).seed).toBe(7);
    expect(rows(c).seed).toBe(8);
    expect(rows(c).rows).not.toBe(rows(a).rows);
  });
});

describe('timbang simulate (memory)', () => {
  it('keeps memory flat: 3,000,000 requests over 1,000 backends stay far under 200 MB', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(
      process.execPath,
      [
        BIN,
        'simulate',
        '--backends',
        '1000',
        '--strategy',
        'p2c',
        '--load',
        '0.9',
        '--requests',
        '3000000',
        '--json',
      ],
      { stdio: 'ignore' },
    );
    let peakKb = 0;
    const timer = setInterval(async () => {
      try {
        const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0));
      } catch {
        // Gone between samples.
      }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(timer);
    expect(code).toBe(0);
    expect(peakKb).toBeGreaterThan(0);
    // Measured about 60 MB (Node itself is 40): statistics are streaming, jobs live only while in flight.
    expect(peakKb / 1024).toBeLessThan(150);
  }, 60_000);
});
