import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../client/run-cli.js';

/** Runs `node bin/timbang.js simulate ...` (the built CLI) to the end, within 60 s. */
const simulate = (args: string[]) => runCli(['simulate', ...args], 60_000);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-sim-lab-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('timbang simulate: brokers, sweeps, CSV', () => {
  it('--brokers K reports the imbalance and the cost against one broker', async () => {
    const r = await simulate([
      '--backends',
      '50',
      '--requests',
      '20000',
      '--brokers',
      '4',
      '--strategy',
      'lc,random',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/4 brokers \(random split, each counting only its own requests\)/);
    expect(r.stdout).toMatch(/4 brokers against one global broker/);
    expect(r.stdout).toMatch(
      / {2}least-connections {2}p99 [\d.]+ ms, .*busy max\/mean [\d.]+, .*\(one broker: p99 [\d.]+ ms.*\): p99 x[\d.]+/,
    );
  });

  it('--brokers 1,2,4 is a sweep: a table, a CSV and an HTML report with the charts', async () => {
    const csv = join(dir, 'brokers.csv');
    const html = join(dir, 'brokers.html');
    const args = [
      '--backends',
      '40',
      '--requests',
      '10000',
      '--brokers',
      '1,2,4',
      '--strategy',
      'p2c,lc',
      '--csv',
      csv,
      '--report',
      html,
    ];
    const r = await simulate(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/sweep: brokers = 1, 2, 4/);
    expect(r.stdout).toMatch(/^4\s+least-connections\s+[\d.]+/m);
    const rows = (await readFile(csv, 'utf8')).trimEnd().split('\n');
    expect(rows[0]).toBe(
      'brokers,strategy,backends,brokers,load,requests,completed,dropped,throughputPerSec,meanMs,p50Ms,p90Ms,p99Ms,maxMs,meanSeMs,p99SeMs,busyMaxOverMean,peakMaxOverMean,servedCv,seed',
    );
    expect(rows).toHaveLength(1 + 3 * 2);
    expect(rows[5].split(',').slice(0, 4)).toEqual(['4', 'power-of-two', '40', '4']);
    const page = await readFile(html, 'utf8');
    for (const id of ['chart-p99', 'chart-p50', 'chart-mean', 'chart-busy', 'chart-cv'])
      expect(page).toContain(`id="${id}"`);
    expect(page).toContain('brokers (K)');
    // Same seed, same CSV.
    const again = join(dir, 'again.csv');
    await simulate([...args.slice(0, -4), '--csv', again]);
    expect(await readFile(again, 'utf8')).toBe(await readFile(csv, 'utf8'));
  });

  it('--sweep load=... runs every strategy at every point', async () => {
    const csv = join(dir, 'load.csv');
    const r = await simulate([
      '--backends',
      '10',
      '--requests',
      '5000',
      '--sweep',
      'load=0.5:0.9:0.2',
      '--strategy',
      'rr,p2c',
      '--csv',
      csv,
    ]);
    expect(r.code).toBe(0);
    const rows = (await readFile(csv, 'utf8')).trimEnd().split('\n').slice(1);
    expect(rows.map((l) => l.split(',').slice(0, 2).join(' '))).toEqual([
      '0.5 round-robin',
      '0.5 power-of-two',
      '0.7 round-robin',
      '0.7 power-of-two',
      '0.9 round-robin',
      '0.9 power-of-two',
    ]);
    // Latency grows with the load.
    const p99 = rows.filter((l) => l.includes('power-of-two')).map((l) => Number(l.split(',')[12]));
    expect(p99[0]).toBeLessThan(p99[2]);
  });

  it('--csv on a plain run writes one row per strategy, and per backend beside it', async () => {
    const csv = join(dir, 'plain.csv');
    const r = await simulate(['--backends', '3', '--requests', '3000', '--strategy', 'rr,lc', '--csv', csv]);
    expect(r.code).toBe(0);
    const rows = (await readFile(csv, 'utf8')).trimEnd().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[1].startsWith('round-robin,3,1,0.8,3000,2700,0,')).toBe(true);
    const backends = (await readFile(join(dir, 'plain.backends.csv'), 'utf8')).trimEnd().split('\n');
    expect(backends[0]).toBe('strategy,backend,requests,meanLatencyMs,utilization,peakInFlight');
    expect(backends).toHaveLength(1 + 2 * 3);
  });

  it('warns on stderr when the run is too short for its load, and still runs', async () => {
    const r = await simulate([
      '--backends',
      '200',
      '--requests',
      '20000',
      '--load',
      '0.9',
      '--strategy',
      'random',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: run too short for load 0\.9: .* Use --requests \d+ or more/);
    expect(r.stdout).toMatch(/^random\s+20000/m);
    const fine = await simulate(['--requests', '20000', '--load', '0.5', '--strategy', 'random']);
    expect(fine.stderr).toBe('');
  });

  it('--help lists the lab flags', async () => {
    const r = await simulate(['--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--brokers', '--split', '--staleness', '--sweep', '--sessions', '--csv'])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/--split <how>.*\(default: "random"\)/s);
  });

  it('turns bad lab flags into one clear line and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--brokers', '0'], /--brokers/],
      [['--brokers', '2,x'], /--brokers/],
      [['--split', 'sideways', '--brokers', '2'], /--split/],
      [['--split', 'hash'], /--split and --staleness need several brokers/],
      [['--sweep', 'speed=1:2:1'], /bad --sweep/],
      [['--sweep', 'load=0.9:0.1:0.1'], /FROM <= TO/],
      [['--sweep', 'backends=1.5,2'], /whole numbers/],
      [['--sweep', 'load=0.5,0.9', '--brokers', '1,2'], /--brokers with a list is a sweep/],
      [['--sessions', '0'], /--sessions/],
      [['--profile', '--brokers', '4'], /--profile measures one broker/],
    ];
    const runs = await Promise.all(cases.map(([args]) => simulate(args)));
    runs.forEach((r, i) => {
      expect(r.code, cases[i][0].join(' ')).toBe(2);
      expect(r.stderr).toMatch(cases[i][1]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  });
});
