import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SIM_DEFAULTS, type SimConfig } from '../../src/sim/config.js';
import { toJsonRecord } from '../../src/sim/output.js';
import { runStrategy } from '../../src/sim/run.js';
import { runCli } from '../client/run-cli.js';
import { Stack } from '../helpers/backends.js';
import { call, fakeWorker, startLab } from './helpers.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

function simRecord(): Record<string, unknown> {
  const c: SimConfig = {
    ...SIM_DEFAULTS,
    mix: { ...SIM_DEFAULTS.mix },
    backends: 2,
    weights: [1, 1],
    requests: 100,
    keys: 10,
  };
  return toJsonRecord(runStrategy(c, 'round-robin'));
}

/** Key paths of a JSON value, in order: the shape, without the numbers. */
function shape(v: unknown): string[] {
  if (Array.isArray(v)) return v.length > 0 ? shape(v[0]).map((k) => `[].${k}`) : ['[]'];
  if (v !== null && typeof v === 'object')
    return Object.entries(v).flatMap(([k, x]) => [k, ...shape(x).map((s) => `${k}.${s}`)]);
  return [];
}

describe('recording a live run', () => {
  it('records per strategy and downloads in the simulator’s JSON shape, and as CSV', async () => {
    const workers = await Promise.all(['1', '2'].map((id) => fakeWorker(stack, id, 30, 5)));
    const { api, url } = await startLab(
      stack,
      workers.map((w) => w.port),
    );
    expect((await call('GET', `${api}/api/record`)).status).toBe(404);
    await call('GET', `${url}/work?type=short&app=before`); // not recorded
    expect((await call('POST', `${api}/api/record`, { action: 'start' })).json.recording).toBe(true);
    for (let i = 0; i < 4; i++)
      await call('GET', `${url}/work?type=short&app=a`, undefined, { 'x-timbang-strategy': 'round-robin' });
    for (let i = 0; i < 2; i++)
      await call('GET', `${url}/work?type=long&app=a`, undefined, { 'x-timbang-strategy': 'lc' });
    const stopped = await call('POST', `${api}/api/record`, { action: 'stop' });
    expect(stopped.json.recording).toBe(false);
    await call('GET', `${url}/work?type=short&app=after`); // not recorded

    const jsonl = await call('GET', `${api}/api/record?format=jsonl`);
    expect(jsonl.headers['content-type']).toMatch(/ndjson/);
    expect(jsonl.headers['content-disposition']).toMatch(/attachment; filename="timbang-live\.jsonl"/);
    const records = jsonl.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.map((r) => [r.strategy, r.requests, r.completed])).toEqual([
      ['round-robin', 4, 4],
      ['least-connections', 2, 2],
    ]);
    expect(records[0].perBackend.map((b: { requests: number }) => b.requests)).toEqual([2, 2]);
    expect(records[1].latencyMs.mean).toBeGreaterThanOrEqual(25);
    expect(shape(records[0])).toEqual(shape(simRecord()));

    const csv = await call('GET', `${api}/api/record?format=csv`);
    const lines = csv.text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^strategy,backends,requests,completed,throughput_per_sec,mean_ms/);
    expect(lines).toHaveLength(1 + 2 * 2);
    expect((await call('POST', `${api}/api/record`, { action: 'pause' })).status).toBe(400);
  });

  it('client --csv writes one row per strategy with the seed on each', async () => {
    const workers = await Promise.all(['1', '2'].map((id) => fakeWorker(stack, id, 10, 2)));
    const { running, api } = await startLab(
      stack,
      workers.map((w) => w.port),
    );
    const dir = await mkdtemp(join(tmpdir(), 'timbang-csv-'));
    try {
      const file = join(dir, 'out.csv');
      const r = await runCli([
        'client',
        '--protocol',
        'http',
        '--port',
        String(running.broker.port),
        '--admin',
        api.replace('http://', ''),
        '-n',
        '6',
        '-c',
        '2',
        '--seed',
        '9',
        '--strategy',
        'rr,lc',
        '--csv',
        file,
        '-q',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      const cells = (line: string) =>
        [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)]
          .map((m) => m[1].replace(/^"|"$/g, '').replace(/""/g, '"'))
          .slice(0, -1);
      const header = cells(lines[0]);
      expect(header.slice(0, 7)).toEqual([
        'source',
        'strategy',
        'requests',
        'completed',
        'errors',
        'throughput_per_sec',
        'mean_ms',
      ]);
      const row = Object.fromEntries(cells(lines[1]).map((v, i) => [header[i], v]));
      expect(row).toMatchObject({
        source: 'client',
        strategy: 'round-robin',
        requests: '6',
        completed: '6',
        param_seed: '9',
        param_mix: 'Long:1,Short:4',
        b_1: '3',
        b_2: '3',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
