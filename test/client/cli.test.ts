import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { deadPort } from '../helpers/net.js';
import { type Fake, startFakeHttp, startFakeLine } from './fake-backend.js';
import { clientJsonSchema } from './result-schema.js';
import { runCli } from './run-cli.js';

let fake: Fake | undefined;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-client-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('bad flags: one line, exit 2, nothing sent', () => {
  const cases: [string, string[], RegExp][] = [
    ['a weight that is no number', ['--mix', 'long:x'], /bad weight 'x' for long in --mix/],
    ['an unknown type in the mix', ['--mix', 'long:1,medium:2'], /unknown request type 'medium'/],
    ['a negative rate', ['--rate', '-5'], /bad rate '-5'/],
    ['a zero rate', ['--rate', '0', '-d', '1s'], /bad rate '0'/],
    ['an unknown strategy in a list', ['--strategy', 'round-robin,fastest'], /unknown strategy 'fastest'/],
    ['an unknown positional strategy', ['Long', 'fastest'], /unknown strategy 'fastest'/],
    ['an unknown type', ['Medium'], /unknown request type 'Medium'/],
    ['zero concurrency', ['-c', '0'], /expected a whole number from 1/],
    ['a bad duration', ['-r', '10', '-d', 'soon'], /bad duration 'soon'/],
    ['an app id with a colon', ['--app-ids', 'a:b', '-n', '1'], /bad app id 'a:b'/],
    ['a bad protocol', ['--protocol', 'udp'], /expected line, http, h2 or ws/],
    ['a type and a mix', ['Long', '--mix', 'short:1'], /a request type or --mix, not both/],
    ['a seed that is no number', ['--seed', 'lucky'], /bad seed 'lucky'.*or random/],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    fake = await startFakeLine();
    const r = await runInProcess(['client', '--port', String(fake.port), ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(r.stderr.includes('run with --help') ? 2 : 1);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(fake.connections).toBe(0);
  });

  it('the built CLI does the same', async () => {
    fake = await startFakeLine();
    const r = await runCli(['client', '--port', String(fake.port), '--mix', 'long:x']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(
      "error: option '--mix <types>' argument 'long:x' is invalid. bad weight 'x' for long in --mix: expected a number >= 0",
    );
    expect(fake.connections).toBe(0);
  });
});

/** The CLI's main() in this process (fast), its stderr captured. */
async function runInProcess(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  // The CLI prints TimbangErrors with console.error, which vitest reroutes.
  const errSpy = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => {
    stderr += `${parts.join(' ')}\n`;
  });
  const before = process.exitCode;
  try {
    await main(['node', 'timbang', ...args]);
    return { code: Number(process.exitCode ?? 0), stderr };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
    process.exitCode = before;
  }
}

describe('one request (the classroom client)', () => {
  it('sends AppID:<type>:<strategy> as typed and prints the reply', async () => {
    fake = await startFakeLine();
    const r = await runCli(['client', 'Long', 'least_connections', '--port', String(fake.port)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('[Client] Received: Worker 1 processed Long request for AppID in 30 ms\n');
    expect(fake.seen.map((s) => s.message)).toEqual(['AppID:Long:least_connections']);
  });

  it('speaks HTTP with the strategy header', async () => {
    fake = await startFakeHttp();
    const r = await runCli([
      'client',
      'Short',
      'rr',
      '--protocol',
      'http',
      '--app',
      'App7',
      '--port',
      String(fake.port),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('[Client] Received: {"worker":"1","type":"short","app":"App7","ms":5}\n');
    expect(fake.seen).toEqual([{ message: 'GET /work?type=short&app=App7', strategy: 'rr' }]);
  });

  it('a dead broker: one clear line and exit 1', async () => {
    const port = await deadPort();
    const r = await runCli(['client', 'Long', '--retries', '0', '--port', String(port)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`timbang: cannot connect to broker at 127.0.0.1:${port} (connection refused)\n`);
  });

  it('says how many tries it took when it retried', async () => {
    fake = await startFakeLine({ dropFirst: 2 });
    const r = await runCli([
      'client',
      'Short',
      '--port',
      String(fake.port),
      '--retries',
      '3',
      '--backoff',
      '10ms',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      '[Client] Received after 3 tries: Worker 1 processed Short request for AppID in 5 ms\n',
    );
    expect(fake.connections).toBe(3);
  });

  it('gives up after its retries with the count in the message', async () => {
    fake = await startFakeLine({ dropFirst: 100 });
    const r = await runCli([
      'client',
      'Short',
      '--port',
      String(fake.port),
      '--retries',
      '1',
      '--backoff',
      '10ms',
    ]);
    expect(r.code).toBe(1);
    // The fake closes at once: the client sees a close or a reset, whichever the kernel reports first.
    expect(r.stderr).toMatch(
      new RegExp(
        `^timbang: no reply from broker at 127.0.0.1:${fake.port} \\((closed without reply|connection reset)\\) after 2 tries\n$`,
      ),
    );
  });
});

describe('load mode from the command line', () => {
  it('prints the comparison table and writes JSON, log and report', async () => {
    fake = await startFakeLine();
    const json = join(dir, 'out.json');
    const html = join(dir, 'report.html');
    const log = join(dir, 'log.txt');
    const r = await runCli([
      'client',
      '--port',
      String(fake.port),
      '-n',
      '20',
      '-c',
      '2',
      '--strategy',
      'rr,least_connections',
      '--seed',
      '7',
      '--json',
      json,
      '--report',
      html,
      '--log',
      log,
    ]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^timbang client: 20 requests per strategy, closed loop, concurrency 2, mix Long:1,Short:4/,
    );
    expect(r.stdout).toMatch(
      /^strategy\s+requests\s+errors\s+throughput\/s\s+mean ms\s+p50 ms\s+p90 ms\s+p99 ms\s+max ms\s+spread\s+b:1\s+b:2\s+b:3$/m,
    );
    expect(r.stdout).toMatch(/^round-robin\s+20\s+0\s/m);
    expect(r.stdout).toMatch(/^least-connections\s+20\s+0\s/m);
    // Not a terminal: plain progress lines on stderr.
    expect(r.stderr).toMatch(/^\[round-robin\] done: 20 requests, 0 errors/m);
    const parsed = clientJsonSchema.parse(JSON.parse(await readFile(json, 'utf8')));
    expect(parsed.results.map((x) => [x.strategy, x.requests, x.completed])).toEqual([
      ['round-robin', 20, 20],
      ['least-connections', 20, 20],
    ]);
    expect(parsed.params.seed).toBe(7);
    expect(parsed.results).toHaveLength(2);
    expect(await readFile(html, 'utf8')).toMatch(/^<!doctype html>/);
    expect(await readFile(log, 'utf8')).toMatch(/^Strategy: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d - round-robin$/m);
  });

  it('the default seed is fixed: two runs send the same requests; --seed random draws a fresh one', async () => {
    fake = await startFakeLine();
    const run = async (name: string, extra: string[] = []) => {
      const json = join(dir, `${name}.json`);
      const log = join(dir, `${name}.log`);
      const r = await runCli([
        'client',
        '--port',
        String(fake!.port),
        '-n',
        '30',
        '-c',
        '1',
        '--json',
        json,
        '--log',
        log,
        ...extra,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const sent = (await readFile(log, 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('Message Sent'))
        .map((l) => l.replace(/^.* - /, ''));
      const seed = (JSON.parse(await readFile(json, 'utf8')) as { params: { seed: number } }).params.seed;
      return { stdout: r.stdout, sent, seed };
    };
    const a = await run('seed-a');
    const b = await run('seed-b');
    expect(a.seed).toBe(1);
    expect(b.seed).toBe(1);
    expect(a.stdout).toMatch(/, seed 1$/m);
    expect(a.sent).toHaveLength(30);
    expect(new Set(a.sent).size).toBeGreaterThan(1); // the mix and the app ids are drawn, not constant
    expect(b.sent).toEqual(a.sent);
    const c = await run('seed-c', ['--seed', 'random']);
    const d = await run('seed-d', ['--seed', 'random']);
    // Two draws from 2^31 seeds collide with probability 5e-10.
    expect(c.seed).not.toBe(d.seed);
    expect(c.stdout).toContain(`seed ${c.seed}`);
  });

  it('stops with one line when nothing listens, with no table', async () => {
    const port = await deadPort();
    const r = await runCli(['client', '--port', String(port), '-n', '5', '--strategy', 'all']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`timbang: cannot connect to broker at 127.0.0.1:${port} (connection refused)\n`);
  });
});
