import type { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { brokerCommand, flagPatch } from '../../src/cli/broker.js';
import { parseConfigText } from '../../src/config/load.js';
import { configToPatch } from '../../src/config/schema.js';
import { mergeSettings } from '../../src/config/settings.js';

/** Parses broker flags as the CLI does, without starting anything; returns the flags' settings patch. */
function patchOf(args: string[]) {
  const cmd: Command = brokerCommand().exitOverride();
  cmd.action(() => {});
  cmd.parse(args, { from: 'user' });
  const given = (flag: string) => ['cli', 'env'].includes(cmd.getOptionValueSource(flag) ?? '');
  return flagPatch(cmd.opts() as Parameters<typeof flagPatch>[0], given);
}

const FILE = configToPatch(
  parseConfigText(
    [
      'listen: 127.0.0.1:7000',
      'admin: { listen: 127.0.0.1:7001, token: file-token-0123456789 }',
      'strategy: random',
      'retries: 5',
      'backends: [{ address: "127.0.0.1:7100" }]',
      'healthCheck: { kind: http, intervalMs: 700, rise: 4 }',
    ].join('\n'),
    'f.yaml',
  ),
);

afterEach(() => {
  delete process.env.TIMBANG_ADMIN_TOKEN;
});

describe('broker flags over the config file', () => {
  it('only flags the user gave override the file; defaults left alone do not', () => {
    const s = mergeSettings(FILE, patchOf(['--retries', '1', '--fall', '9']));
    expect(s.broker.retries).toBe(1);
    expect(s.broker.strategy).toBe('random');
    expect(s.broker.port).toBe(7000);
    expect(s.broker.backends).toEqual([{ id: '1', address: '127.0.0.1:7100', weight: 1 }]);
    expect(s.broker.healthCheck).toMatchObject({ kind: 'http', intervalMs: 700, rise: 4, fall: 9 });
    expect(s.admin).toEqual({ enabled: true, host: '127.0.0.1', port: 7001, token: 'file-token-0123456789' });
  });

  it('maps every flag to its setting', () => {
    const s = mergeSettings(
      FILE,
      patchOf([
        '--host=127.0.0.2',
        '-p',
        '0',
        '-b',
        'a=127.0.0.1:7200*2',
        '-s',
        'p2c',
        '--connect-timeout=11',
        '--request-timeout=12',
        '--idle-timeout=13',
        '--headers-timeout=14',
        '--health-check=tcp',
        '--health-interval=150',
        '--health-timeout=16',
        '--rise=1',
        '--eject-after=17',
        '--drain-timeout=18',
        '--log-format=json',
        '--admin=127.0.0.1:0',
        '--admin-token=flag-token-0123456789',
      ]),
    );
    expect(s.broker).toMatchObject({
      host: '127.0.0.2',
      port: 0,
      backends: [{ id: 'a', address: '127.0.0.1:7200', weight: 2 }],
      strategy: 'power-of-two',
      retries: 5,
      connectTimeoutMs: 11,
      requestTimeoutMs: 12,
      clientIdleTimeoutMs: 13,
      headersTimeoutMs: 14,
      healthCheck: { kind: 'tcp', path: '/health', intervalMs: 150, timeoutMs: 16, rise: 1, fall: 3 },
      ejectAfterFailures: 17,
      drainTimeoutMs: 18,
      logFormat: 'json',
    });
    expect(s.admin).toEqual({ enabled: true, host: '127.0.0.1', port: 0, token: 'flag-token-0123456789' });
  });

  it("--no-admin turns the file's admin off; the token may come from TIMBANG_ADMIN_TOKEN", () => {
    expect(mergeSettings(FILE, patchOf(['--no-admin'])).admin.enabled).toBe(false);
    process.env.TIMBANG_ADMIN_TOKEN = 'env-token-0123456789';
    expect(mergeSettings(FILE, patchOf([])).admin.token).toBe('env-token-0123456789');
  });

  it('with no file and no flags: the defaults (classroom backends, admin on 127.0.0.1:8001)', () => {
    const s = mergeSettings(undefined, patchOf([]));
    expect(s).toEqual(mergeSettings());
    expect(s.broker.backends.map((b) => b.address)).toEqual([
      '127.0.0.1:9002',
      '127.0.0.1:9003',
      '127.0.0.1:9004',
    ]);
    expect(s.admin).toMatchObject({ enabled: true, host: '127.0.0.1', port: 8001 });
  });
});
