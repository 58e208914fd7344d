import { createRandom } from '../balancer/random.js';
import type { Exchange, Transport } from './exchange.js';

/** How a client's requests reach several brokers: in turn, or one at random per request. */
export type BrokerSplit = 'round-robin' | 'random';

/**
 * Several brokers in front of the same workers, each balancing alone: every try of a request goes to
 * one of them, chosen as the simulator's --split chooses (src/sim/brokers.ts brokerFor): in turn, or at
 * random from the run's seed. Each broker has its own transport, so its own connections.
 */
export class SplitTransport implements Transport {
  private next = 0;
  private readonly rand: () => number;

  constructor(
    private readonly transports: readonly Transport[],
    private readonly split: BrokerSplit,
    seed: number,
  ) {
    this.rand = createRandom(seed ^ 0x2545f491);
  }

  send(ex: Exchange): void {
    const k = this.transports.length;
    let i: number;
    if (this.split === 'random') i = Math.floor(this.rand() * k);
    else {
      i = this.next;
      this.next = i + 1 === k ? 0 : i + 1;
    }
    this.transports[i].send(ex);
  }

  describe(ex: Exchange): string {
    return this.transports[0].describe(ex);
  }

  async close(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.close()));
  }
}
