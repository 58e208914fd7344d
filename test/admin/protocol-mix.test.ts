import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Telemetry } from '../../src/admin/telemetry.js';
import { startBroker } from '../../src/broker/server.js';
import { httpBackend, MemoryLog, Stack } from '../helpers/backends.js';
import { closeSession, h2Connect, h2Request } from '../helpers/h2.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

describe('protocol mix', () => {
  it('counts requests by the protocol they came in, for the dashboard and Prometheus', async () => {
    const web = await httpBackend(stack, 'w');
    const telemetry = new Telemetry();
    const broker = await startBroker(
      {
        host: '127.0.0.1',
        port: 0,
        listeners: [{ host: '127.0.0.1', port: 0, mode: 'h2c' }],
        backends: [{ id: '1', address: `127.0.0.1:${web.port}` }],
        drainTimeoutMs: 1_000,
      },
      telemetry.deps({ log: new MemoryLog() }),
    );
    stack.add(() => broker.close());
    await new Promise<void>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port: broker.port, path: '/', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        })
        .on('error', reject),
    );
    const s = await h2Connect(broker.listeners[1].port);
    stack.add(() => closeSession(s));
    for (let i = 0; i < 3; i++) expect((await h2Request(s, { ':path': `/${i}` })).status).toBe(200);
    const text = await telemetry.metrics.registry.metrics();
    expect(text).toMatch(/timbang_requests_by_protocol_total\{protocol="h1"\} 1\n/);
    expect(text).toMatch(/timbang_requests_by_protocol_total\{protocol="h2"\} 3\n/);
    expect(text).toMatch(/timbang_requests_by_protocol_total\{protocol="line"\} 0\n/);
  });
});
