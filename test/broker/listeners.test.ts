import { afterEach, describe, expect, it } from 'vitest';
import { BrokerControl } from '../../src/broker/control.js';
import { DEFAULT_BROKER_OPTIONS } from '../../src/broker/options.js';
import { parseConfigText } from '../../src/config/load.js';
import { configToPatch } from '../../src/config/schema.js';
import { mergeSettings } from '../../src/config/settings.js';
import { brokerFor, httpBackend, lineBackend, Stack } from '../helpers/backends.js';
import { classroomClient, rawExchange } from '../helpers/net.js';

const stack = new Stack();
afterEach(() => stack.closeAll());

describe('several listeners', () => {
  it('serves HTTP and the line protocol on every listener, with one pool behind them', async () => {
    const web = await httpBackend(stack, 'w');
    const { broker } = await brokerFor(stack, [web.port], {
      listeners: [{ host: '127.0.0.1', port: 0, mode: 'http' }],
    });
    expect(broker.listeners).toHaveLength(2);
    const [main, extra] = broker.listeners;
    expect(main.port).toBe(broker.port);
    expect(extra.port).not.toBe(main.port);
    expect(extra.port).toBeGreaterThan(0);
    for (const l of broker.listeners) {
      const reply = await rawExchange(l.port, 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    }
    // One pool: both requests were counted on the one backend.
    expect(broker.balancer.pool.backends[0].total).toBe(2);
    expect(web.requests).toHaveLength(2);
  });

  it('takes classroom line messages on an extra listener too', async () => {
    const worker = await lineBackend(stack, '1', 'timbang');
    const { broker } = await brokerFor(stack, [worker.port], {
      listeners: [{ host: '127.0.0.1', port: 0, mode: 'http' }],
    });
    const reply = await classroomClient(broker.listeners[1].port, 'App1:Short');
    expect(reply).toBe('Worker 1 processed App1:Short\n');
  });

  it('stops every listener on close', async () => {
    const web = await httpBackend(stack, 'w');
    const { broker } = await brokerFor(stack, [web.port], {
      listeners: [{ host: '127.0.0.1', port: 0, mode: 'http' }],
    });
    const ports = broker.listeners.map((l) => l.port);
    await broker.close();
    for (const port of ports) {
      await expect(rawExchange(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')).rejects.toThrow(/ECONNREFUSED/);
    }
  });

  it('refuses to start when one listener cannot bind, and frees the ones it bound', async () => {
    const web = await httpBackend(stack, 'w');
    const { broker: first } = await brokerFor(stack, [web.port]);
    const busy = first.port;
    await expect(
      brokerFor(stack, [web.port], { listeners: [{ host: '127.0.0.1', port: busy, mode: 'http' }] }),
    ).rejects.toThrow(`cannot listen on 127.0.0.1:${busy}: the port is already in use`);
  });

  it('reads listeners from the config file, and a reload that changes them needs a restart', async () => {
    const file = parseConfigText(
      'listen: 127.0.0.1:0\nlisteners:\n  - listen: 127.0.0.1:0\n    mode: http\n  - listen: "0"\n',
      'timbang.yaml',
    );
    const settings = mergeSettings(configToPatch(file));
    expect(settings.broker.listeners).toEqual([
      { host: '127.0.0.1', port: 0, mode: 'http' },
      { host: '127.0.0.1', port: 0, mode: 'http' },
    ]);
    // The defaults are not shared with what a merge returns.
    settings.broker.listeners.pop();
    expect(DEFAULT_BROKER_OPTIONS.listeners).toEqual([]);

    const web = await httpBackend(stack, 'w');
    const { broker } = await brokerFor(stack, [web.port], { listeners: [] });
    const control = new BrokerControl(broker);
    const next = { ...broker.options, listeners: [{ host: '127.0.0.1', port: 0, mode: 'http' as const }] };
    expect(control.reload(next).restartNeeded).toContain('listeners');
    expect(control.reload({ ...broker.options }).restartNeeded).not.toContain('listeners');
    control.close();
  });

  it('names a bad listener in the config file', () => {
    expect(() => parseConfigText('listeners:\n  - listen: nowhere\n', 'timbang.yaml')).toThrow(
      /line 2: listeners\[0\]\.listen: expected host:port/,
    );
    expect(() => parseConfigText('listeners:\n  - listen: 8001\n    mode: ftp\n', 'timbang.yaml')).toThrow(
      /listeners\[0\]\.mode: must be http/,
    );
  });
});
