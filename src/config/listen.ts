import type { HostPort } from '../balancer/address.js';

/**
 * A listener address: `host:port`, `[::1]:port`, `:port` or `port` (host 127.0.0.1). Unlike a backend
 * address, port 0 is allowed (any free port). Returns undefined when the text is not one.
 */
export function parseListen(text: string): HostPort | undefined {
  const s = text.trim();
  const m = /^(?:\[([^\]]+)\]:|([^:\s[\]]*):)?(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
