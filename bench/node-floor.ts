import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackends, startBroker } from './fixtures.js';
import { cpuSeconds, freePort, start, stopAll, waitForPort } from './procs.js';
import { runWrk } from './wrk.js';

/**
 * `npm run bench:floor`: what any HTTP proxy written in Node pays on this machine before doing any work.
 * A relay pairs each client connection with one upstream connection and copies bytes both ways: no
 * parsing, no balancing, no timeouts (correct only for one-request-at-a-time clients such as wrk). It
 * makes the same four system calls per request as the broker and reads upstream the same way (onread),
 * so timbang's CPU per request minus the relay's is what timbang's own work costs. Measured side by side
 * with the broker, interleaved, against the bench's nginx backends.
 */
const ROUNDS = 3;
const SECONDS = 5;

function relay(port: number, upstreams: number[]): void {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let next = 0;
  net
    .createServer({ noDelay: true }, (client) => {
      const up = net.connect({
        host: '127.0.0.1',
        port: upstreams[next++ % upstreams.length],
        noDelay: true,
        onread: { buffer, callback: (n: number) => client.write(Buffer.from(buffer.subarray(0, n))) || true },
      });
      client.on('data', (d: Buffer) => up.write(d));
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
      client.on('error', () => {});
      up.on('error', () => {});
    })
    .listen(port, '127.0.0.1');
}

async function main(): Promise<void> {
  const { dir, httpPorts } = await startBackends('timbang-floor-');
  const relayPort = await freePort();
  const relayProc = start(
    'relay',
    process.execPath,
    [fileURLToPath(import.meta.url), '--relay', String(relayPort), ...httpPorts.map(String)],
    path.join(dir, 'relay.log'),
  );
  const brokerPort = await freePort();
  const broker = await startBroker(dir, brokerPort, httpPorts, undefined);
  await waitForPort(relayPort, relayProc);
  const targets = [
    {
      name: 'node relay (the floor)',
      port: relayPort,
      svc: relayProc,
      cpu: [] as number[],
      rps: [] as number[],
    },
    { name: 'timbang broker', port: brokerPort, svc: broker, cpu: [] as number[], rps: [] as number[] },
  ];
  for (const t of targets) await runWrk(`http://127.0.0.1:${t.port}/`, 50, 1);
  for (let r = 0; r < ROUNDS; r++) {
    for (const t of targets) {
      const cpu0 = cpuSeconds([t.svc.pid]);
      const m = await runWrk(`http://127.0.0.1:${t.port}/`, 50, SECONDS);
      t.cpu.push(((cpuSeconds([t.svc.pid]) - cpu0) * 1e6) / m.requests);
      t.rps.push(m.rps);
    }
  }
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `wrk -c50, ${ROUNDS} rounds x ${SECONDS} s, medians (load average ${os.loadavg()[0].toFixed(2)}):`,
  );
  for (const t of targets) {
    console.log(
      `  ${t.name}: ${Math.round(median(t.rps))} req/s, ${median(t.cpu).toFixed(1)} µs CPU per request`,
    );
  }
  console.log(
    `  timbang's own work: ${(median(targets[1].cpu) - median(targets[0].cpu)).toFixed(1)} µs per request`,
  );
}

if (process.argv[2] === '--relay') relay(Number(process.argv[3]), process.argv.slice(4).map(Number));
else await main();
