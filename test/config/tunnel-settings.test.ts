import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { brokerCommand, flagPatch } from '../../src/cli/broker.js';
import { parseConfigText } from '../../src/config/load.js';
import { configToPatch } from '../../src/config/schema.js';
import { mergeSettings } from '../../src/config/settings.js';

function patchOf(args: string[]) {
  const cmd: Command = brokerCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => {} });
  cmd.action(() => {});
  cmd.parse(args, { from: 'user' });
  const given = (flag: string) => ['cli', 'env'].includes(cmd.getOptionValueSource(flag) ?? '');
  return flagPatch(cmd.opts() as Parameters<typeof flagPatch>[0], given);
}

describe('tunnel settings: --tunnel-timeout, --max-tunnels, timeouts.tunnelMs, maxTunnels', () => {
  it('default to one hour and 10,000; the file sets them; flags win over the file', () => {
    const defaults = mergeSettings();
    expect(defaults.broker.tunnelTimeoutMs).toBe(3_600_000);
    expect(defaults.broker.maxTunnels).toBe(10_000);
    const file = configToPatch(parseConfigText('timeouts: { tunnelMs: 60000 }\nmaxTunnels: 50\n', 'f.yaml'));
    expect(mergeSettings(file).broker).toMatchObject({ tunnelTimeoutMs: 60_000, maxTunnels: 50 });
    const flags = patchOf(['--tunnel-timeout', '5000', '--max-tunnels', '7']);
    expect(mergeSettings(file, flags).broker).toMatchObject({ tunnelTimeoutMs: 5_000, maxTunnels: 7 });
    expect(mergeSettings(file, patchOf([])).broker).toMatchObject({
      tunnelTimeoutMs: 60_000,
      maxTunnels: 50,
    });
  });

  it('refuses nonsense in the file and on the command line', () => {
    expect(() => parseConfigText('maxTunnels: 0\n', 'f.yaml')).toThrow(/maxTunnels/);
    expect(() => parseConfigText('timeouts: { tunnelMs: -1 }\n', 'f.yaml')).toThrow(/tunnelMs/);
    expect(() => patchOf(['--max-tunnels', '0'])).toThrow();
    expect(() => patchOf(['--tunnel-timeout', 'soon'])).toThrow();
  });
});
