import { isIP } from 'node:net';
import { TimbangError } from '../errors.js';

/**
 * A backend group given by name (see discovery.ts): `dns://name:port` (its A and AAAA records, on that
 * port) or `srv://_service._proto.name` (its SRV records: each target's addresses, on the record's port,
 * with the record's weight). Parsing only, no lookups, so the config schema and the flags can check names
 * without loading node:dns.
 */
export interface DiscoveryTarget {
  kind: 'dns' | 'srv';
  /** Without a trailing dot, lower case. */
  name: string;
  /** dns:// only: the port every address gets. */
  port: number;
  /** As given, for messages and as the group's key. */
  url: string;
}

export function isDiscoveryAddress(address: string): boolean {
  return /^(dns|srv):\/\//i.test(address.trim());
}

/** Throws ERR_BAD_ADDRESS with one line saying what is wrong and what was expected. */
export function parseDiscoveryUrl(text: string): DiscoveryTarget {
  const url = text.trim();
  const m = /^(dns|srv):\/\/(.*)$/i.exec(url);
  if (!m) throw bad(text, 'expected dns://name:port or srv://_service._proto.name');
  const kind = m[1].toLowerCase() as 'dns' | 'srv';
  let rest = m[2];
  if (/[/?#@\s]/.test(rest)) {
    throw bad(text, `${kind}:// takes a name${kind === 'dns' ? ' and a port' : ''}, nothing else`);
  }
  let port = 0;
  if (kind === 'dns') {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw bad(text, 'dns:// needs a port, e.g. dns://web.internal:8080');
    const portText = rest.slice(colon + 1);
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      throw bad(text, 'the port must be a number from 1 to 65535');
    }
    rest = rest.slice(0, colon);
  } else if (rest.includes(':')) {
    throw bad(text, 'srv:// takes no port: the SRV records give each host its port');
  }
  const name = rest.endsWith('.') ? rest.slice(0, -1) : rest;
  if (isIP(name.replace(/^\[|\]$/g, '')) !== 0) {
    throw bad(text, `${kind}:// needs a DNS name; for a fixed address write host:port`);
  }
  if (!isHostName(name)) {
    throw bad(text, `'${name}' is not a DNS name (letters, digits, '-' and '_', labels joined by '.')`);
  }
  return { kind, name: name.toLowerCase(), port, url };
}

/** RFC 1123 names, plus '_' (SRV's _service._proto labels); each label 1-63 long, the whole at most 253. */
function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

function bad(text: string, why: string): TimbangError {
  return new TimbangError('ERR_BAD_ADDRESS', `bad DNS backend '${text}': ${why}`);
}
