import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIPv4 } from 'node:net';
import { TimbangError } from '../errors.js';
import type { AdminOptions } from './options.js';

/** 127.0.0.0/8, ::1 (also written out or IPv4-mapped) and localhost: reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (h.startsWith('::ffff:')) h = h.slice(7);
  return isIPv4(h) && h.startsWith('127.');
}

/** An admin listener others can reach must have a token: refuse to start otherwise. */
export function checkAdminExposure(opts: AdminOptions): void {
  if (!opts.enabled || isLoopbackHost(opts.host)) return;
  if (opts.token === undefined || opts.token === '') {
    throw new TimbangError(
      'ERR_BAD_OPTION',
      `the admin API on ${opts.host}:${opts.port} would be reachable from other machines: set --admin-token (or admin.token in the config file), or bind it to 127.0.0.1`,
    );
  }
}

export function checkTokenStrength(token: string | undefined): void {
  if (token !== undefined && token.length < 16) {
    throw new TimbangError('ERR_BAD_OPTION', 'the admin token must be at least 16 characters');
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Checks `Authorization: Bearer <token>` (curl, scripts) or Basic with the token as password (what a
 * browser sends after its login prompt, also on EventSource requests). Compared as SHA-256 digests with
 * timingSafeEqual: constant time, and the token's length does not leak either.
 */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const space = header.indexOf(' ');
  if (space < 0) return false;
  const scheme = header.slice(0, space).toLowerCase();
  let given: string;
  if (scheme === 'bearer') given = header.slice(space + 1).trim();
  else if (scheme === 'basic') {
    const decoded = Buffer.from(header.slice(space + 1).trim(), 'base64').toString('utf8');
    given = decoded.slice(decoded.indexOf(':') + 1);
  } else return false;
  return timingSafeEqual(digest(given), digest(token));
}

/**
 * Browser-borne attacks on a local admin port: a page elsewhere may POST to 127.0.0.1:8001 (CSRF), or
 * point its own name at 127.0.0.1 (DNS rebinding). So a request that says where it comes from (Origin)
 * must come from this very host, and without a token the Host header must name a loopback address.
 * Returns a reason to refuse, or undefined.
 */
export function browserGuard(req: IncomingMessage, hasToken: boolean): string | undefined {
  const host = req.headers.host;
  if (host === undefined) return 'a Host header is required';
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null' && origin !== `http://${host}`) {
    return `requests from ${origin} are not allowed`;
  }
  if (origin === 'null') return 'requests from opaque origins are not allowed';
  if (!hasToken && !isLoopbackHost(hostName(host))) return `Host '${host}' is not a loopback address`;
  return undefined;
}

function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
