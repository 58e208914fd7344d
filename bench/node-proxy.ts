import http from 'node:http';
import httpProxy from 'http-proxy';

/**
 * What a Node user would otherwise write: node-http-proxy with a keep-alive agent, round robin over
 * the backends. Usage: node dist-bench/bench/node-proxy.js PORT BACKEND_PORT...
 */
const [port, ...backendPorts] = process.argv.slice(2).map(Number);
if (!(port > 0) || backendPorts.length === 0) {
  console.error('usage: node-proxy PORT BACKEND_PORT...');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ agent });
const targets = backendPorts.map((p) => `http://127.0.0.1:${p}`);
let next = 0;

proxy.on('error', (_err, _req, res) => {
  // An http.ServerResponse here (no WebSocket in this bench); its typings allow a socket too.
  const r = res as http.ServerResponse;
  if (!r.headersSent) r.writeHead(502);
  r.end();
});

http
  .createServer((req, res) => {
    const target = targets[next];
    next = next + 1 === targets.length ? 0 : next + 1;
    proxy.web(req, res, { target });
  })
  .listen(port, '127.0.0.1');
