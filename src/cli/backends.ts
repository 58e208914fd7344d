import { InvalidArgumentError } from 'commander';
import { parseAddress } from '../balancer/address.js';
import type { BackendSpec } from '../balancer/types.js';
import { isDiscoveryAddress, parseDiscoveryUrl } from '../broker/discovery-target.js';
import { isTimbangError } from '../errors.js';

/**
 * `--backends` entries: `[id=]host:port[*weight]`, comma-separated, e.g. `127.0.0.1:9002,b=10.0.0.7:80*3`.
 * An entry may also be a DNS group, `[id=]dns://name:port[*weight]` or `[id=]srv://_service._proto.name`.
 * Without an id, backends are numbered 1, 2, 3 in order, as the classroom workers were.
 */
export function parseBackendList(value: string): BackendSpec[] {
  const specs: BackendSpec[] = [];
  const entries = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) throw new InvalidArgumentError('expected at least one host:port');
  entries.forEach((entry, i) => {
    let rest = entry;
    let id = String(i + 1);
    let weight = 1;
    const eq = rest.indexOf('=');
    if (eq > 0) {
      id = rest.slice(0, eq);
      rest = rest.slice(eq + 1);
    }
    const star = rest.lastIndexOf('*');
    if (star > 0) {
      weight = Number(rest.slice(star + 1));
      if (!Number.isFinite(weight) || weight < 0) {
        throw new InvalidArgumentError(`bad weight in '${entry}': expected a number >= 0 after '*'`);
      }
      rest = rest.slice(0, star);
    }
    try {
      if (isDiscoveryAddress(rest)) parseDiscoveryUrl(rest);
      else parseAddress(rest);
    } catch (err) {
      if (isTimbangError(err)) throw new InvalidArgumentError(err.message);
      throw err;
    }
    if (specs.some((s) => s.id === id)) throw new InvalidArgumentError(`duplicate backend id '${id}'`);
    specs.push({ id, address: rest, weight });
  });
  return specs;
}
