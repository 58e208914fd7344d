import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCert } from '../src/tls/certificates.js';
import { haproxyTlsConf, nginxTlsProxyConf } from './configs.js';
import { brokerArgs } from './fixtures.js';
import { cpuSeconds, freePort, processTree, start, waitForPort } from './procs.js';
import { type Row, summarize, table } from './stats.js';
import { runWrk } from './wrk.js';

/**
 * HTTPS rows of `npm run bench`: timbang, nginx and HAProxy each terminating TLS (one worker, one thread,
 * the same self-signed P-256 certificate made for the run) in front of the same cleartext backends.
 * - keep-alive: wrk over TLS at 50 connections, requests/s and CPU per request;
 * - handshakes: wrk with `Connection: close`, so every request is a new TCP connection and a TLS
 *   handshake: new TLS connections per second and CPU per connection. wrk offers its last session
 *   ticket, as browsers do (checked against a Node server: about half its handshakes resumed).
 * Targets are interleaved within each round, as in the HTTP rows.
 */
export interface TlsBenchOptions {
  dir: string;
  httpPorts: number[];
  rounds: number;
  /** Seconds per keep-alive cell; handshake cells run at most 3 s (each leaves sockets in TIME_WAIT). */
  duration: number;
  log: (name: string) => string;
}

export interface TlsBenchResult {
  keepAlive: Row[];
  handshakes: Row[];
  markdown: string;
}

interface Target {
  name: string;
  port: number;
  pids: number[];
}

function checkHttps(port: number, ca: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/', agent: false, ca, servername: 'localhost' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () =>
          res.statusCode === 200 && body === 'ok\n'
            ? resolve()
            : reject(new Error(`https port ${port}: ${res.statusCode} ${JSON.stringify(body)}`)),
        );
      })
      .on('error', reject);
  });
}

async function interleave(
  targets: Target[],
  rounds: number,
  seconds: number,
  connections: number,
  label: string,
  headers: string[],
): Promise<Row[]> {
  const rows: Row[] = targets.map((t) => ({ target: t.name, connections, runs: [], cpuUsPerRequest: [] }));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + round) % targets.length];
      const cpu0 = cpuSeconds(t.pids);
      const m = await runWrk(`https://127.0.0.1:${t.port}/`, connections, seconds, headers);
      const cpuUs = ((cpuSeconds(t.pids) - cpu0) * 1e6) / Math.max(1, m.requests);
      const row = rows.find((r) => r.target === t.name)!;
      row.runs.push(m);
      row.cpuUsPerRequest.push(cpuUs);
      console.log(
        `  ${label} round ${round + 1}/${rounds} ${t.name}: ${Math.round(m.rps)}/s p50 ${m.p50Ms.toFixed(3)} ms` +
          ` p99 ${m.p99Ms.toFixed(3)} ms cpu ${cpuUs.toFixed(0)} µs${m.errors ? ` errors ${m.errors}` : ''}`,
      );
    }
  }
  return rows;
}

/** Starts the three TLS proxies (stopped by the caller's stopAll) and measures them. */
export async function tlsBench(o: TlsBenchOptions): Promise<TlsBenchResult> {
  const cert = await makeCert(o.dir, 'bench-tls', { dns: ['localhost'], ip: ['127.0.0.1'] });
  const combined = path.join(o.dir, 'bench-tls.combined.pem');
  writeFileSync(combined, Buffer.concat([readFileSync(cert.cert), readFileSync(cert.key)]));
  const ca = readFileSync(cert.cert);
  const port = { timbang: await freePort(), nginx: await freePort(), haproxy: await freePort() };
  writeFileSync(
    path.join(o.dir, 'nginx-tls.conf'),
    nginxTlsProxyConf(o.dir, port.nginx, o.httpPorts, cert.cert, cert.key),
  );
  writeFileSync(path.join(o.dir, 'haproxy-tls.cfg'), haproxyTlsConf(port.haproxy, o.httpPorts, combined));
  const timbang = start(
    'timbang https',
    process.execPath,
    [...brokerArgs(port.timbang, o.httpPorts, 1), '--tls-cert', cert.cert, '--tls-key', cert.key],
    o.log('timbang-tls'),
  );
  const nginx = start('nginx https', 'nginx', ['-c', path.join(o.dir, 'nginx-tls.conf')], o.log('nginx-tls'));
  const haproxy = start(
    'haproxy https',
    'haproxy',
    ['-db', '-f', path.join(o.dir, 'haproxy-tls.cfg')],
    o.log('haproxy-tls'),
  );
  await waitForPort(port.timbang, timbang);
  await waitForPort(port.nginx, nginx);
  await waitForPort(port.haproxy, haproxy);
  const targets: Target[] = [
    { name: 'timbang https', port: port.timbang, pids: processTree(timbang.pid) },
    { name: 'nginx https', port: port.nginx, pids: processTree(nginx.pid) },
    { name: 'haproxy https', port: port.haproxy, pids: processTree(haproxy.pid) },
  ];
  for (const t of targets) await checkHttps(t.port, ca);

  console.log('HTTPS warm-up');
  for (const t of targets) await runWrk(`https://127.0.0.1:${t.port}/`, 50, 1);
  console.log('HTTPS keep-alive (wrk -t1 over TLS)');
  const keepAlive = await interleave(targets, o.rounds, o.duration, 50, 'https', []);
  console.log('TLS handshakes (wrk -t1, Connection: close: one request per new TLS connection)');
  const handshakes = await interleave(targets, o.rounds, Math.min(3, o.duration), 50, 'handshake', [
    'Connection: close',
  ]);

  const get = (rows: Row[], name: string) => {
    const r = rows.find((x) => x.target === name);
    return r ? summarize(r) : undefined;
  };
  const ratios = (rows: Row[], unit: string) => {
    const tb = get(rows, 'timbang https');
    const ng = get(rows, 'nginx https');
    if (!tb || !ng) return '';
    return `timbang / nginx: ${(tb.rps / ng.rps).toFixed(2)}x by ${unit}/s, ${(ng.cpuUs / tb.cpuUs).toFixed(2)}x by CPU per ${unit} (target >= 0.6x).`;
  };
  const markdown = `## HTTPS: TLS at the front, cleartext keep-alive to the backends

timbang (\`--tls-cert\`), nginx (\`listen ssl\`) and HAProxy (\`bind ssl crt\`), one worker or thread each,
the same self-signed P-256 certificate, TLS 1.3 negotiated with wrk (OpenSSL). wrk -t1 at 50 connections.

Keep-alive (many requests per TLS connection):

${table(keepAlive, 'req', ['nginx https', 'haproxy https'])}

${ratios(keepAlive, 'req')}

New TLS connections (\`Connection: close\`: a TCP connect, a TLS handshake and one request each; wrk
offers its last session ticket, as browsers do, so part of the handshakes are resumptions),
${Math.min(3, o.duration)} s per cell:

${table(handshakes, 'conn', ['nginx https', 'haproxy https'])}

${ratios(handshakes, 'conn')}
`;
  return { keepAlive, handshakes, markdown };
}

/** The HTTPS lines of the bench's targets table: timbang vs nginx, by req/s and by CPU, >= 0.6x. */
export function tlsChecks(r: TlsBenchResult): { what: string; target: string; got: string; pass: boolean }[] {
  const out: { what: string; target: string; got: string; pass: boolean }[] = [];
  for (const [rows, what] of [
    [r.keepAlive, 'HTTPS keep-alive'],
    [r.handshakes, 'new TLS connections/s'],
  ] as const) {
    const tb = rows.find((x) => x.target === 'timbang https');
    const ng = rows.find((x) => x.target === 'nginx https');
    if (!tb || !ng) continue;
    const a = summarize(tb);
    const b = summarize(ng);
    const x = a.rps / b.rps;
    const c = b.cpuUs / a.cpuUs;
    out.push({
      what: `timbang vs nginx, ${what}, 50 conns`,
      target: '>= 0.6x',
      got: `${x.toFixed(2)}x`,
      pass: x >= 0.6,
    });
    out.push({
      what: `timbang vs nginx, ${what}, by CPU, 50 conns`,
      target: '>= 0.6x',
      got: `${c.toFixed(2)}x`,
      pass: c >= 0.6,
    });
  }
  return out;
}

/** `npm run bench:tls`: the HTTPS rows alone, with their own nginx backends. */
async function main(): Promise<void> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const { backendsConf } = await import('./configs.js');
  const { benchFlags, stopAll } = await import('./procs.js');
  const flags = benchFlags({
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'timbang-bench-tls-'));
  const log = (name: string) => path.join(dir, `${name}.log`);
  const httpPorts = [await freePort(), await freePort(), await freePort()];
  const linePorts = [await freePort()];
  writeFileSync(path.join(dir, 'backends.conf'), backendsConf(dir, httpPorts, linePorts));
  const backends = start('nginx backends', 'nginx', ['-c', path.join(dir, 'backends.conf')], log('backends'));
  try {
    for (const p of httpPorts) await waitForPort(p, backends);
    const result = await tlsBench({
      dir,
      httpPorts,
      rounds: Number(flags.rounds),
      duration: Number(flags.duration),
      log,
    });
    console.log(`\n${result.markdown}`);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(`bench:tls failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
