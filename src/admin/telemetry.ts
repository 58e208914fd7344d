import type { Backend } from '../balancer/types.js';
import type { Exchange, ForwardObserver, Outcome } from '../broker/forward.js';
import type { BrokerDeps } from '../broker/server.js';
import { LiveStats } from './live.js';
import { BrokerMetrics } from './metrics.js';

/**
 * Everything the admin side hears from a broker, created before it starts (the hooks are given to
 * startBroker): Prometheus metrics and the dashboard's live statistics, fed by the same calls.
 */
export class Telemetry implements ForwardObserver {
  readonly metrics = new BrokerMetrics();
  readonly live = new LiveStats();

  onTryEnd(ex: Exchange, b: Backend, outcome: Outcome, status: number): void {
    this.metrics.onTryEnd(b, outcome);
    this.live.onTryEnd(ex, b, outcome, status);
  }

  onRetry(ex: Exchange): void {
    this.metrics.onRetry(ex.backend);
    this.live.onRetry();
  }

  onRetryRefused(): void {
    this.live.onRetryRefused();
  }

  onFinish(ex: Exchange): void {
    this.metrics.onFinish(ex);
    this.live.onFinish(ex);
  }

  readonly onTransition = (b: Backend, state: 'up' | 'down', reason: string): void => {
    this.metrics.onTransition(b, state);
    this.live.onTransition(b, state, reason);
  };

  /** The hooks to pass to startBroker, on top of any the caller has. */
  deps(base: BrokerDeps = {}): BrokerDeps {
    return { ...base, observer: this, onTransition: this.onTransition };
  }
}
