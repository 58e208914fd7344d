import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { dnsGroups } from '../../src/broker/discovery.js';
import { parseConfigText } from '../../src/config/load.js';
import { configToPatch } from '../../src/config/schema.js';
import { mergeSettings } from '../../src/config/settings.js';
import { httpBackend, Stack } from '../helpers/backends.js';
import { runCli } from '../helpers/cli.js';
import { TestDnsServer } from '../helpers/dns-server.js';

/**
 * deploy/ as far as this machine can check it: no container engine or cluster runs here, so the
 * manifests are parsed and cross-checked (ports, probes, names, grace period against the drain), the
 * config they mount is put through the broker's own validation, and the broker is run the way the
 * image's ENTRYPOINT and CMD run it, with that config, against a DNS server answering for the cluster.
 */
const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects, read field by field and asserted
type K8s = any;

async function manifests(file: string): Promise<K8s[]> {
  const text = await readFile(join(DEPLOY, 'kubernetes', file), 'utf8');
  return parseAllDocuments(text).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS();
  });
}

function find(docs: K8s[], kind: string, name: string): K8s {
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`no ${kind} ${name}`);
  return doc;
}

/** A container's port number by name. */
function portNamed(container: K8s, name: string): number {
  const p = container.ports.find((x: K8s) => x.name === name);
  if (!p) throw new Error(`no port named ${name}`);
  return p.containerPort;
}

let all: K8s[];
let brokerYaml: string;
beforeAll(async () => {
  all = [
    ...(await manifests('workers.yaml')),
    ...(await manifests('broker-config.yaml')),
    ...(await manifests('broker.yaml')),
  ];
  brokerYaml = find(all, 'ConfigMap', 'timbang-broker').data['broker.yaml'];
});

describe('Kubernetes manifests', () => {
  it('kustomization lists every manifest', async () => {
    const k = parse(await readFile(join(DEPLOY, 'kubernetes', 'kustomization.yaml'), 'utf8'));
    expect(k.resources.sort()).toEqual(['broker-config.yaml', 'broker.yaml', 'workers.yaml']);
  });

  it("the mounted config passes the broker's own validation", () => {
    const file = parseConfigText(brokerYaml, 'broker.yaml');
    expect(file.backends?.[0].address).toMatch(/^srv:\/\//);
    const settings = mergeSettings(configToPatch(file));
    expect(dnsGroups(settings.broker.backends)).toHaveLength(1);
  });

  it('workers: a headless Service whose SRV name is the one the brokers resolve', () => {
    const svc = find(all, 'Service', 'timbang-workers');
    expect(svc.spec.clusterIP).toBe('None');
    const dep = find(all, 'Deployment', 'timbang-worker');
    expect(svc.spec.selector).toEqual(dep.spec.template.metadata.labels);
    expect(dep.spec.selector.matchLabels).toEqual(dep.spec.template.metadata.labels);
    const port = svc.spec.ports[0];
    const worker = dep.spec.template.spec.containers[0];
    expect(portNamed(worker, port.targetPort)).toBe(port.port);
    // The worker listens where its container port says, on every interface.
    const args: string[] = worker.args;
    expect(args[0]).toBe('worker');
    expect(Number(args[args.indexOf('--port') + 1])).toBe(portNamed(worker, 'http'));
    expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');
    // _<port name>._<protocol>.<service>.<namespace>.svc.cluster.local
    const namespace = svc.metadata.namespace ?? 'default';
    const srv = `srv://_${port.name}._${port.protocol.toLowerCase()}.${svc.metadata.name}.${namespace}.svc.cluster.local`;
    expect(parseConfigText(brokerYaml, 'broker.yaml').backends?.[0].address).toBe(srv);
    expect(worker.readinessProbe.httpGet.path).toBe('/health'); // the worker serves GET /health
  });

  it('brokers: ports match the config, probes point at the admin /health endpoints, the Service at the proxy', () => {
    const file = parseConfigText(brokerYaml, 'broker.yaml');
    const dep = find(all, 'Deployment', 'timbang-broker');
    const pod = dep.spec.template.spec;
    const broker = pod.containers[0];
    expect(file.listen).toBe(`0.0.0.0:${portNamed(broker, 'http')}`);
    expect(file.admin?.listen).toBe(`0.0.0.0:${portNamed(broker, 'admin')}`);
    expect(broker.readinessProbe.httpGet).toEqual({ path: '/health', port: 'admin' });
    expect(broker.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'admin' });
    // The admin listener is off loopback: the token comes from a Secret, through the flag's env variable.
    expect(broker.env).toContainEqual({
      name: 'TIMBANG_ADMIN_TOKEN',
      valueFrom: { secretKeyRef: { name: 'timbang-admin', key: 'token' } },
    });
    const svc = find(all, 'Service', 'timbang-broker');
    expect(svc.spec.selector).toEqual(dep.spec.template.metadata.labels);
    expect(svc.spec.ports[0].targetPort).toBe('http');
    // The config is mounted where the image's CMD reads it.
    const mount = broker.volumeMounts.find((m: K8s) => m.name === 'config');
    const volume = pod.volumes.find((v: K8s) => v.name === 'config');
    expect(volume.configMap.name).toBe('timbang-broker');
    expect(`${mount.mountPath}/broker.yaml`).toBe('/etc/timbang/broker.yaml');
    expect(broker.args).toEqual(['broker', '--config', '/etc/timbang/broker.yaml']);
  });

  it('SIGTERM drains within the grace period: preStop + drain timeout < terminationGracePeriodSeconds', () => {
    const file = parseConfigText(brokerYaml, 'broker.yaml');
    const pod = find(all, 'Deployment', 'timbang-broker').spec.template.spec;
    const preStop: string[] = pod.containers[0].lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    const drainS = (file.timeouts?.drainMs ?? 30_000) / 1000;
    expect(Number(preStop[1]) + drainS).toBeLessThan(pod.terminationGracePeriodSeconds);
    const workers = find(all, 'Deployment', 'timbang-worker').spec.template.spec;
    const args: string[] = workers.containers[0].args;
    expect(Number(args[args.indexOf('--drain-timeout') + 1]) / 1000).toBeLessThan(
      workers.terminationGracePeriodSeconds,
    );
  });

  it('every container runs as non-root without privilege escalation', () => {
    for (const name of ['timbang-broker', 'timbang-worker']) {
      const pod = find(all, 'Deployment', name).spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.containers[0].securityContext.allowPrivilegeEscalation).toBe(false);
    }
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on node:20-slim, non-root, stops with SIGTERM and runs the broker on the mounted config', async () => {
    const text = await readFile(join(DEPLOY, 'Dockerfile'), 'utf8');
    const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const from = lines.filter((l) => l.startsWith('FROM '));
    expect(from.length).toBeGreaterThanOrEqual(2);
    for (const f of from) expect(f).toMatch(/^FROM node:20-slim\b/);
    expect(lines).toContain('USER node');
    expect(lines).toContain('STOPSIGNAL SIGTERM');
    const json = (directive: string) =>
      JSON.parse(lines.find((l) => l.startsWith(`${directive} `))!.slice(directive.length + 1));
    expect(json('ENTRYPOINT')).toEqual(['node', '/app/bin/timbang.js']);
    expect(json('CMD')).toEqual(['broker', '--config', '/etc/timbang/broker.yaml']);
    expect(lines.find((l) => l.startsWith('EXPOSE'))).toBe('EXPOSE 8000 8001');
    // What the image copies exists, and bin/timbang.js loads dist/ (what the build stage makes).
    expect(await readFile(fileURLToPath(new URL('../../bin/timbang.js', import.meta.url)), 'utf8')).toMatch(
      /\.\.\/dist\/cli\/main\.js/,
    );
  });
});

describe('Consul example', () => {
  it('resolves the registered service through the agent DNS port, and passes validation', async () => {
    const text = await readFile(join(DEPLOY, 'consul', 'broker.yaml'), 'utf8');
    const file = parseConfigText(text, 'broker.yaml');
    expect(file.dns?.servers).toEqual(['127.0.0.1:8600']);
    const hcl = await readFile(join(DEPLOY, 'consul', 'web-service.hcl'), 'utf8');
    const service = /name\s*=\s*"([^"]+)"/.exec(hcl)![1];
    expect(file.backends?.[0].address).toBe(`srv://_${service}._tcp.service.consul`);
    expect(hcl).toMatch(/http\s*=\s*"http:\/\/127\.0\.0\.1:\d+\/health"/);
  });
});

describe('the broker as the image runs it, on the ConfigMap config', () => {
  const stack = new Stack();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'timbang-deploy-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  afterEach(() => stack.closeAll());

  it('serves the probes, routes to the SRV workers, and drains on SIGTERM within the grace period', async () => {
    const dns = await TestDnsServer.start();
    stack.add(() => dns.close());
    const workers = await Promise.all(['w1', 'w2'].map((id) => httpBackend(stack, id)));
    dns.ttl = 5; // CoreDNS's default
    dns.a.set('w.cluster.test', ['127.0.0.1']);
    dns.srv.set(
      '_http._tcp.timbang-workers.default.svc.cluster.local',
      workers.map((w) => ({ target: 'w.cluster.test', port: w.port, weight: 50 })),
    );
    // The ConfigMap's file, with only what a test must change: loopback and free ports, and the
    // cluster's DNS server replaced by the test's.
    const config = parse(brokerYaml);
    config.listen = '127.0.0.1:0';
    config.admin.listen = '127.0.0.1:0';
    config.dns.servers = [dns.address];
    const path = join(dir, 'broker.yaml');
    await writeFile(path, JSON.stringify(config));
    const token = 'test-token-0123456789abcdef';
    const image = runCli(['broker', '--config', path], { TIMBANG_ADMIN_TOKEN: token });
    stack.add(() => image.stop('SIGKILL'));
    const listening = await image.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    const admin = await image.waitFor(/admin API and dashboard on (http:\/\/127\.0\.0\.1:\d+)\//);
    const port = Number(listening[1]);
    const api = admin[1];

    // Probes: no token needed; everything else on the admin port needs it.
    expect(await get(`${api}/health`)).toMatchObject({ status: 200, json: { status: 'ok', up: 2 } });
    expect((await get(`${api}/health/live`)).status).toBe(200);
    expect((await get(`${api}/api/state`)).status).toBe(401);
    const state = await get(`${api}/api/state`, { authorization: `Bearer ${token}` });
    expect(state.json.dns[0]).toMatchObject({ id: 'workers', status: 'ok', hosts: 2 });

    // Requests go through to the workers; slow ones are in flight when SIGTERM comes.
    expect((await get(`http://127.0.0.1:${port}/x`)).status).toBe(200);
    const slow = Array.from({ length: 4 }, () => get(`http://127.0.0.1:${port}/x?delay=800`));
    await waitUntil(() => workers.reduce((n, w) => n + w.requests.length, 0) >= 5);
    const t0 = Date.now();
    image.child.kill('SIGTERM');
    const answers = await Promise.all(slow);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    const exit = await image.exited;
    const tookS = (Date.now() - t0) / 1000;
    expect(exit.code).toBe(0);
    const pod = find(all, 'Deployment', 'timbang-broker').spec.template.spec;
    expect(tookS).toBeLessThan(pod.terminationGracePeriodSeconds - 5);
    expect(image.output()).toMatch(/SIGTERM: draining \(up to 20000 ms\)/);
  }, 30_000);
});

function get(
  url: string,
  headers: Record<string, string> = {},
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, asserted by each test
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
      })
      .on('error', reject);
  });
}

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
