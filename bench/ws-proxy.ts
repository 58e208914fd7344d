import http from 'node:http';
import type net from 'node:net';
import httpProxy from 'http-proxy';

/**
 * node-http-proxy as its README proxies WebSockets (`ws: true`, the server's 'upgrade' event handed to
 * proxy.ws), in front of one backend: the soak's comparison. Usage: node dist-bench/bench/ws-proxy.js PORT BACKEND_PORT
 */
const [port, backendPort] = process.argv.slice(2, 4).map(Number);
/** `guard`: the usual workaround, an 'error' listener on each upgraded client socket. */
const guard = process.argv[4] === 'guard';
if (!(port > 0) || !(backendPort > 0)) {
  console.error('usage: ws-proxy PORT BACKEND_PORT [guard]');
  process.exit(2);
}

const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, ws: true });
proxy.on('error', (_err, _req, res) => {
  // For a WebSocket this is the client's socket: close it, as the usual recipes do.
  if ('writeHead' in res) {
    const r = res as http.ServerResponse;
    if (!r.headersSent) r.writeHead(502);
    r.end();
  } else (res as net.Socket).destroy();
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.on('upgrade', (req, socket, head) => {
  if (guard) socket.on('error', () => socket.destroy());
  proxy.ws(req, socket, head);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
