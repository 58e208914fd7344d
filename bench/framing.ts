import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sniffProtocol } from '../src/broker/sniff.js';
import { type FramingCase, loadCorpus } from '../test/http1/corpus/corpus.js';
// Node's parser as node:http uses it: the recording backend's and the client's framing.
import { HTTPParser } from '../test/http1/corpus/llhttp-parser.js';
import { benchFlags, freePort, killAllNow, start, stopAll, versionOf, waitForPort } from './procs.js';

/**
 * `npm run framing`: the differential framing harness of issue 17. Every case of the corpus
 * (test/http1/corpus/) goes through timbang (the CLI, as a user runs it), nginx and HAProxy, each in front
 * of its own recording backend: a raw socket server that frames requests with Node's llhttp and records
 * exactly what it framed, and that answers with the case's bytes when the case is a response. The harness
 * compares what the client saw with what the backend framed and classifies timbang's result:
 *
 * - dangerous: the backend framed a request the client got no answer for (a smuggled request), timbang
 *   forwarded an ambiguous message (CL with TE, a bad TE or CL), the backend could not parse what timbang
 *   sent, a client got bytes a strict parser cannot frame, or a later request got another's response
 *   (queue poisoning);
 * - stricter: timbang refused what nginx and HAProxy both passed (a compatibility bug: fixed, or argued in
 *   docs/architecture.md);
 * - line: the first line had no HTTP version, so the shared port took it for a classroom line message
 *   (forwarded one line per backend connection: no HTTP message can pass that way);
 * - same: anything else (timbang answered as at least one of them did, or more safely).
 *
 * After every case the broker must answer a plain GET. Flags: --only <id substring>, --verbose.
 * Needs nginx and haproxy (Debian packages); loopback only.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin/timbang.js');
/** Quiet this long after the last byte: the exchange is over. */
const QUIET_MS = 250;
const CASE_MS = 1_500;

type Proxy = 'timbang' | 'nginx' | 'haproxy';
const PROXIES: Proxy[] = ['timbang', 'nginx', 'haproxy'];

interface Seen {
  /** Status codes the client got, in order. */
  statuses: number[];
  /** Answers of the recording backend the client got (`rec:<n>` bodies). */
  answers: number;
  /** The client's bytes do not parse as responses (strict llhttp). */
  malformed: boolean;
  /** Requests the backend framed, and parse errors it hit. */
  framed: number;
  backendErrors: number;
  /** A later request got something other than its own answer (responses only). */
  poisoned: boolean;
  raw: string;
  /** What the backend connection that failed had received. */
  failed: string;
}

/** The recording backend: frames requests with llhttp, answers `rec:<n>`, or the case's bytes once. */
class Recorder {
  port = 0;
  framed = 0;
  errors = 0;
  /** What the connection that failed had received, for the report. */
  failedBytes = '';
  /** Bytes to answer the next request with (a response case), then null. */
  script: FramingCase | null = null;
  private readonly server = net.createServer((s) => this.accept(s));
  private readonly sockets = new Set<net.Socket>();

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await new Promise((r) => this.server.once('listening', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Bytes that only the proxy's HTTP path writes (timbang's Via), to tell its connections from lines. */
  constructor(private readonly mark?: RegExp) {}

  /** Counts resets: a connection knows in which case it was opened. */
  private epoch = 0;

  reset(script: FramingCase | null): void {
    this.epoch++;
    this.framed = 0;
    this.failedBytes = '';
    this.errors = 0;
    this.script = script;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    const p = new HTTPParser();
    p.initialize(HTTPParser.REQUEST, {}, 80 * 1024, 0);
    let upgraded = false;
    // An error counts against the case running now if the connection was opened in it, or carried a
    // request (a keep-alive connection of the proxy's pool). A line-protocol connection of an earlier
    // case (one line each, never a request) that fails late is no one's.
    const openedIn = this.epoch;
    let carried = 0;
    p[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, _h: unknown, _m: number, _u: string) => {};
    p[HTTPParser.kOnBody] = () => {};
    p[HTTPParser.kOnMessageComplete] = () => {
      carried++;
      const n = ++this.framed;
      const script = this.script;
      if (script !== null) {
        this.script = null;
        socket.write(Buffer.from(script.bytes, 'latin1'));
        if (script.finish) socket.end();
        return;
      }
      const body = `rec:${n}`;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    };
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return;
      received += chunk.toString('latin1');
      const r = p.execute(chunk);
      if (r instanceof Error) {
        if ((r as Error & { code?: string }).code === 'HPE_PAUSED_UPGRADE') upgraded = true;
        else {
          // timbang's own HTTP path marks every request it forwards (Via); the line protocol does not.
          const http =
            this.mark === undefined ? openedIn === this.epoch || carried > 0 : this.mark.test(received);
          if (http) {
            this.errors++;
            this.failedBytes = `${r.message} (opened ${this.epoch - openedIn} resets ago, ${carried} requests): ${JSON.stringify(received.slice(-400))}`;
          }
          socket.destroy();
        }
      }
    });
  }
}

/** Sends bytes on a new connection; resolves with what came back once quiet, closed, or CASE_MS. */
function exchange(port: number, bytes: Buffer, end = false): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let quiet: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(quiet);
      clearTimeout(limit);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const limit = setTimeout(done, CASE_MS);
    socket.on('connect', () => {
      socket.write(bytes);
      if (end) socket.end();
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(quiet);
      quiet = setTimeout(done, QUIET_MS);
    });
    socket.on('error', () => {});
    socket.on('close', done);
  });
}

/** The responses in what a client got, framed strictly (the first one a response to HEAD if asked). */
function responses(
  bytes: Buffer,
  firstIsHead: boolean,
): { statuses: number[]; bodies: string[]; malformed: boolean } {
  const p = new HTTPParser();
  p.initialize(HTTPParser.RESPONSE, {}, 80 * 1024, 0);
  const statuses: number[] = [];
  const bodies: string[] = [];
  p[HTTPParser.kOnHeadersComplete] = (
    _a: number,
    _b: number,
    _h: unknown,
    _m: number,
    _u: string,
    status: number,
  ) => {
    const interim = status >= 100 && status < 200;
    if (!interim) {
      statuses.push(status);
      bodies.push('');
    }
    return firstIsHead && statuses.length === 1 && !interim ? 1 : 0; // 1: no body (HEAD)
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    bodies[bodies.length - 1] += b.toString('latin1');
  };
  p[HTTPParser.kOnMessageComplete] = () => {};
  const r = p.execute(bytes);
  return { statuses, bodies, malformed: r instanceof Error };
}

const host = 'Host: framing.test\r\n';

async function runRequest(c: FramingCase, port: number, rec: Recorder): Promise<Seen> {
  rec.reset(null);
  const got = await exchange(port, Buffer.from(c.bytes, 'latin1'), c.finish === true);
  const r = responses(got, false);
  return {
    statuses: r.statuses,
    answers: r.bodies.filter((b) => /^rec:\d+$/.test(b)).length,
    malformed: r.malformed,
    framed: rec.framed,
    backendErrors: rec.errors,
    poisoned: false,
    raw: got.toString('latin1'),
    failed: rec.failedBytes,
  };
}

async function runResponse(c: FramingCase, port: number, rec: Recorder): Promise<Seen> {
  rec.reset(c);
  const method = c.head ? 'HEAD' : 'GET';
  // The case's answer, then a second request pipelined on the same connection, then one on another.
  const first = await exchange(
    port,
    Buffer.from(`${method} /r1 HTTP/1.1\r\n${host}\r\nGET /r2 HTTP/1.1\r\n${host}\r\n`, 'latin1'),
  );
  const later = await exchange(port, Buffer.from(`GET /r3 HTTP/1.1\r\n${host}\r\n`, 'latin1'));
  const a = responses(first, c.head === true);
  const b = responses(later, false);
  // After the first answer, every 2xx must be the backend's own answer to that request.
  const poisoned =
    a.statuses.slice(1).some((s, i) => s < 300 && !/^rec:\d+$/.test(a.bodies[i + 1])) ||
    b.statuses.some((s, i) => s < 300 && !/^rec:\d+$/.test(b.bodies[i]));
  return {
    statuses: a.statuses,
    answers: 0,
    malformed: a.malformed || b.malformed,
    framed: rec.framed,
    backendErrors: rec.errors,
    poisoned,
    raw: first.toString('latin1'),
    failed: rec.failedBytes,
  };
}

/** A request the broker must still answer after every case. */
async function alive(port: number): Promise<boolean> {
  const got = await exchange(port, Buffer.from(`GET /alive HTTP/1.1\r\n${host}\r\n`, 'latin1'));
  const r = responses(got, false);
  return r.statuses[0] === 200 && /^rec:\d+$/.test(r.bodies[0] ?? '');
}

type Verdict = 'dangerous' | 'stricter' | 'line' | 'same';

function classify(c: FramingCase, seen: Record<Proxy, Seen>): { verdict: Verdict; why: string } {
  const t = seen.timbang;
  if (c.kind === 'request') {
    if (t.framed > t.answers)
      return { verdict: 'dangerous', why: `backend framed ${t.framed}, client got ${t.answers} answers` };
    if (c.ambiguous && t.framed > 0) return { verdict: 'dangerous', why: 'forwarded an ambiguous message' };
    // The first line has no HTTP version, so the shared port takes it for the line protocol, which
    // sends each line alone on its own backend connection: no HTTP message can pass that way.
    if (sniffProtocol(Buffer.from(c.bytes, 'latin1')) !== 'http' && t.framed === 0)
      return { verdict: 'line', why: 'no HTTP version in the first line: a line message' };
    if (t.backendErrors > 0)
      return { verdict: 'dangerous', why: `the backend could not parse what timbang sent: ${t.failed}` };
    if (t.malformed) return { verdict: 'dangerous', why: 'the client cannot parse what timbang sent' };
    const passed = (s: Seen) => s.answers > 0;
    if (
      t.answers < Math.min(seen.nginx.answers, seen.haproxy.answers) &&
      passed(seen.nginx) &&
      passed(seen.haproxy)
    )
      return {
        verdict: 'stricter',
        why: `timbang ${t.statuses.join(',') || 'nothing'}; nginx and HAProxy forwarded`,
      };
    return { verdict: 'same', why: '' };
  }
  if (t.poisoned) return { verdict: 'dangerous', why: 'a later request got bytes that were not its answer' };
  if (t.malformed) return { verdict: 'dangerous', why: 'the client cannot parse what timbang relayed' };
  const ok = (s: Seen) => s.statuses.length > 0 && s.statuses[0] < 500;
  if (!ok(t) && ok(seen.nginx) && ok(seen.haproxy))
    return {
      verdict: 'stricter',
      why: `timbang ${t.statuses[0] ?? 'nothing'}; nginx ${seen.nginx.statuses[0]}, HAProxy ${seen.haproxy.statuses[0]}`,
    };
  return { verdict: 'same', why: '' };
}

function nginxConf(dir: string, port: number, backend: number): string {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx.error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp-body; proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fcgi; uwsgi_temp_path ${dir}/tmp-uwsgi; scgi_temp_path ${dir}/tmp-scgi;
  upstream backend { server 127.0.0.1:${backend}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
}

function haproxyConf(port: number, backend: number): string {
  return `global
  nbthread 1
defaults
  mode http
  timeout connect 2s
  timeout client 5s
  timeout server 5s
  timeout http-keep-alive 5s
frontend in
  bind 127.0.0.1:${port}
  option http-keep-alive
  default_backend out
backend out
  http-reuse always
  server s1 127.0.0.1:${backend}
`;
}

async function main(): Promise<void> {
  const flags = benchFlags({
    only: { type: 'string', default: '' },
    verbose: { type: 'boolean', default: false },
  });
  const only = String(flags.only);
  const missing = ['nginx', 'haproxy'].filter((t) => versionOf(t, ['-v']) === undefined);
  if (missing.length > 0) {
    console.error(`npm run framing needs ${missing.join(' and ')} (Debian: apt-get install nginx haproxy)`);
    process.exit(2);
  }
  const cases = loadCorpus().filter((c) => c.id.includes(only));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'timbang-framing-'));
  mkdirSync(path.join(dir, 'tmp-body'));
  process.on('exit', () => {
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
  });
  const recorders = {
    timbang: new Recorder(/\r\nvia: [^\r]*1\.1 timbang/i),
    nginx: new Recorder(),
    haproxy: new Recorder(),
  };
  for (const r of Object.values(recorders)) await r.listen();
  const ports = { timbang: await freePort(), nginx: await freePort(), haproxy: await freePort() };
  writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, ports.nginx, recorders.nginx.port));
  writeFileSync(path.join(dir, 'haproxy.cfg'), haproxyConf(ports.haproxy, recorders.haproxy.port));
  const log = (n: string) => path.join(dir, `${n}.log`);
  const svcs = {
    timbang: start(
      'timbang',
      process.execPath,
      [
        BIN,
        'broker',
        '--port',
        String(ports.timbang),
        '--backends',
        `127.0.0.1:${recorders.timbang.port}`,
        '--no-admin',
        '--log-format',
        'none',
      ],
      log('timbang'),
    ),
    nginx: start('nginx', 'nginx', ['-c', path.join(dir, 'nginx.conf')], log('nginx')),
    haproxy: start('haproxy', 'haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], log('haproxy')),
  };
  for (const p of PROXIES) await waitForPort(ports[p], svcs[p]);

  const counts: Record<string, Record<Verdict, number>> = {
    request: { dangerous: 0, stricter: 0, line: 0, same: 0 },
    response: { dangerous: 0, stricter: 0, line: 0, same: 0 },
  };
  const notable: string[] = [];
  let dead = 0;
  const started = Date.now();
  for (const c of cases) {
    const run = c.kind === 'request' ? runRequest : runResponse;
    const seen = Object.fromEntries(
      await Promise.all(PROXIES.map(async (p) => [p, await run(c, ports[p], recorders[p])] as const)),
    ) as Record<Proxy, Seen>;
    const { verdict, why } = classify(c, seen);
    counts[c.kind][verdict]++;
    recorders.timbang.reset(null);
    const up = svcs.timbang.child.exitCode === null && (await alive(ports.timbang));
    if (!up) dead++;
    if (verdict !== 'same' || !up || flags.verbose) {
      const s = (x: Seen) => `${x.statuses.join(',') || '-'} (backend ${x.framed})`;
      notable.push(
        `${verdict.toUpperCase().padEnd(9)} ${c.id}\n          ${why}${up ? '' : '; THE BROKER DID NOT ANSWER AFTERWARDS'}\n          timbang ${s(seen.timbang)}, nginx ${s(seen.nginx)}, HAProxy ${s(seen.haproxy)}\n          source: ${c.source}${c.why ? `\n          timbang: ${c.why}` : ''}`,
      );
    }
  }
  for (const line of notable) console.log(line);
  const total = (v: Verdict) => counts.request[v] + counts.response[v];
  console.log(
    `\n${cases.length} cases in ${((Date.now() - started) / 1000).toFixed(0)} s (timbang, ${versionOf('nginx', ['-v']) ?? 'nginx'}, ${(versionOf('haproxy', ['-v']) ?? 'haproxy').split('\n')[0]}):`,
  );
  for (const kind of ['request', 'response'])
    console.log(
      `  ${kind}s: ${counts[kind].dangerous} dangerous, ${counts[kind].stricter} stricter, ${counts[kind].line} to the line protocol, ${counts[kind].same} same`,
    );
  console.log(
    `  total: ${total('dangerous')} dangerous, ${total('stricter')} stricter, ${total('line')} to the line protocol, ${total('same')} same; broker alive after ${cases.length - dead} of ${cases.length}`,
  );
  for (const r of Object.values(recorders)) r.close();
  await stopAll();
  process.exit(total('dangerous') > 0 || dead > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  killAllNow();
  process.exit(1);
});
