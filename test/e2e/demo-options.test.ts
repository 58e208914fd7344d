import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('timbang demo options', () => {
  it('takes more requests, the classroom names, --load, --weights and --json/--report', {
    timeout: 60_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'timbang-demo-'));
    try {
      const json = join(dir, 'demo.json');
      const html = join(dir, 'demo.html');
      const demo = runCli([
        'demo',
        '--speed',
        '25',
        '--port',
        '0',
        '--admin-port',
        '0',
        '-n',
        '12',
        '--strategy',
        'balanced,weighted_round_robin',
        '--load',
        '0.6',
        '--weights',
        '1,1,2',
        '--json',
        json,
        '--report',
        html,
      ]);
      const { code } = await demo.exited;
      const out = demo.output();
      expect(code, out).toBe(0);
      expect(out).toMatch(/Offered load 0\.60 \(one request every \d+ ms, 12 per strategy/);
      expect(out).toMatch(/cores and weights 1, 1, 2/);
      const rows = out.split('\n').filter((l) => /^(least-requests|weighted-round-robin)\s+12\s+0\s/.test(l));
      expect(rows, out).toHaveLength(2);
      const data = JSON.parse(await readFile(json, 'utf8'));
      expect(data.schema).toBe('timbang-demo/1');
      expect(data.params).toMatchObject({ offeredLoad: 0.6, weights: '1,1,2', requests: 12 });
      expect(data.results.map((r: { strategy: string }) => r.strategy)).toEqual([
        'least-requests',
        'weighted-round-robin',
      ]);
      // Worker 3 has weight 2: weighted round robin gives it half the requests.
      const wrr = data.results[1].perBackend.map((b: { requests: number }) => b.requests);
      expect(wrr).toEqual([3, 3, 6]);
      expect(await readFile(html, 'utf8')).toMatch(/<html/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses --seed without --scenario in one line, exit 2 (nothing in the demo is drawn at random)', async () => {
    const demo = runCli(['demo', '--seed', '3', '--port', '0', '--admin-port', '0']);
    const { code } = await demo.exited;
    expect(code).toBe(2);
    expect(demo.output().trim()).toBe(
      "timbang: --seed goes with --scenario: the demo's own scenario draws nothing at random",
    );
  });
});
