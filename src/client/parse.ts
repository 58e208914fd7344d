import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from 'commander';
import { resolveStrategy, STRATEGIES } from '../balancer/strategies/index.js';
import { isTimbangError } from '../errors.js';
import type { LengthDist, MixEntry } from './types.js';

/** Parsers for the client's flags: each throws commander's InvalidArgumentError, printed as one line. */

/** The request types the worker understands, keyed by their lower-case spelling. */
const TYPES: Record<string, string> = { long: 'Long', short: 'Short' };

/** Capitalises a type the way the line protocol spells it; throws on anything but long or short. */
export function parseType(value: string): string {
  const type = TYPES[value.trim().toLowerCase()];
  if (!type) throw new InvalidArgumentError(`unknown request type '${value}': expected Long or Short`);
  return type;
}

/** `long:1,short:4` -> weights; a bare type has weight 1. */
export function parseMix(value: string): MixEntry[] {
  const entries: MixEntry[] = [];
  for (const part of value.split(',')) {
    const [name, weightText, extra] = part.split(':');
    if (extra !== undefined || name.trim() === '') {
      throw new InvalidArgumentError(`bad --mix entry '${part}': expected type:weight, e.g. long:1,short:4`);
    }
    const type = parseType(name);
    const weight = weightText === undefined ? 1 : Number(weightText);
    if (weightText !== undefined && (weightText.trim() === '' || !Number.isFinite(weight) || weight < 0)) {
      throw new InvalidArgumentError(
        `bad weight '${weightText}' for ${name} in --mix: expected a number >= 0`,
      );
    }
    if (entries.some((e) => e.type === type))
      throw new InvalidArgumentError(`${type} appears twice in --mix`);
    entries.push({ type, weight });
  }
  if (!entries.some((e) => e.weight > 0)) throw new InvalidArgumentError('--mix needs a weight above 0');
  return entries;
}

/** `all`, one name, or a comma list of names and aliases -> canonical names, in order, without repeats. */
export function parseStrategies(value: string): string[] {
  if (value.trim().toLowerCase() === 'all') return STRATEGIES.map((s) => s.name);
  const names: string[] = [];
  for (const part of value.split(',')) {
    if (part.trim() === '') throw new InvalidArgumentError(`empty strategy name in '${value}'`);
    try {
      const name = resolveStrategy(part).name;
      if (!names.includes(name)) names.push(name);
    } catch (err) {
      if (isTimbangError(err)) throw new InvalidArgumentError(err.message);
      throw err;
    }
  }
  return names;
}

const APP_ID = /^[^\s:,{}]+$/;

/** `App{1..4}` -> App1..App4; `a,b` -> a and b; `AppID` -> AppID. Names hold no ':' (the line separator). */
export function parseAppIds(value: string): string[] {
  const ids: string[] = [];
  for (const part of value.split(',')) {
    const range = /^([^{}]*)\{(\d+)\.\.(\d+)\}([^{}]*)$/.exec(part.trim());
    if (range) {
      const [, prefix, fromText, toText, suffix] = range;
      const from = Number(fromText);
      const to = Number(toText);
      if (to < from || to - from >= 100_000) {
        throw new InvalidArgumentError(
          `bad range in --app-ids '${part}': expected {low..high}, at most 100000 ids`,
        );
      }
      for (let i = from; i <= to; i++) ids.push(checkAppId(`${prefix}${i}${suffix}`));
    } else {
      ids.push(checkAppId(part.trim()));
    }
  }
  return ids;
}

function checkAppId(id: string): string {
  if (!APP_ID.test(id)) {
    throw new InvalidArgumentError(`bad app id '${id}': use letters and digits, no spaces, ':' or ','`);
  }
  return id;
}

/** `10s`, `500ms`, `2m`, or a bare number of seconds -> ms. */
export function parseDuration(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const ms = m ? Number(m[1]) * unit[m[2] ?? 's'] : Number.NaN;
  if (!(ms > 0)) throw new InvalidArgumentError(`bad duration '${value}': expected e.g. 30s, 500ms, 2m`);
  return ms;
}

/** A rate in requests per second, above zero. */
export function parseRate(value: string): number {
  const r = Number(value);
  if (value.trim() === '' || !Number.isFinite(r) || r <= 0) {
    throw new InvalidArgumentError(`bad rate '${value}': expected requests per second above 0`);
  }
  return r;
}

/** A session length: `2s` (fixed), `1s..5s` (uniform), `exp:2s` (exponential, mean 2 s). */
export function parseLengthDist(value: string): LengthDist {
  const text = value.trim();
  if (text.startsWith('exp:')) return { kind: 'exp', meanMs: parseDuration(text.slice(4)) };
  const range = text.split('..');
  if (range.length > 2) throw new InvalidArgumentError(`bad session length '${value}': expected e.g. 1s..5s`);
  if (range.length === 2) {
    const loMs = parseDuration(range[0]);
    const hiMs = parseDuration(range[1]);
    if (hiMs < loMs) throw new InvalidArgumentError(`bad session length '${value}': low above high`);
    return { kind: 'uniform', loMs, hiMs };
  }
  return { kind: 'fixed', ms: parseDuration(text) };
}

/** The load generator's seed when none is given: fixed, so two runs send the same requests. */
export const DEFAULT_CLIENT_SEED = 1;

/** `--seed`: a number, or `random` for a fresh one (the run prints and records it either way). */
export function parseSeed(value: string): number {
  const text = value.trim().toLowerCase();
  if (text === 'random') return randomInt(2 ** 31);
  const n = Number(text);
  if (text === '' || !Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1)
    throw new InvalidArgumentError(
      `bad seed '${value}': expected an integer from 0 to 4294967295, or random`,
    );
  return n;
}
