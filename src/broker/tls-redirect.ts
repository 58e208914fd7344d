import type { ClientConnection, FrontExchange } from './http-front.js';

/** A host as a Location may carry it: a name or IPv4 address, or a bracketed IPv6 one, with any port. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The answer of a cleartext listener with `redirect: https`, as nginx's
 * `return 301 https://$host$request_uri`: the same host and target on the HTTPS port. A Host that is not
 * a plain host name or address is refused (400) rather than echoed into a Location.
 */
export function redirectToHttps(conn: ClientConnection, httpsPort: number): FrontExchange | undefined {
  let host: string | undefined;
  for (let k = 0; k < conn.watchedCount; k++)
    if (conn.watchedNames[k] === 'host') host = conn.watchedValues[k];
  if (host === undefined || !HOST.test(host)) {
    conn.respond(400, TEXT, 'a redirect to HTTPS needs a valid Host header\n');
    return undefined;
  }
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  const target = conn.target.startsWith('/') ? conn.target : '/';
  const location = `https://${name}${httpsPort === 443 ? '' : `:${httpsPort}`}${target}`;
  conn.respond(301, `${TEXT}location: ${location}\r\n`, `moved to ${location}\n`);
  return undefined;
}

const TEXT = 'content-type: text/plain; charset=utf-8\r\n';
