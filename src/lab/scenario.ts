import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatPath } from '../config/load.js';
import { strategySchema } from '../config/schema.js';
import { TimbangError } from '../errors.js';

/**
 * A lesson as a file: workers, phases of load, and actions at given times (a worker slows down or dies, a
 * backend joins, the strategy is switched). The same file drives the simulator's prediction and a live
 * run, so the two can be put side by side (src/lab/compare.ts).
 */

const positive = z.number({ error: 'must be a number' }).positive({ error: 'must be > 0' });
const id = z
  .string({ error: 'must be a worker id' })
  .regex(/^[A-Za-z0-9_.-]+$/, { error: 'letters, digits, _ . -' });
const mix = z.strictObject({
  long: z.number().min(0),
  short: z.number().min(0),
});

const workerSchema = z.strictObject({
  id,
  /** The broker's weight. */
  weight: positive.default(1),
  /** Work per second relative to a plain worker: 2 does a job in half the time. */
  speed: positive.default(1),
  /** Client mode: where the running worker listens (the demo starts its own). */
  address: z.string().optional(),
});

/** Most brokers a lesson runs (in one process, live): enough to show the trend, few enough for a laptop. */
export const MAX_BROKERS = 16;
const brokerCount = z
  .number({ error: `must be a whole number of brokers from 1 to ${MAX_BROKERS}` })
  .int({ error: `must be a whole number of brokers from 1 to ${MAX_BROKERS}` })
  .min(1, { error: `must be a whole number of brokers from 1 to ${MAX_BROKERS}` })
  .max(MAX_BROKERS, { error: `must be a whole number of brokers from 1 to ${MAX_BROKERS}` });

/** Long sessions: how long each one stays open, at speed 1 (divided by the time scale). */
const sessionSchema = z.strictObject({
  meanS: positive,
  /** exp: exponential lengths (sessions of different lifetimes); fixed: all the same. */
  lengths: z.enum(['exp', 'fixed'], { error: 'exp or fixed' }).default('exp'),
});

const phaseSchema = z
  .strictObject({
    name: z.string().min(1),
    /** Seconds at speed 1 (divided by the time scale). */
    durationS: positive,
    /** Offered load: work per second over the capacity of the workers up when the phase starts. */
    load: positive.optional(),
    /** Or a fixed arrival rate, requests per second at speed 1. */
    rate: positive.optional(),
    mix: mix.default({ long: 1, short: 4 }),
    /** Of the scenario's brokers, how many the clients reach in this phase (default: all). */
    brokers: brokerCount.optional(),
    /** Long sessions (WebSocket): this many open at once, each replaced when it ends; instead of load or rate. */
    sessions: z.int({ error: 'must be a whole number' }).min(1).max(10_000).optional(),
    session: sessionSchema.optional(),
  })
  .refine((p) => [p.load, p.rate, p.sessions].filter((x) => x !== undefined).length === 1, {
    error: 'give one of load, rate or sessions',
  })
  .refine((p) => (p.sessions === undefined) === (p.session === undefined), {
    error: 'sessions and session go together: how many are open, and session: { meanS } how long each lasts',
  });

const actionSchema = z
  .strictObject({
    /** Seconds from the start of the run, at speed 1. */
    at: z.number().min(0),
    slow: z.strictObject({ worker: id, factor: positive }).optional(),
    kill: id.optional(),
    add: workerSchema.optional(),
    strategy: strategySchema.optional(),
  })
  .refine((a) => [a.slow, a.kill, a.add, a.strategy].filter((x) => x !== undefined).length === 1, {
    error: 'one of slow, kill, add or strategy per action',
  });

export const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  title: z.string().min(1),
  /** What the lesson shows and why, for the report. */
  text: z.string().min(1),
  jobs: z.strictObject({ longMs: positive, shortMs: positive }).default({ longMs: 5000, shortMs: 1000 }),
  workers: z.array(workerSchema).min(1),
  /**
   * Brokers in front of the same workers, each balancing alone with its own strategy state (its own
   * in-flight counts, its own idle queue); the clients' requests reach them by `split`.
   */
  brokers: brokerCount.default(1),
  /** How requests reach the brokers, as the simulator's --split: in turn, or at random per request. */
  split: z.enum(['random', 'round-robin'], { error: 'random or round-robin' }).default('random'),
  strategies: z.array(strategySchema).min(1),
  seed: z.int().min(0).default(1),
  /** Live runs per strategy: the noise of the measurement comes from their spread. */
  repeats: z.int().min(1).max(20).default(3),
  /** How much faster than written the lesson runs by default (job times and durations divided by it). */
  timeScale: positive.default(1),
  phases: z.array(phaseSchema).min(1),
  actions: z.array(actionSchema).default([]),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioWorker = z.infer<typeof workerSchema>;
export type ScenarioAction = z.infer<typeof actionSchema>;

/** A worker as it is during a segment. */
export interface WorkerState {
  id: string;
  weight: number;
  /** Its base speed times 1 / its slow-down factor. */
  speed: number;
  address?: string;
}

/**
 * A stretch of time with the same load, mix, workers and strategy: a phase cut at its actions' times.
 * Times, job sizes and rates here are already divided by the time scale.
 */
export interface Segment {
  index: number;
  /** "busy", or "busy after 40 s" when an action cut the phase. */
  label: string;
  phase: string;
  startMs: number;
  durationMs: number;
  /** Arrivals per second (scaled). */
  ratePerSec: number;
  mix: { long: number; short: number };
  workers: WorkerState[];
  /** Set by a strategy action; undefined: the run's own strategy. */
  strategy: string | undefined;
  /** The offered load on the workers of this segment. */
  load: number;
  /** Actions that take effect at this segment's start. */
  actions: ScenarioAction[];
  /** Brokers the clients reach in this segment (the first this many of the scenario's). */
  brokers: number;
  /** Long sessions: open at once, and each one's length (scaled); absent: requests arrive at ratePerSec. */
  sessions?: { open: number; meanMs: number; lengths: 'exp' | 'fixed' };
}

/**
 * Sessions a phase of long sessions plays: as many as end and are replaced in its time, at least three
 * rounds of its open ones. The prediction simulates the same number the live client opens.
 */
export function sessionsIn(seg: Segment): number {
  const ss = seg.sessions;
  if (ss === undefined) return 0;
  return Math.max(3 * ss.open, Math.round((ss.open * seg.durationMs) / ss.meanMs));
}

export async function loadScenario(path: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new TimbangError('ERR_BAD_OPTION', `cannot read the scenario '${path}': ${(err as Error).message}`);
  }
  return parseScenario(text, path);
}

export function parseScenario(text: string, source: string): Scenario {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new TimbangError(
      'ERR_BAD_OPTION',
      `${source}: not valid YAML: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = formatPath(issue.path);
    throw new TimbangError('ERR_BAD_OPTION', `${source}: ${where ? `${where}: ` : ''}${issue.message}`);
  }
  const s = parsed.data;
  const ids = new Set<string>();
  for (const w of s.workers) {
    if (ids.has(w.id))
      throw new TimbangError('ERR_BAD_OPTION', `${source}: worker '${w.id}' is listed twice`);
    ids.add(w.id);
  }
  for (const [i, p] of s.phases.entries()) {
    if (p.brokers !== undefined && p.brokers > s.brokers) {
      throw new TimbangError(
        'ERR_BAD_OPTION',
        `${source}: phases[${i}].brokers: ${p.brokers} is more than the scenario's brokers (${s.brokers})`,
      );
    }
    if (p.sessions !== undefined && (p.brokers ?? s.brokers) > 1) {
      throw new TimbangError(
        'ERR_BAD_OPTION',
        `${source}: phases[${i}]: a phase of sessions runs through one broker: give it brokers: 1`,
      );
    }
  }
  const total = s.phases.reduce((a, p) => a + p.durationS, 0);
  for (const a of s.actions) {
    if (a.at >= total) {
      throw new TimbangError(
        'ERR_BAD_OPTION',
        `${source}: an action at ${a.at} s comes after the last phase ends (${total} s)`,
      );
    }
    const target = a.slow?.worker ?? a.kill;
    if (target !== undefined && !ids.has(target)) {
      throw new TimbangError(
        'ERR_BAD_OPTION',
        `${source}: an action at ${a.at} s names worker '${target}', which is not listed (or not added yet)`,
      );
    }
    if (a.add) {
      if (ids.has(a.add.id))
        throw new TimbangError('ERR_BAD_OPTION', `${source}: worker '${a.add.id}' is added twice`);
      ids.add(a.add.id);
    }
  }
  return s;
}

/** The lesson's timeline: phases cut at action times, with the workers and strategy of each stretch. */
export function segments(s: Scenario, timeScale: number): Segment[] {
  const actions = [...s.actions].sort((a, b) => a.at - b.at);
  const workers = new Map<string, WorkerState>(
    s.workers.map((w) => [w.id, { id: w.id, weight: w.weight, speed: w.speed, address: w.address }]),
  );
  let strategy: string | undefined;
  const out: Segment[] = [];
  let phaseStart = 0;
  let next = 0;
  const meanWork = (m: { long: number; short: number }) =>
    (m.long * s.jobs.longMs + m.short * s.jobs.shortMs) / (m.long + m.short);
  for (const p of s.phases) {
    const phaseEnd = phaseStart + p.durationS;
    // The rate is fixed for the whole phase, from the workers up at its start.
    const capacityAtStart = [...workers.values()].reduce((a, w) => a + w.speed, 0);
    // Sessions: the rate at which they end and are replaced (a closed loop), for the record.
    const rate =
      p.sessions !== undefined
        ? p.sessions / p.session!.meanS
        : (p.rate ?? ((p.load ?? 0) * capacityAtStart * 1000) / meanWork(p.mix));
    let cut = phaseStart;
    while (cut < phaseEnd) {
      const applied: ScenarioAction[] = [];
      while (next < actions.length && actions[next].at <= cut) {
        const a = actions[next++];
        applied.push(a);
        if (a.slow) {
          const w = workers.get(a.slow.worker);
          if (w) w.speed = (s.workers.find((x) => x.id === w.id)?.speed ?? w.speed) / a.slow.factor;
        } else if (a.kill !== undefined) workers.delete(a.kill);
        else if (a.add)
          workers.set(a.add.id, {
            id: a.add.id,
            weight: a.add.weight,
            speed: a.add.speed,
            address: a.add.address,
          });
        else if (a.strategy) strategy = a.strategy;
      }
      const until = next < actions.length ? Math.min(phaseEnd, actions[next].at) : phaseEnd;
      const ws = [...workers.values()].map((w) => ({ ...w }));
      const capacity = ws.reduce((a, w) => a + w.speed, 0);
      out.push({
        index: out.length,
        label: cut === phaseStart ? p.name : `${p.name} from ${cut} s`,
        phase: p.name,
        startMs: (cut * 1000) / timeScale,
        durationMs: ((until - cut) * 1000) / timeScale,
        ratePerSec: rate * timeScale,
        mix: p.mix,
        workers: ws,
        strategy,
        // Sessions hold a worker without using its CPU: no load to speak of.
        load:
          p.sessions !== undefined
            ? 0
            : capacity > 0
              ? (rate * meanWork(p.mix)) / 1000 / capacity
              : Number.POSITIVE_INFINITY,
        actions: applied,
        brokers: p.brokers ?? s.brokers,
        ...(p.sessions !== undefined
          ? {
              sessions: {
                open: p.sessions,
                meanMs: (p.session!.meanS * 1000) / timeScale,
                lengths: p.session!.lengths,
              },
            }
          : {}),
      });
      cut = until;
    }
    phaseStart = phaseEnd;
  }
  return out;
}

/** One line per action, for the report: "at 40 s: worker 3 dies". */
export function describeAction(a: ScenarioAction): string {
  if (a.slow) return `at ${a.at} s: worker ${a.slow.worker} slows down ${a.slow.factor}x`;
  if (a.kill !== undefined) return `at ${a.at} s: worker ${a.kill} dies`;
  if (a.add) return `at ${a.at} s: worker ${a.add.id} joins (weight ${a.add.weight}, speed ${a.add.speed})`;
  return `at ${a.at} s: the strategy is switched to ${a.strategy}`;
}
