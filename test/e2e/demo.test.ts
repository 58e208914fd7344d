import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('timbang demo', () => {
  it('plays the classroom scenario under both strategies and prints the table', {
    timeout: 60_000,
  }, async () => {
    const demo = runCli(['demo', '--speed', '20', '--port', '0']);
    const { code } = await demo.exited;
    const out = demo.output();
    expect(code, out).toBe(0);
    expect(out).toMatch(/\[Worker-\d\] processing Long request for App1/);
    expect(out).toMatch(/Broker: forwarded 'App\d' \((Long|Short)\) to worker \d on port \d+ in \d+ ms/);
    expect(out).toMatch(/\[Client\] Received: Worker \d processed (Long|Short) request for App\d in \d+ ms/);
    const rows = out.split('\n').filter((l) => /^(round-robin|least-connections)\s+9\s+0\s/.test(l));
    expect(rows, out).toHaveLength(2);
    expect(out).not.toMatch(/\[Client\] Failed/);
  });
});
