import { TimbangError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port", "[::1]:port" or ":port" / "port" (host 127.0.0.1). */
export function parseAddress(text: string): HostPort {
  const s = text.trim();
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

export function formatAddress({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function badAddress(text: string): TimbangError {
  return new TimbangError(
    'ERR_BAD_ADDRESS',
    `bad backend address '${text}': expected host:port, e.g. 127.0.0.1:9002`,
  );
}
