import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBackends, startBroker } from './fixtures.js';
import { cpuSeconds, freePort, start, stopAll, waitForPort } from './procs.js';
import { runWrk } from './wrk.js';

/**
 * `npm run bench:floor`: what any HTTP proxy written in Node pays on this machine before doing any work
 * (the HTTP relay of relays.ts), so timbang's CPU per request minus the relay's is what timbang's own
 * work costs. Measured side by side with the broker, interleaved, against the bench's nginx backends.
 */
const ROUNDS = 3;
const SECONDS = 5;

async function main(): Promise<void> {
  const { dir, httpPorts } = await startBackends('timbang-floor-');
  const relayPort = await freePort();
  const relayProc = start(
    'relay',
    process.execPath,
    [
      fileURLToPath(new URL('./relays.js', import.meta.url)),
      'http',
      String(relayPort),
      ...httpPorts.map(String),
    ],
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

await main();
