import { InvalidArgumentError } from 'commander';
import { TimbangError } from '../errors.js';
import { STREAM, stream } from './streams.js';

/** A --weights value: explicit numbers, or a uniform range drawn per backend from the seed. */
export type WeightSpec = { kind: 'list'; values: number[] } | { kind: 'random'; low: number; high: number };

/** Parses `1,2,4` or `random:1-5` (whole numbers when both ends are, else real numbers). */
export function parseWeights(value: string): WeightSpec {
  const text = value.trim();
  const random = /^random:\s*([\d.]+)\s*-\s*([\d.]+)$/i.exec(text);
  if (random) {
    const low = Number(random[1]);
    const high = Number(random[2]);
    if (!(low > 0) || !(high >= low) || !Number.isFinite(high)) {
      throw new InvalidArgumentError(
        `bad --weights '${value}': expected random:LOW-HIGH with 0 < LOW <= HIGH`,
      );
    }
    return { kind: 'random', low, high };
  }
  const values = text.split(',').map((part) => Number(part.trim()));
  if (text === '' || values.some((w) => !(w > 0) || !Number.isFinite(w))) {
    throw new InvalidArgumentError(`bad --weights '${value}': expected numbers > 0 like 1,2,4 or random:1-5`);
  }
  return { kind: 'list', values };
}

/** One weight per backend: a list must have one per backend (or a single value for all); ERR_BAD_OPTION else. */
export function resolveWeights(spec: WeightSpec | undefined, backends: number, seed: number): number[] {
  if (spec === undefined) return new Array<number>(backends).fill(1);
  if (spec.kind === 'list') {
    if (spec.values.length === 1) return new Array<number>(backends).fill(spec.values[0]);
    if (spec.values.length !== backends) {
      throw new TimbangError(
        'ERR_BAD_OPTION',
        `--weights has ${spec.values.length} values but there are ${backends} backends: give one per backend, or one for all`,
      );
    }
    return spec.values.slice();
  }
  const rand = stream(seed, STREAM.weights);
  const whole = Number.isInteger(spec.low) && Number.isInteger(spec.high);
  const weights: number[] = [];
  for (let i = 0; i < backends; i++) {
    const u = rand();
    weights.push(
      whole ? spec.low + Math.floor(u * (spec.high - spec.low + 1)) : spec.low + u * (spec.high - spec.low),
    );
  }
  return weights;
}
