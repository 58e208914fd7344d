import http2 from 'node:http2';
import net from 'node:net';

/**
 * What node:http2 itself costs per request on this machine: an h2c server (prior knowledge, as the bench's
 * h2 row) that answers every stream at once with the fields timbang relays from the bench's nginx
 * backends and a 3-byte body, sending nothing anywhere. timbang's CPU per request minus this is what
 * proxying costs it (the HTTP/1.1 request to a backend and its response, the balancing, the header
 * translation). Usage: node h2-floor.js PORT
 */
const port = Number(process.argv[2] ?? 0);
const body = Buffer.from('ok\n');
const server = net.createServer((socket) => {
  const session = http2.performServerHandshake(socket, { settings: { maxConcurrentStreams: 100 } });
  session.on('error', () => {});
  session.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({
      ':status': 200,
      server: 'nginx',
      date: new Date().toUTCString(),
      'content-type': 'text/plain',
      'content-length': '3',
      'x-timbang-backend': 'floor',
    });
    stream.end(body);
  });
});
server.listen(port, '127.0.0.1');
