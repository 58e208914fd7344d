import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The trivial fast backend of the load generator benchmark: 200 'ok' to anything, keep-alive, with the
 * backend header the broker would add. Its own process (`node dist-bench/bench/loadgen-backend.js PORT`),
 * so it never shares an event loop with a generator.
 */
const port = Number(process.argv[2] ?? 0);
const server = http.createServer((_req, res) => {
  res.setHeader('X-Timbang-Backend', 'fast');
  res.end('ok');
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
