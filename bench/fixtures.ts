import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendsConf } from './configs.js';
import { freePort, type Service, start, waitForPort } from './procs.js';

/** What the profiling and floor benches stand up: fixed nginx backends and a quiet broker in front. */

const BIN = fileURLToPath(new URL('../../bin/timbang.js', import.meta.url));

/** The fixed nginx backends (HTTP and line) in a fresh directory, up and answering. */
export async function startBackends(
  prefix: string,
): Promise<{ dir: string; httpPorts: number[]; linePorts: number[] }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const httpPorts = [await freePort(), await freePort(), await freePort()];
  const linePorts = [await freePort(), await freePort(), await freePort()];
  writeFileSync(path.join(dir, 'backends.conf'), backendsConf(dir, httpPorts, linePorts));
  const backends = start(
    'nginx backends',
    'nginx',
    ['-c', path.join(dir, 'backends.conf')],
    path.join(dir, 'nginx.log'),
  );
  for (const p of [...httpPorts, ...linePorts]) await waitForPort(p, backends);
  return { dir, httpPorts, linePorts };
}

/** The broker under test, round robin over `backends`, quiet; under --cpu-prof when profDir is given. */
export async function startBroker(
  dir: string,
  port: number,
  backends: number[],
  profDir: string | undefined,
): Promise<Service> {
  const broker = start(
    'timbang',
    process.execPath,
    [
      ...(profDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
      ...brokerArgs(port, backends),
    ],
    path.join(dir, 'broker.log'),
  );
  await waitForPort(port, broker);
  return broker;
}

/**
 * The command line of a bench broker: round robin over `backends`, no access log, and no admin listener
 * (it would want port 8001; without it the metrics and dashboard hooks are not installed either, so what
 * is measured is the proxy path alone, as for nginx and HAProxy).
 */
export function brokerArgs(port: number, backends: number[], procs = 1): string[] {
  const args = [
    BIN,
    'broker',
    '--port',
    String(port),
    '--backends',
    backends.map((p) => `127.0.0.1:${p}`).join(','),
    '--strategy',
    'round-robin',
    '--log-format',
    'none',
    '--no-admin',
  ];
  if (procs > 1) args.push('--procs', String(procs));
  return args;
}
