import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ADMIN_OPTIONS } from '../../src/admin/options.js';
import { strategyNames } from '../../src/balancer/strategies/index.js';
import { DEFAULT_BROKER_OPTIONS } from '../../src/broker/options.js';
import { loadConfig, parseConfigText } from '../../src/config/load.js';
import { configToPatch } from '../../src/config/schema.js';
import { mergeSettings } from '../../src/config/settings.js';
import { isTimbangError, type TimbangError } from '../../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'timbang-config-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function problems(text: string, source = 'timbang.yaml'): string[] {
  try {
    parseConfigText(text, source);
  } catch (err) {
    expect(isTimbangError(err)).toBe(true);
    expect((err as TimbangError).code).toBe('ERR_BAD_CONFIG');
    const [head, ...lines] = (err as Error).message.split('\n');
    expect(head).toMatch(new RegExp(`^config file ${source} has (a problem|\\d+ problems):$`));
    expect((err as Error).message).not.toMatch(/\n\s+at /); // never a stack
    return lines.map((l) => l.trim());
  }
  throw new Error('expected the config to be refused');
}

describe('config file', () => {
  it('reads the example file: 3 workers on 9002-9004 with http checks, admin on 127.0.0.1:8001', async () => {
    const { patch } = await loadConfig('examples/timbang.yaml');
    const s = mergeSettings(patch);
    expect(s.broker.backends).toEqual([
      { id: '1', address: '127.0.0.1:9002', weight: 1 },
      { id: '2', address: '127.0.0.1:9003', weight: 1 },
      { id: '3', address: '127.0.0.1:9004', weight: 1 },
    ]);
    expect(s.broker.healthCheck.kind).toBe('http');
    expect(s.broker.healthCheck.path).toBe('/health');
    expect(s.broker.strategy).toBe('least-connections');
    expect(s.broker.port).toBe(8000);
    expect(s.admin).toEqual({ enabled: true, host: '127.0.0.1', port: 8001, token: undefined });
  });

  it('lists every problem by path, one per line', () => {
    const text = [
      'listen: 127.0.0.1:8000',
      'strategy: fastest',
      'stratgy: rr',
      'backends:',
      '  - address: 127.0.0.1:9002',
      '  - { address: 127.0.0.1:9003, weight: 0 }',
      '  - { id: "1", address: nowhere }',
      'healthCheck: { kind: udp, path: health }',
      'retries: 1.5',
      'timeouts: { connectMs: -5 }',
      'admin: { listen: "0.0.0.0:99999", token: short }',
    ].join('\n');
    expect(problems(text)).toEqual([
      `line 2: strategy: unknown strategy; valid: ${strategyNames().join(', ')}`,
      "line 3: stratgy: unknown setting (did you mean 'strategy'?)",
      'line 6: backends[1].weight: must be > 0',
      "line 7: backends[2].id: '1' is already the id of backends[0]",
      'line 7: backends[2].address: expected host:port with a port from 1 to 65535, e.g. 127.0.0.1:9002',
      'line 8: healthCheck.kind: must be none, tcp or http',
      "line 8: healthCheck.path: must start with '/'",
      'line 9: retries: must be a whole number',
      'line 10: timeouts.connectMs: must be >= 1 ms',
      'line 11: admin.listen: expected host:port with a port from 0 to 65535, e.g. 127.0.0.1:8000',
      'line 11: admin.token: must be at least 16 characters',
    ]);
  });

  it('explains YAML syntax errors by line, a wrong top level, required fields and unknown keys', () => {
    expect(problems('backends: [\n  { address: 1.2.3.4:5 }\nstrategy: rr\n')[0]).toMatch(
      /^line \d+, column \d+: /,
    );
    expect(problems('- a\n- b\n')).toEqual([
      "(top level): must be a mapping of settings, e.g. 'strategy: round-robin'",
    ]);
    expect(problems('backends:\n  - weight: 2\n')).toEqual(['line 2: backends[0].address: is required']);
    expect(problems('backends: []\n')).toEqual(['line 1: backends: list at least one backend']);
    expect(problems('timeouts: { connect: 5 }\n')).toEqual([
      "line 1: timeouts.connect: unknown setting (did you mean 'connectMs'?)",
    ]);
    expect(problems('\nline:\n  maxByte: 5\n')).toEqual([
      "line 3: line.maxByte: unknown setting (did you mean 'maxBytes'?)",
    ]);
    expect(problems('healthCheck:\n  interval: 5\n')).toEqual([
      "line 2: healthCheck.interval: unknown setting (did you mean 'intervalMs'?)",
    ]);
    expect(problems('admin: { zzz: 1 }')).toEqual([
      'line 1: admin.zzz: unknown setting; valid here: enabled, listen, tls, token',
    ]);
    expect(problems('strategy: rr\nstrategy: lc\n')[0]).toMatch(/^line 2, column 1: Map keys must be unique/);
  });

  it('reads JSON by extension, with JSON errors; an empty file means all defaults', async () => {
    const json = join(dir, 'timbang.json');
    await writeFile(
      json,
      JSON.stringify({ strategy: 'p2c', backends: [{ address: '127.0.0.1:7001', weight: 3 }] }),
    );
    const { patch } = await loadConfig(json);
    const s = mergeSettings(patch);
    expect(s.broker.strategy).toBe('power-of-two');
    expect(s.broker.backends).toEqual([{ id: '1', address: '127.0.0.1:7001', weight: 3 }]);
    expect(problems('{"strategy": "rr",}', 'bad.json')[0]).toMatch(/^not valid JSON: /);
    expect(problems('{\n  "strategy": "rr",\n  "retries": -1\n}', 'bad.json')).toEqual([
      'line 3: retries: must be >= 0',
    ]);
    const empty = join(dir, 'empty.yaml');
    await writeFile(empty, '# nothing yet\n');
    expect(mergeSettings((await loadConfig(empty)).patch)).toEqual(mergeSettings());
  });

  it('says so when the file cannot be read', async () => {
    await expect(loadConfig(join(dir, 'missing.yaml'))).rejects.toThrow(
      /^cannot read config file '.*missing\.yaml': no such file$/,
    );
    await expect(loadConfig(dir)).rejects.toThrow(/it is a directory$/);
  });
});

describe('merge: defaults <- file <- flags', () => {
  it('starts from the defaults, the file overrides them, flags override the file', () => {
    const file = parseConfigText(
      'strategy: rr\nretries: 5\nhealthCheck: { kind: http, intervalMs: 500 }\nbackends: [{ address: "127.0.0.1:7001" }]\nadmin: { listen: "127.0.0.1:9100" }\n',
      'f.yaml',
    );
    expect(file.strategy).toBe('round-robin');
    const s = mergeSettings(configToPatch(file), {
      broker: { retries: 1, healthCheck: { rise: 4 } },
      admin: { port: 9200 },
    });
    expect(s.broker.strategy).toBe('round-robin'); // file
    expect(s.broker.retries).toBe(1); // flag over file
    expect(s.broker.healthCheck).toEqual({
      ...DEFAULT_BROKER_OPTIONS.healthCheck,
      kind: 'http',
      intervalMs: 500,
      rise: 4,
    });
    expect(s.broker.requestTimeoutMs).toBe(DEFAULT_BROKER_OPTIONS.requestTimeoutMs); // default
    expect(s.broker.backends).toEqual([{ id: '1', address: '127.0.0.1:7001', weight: 1 }]);
    expect(s.admin).toEqual({ ...DEFAULT_ADMIN_OPTIONS, port: 9200 });
    // Merging never changes the defaults it started from.
    expect(mergeSettings().broker).toEqual(DEFAULT_BROKER_OPTIONS);
    expect(mergeSettings().broker.backends).not.toBe(DEFAULT_BROKER_OPTIONS.backends);
  });

  it('a patch that does not say something leaves it alone (undefined never overwrites)', () => {
    const s = mergeSettings(
      { broker: { retries: 4 } },
      { broker: { retries: undefined, strategy: undefined } },
    );
    expect(s.broker.retries).toBe(4);
    expect(s.broker.strategy).toBe(DEFAULT_BROKER_OPTIONS.strategy);
  });
});
