import { describe, expect, it } from 'vitest';
import { cdfData, timelineData } from '../../src/report/chart-data.js';
import { backendIds, renderTable, spread } from '../../src/report/table.js';
import { sampleResult } from './sample.js';

describe('renderTable', () => {
  it('prints one aligned row per strategy with latency, spread and per-backend counts', () => {
    const text = renderTable([
      sampleResult('round-robin', [
        ['1', 20],
        ['2', 20],
        ['3', 20],
      ]),
      sampleResult('least-connections', [
        ['1', 30],
        ['2', 20],
        ['3', 10],
      ]),
    ]);
    expect(text).toBe(
      [
        'strategy           requests  errors  throughput/s  mean ms  p50 ms  p90 ms  p99 ms  max ms  spread  b:1  b:2  b:3',
        '-----------------  --------  ------  ------------  -------  ------  ------  ------  ------  ------  ---  ---  ---',
        'round-robin              60       0         12.35     1813    1004    5010    5121    5201   1.00x   20   20   20',
        'least-connections        60       0         12.35     1813    1004    5010    5121    5201   3.00x   30   20   10',
        'spread = most / fewest requests over backends (1.00x is even); b:<id> = requests per backend',
        '',
      ].join('\n'),
    );
  });

  it('adds a utilisation column when the results have one (the simulator)', () => {
    const r = sampleResult('p2c', [['1', 5]]);
    r.perBackend[0].utilization = 0.875;
    const [header, , row] = renderTable([r]).split('\n');
    expect(header).toMatch(/spread {3}util {2}b:1$/);
    expect(row).toMatch(/1\.00x {2}87\.5% {4}5$/);
  });

  it('puts a 0 for a backend a strategy never used and shows an infinite spread', () => {
    const text = renderTable([
      sampleResult('a', [
        ['1', 2],
        ['2', 2],
      ]),
      sampleResult('b', [['1', 4]]),
    ]);
    const rowB = text.split('\n')[3];
    expect(rowB).toMatch(/ {5}inf {4}4 {4}0$/);
  });

  it('shows - for a strategy with no completed request', () => {
    const r = sampleResult('dead', [], {
      latencyMs: { mean: Number.NaN, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN },
      throughputPerSec: 0,
    });
    expect(renderTable([r]).split('\n')[2]).toMatch(/^dead +0 +0 +0\.00 +- +- +- +- +- +-$/);
  });
});

describe('spread and backend order', () => {
  it('is the largest share over the smallest, ignoring unknown', () => {
    const b = (id: string, requests: number) => ({ id, requests, meanLatencyMs: 1 });
    expect(spread([b('1', 10), b('2', 5), b('unknown', 1)])).toBe(2);
    expect(spread([b('1', 10), b('2', 0)])).toBe(Number.POSITIVE_INFINITY);
    expect(spread([])).toBeNaN();
  });

  it('orders backend ids naturally with unknown last', () => {
    const r = sampleResult('x', [
      ['unknown', 1],
      ['10', 1],
      ['2', 1],
    ]);
    expect(backendIds([r])).toEqual(['2', '10', 'unknown']);
  });
});

describe('chart data', () => {
  it('puts every CDF on one x axis as a step function', () => {
    const a = sampleResult('a', [['1', 1]], {
      latencyCdf: [
        { ms: 1, fraction: 0.5 },
        { ms: 3, fraction: 1 },
      ],
    });
    const b = sampleResult('b', [['1', 1]], {
      latencyCdf: [
        { ms: 2, fraction: 0.25 },
        { ms: 4, fraction: 1 },
      ],
    });
    const d = cdfData([a, b]);
    expect(d.x).toEqual([1, 2, 3, 4]);
    expect(d.series).toEqual([
      { label: 'a', y: [0.5, 0.5, 1, 1] },
      { label: 'b', y: [0, 0.25, 0.25, 1] },
    ]);
  });

  it('resamples a very long CDF on a log grid', () => {
    const cdf = Array.from({ length: 5000 }, (_, i) => ({ ms: i + 1, fraction: (i + 1) / 5000 }));
    const d = cdfData([sampleResult('a', [['1', 1]], { latencyCdf: cdf })]);
    expect(d.x.length).toBeLessThan(1000);
    expect(d.x[0]).toBe(1);
    expect(d.x.at(-1)).toBe(5000);
    expect(d.series[0].y.at(-1)).toBe(1);
  });

  it('aligns timelines by second with gaps where a strategy has no point', () => {
    const a = sampleResult('a', [['1', 1]], { timeline: [{ t: 1, throughputPerSec: 3, inFlight: 2 }] });
    const b = sampleResult('b', [['1', 1]], {
      timeline: [
        { t: 1, throughputPerSec: 4, inFlight: 1 },
        { t: 2, throughputPerSec: 5, inFlight: 0 },
      ],
    });
    expect(timelineData([a, b], 'inFlight')).toEqual({
      x: [1, 2],
      series: [
        { label: 'a', y: [2, null] },
        { label: 'b', y: [1, 0] },
      ],
    });
  });
});
