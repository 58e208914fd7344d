import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAddress } from '../../src/balancer/address.js';
import { BackendTls } from '../../src/broker/backend-tls.js';
import { probe } from '../../src/broker/health-monitor.js';
import { DEFAULT_BROKER_OPTIONS } from '../../src/broker/options.js';
import type { CertFiles } from '../../src/tls/certificates.js';
import { brokerFor, Stack, waitFor } from '../helpers/backends.js';
import { listen, rawExchange } from '../helpers/net.js';
import { bigBodyHandler, streamBothWays } from '../helpers/streaming.js';
import { TestPki } from '../helpers/tls.js';

const stack = new Stack();
let pki: TestPki;
let good: CertFiles;
let wrongName: CertFiles;
let selfSigned: CertFiles;

beforeAll(async () => {
  pki = await TestPki.create();
  [good, wrongName, selfSigned] = await Promise.all([
    pki.cert('backend'),
    pki.cert('wrong', { dns: ['a.test'] }),
    pki.selfSigned('self'),
  ]);
}, 30_000);
afterAll(() => pki.remove());
afterEach(() => stack.closeAll());

interface TlsBackend {
  port: number;
  /** Per TLS connection: whether it resumed an earlier session, and the SNI name it asked for. */
  handshakes: { resumed: boolean; servername: string | false }[];
  requests: { url: string; proto: string | undefined }[];
}

/** An HTTPS backend with the given certificate; `close` makes it close after each response. */
async function tlsBackend(cert: CertFiles, opts: { close?: boolean } = {}): Promise<TlsBackend> {
  const handshakes: TlsBackend['handshakes'] = [];
  const requests: TlsBackend['requests'] = [];
  const server = https.createServer(
    { cert: await fs.readFile(cert.cert), key: await fs.readFile(cert.key) },
    (req, res) => {
      requests.push({ url: req.url ?? '', proto: req.headers['x-forwarded-proto'] as string | undefined });
      res.writeHead(req.url === '/health' ? 200 : 200, {
        'content-type': 'text/plain',
        ...(opts.close ? { connection: 'close' } : {}),
      });
      res.end('over tls\n');
    },
  );
  server.on('secureConnection', (s: tls.TLSSocket) =>
    handshakes.push({
      resumed: s.isSessionReused(),
      servername: (s as unknown as { servername: string | false }).servername,
    }),
  );
  const port = await listen(server);
  stack.add(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port, handshakes, requests };
}

const get = (port: number, path = '/x') =>
  rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n`);

describe('backends over TLS (https://host:port)', () => {
  it('parses https:// addresses and shows them as such', () => {
    expect(parseAddress('https://localhost:8443')).toEqual({ host: 'localhost', port: 8443, tls: true });
    expect(parseAddress('HTTPS://[::1]:443/')).toEqual({ host: '::1', port: 443, tls: true });
    expect(parseAddress('http://10.0.0.1:80')).toEqual({ host: '10.0.0.1', port: 80 });
    expect(() => parseAddress('https://localhost:8443/path')).toThrow(/bad backend address/);
    expect(() => parseAddress('https://')).toThrow(/bad backend address/);
  });

  it('refuses a backend whose certificate it cannot verify, and accepts it with --backend-ca', async () => {
    const backend = await tlsBackend(good);
    const backends = [{ id: '1', address: `https://localhost:${backend.port}` }];
    const { broker: noCa, log } = await brokerFor(stack, [], { backends, retries: 0 });
    const refused = await get(noCa.port);
    expect(refused).toMatch(/^HTTP\/1\.1 50[23] /);
    expect(refused).toContain('certificate not trusted');
    expect(backend.requests).toHaveLength(0);
    expect(log.events.join('\n')).toMatch(/worker 1 .* DOWN \(TLS: certificate not trusted/);

    const { broker } = await brokerFor(stack, [], {
      backends,
      backendTls: { ca: pki.ca.cert, insecure: false },
    });
    const ok = await get(broker.port);
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
    expect(ok).toContain('over tls');
    expect(backend.requests.at(-1)?.proto).toBe('http');
    expect(backend.handshakes.at(-1)?.servername).toBe('localhost');
  });

  it('refuses a certificate made out to another host name', async () => {
    const backend = await tlsBackend(wrongName);
    const { broker } = await brokerFor(stack, [], {
      backends: [{ id: '1', address: `https://localhost:${backend.port}` }],
      backendTls: { ca: pki.ca.cert, insecure: false },
      retries: 0,
    });
    const reply = await get(broker.port);
    expect(reply).toMatch(/^HTTP\/1\.1 50[23] /);
    expect(reply).toContain('certificate is not for this host name');
    // An IP address is checked against the certificate's IP names (and sends no SNI).
    const byIp = await tlsBackend(good);
    const { broker: ipBroker } = await brokerFor(stack, [], {
      backends: [{ id: '1', address: `https://127.0.0.1:${byIp.port}` }],
      backendTls: { ca: pki.ca.cert, insecure: false },
    });
    expect(await get(ipBroker.port)).toMatch(/^HTTP\/1\.1 200 /);
    expect(byIp.handshakes[0].servername).toBe(false);
  });

  it('accepts anything with --backend-insecure, and says so loudly at start', async () => {
    const backend = await tlsBackend(selfSigned);
    const { broker, log } = await brokerFor(stack, [], {
      backends: [{ id: '1', address: `https://localhost:${backend.port}` }],
      backendTls: { insecure: true },
    });
    expect(await get(broker.port)).toMatch(/^HTTP\/1\.1 200 /);
    expect(log.events.join('\n')).toMatch(
      /WARNING: --backend-insecure: certificates of https:\/\/ backends are NOT verified/,
    );
  });

  it('keeps connections alive and resumes the TLS session on new ones', async () => {
    const keep = await tlsBackend(good);
    const { broker } = await brokerFor(stack, [], {
      backends: [{ id: '1', address: `https://localhost:${keep.port}` }],
      backendTls: { ca: pki.ca.cert, insecure: false },
    });
    for (let i = 0; i < 3; i++) expect(await get(broker.port)).toMatch(/^HTTP\/1\.1 200 /);
    expect(keep.handshakes).toHaveLength(1); // one keep-alive connection carried all three

    const closing = await tlsBackend(good, { close: true });
    const { broker: b2 } = await brokerFor(stack, [], {
      backends: [{ id: '1', address: `https://localhost:${closing.port}` }],
      backendTls: { ca: pki.ca.cert, insecure: false },
    });
    for (let i = 0; i < 3; i++) expect(await get(b2.port)).toMatch(/^HTTP\/1\.1 200 /);
    expect(closing.handshakes.map((h) => h.resumed)).toEqual([false, true, true]);
  });

  it('health checks use the same TLS settings (tcp is a full handshake, http is https)', async () => {
    const backend = await tlsBackend(good);
    const b = { host: 'localhost', port: backend.port, tls: true } as Parameters<typeof probe>[0];
    for (const kind of ['tcp', 'http'] as const) {
      const opts = {
        ...DEFAULT_BROKER_OPTIONS,
        healthCheck: { ...DEFAULT_BROKER_OPTIONS.healthCheck, kind },
      };
      expect(await probe(b, opts, new BackendTls({ ca: pki.ca.cert, insecure: false }))).toBeUndefined();
      expect(await probe(b, opts, new BackendTls({ insecure: false }))).toMatch(/certificate not trusted/);
      expect(await probe(b, opts, new BackendTls({ insecure: true }))).toBeUndefined();
    }
    // And a broker with active checks marks a backend it cannot verify down.
    const { broker } = await brokerFor(stack, [], {
      backends: [{ id: '1', address: `https://localhost:${backend.port}` }],
      healthCheck: { ...DEFAULT_BROKER_OPTIONS.healthCheck, kind: 'http', intervalMs: 50, fall: 1 },
    });
    await waitFor(() => broker.balancer.pool.backends[0].state === 'down', 5_000, 'backend down');
  });

  it('refuses a CA file that is missing or holds no certificate', async () => {
    expect(() => new BackendTls({ ca: `${pki.dir}/missing.pem`, insecure: false })).toThrow(
      /cannot read the backend CA file .*missing\.pem: ENOENT/,
    );
    expect(() => new BackendTls({ ca: good.key, insecure: false })).toThrow(/holds no PEM certificate/);
  });

  it('streams a large body both ways to an https:// backend with bounded memory (onread and backpressure over TLS)', async () => {
    const size = 128 * 1024 * 1024;
    const server = https.createServer(
      { cert: await fs.readFile(good.cert), key: await fs.readFile(good.key) },
      bigBodyHandler(size),
    );
    const port = await listen(server);
    stack.add(() => new Promise((r) => server.close(() => r())));
    const { broker } = await brokerFor(stack, [], {
      backends: [{ id: '1', address: `https://localhost:${port}` }],
      backendTls: { ca: pki.ca.cert, insecure: false },
    });
    const moved = await streamBothWays(http.request, { host: '127.0.0.1', port: broker.port }, size);
    expect(moved.downloaded).toBe(size);
    expect(moved.uploaded).toBe(String(size));
    // As on the TLS front end: holding either direction would grow by at least 128 MiB.
    expect(moved.rssGrowth).toBeLessThan(96 * 1024 * 1024);
  }, 60_000);
});
