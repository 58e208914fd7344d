import { InvalidArgumentError } from 'commander';
import { resolveStrategy } from '../balancer/strategies/index.js';
import { isTimbangError } from '../errors.js';

/** Option parsers for commander: each throws InvalidArgumentError, which commander prints as one line. */

export function intOption(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(
        `expected a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, got '${value}'`,
      );
    }
    return n;
  };
}

export function numberOption(min: number, max = Number.POSITIVE_INFINITY) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(
        `expected a number from ${min}${Number.isFinite(max) ? ` to ${max}` : ' up'}, got '${value}'`,
      );
    }
    return n;
  };
}

export function portOption(value: string): number {
  return intOption(0, 65535)(value);
}

/** Validates a strategy name or alias and returns its canonical name. */
export function strategyOption(value: string): string {
  try {
    return resolveStrategy(value).name;
  } catch (err) {
    if (isTimbangError(err)) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** Waits for SIGINT or SIGTERM, once; returns the signal's name. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
