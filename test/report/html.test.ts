import { describe, expect, it } from 'vitest';
import { renderHtmlReport } from '../../src/report/html.js';
import { sampleReport, sampleResult } from './sample.js';

const report = sampleReport([
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

describe('renderHtmlReport', () => {
  const html = renderHtmlReport(report);

  it('is one self-contained file: uPlot inlined, nothing fetched from the network', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('uPlot'); // the library's own code
    expect(html).toContain('.uplot'); // and its CSS
    expect(html).not.toMatch(/<(script|img|iframe)[^>]+src=/i);
    expect(html).not.toMatch(/<link[^>]+href=/i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/i);
  });

  it('has the four charts and the table', () => {
    for (const id of ['chart-cdf', 'chart-backends', 'chart-throughput', 'chart-inflight', 'results']) {
      expect(html).toContain(`id="${id}"`);
    }
    expect(html).toMatch(/<td>least-connections<\/td><td>60<\/td><td>0<\/td>/);
    expect(html).toContain('<th>b:3</th>');
  });

  it('embeds the chart data as JSON', () => {
    const json = /<script type="application\/json" id="timbang-data">(.*?)<\/script>/s.exec(html)?.[1];
    const data = JSON.parse(json ?? 'null');
    expect(data.cdf.series.map((s: { label: string }) => s.label)).toEqual([
      'round-robin',
      'least-connections',
    ]);
    expect(data.throughput.x).toEqual([1, 2, 3]);
    expect(data.inFlight.series[1].y).toEqual([6, 5, 0]);
  });

  it('draws a bar segment per backend and strategy, sized by share', () => {
    const segs = [...html.matchAll(/<rect class="seg" x="[\d.]+" y="\d+" width="([\d.]+)"/g)].map((m) =>
      Number(m[1]),
    );
    expect(segs).toHaveLength(6);
    expect(segs[3] / segs[5]).toBeCloseTo(3, 3); // least-connections: 30 vs 10
  });

  it('escapes text so no value can end a script or inject markup', () => {
    const evil = sampleReport([sampleResult('x', [['1', 1]])]);
    evil.title = '<img src=x onerror=alert(1)>';
    evil.params = { note: '</script><script>alert(1)</script>' };
    const out = renderHtmlReport(evil);
    expect(out).not.toContain('<img src=x');
    expect(out).not.toContain('</script><script>alert(1)');
    expect(out).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });
});
