import net from 'node:net';

/**
 * The Node floor: what any proxy written in Node pays on this machine before it does any work of its
 * own. Each relay pairs one client connection with one upstream connection, round robin, and copies bytes
 * both ways: no parsing, no balancing, no timeouts. `npm run bench` measures both beside timbang in the
 * same interleaved run, so "timbang costs N times the floor" is measured each run, not argued once.
 * Usage: node dist-bench/bench/relays.js http|line PORT UPSTREAM_PORT...
 */

/**
 * HTTP keep-alive: correct only for one-request-at-a-time clients such as wrk. It makes the same four
 * system calls per request as the broker and reads upstream the same way (onread into one buffer).
 */
export function httpRelay(port: number, upstreams: number[]): net.Server {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let next = 0;
  return net
    .createServer({ noDelay: true }, (client) => {
      const up = net.connect({
        host: '127.0.0.1',
        port: upstreams[next++ % upstreams.length],
        noDelay: true,
        onread: { buffer, callback: (n: number) => client.write(Buffer.from(buffer.subarray(0, n))) || true },
      });
      client.on('data', (d: Buffer) => up.write(d));
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
      client.on('error', () => {});
      up.on('error', () => {});
    })
    .listen(port, '127.0.0.1');
}

/**
 * The classroom exchange (connect, one line, the reply, close) with a connection per message: the
 * 20-line relay the line mode is judged against. Half-closes pass through, so either side may end first.
 */
export function lineRelay(port: number, upstreams: number[]): net.Server {
  let next = 0;
  return net
    .createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
      const up = net.connect({
        host: '127.0.0.1',
        port: upstreams[next++ % upstreams.length],
        noDelay: true,
        allowHalfOpen: true,
      });
      client.pipe(up);
      up.pipe(client);
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
    })
    .listen(port, '127.0.0.1');
}

if (process.argv[1]?.endsWith('relays.js')) {
  const [kind, ...rest] = process.argv.slice(2);
  const [port, ...upstreams] = rest.map(Number);
  if ((kind !== 'http' && kind !== 'line') || !(port > 0) || upstreams.length === 0) {
    console.error('usage: relays http|line PORT UPSTREAM_PORT...');
    process.exit(2);
  }
  (kind === 'http' ? httpRelay : lineRelay)(port, upstreams);
}
