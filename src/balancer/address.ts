import { TimbangError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
  /** Reached over TLS (written https://host:port). */
  tls?: boolean;
}

/**
 * Parses "host:port", "[::1]:port" or ":port" / "port" (host 127.0.0.1), optionally after `http://` or
 * `https://` (a backend reached over TLS).
 */
export function parseAddress(text: string): HostPort {
  let s = text.trim();
  const scheme = /^(https?):\/\//i.exec(s);
  if (scheme !== null) {
    s = s.slice(scheme[0].length);
    if (s.endsWith('/')) s = s.slice(0, -1);
    if (s === '' || s.includes('/')) throw badAddress(text);
    const hp = parseHostPort(s, text);
    return scheme[1].toLowerCase() === 'https' ? { ...hp, tls: true } : hp;
  }
  return parseHostPort(s, text);
}

function parseHostPort(s: string, text: string): HostPort {
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') throw badAddress(text);
    host = s.slice(1, end);
    portText = s.slice(end + 2);
  } else if (/^\d+$/.test(s)) {
    host = '127.0.0.1';
    portText = s;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) throw badAddress(text);
    host = s.slice(0, colon) || '127.0.0.1';
    portText = s.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535 || host.includes(' ')) throw badAddress(text);
  return { host, port };
}

export function formatAddress({ host, port, tls }: HostPort): string {
  const hp = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return tls === true ? `https://${hp}` : hp;
}

function badAddress(text: string): TimbangError {
  return new TimbangError(
    'ERR_BAD_ADDRESS',
    `bad backend address '${text}': expected host:port or https://host:port, e.g. 127.0.0.1:9002`,
  );
}
