import { TimbangError } from '../../errors.js';
import { inFlightCost, inFlightPerWeightCost, peakEwmaCost, totalCost } from '../load.js';
import type { Strategy } from '../types.js';
import { ConsistentHash } from './consistent-hash.js';
import { JoinIdleQueue } from './join-idle-queue.js';
import { LeastCost } from './least-cost.js';
import { PowerOfTwo } from './p2c.js';
import { RandomPick } from './random.js';
import { RoundRobin } from './round-robin.js';
import { WeightedRoundRobin } from './weighted-round-robin.js';

export interface StrategyInfo {
  readonly name: string;
  readonly aliases: readonly string[];
  /** One line: what it picks and when to use it. */
  readonly summary: string;
  create(): Strategy;
}

/** The registry: adding a strategy is one file and one entry here. */
export const STRATEGIES: readonly StrategyInfo[] = [
  {
    name: 'round-robin',
    aliases: ['round_robin', 'rr'],
    summary: 'next backend in turn; equal backends, short uniform requests',
    create: () => new RoundRobin(),
  },
  {
    name: 'least-connections',
    aliases: ['least_connections', 'lc'],
    summary: 'fewest in-flight requests (ties in turn); mixed long and short jobs',
    create: () => new LeastCost('least-connections', inFlightCost),
  },
  {
    name: 'least-requests',
    aliases: ['least_requests', 'balanced'],
    summary: 'fewest requests served in total; the classroom "balanced" method',
    create: () => new LeastCost('least-requests', totalCost),
  },
  {
    name: 'weighted-round-robin',
    aliases: ['weighted_round_robin', 'wrr'],
    summary:
      'smooth weighted round robin, O(log n) (earliest eligible deadline); backends of different sizes',
    create: () => new WeightedRoundRobin(),
  },
  {
    name: 'weighted-least-connections',
    aliases: ['weighted_least_connections', 'wlc'],
    summary: '(in-flight + 1) / weight; different sizes and mixed job lengths',
    create: () => new LeastCost('weighted-least-connections', inFlightPerWeightCost),
  },
  {
    name: 'random',
    aliases: [],
    summary: 'uniform random; a baseline, and many balancers sharing no state',
    create: () => new RandomPick(),
  },
  {
    name: 'power-of-two',
    aliases: ['power_of_two', 'p2c'],
    summary: 'two random choices, fewer in-flight wins; large pools, several balancers',
    create: () => new PowerOfTwo('power-of-two', inFlightCost),
  },
  {
    name: 'peak-ewma',
    aliases: ['peak_ewma', 'ewma'],
    summary: 'two random choices, lower latency x (in-flight + 1) wins; backends of uneven speed',
    create: () => new PowerOfTwo('peak-ewma', peakEwmaCost, true),
  },
  {
    name: 'consistent-hash',
    aliases: ['consistent_hash', 'hash'],
    summary:
      'bounded-load consistent hashing on a key (app id, header, client address); sticky and cache-friendly',
    create: () => new ConsistentHash(),
  },
  {
    name: 'join-idle-queue',
    aliases: ['join_idle_queue', 'jiq'],
    summary: 'an idle backend if one reported idle, else random (Lu et al. 2011); many brokers, short jobs',
    create: () => new JoinIdleQueue(),
  },
  {
    name: 'jiq-p2c',
    aliases: ['jiq_p2c'],
    summary: 'join-idle-queue falling back to two choices when no backend is idle; high load',
    create: () => new JoinIdleQueue({ fallback: 'p2c' }),
  },
];

const byName = new Map<string, StrategyInfo>();
for (const info of STRATEGIES) {
  byName.set(info.name, info);
  for (const alias of info.aliases) byName.set(alias.replaceAll('_', '-'), info);
}

export function strategyNames(): string[] {
  return STRATEGIES.map((s) => s.name);
}

/** Resolves a name or alias, case-insensitively and with '_' or '-'; throws ERR_UNKNOWN_STRATEGY. */
export function resolveStrategy(name: string): StrategyInfo {
  const info = byName.get(name.trim().toLowerCase().replaceAll('_', '-'));
  if (!info) {
    throw new TimbangError(
      'ERR_UNKNOWN_STRATEGY',
      `unknown strategy '${name}'; valid: ${STRATEGIES.map((s) => [s.name, ...s.aliases].join('|')).join(', ')}`,
    );
  }
  return info;
}

export function isStrategyName(name: string): boolean {
  return byName.has(name.trim().toLowerCase().replaceAll('_', '-'));
}
