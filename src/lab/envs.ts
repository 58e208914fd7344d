import http from 'node:http';
import { type RunningBroker, startBrokerWithAdmin } from '../admin/run.js';
import type { BrokerLog } from '../broker/access-log.js';
import { AdminClient } from '../client/admin.js';
import { mergeSettings } from '../config/settings.js';
import { type DemoWorker, spawnWorker } from '../demo/workers.js';
import { TimbangError } from '../errors.js';
import type { LiveEnv } from './live.js';
import type { Scenario, WorkerState } from './scenario.js';

/** POST to a worker's lab control (src/worker/http-handler.ts). */
function workerControl(address: string, path: string): Promise<void> {
  const [host, portText] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host, port: Number(portText), method: 'POST', path, agent: false, timeout: 5_000 },
      (res) => {
        res.resume();
        res.once('end', () =>
          (res.statusCode ?? 0) < 300
            ? resolve()
            : reject(
                new TimbangError('ERR_CONNECT', `worker at ${address}: ${path} answered ${res.statusCode}`),
              ),
        );
      },
    );
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', (err) =>
      reject(
        new TimbangError(
          'ERR_CONNECT',
          `worker at ${address}: ${path}: ${err.message} (is it a timbang worker?)`,
        ),
      ),
    );
    req.end();
  });
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}

/** The log of the second and later brokers of a lesson: the first one's says the same. */
const QUIET: BrokerLog = { request() {}, event() {}, flush() {} };

/**
 * `timbang demo --scenario`: every run gets fresh worker processes and fresh brokers, so each strategy
 * and repeat starts from the same state, and a worker that died in one run is back for the next. A
 * scenario with `brokers: K` gets K brokers in this process, each its own Broker with its own pool and
 * strategy state in front of the same workers: each balances alone, seeing only the requests sent to it,
 * as K processes would (one process each would be more faithful to --procs, not a different question).
 */
export class DemoEnv implements LiveEnv {
  private workers = new Map<string, DemoWorker>();
  private running: RunningBroker[] = [];
  private admins: AdminClient[] = [];

  constructor(
    private readonly s: Scenario,
    private readonly timeScale: number,
    private readonly out: (line: string) => void,
  ) {}

  private async spawn(w: WorkerState): Promise<DemoWorker> {
    const longMs = this.s.jobs.longMs / this.timeScale / w.speed;
    const shortMs = this.s.jobs.shortMs / this.timeScale / w.speed;
    // Quiet workers (a lesson sends thousands of jobs); only their trouble is shown.
    const worker = await spawnWorker(w.id, 0, { longMs, shortMs, cores: 1, quiet: true }, (line) => {
      if (/error|cannot/i.test(line)) this.out(line);
    });
    this.workers.set(w.id, worker);
    return worker;
  }

  async prepare(strategy: string): Promise<Array<{ host: string; port: number }>> {
    await Promise.all(this.s.workers.map((w) => this.spawn({ ...w })));
    const settings = mergeSettings({
      broker: {
        host: '127.0.0.1',
        port: 0,
        backends: this.s.workers.map((w) => ({
          id: w.id,
          address: `127.0.0.1:${this.workers.get(w.id)!.port}`,
          weight: w.weight,
        })),
        strategy,
        logFormat: 'none',
        requestTimeoutMs: 120_000,
        healthCheck: { kind: 'http', path: '/health', intervalMs: 500, timeoutMs: 500, rise: 2, fall: 2 },
      },
      admin: { host: '127.0.0.1', port: 0 },
    });
    for (let k = 0; k < this.s.brokers; k++) {
      // The first broker speaks for all (they start and see the same workers); the others are quiet.
      const running = await startBrokerWithAdmin(settings, k === 0 ? {} : { log: QUIET });
      this.running.push(running);
      this.admins.push(new AdminClient('127.0.0.1', running.admin!.port));
    }
    return this.running.map((r) => ({ host: '127.0.0.1', port: r.broker.port }));
  }

  async slow(worker: string, factor: number): Promise<void> {
    const w = this.workers.get(worker);
    if (w) await workerControl(`127.0.0.1:${w.port}`, `/control/slowdown?factor=${factor}`);
  }

  async kill(worker: string): Promise<void> {
    await this.workers.get(worker)?.kill();
  }

  async add(worker: WorkerState): Promise<void> {
    const w = await this.spawn(worker);
    await Promise.all(this.admins.map((a) => a.addBackend(`127.0.0.1:${w.port}`, worker.id, worker.weight)));
  }

  async setStrategy(strategy: string): Promise<void> {
    await Promise.all(this.admins.map((a) => a.setStrategy(strategy)));
  }

  async finish(): Promise<void> {
    await Promise.all(this.running.map((r) => r.close()));
    this.running = [];
    this.admins = [];
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
    this.workers.clear();
  }
}

/**
 * `timbang client --scenario`: a broker someone else runs, with timbang workers behind it. Before each run
 * the workers' slow-downs are undone, backends an earlier run added are removed, the strategy is set and
 * the counters reset. A worker killed by an earlier run cannot be brought back from here: the run stops
 * with a clear line.
 */
export class ClientEnv implements LiveEnv {
  private readonly addresses = new Map<string, string>();

  constructor(
    private readonly s: Scenario,
    private readonly admin: AdminClient,
    private readonly target: { host: string; port: number },
  ) {}

  async prepare(strategy: string): Promise<Array<{ host: string; port: number }>> {
    const added = new Set(this.s.actions.flatMap((a) => (a.add ? [a.add.id] : [])));
    let state = await this.admin.state();
    for (const b of state.backends) if (added.has(b.id)) await this.admin.remove(b.id);
    state = await this.admin.state();
    for (const w of this.s.workers) {
      const b = state.backends.find((x) => x.id === w.id);
      if (!b) {
        throw new TimbangError(
          'ERR_BAD_OPTION',
          `the broker has no backend '${w.id}', which the scenario lists: start it and add it, or use timbang demo --scenario`,
        );
      }
      if (b.state !== 'up') {
        throw new TimbangError(
          'ERR_BAD_OPTION',
          `worker '${w.id}' (${b.address}) is ${b.state}: a lesson starts with every worker up (restart it, or use timbang demo --scenario)`,
        );
      }
      this.addresses.set(w.id, b.address);
      await workerControl(b.address, '/control/slowdown?factor=1');
    }
    await this.admin.setStrategy(strategy);
    for (let i = 0; ; i++) {
      try {
        await this.admin.reset();
        break;
      } catch (err) {
        if (i >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100)); // requests of the last run still in flight
      }
    }
    return [this.target];
  }

  async slow(worker: string, factor: number): Promise<void> {
    await workerControl(this.address(worker), `/control/slowdown?factor=${factor}`);
  }

  async kill(worker: string): Promise<void> {
    await workerControl(this.address(worker), '/control/crash');
  }

  async add(worker: WorkerState): Promise<void> {
    if (!worker.address) {
      throw new TimbangError(
        'ERR_BAD_OPTION',
        `the scenario adds worker '${worker.id}' without an address: a live run against your broker needs one (or use timbang demo --scenario)`,
      );
    }
    await this.admin.addBackend(worker.address, worker.id, worker.weight);
    this.addresses.set(worker.id, worker.address);
  }

  async setStrategy(strategy: string): Promise<void> {
    await this.admin.setStrategy(strategy);
  }

  async finish(): Promise<void> {}

  private address(id: string): string {
    const a = this.addresses.get(id);
    if (!a) throw new TimbangError('ERR_BAD_OPTION', `no address known for worker '${id}'`);
    return a;
  }
}
