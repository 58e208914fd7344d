import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type DnsGroupSpec,
  dnsGroups,
  refreshDelayMs,
  resolveGroup,
  retryDelayMs,
} from '../../src/broker/discovery.js';
import { parseDiscoveryUrl } from '../../src/broker/discovery-target.js';
import { DEFAULT_BROKER_OPTIONS, type DnsOptions } from '../../src/broker/options.js';
import { parseBackendList } from '../../src/cli/backends.js';
import { parseConfigText } from '../../src/config/load.js';
import { call, startLab } from '../admin/helpers.js';
import { httpBackend, Stack, waitFor } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { TestDnsServer } from '../helpers/dns-server.js';
import { httpLoad } from '../helpers/http-load.js';

const DNS: DnsOptions = { servers: [], minTtlMs: 1_000, maxTtlMs: 60_000, intervalMs: 0, timeoutMs: 2_000 };

describe('dns:// and srv:// names', () => {
  it('parses both forms', () => {
    expect(parseDiscoveryUrl('dns://Web.Internal:8080')).toMatchObject({
      kind: 'dns',
      name: 'web.internal',
      port: 8080,
    });
    expect(parseDiscoveryUrl('srv://_http._tcp.web.default.svc.cluster.local.')).toMatchObject({
      kind: 'srv',
      name: '_http._tcp.web.default.svc.cluster.local',
    });
  });

  it.each([
    ['dns://web.internal', /needs a port/],
    ['dns://web.internal:0', /port must be a number from 1 to 65535/],
    ['dns://web.internal:http', /port must be a number/],
    ['srv://_http._tcp.web:80', /takes no port/],
    ['dns://10.0.0.1:80', /needs a DNS name/],
    ['dns://we b:80', /takes a name/],
    ['dns://web..internal:80', /is not a DNS name/],
    ['srv://_http._tcp.web/path', /takes a name/],
    ['dns://-web:80', /is not a DNS name/],
  ])('refuses %s with a clear message', (url, why) => {
    expect(() => parseDiscoveryUrl(url)).toThrow(why);
  });

  it('mixes with static backends in --backends, ids by position', () => {
    const specs = parseBackendList('127.0.0.1:9002,web=srv://_http._tcp.web.test*2,dns://api.test:8080');
    expect(specs.map((s) => s.id)).toEqual(['1', 'web', '3']);
    const groups = dnsGroups(specs);
    expect(groups.map((g) => [g.id, g.target.kind, g.weight])).toEqual([
      ['web', 'srv', 2],
      ['3', 'dns', 1],
    ]);
    expect(() => parseBackendList('dns://api.test')).toThrow(/needs a port/);
  });

  it('is checked by the config schema, with the line and the reason', () => {
    const ok = parseConfigText(
      'backends:\n  - address: 127.0.0.1:9002\n  - address: srv://_web._tcp.service.consul\nslowStart: 30s\ndns:\n  servers: [127.0.0.1:8600]\n  minTtl: 500ms\n  maxTtl: 1m\n',
      'x.yaml',
    );
    expect(ok.slowStart).toBe(30_000);
    expect(ok.dns).toEqual({ servers: ['127.0.0.1:8600'], minTtl: 500, maxTtl: 60_000 });
    expect(() => parseConfigText('backends:\n  - address: dns://web\n', 'x.yaml')).toThrow(
      /line 2: backends\[0\]\.address: bad DNS backend 'dns:\/\/web': dns:\/\/ needs a port/,
    );
    expect(() => parseConfigText('dns:\n  servers: [consul.local]\n', 'x.yaml')).toThrow(
      /must be an IP address/,
    );
    expect(() => parseConfigText('dns:\n  minTtl: 10s\n  maxTtl: 1s\n', 'x.yaml')).toThrow(
      /dns.maxTtl: must be >= dns.minTtl/,
    );
    expect(() => parseConfigText('slowStart: 30\n', 'x.yaml')).not.toThrow(); // a number is milliseconds
    expect(() => parseConfigText("slowStart: '30'\n", 'x.yaml')).toThrow(/expected a duration/);
  });
});

describe('refresh timing', () => {
  it('follows the TTL, clamped to [minTtl, maxTtl]', () => {
    expect(refreshDelayMs(30, DNS)).toBe(30_000);
    expect(refreshDelayMs(0, DNS)).toBe(1_000); // Consul's TTL 0
    expect(refreshDelayMs(86_400, DNS)).toBe(60_000);
    expect(refreshDelayMs(30, { ...DNS, intervalMs: 5_000 })).toBe(5_000);
    expect(refreshDelayMs(0, { ...DNS, minTtlMs: 0 })).toBe(10); // never a busy loop
  });

  it('backs off after failures, doubling, up to maxTtl and 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((k) => retryDelayMs(k, DNS))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect(retryDelayMs(10, { ...DNS, maxTtlMs: 5_000 })).toBe(5_000);
  });
});

describe('lookups against a DNS server on 127.0.0.1', () => {
  let dns: TestDnsServer;
  let resolver: Resolver;
  beforeEach(async () => {
    dns = await TestDnsServer.start();
    resolver = new Resolver({ timeout: 300, tries: 1 });
    resolver.setServers([dns.address]);
  });
  afterEach(() => dns.close());

  const group = (url: string, weight = 1): DnsGroupSpec => ({
    id: 'g',
    target: parseDiscoveryUrl(url),
    weight,
  });

  it('dns://: A and AAAA records on the given port, with the smallest TTL', async () => {
    dns.ttl = 7;
    dns.a.set('web.test', ['127.0.0.2', '127.0.0.3']);
    dns.aaaa.set('web.test', ['::1']);
    const r = await resolveGroup(resolver, group('dns://web.test:8080'));
    expect(r.hosts.map((h) => h.address).sort()).toEqual(['127.0.0.2:8080', '127.0.0.3:8080', '[::1]:8080']);
    expect(r.ttlS).toBe(7);
  });

  it('srv://: the lowest priority only, ports from the records, weights normalised to a mean of 1', async () => {
    dns.a.set('a.test', ['127.0.0.1']);
    dns.a.set('b.test', ['127.0.0.2']);
    dns.a.set('c.test', ['127.0.0.3']);
    dns.srv.set('_http._tcp.web.test', [
      { target: 'a.test', port: 9001, weight: 30 },
      { target: 'b.test', port: 9002, weight: 10 },
      { target: 'c.test', port: 9003, weight: 50, priority: 1 }, // a fallback: not used
    ]);
    const r = await resolveGroup(resolver, group('srv://_http._tcp.web.test', 2));
    expect(r.hosts).toEqual([
      { address: '127.0.0.1:9001', weight: 3 },
      { address: '127.0.0.2:9002', weight: 1 },
    ]);
  });

  it('an unknown name is an empty answer; SERVFAIL and silence are errors', async () => {
    expect((await resolveGroup(resolver, group('dns://nothing.test:80'))).hosts).toEqual([]);
    expect((await resolveGroup(resolver, group('srv://_x._tcp.nothing.test'))).hosts).toEqual([]);
    dns.a.set('web.test', ['127.0.0.2']);
    dns.mode = 'servfail';
    await expect(resolveGroup(resolver, group('dns://web.test:80'))).rejects.toMatchObject({
      code: 'ESERVFAIL',
    });
    dns.mode = 'silent';
    await expect(resolveGroup(resolver, group('dns://web.test:80'))).rejects.toMatchObject({
      code: 'ETIMEOUT',
    });
  });
});

describe('a broker with an SRV backend group', () => {
  const stack = new Stack();
  let dns: TestDnsServer;
  beforeEach(async () => {
    dns = await TestDnsServer.start();
    stack.add(() => dns.close());
  });
  afterEach(() => stack.closeAll());

  async function lab(extra: Record<string, unknown> = {}) {
    const lab = await startLab(stack, [], {
      backends: [{ id: 'web', address: 'srv://_http._tcp.web.test' }],
      dns: {
        ...DEFAULT_BROKER_OPTIONS.dns,
        servers: [dns.address],
        minTtlMs: 30,
        maxTtlMs: 200,
        timeoutMs: 150,
      },
      slowStartMs: 300,
      ...extra,
    });
    return lab;
  }

  it('adds, drains and removes backends as the records change, under load, with 0 failed of 2,000', async () => {
    const backends = await Promise.all(['a', 'b', 'c', 'd'].map((id) => httpBackend(stack, id)));
    const srv = (ids: string[]) =>
      ids.map((id) => ({ target: 'w.test', port: backends['abcd'.indexOf(id)].port, weight: 10 }));
    dns.a.set('w.test', ['127.0.0.1']);
    dns.srv.set('_http._tcp.web.test', srv(['a', 'b', 'c']));
    const { running, url, log } = await lab();
    const pool = running.broker.balancer.pool;
    expect(pool.backends.map((b) => b.port).sort()).toEqual(
      backends
        .slice(0, 3)
        .map((b) => b.port)
        .sort(),
    );
    // Joined at startup: no slow start for the first set.
    expect(pool.backends.every((b) => b.ramp === 1)).toBe(true);

    const portsInPool = () => pool.backends.map((b) => b.port).sort((x, y) => x - y);
    const want = (ids: string) =>
      [...ids].map((id) => backends['abcd'.indexOf(id)].port).sort((x, y) => x - y);
    let joinedRamping = false;
    // 5 ms at the backend, so requests are in flight when a backend starts draining.
    const result = await httpLoad(`${url}/x?delay=5`, {
      n: 2_000,
      concurrency: 50,
      onDone: (done) => {
        if (done === 400) dns.srv.set('_http._tcp.web.test', srv(['a', 'b', 'c', 'd'])); // d joins
        if (done === 1_000) dns.srv.set('_http._tcp.web.test', srv(['b', 'c', 'd'])); // a leaves
        const d = pool.backends.find((b) => b.port === backends[3].port);
        if (d && d.ramp < 1) joinedRamping = true;
      },
    });
    expect(result.failed).toBe(0);
    expect(result.done).toBe(2_000);
    await waitFor(() => String(portsInPool()) === String(want('bcd')), 5_000, 'a removed, d added');
    expect(joinedRamping).toBe(true); // d joined in slow start
    expect(result.byBackend.get('d') ?? 0).toBeGreaterThan(0);
    expect(result.byBackend.get('a') ?? 0).toBeGreaterThan(0);
    expect(log.events.join('\n')).toMatch(/dns: srv:\/\/_http\._tcp\.web\.test gives 4 host\(s\) \(\+1 -0\)/);
    expect(log.events.join('\n')).toMatch(/worker web@127\.0\.0\.1:\d+ on 127\.0\.0\.1:\d+ removed/);
  }, 30_000);

  it('keeps the last good set through SERVFAIL, silence and an empty answer, and says so', async () => {
    const backends = await Promise.all(['a', 'b'].map((id) => httpBackend(stack, id)));
    dns.a.set('w.test', ['127.0.0.1']);
    dns.srv.set(
      '_http._tcp.web.test',
      backends.map((b) => ({ target: 'w.test', port: b.port })),
    );
    const { running, url, api, log } = await lab();
    const pool = running.broker.balancer.pool;
    expect(pool.backends).toHaveLength(2);

    const reasons = { servfail: 'SERVFAIL', silent: 'timed out', empty: 'empty answer' };
    for (const mode of ['servfail', 'silent', 'empty'] as const) {
      if (mode === 'empty') {
        dns.mode = 'answer';
        dns.srv.set('_http._tcp.web.test', []);
      } else dns.mode = mode;
      await waitFor(() => running.discovery.view()[0].lastError === reasons[mode], 5_000, `${mode} noticed`);
      expect(pool.backends).toHaveLength(2);
      const r = await httpLoad(`${url}/x`, { n: 50, concurrency: 5 });
      expect(r.failed).toBe(0);
      const state = await call('GET', `${api}/api/state`);
      expect(state.json.dns[0]).toMatchObject({ id: 'web', status: 'stale', hosts: 2 });
      const metrics = await call('GET', `${api}/metrics`);
      expect(metrics.text).toMatch(/timbang_dns_group_stale\{group="web"\} 1/);
      expect(metrics.text).toMatch(/timbang_dns_lookups_total\{group="web",result="failed"\} [1-9]/);
    }
    const text = log.events.join('\n');
    expect(text).toMatch(
      /lookup of srv:\/\/_http\._tcp\.web\.test failed \(SERVFAIL\); keeping the last 2 host\(s\); retry in/,
    );
    expect(text).toMatch(/failed \(timed out\); keeping the last 2/);
    expect(text).toMatch(/failed \(empty answer\); keeping the last 2/);

    // Back: the group is ok again and nothing moved.
    dns.srv.set(
      '_http._tcp.web.test',
      backends.map((b) => ({ target: 'w.test', port: b.port })),
    );
    await waitFor(() => running.discovery.view()[0].status === 'ok', 5_000, 'recovery');
    expect(pool.backends).toHaveLength(2);
    expect(log.events.join('\n')).toMatch(/lookups work again/);
  }, 30_000);

  it('re-resolves at the TTL clamped to the bounds', async () => {
    const b = await httpBackend(stack, 'a');
    dns.a.set('w.test', ['127.0.0.1']);
    dns.srv.set('_http._tcp.web.test', [{ target: 'w.test', port: b.port }]);
    dns.ttl = 3_600; // an hour, clamped to maxTtl (200 ms)
    const { running } = await lab();
    const view = running.discovery.view()[0];
    expect(view.nextInMs).toBeLessThanOrEqual(200);
    expect(view.nextInMs).toBeGreaterThan(100);
    const t0 = Date.now();
    await dns.nextQueries(2); // the SRV query and its target's A query of the next lookup
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('a reload with a new group weight reweighs the members; an address back while it drains is kept', async () => {
    const [a, b] = await Promise.all(['a', 'b'].map((id) => httpBackend(stack, id)));
    dns.a.set('w.test', ['127.0.0.1']);
    const both = [a, b].map((x) => ({ target: 'w.test', port: x.port }));
    dns.srv.set('_http._tcp.web.test', both);
    const { running } = await lab({ drainTimeoutMs: 60_000 });
    const pool = running.broker.balancer.pool;
    const opts = running.broker.options;
    const result = running.control.reload({
      ...opts,
      backends: [{ id: 'web', address: 'srv://_http._tcp.web.test', weight: 3 }],
    });
    expect(result.applied).toContain('dns group web weight 1 -> 3');
    await waitFor(() => pool.backends.every((x) => x.weight === 3), 5_000, 'members reweighed');

    // b leaves the answer while a request holds it: it drains...
    const bMember = pool.backends.find((x) => x.port === b.port)!;
    pool.start(bMember, 0); // a request in flight keeps it in the pool while it drains
    dns.srv.set('_http._tcp.web.test', both.slice(0, 1));
    await waitFor(() => bMember.state === 'draining', 5_000, 'b draining');
    // ...and comes back: the same backend is put back in rotation, not added twice.
    dns.srv.set('_http._tcp.web.test', both);
    await waitFor(() => bMember.state === 'up', 5_000, 'b back');
    expect(pool.backends.filter((x) => x.port === b.port)).toHaveLength(1);
    expect(running.control.isRemoving(bMember)).toBe(false);
    pool.end(bMember, 0, 1, true);
  });

  it('dns://: A records on loopback addresses, one port', async () => {
    const servers: http.Server[] = [];
    const seen = new Set<string>();
    let port = 0;
    for (const ip of ['127.0.0.2', '127.0.0.3']) {
      const server = http.createServer((_req, res) => {
        seen.add(ip);
        res.end(ip);
      });
      server.listen(port, ip);
      await once(server, 'listening');
      port = (server.address() as AddressInfo).port;
      servers.push(server);
      stack.add(() => new Promise<void>((r) => server.close(() => r())));
    }
    dns.a.set('api.test', ['127.0.0.2', '127.0.0.3']);
    const { running, url } = await lab({
      backends: [{ address: `dns://api.test:${port}` }],
      strategy: 'round-robin',
    });
    expect(running.broker.balancer.pool.backends.map((x) => x.id).sort()).toEqual([
      `1@127.0.0.2:${port}`,
      `1@127.0.0.3:${port}`,
    ]);
    const r = await httpLoad(`${url}/`, { n: 20, concurrency: 2 });
    expect(r.failed).toBe(0);
    expect([...seen].sort()).toEqual(['127.0.0.2', '127.0.0.3']);
  });

  it('a reload applies a DNS group diff: a group replaced by a static backend drains out', async () => {
    const [a, s] = await Promise.all(['a', 's'].map((id) => httpBackend(stack, id)));
    dns.a.set('w.test', ['127.0.0.1']);
    dns.srv.set('_http._tcp.web.test', [{ target: 'w.test', port: a.port }]);
    const { running } = await lab();
    const opts = running.broker.options;
    const result = running.control.reload({
      ...opts,
      backends: [{ id: 'static', address: `127.0.0.1:${s.port}` }],
    });
    expect(result.applied.join('\n')).toMatch(/dns group web srv:\/\/_http\._tcp\.web\.test removed/);
    expect(result.applied.join('\n')).toMatch(/backend static added/);
    const pool = running.broker.balancer.pool;
    await waitFor(() => pool.backends.length === 1, 5_000, 'the group member removed');
    expect(pool.backends[0].id).toBe('static');
    expect(running.discovery.size).toBe(0);
  });
});

describe('timbang broker (built CLI)', () => {
  it.each([
    [['--backends', '127.0.0.1:9002,dns://web'], /bad DNS backend 'dns:\/\/web': dns:\/\/ needs a port/],
    [['--backends', 'srv://_http._tcp.web:80'], /srv:\/\/ takes no port/],
    [['--dns-server', 'consul.local'], /'consul.local' is not a DNS server/],
    [['--slow-start', '30'], /expected a duration such as 500ms, 30s or 2m \(or 0\), got '30'/],
    [
      ['--dns-min-ttl', '10s', '--dns-max-ttl', '1s'],
      /the DNS minimum TTL \(10000 ms\) is above the maximum/,
    ],
  ])('%j: one line, exit 2', async (args, message) => {
    const p = runCli(['broker', '--no-admin', '--port', '0', ...args]);
    const { code } = await p.exited;
    expect(p.output()).toMatch(message);
    expect(p.output()).not.toMatch(/\n\s+at /); // no stack trace
    expect(code).toBe(2);
  });
});
