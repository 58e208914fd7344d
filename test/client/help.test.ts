import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('client --help', () => {
  it('shows the durations defaults in the unit they mean (a bare number is seconds)', async () => {
    const r = await runCli(['client', '--help']);
    expect(r.code).toBe(0);
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--backoff <duration>.*\(default: 100ms\)/);
    expect(help).toMatch(/--timeout <duration>.*a bare number is seconds \(default: 30s\)/);
    expect(help).not.toMatch(/default: 30000/);
  });
});
