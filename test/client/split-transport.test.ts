import { describe, expect, it } from 'vitest';
import { Exchange, type Transport } from '../../src/client/exchange.js';
import { SplitTransport } from '../../src/client/split-transport.js';

/** A transport that only counts what it is given. */
class Counting implements Transport {
  sent = 0;
  closed = false;
  send(): void {
    this.sent++;
  }
  describe(): string {
    return 'x';
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function run(split: 'round-robin' | 'random', seed: number, requests: number): Counting[] {
  const ts = [new Counting(), new Counting(), new Counting(), new Counting()];
  const t = new SplitTransport(ts, split, seed);
  const ex = new Exchange();
  for (let i = 0; i < requests; i++) t.send(ex);
  return ts;
}

describe('SplitTransport: requests over several brokers, as simulate --split', () => {
  it('round-robin: in turn, each broker one request in K', () => {
    const cs = [new Counting(), new Counting(), new Counting()];
    const t = new SplitTransport(cs, 'round-robin', 1);
    const order: number[] = [];
    for (let i = 0; i < 7; i++) {
      const before = cs.map((c) => c.sent);
      t.send(new Exchange());
      order.push(cs.findIndex((c, k) => c.sent !== before[k]));
    }
    expect(order).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });

  it('random: from the seed (the same seed, the same split), about 1/K each', () => {
    const a = run('random', 7, 8000).map((c) => c.sent);
    const b = run('random', 7, 8000).map((c) => c.sent);
    const c = run('random', 8, 8000).map((c) => c.sent);
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    // Binomial(8000, 1/4): standard deviation 39; 5 of them either side of 2000.
    for (const n of a) expect(Math.abs(n - 2000)).toBeLessThan(195);
  });

  it('closes every broker’s transport', async () => {
    const ts = [new Counting(), new Counting()];
    await new SplitTransport(ts, 'random', 1).close();
    expect(ts.every((t) => t.closed)).toBe(true);
  });
});
