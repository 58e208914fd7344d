import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/worker/worker.js';
import { brokerFor, Stack } from '../helpers/backends.js';
import { classroomClient, deadPort } from '../helpers/net.js';

/**
 * The classroom programs (Python reproductions of seeds 002 and 004, quirks kept) against timbang, in both
 * directions: their client through our broker to our workers, and our broker in front of their workers.
 */
const FIXTURES = fileURLToPath(new URL('../fixtures/classroom/', import.meta.url));
const stack = new Stack();
afterEach(() => stack.closeAll());

function python(
  script: string,
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string; done: Promise<number | null> } {
  const child = spawn('python3', [`${FIXTURES}${script}`, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  stack.add(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await done;
  });
  return { child, output: () => out, done };
}

async function waitOutput(p: { output: () => string }, re: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!re.test(p.output())) {
    if (Date.now() > deadline) throw new Error(`no ${re} in: ${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the classroom programs against timbang', () => {
  it("seed 002's client through our broker to our workers, for each strategy name it uses", async () => {
    const workers = await Promise.all(
      [1, 2, 3].map((id) => startWorker({ id: String(id), port: 0, longMs: 200, shortMs: 50 })),
    );
    stack.add(async () => {
      await Promise.all(workers.map((w) => w.close({ timeoutMs: 500 })));
    });
    const { broker } = await brokerFor(
      stack,
      workers.map((w) => w.port),
    );
    for (const approach of ['least_connections', 'round_robin']) {
      for (const type of ['Long', 'Short']) {
        const client = python('client002.py', [type, approach], { BROKER_PORT: String(broker.port) });
        expect(await client.done).toBe(0);
        expect(client.output()).toMatch(
          new RegExp(
            `^\\[Client\\] Received: Worker [123] processed ${type} request for AppID in \\d+ ms\\n`,
          ),
        );
      }
    }
    expect(broker.balancer.pool.backends.every((b) => b.inFlight === 0)).toBe(true);
  });

  it("our broker in front of seed 002's workers (which need no newline and close after one reply)", async () => {
    const ports = [await deadPort(), await deadPort(), await deadPort()];
    const procs = ports.map((port, i) =>
      python('worker002.py', [String(i + 1)], { PORT: String(port), TIME_SCALE: '0.05' }),
    );
    await Promise.all(procs.map((p) => waitOutput(p, /Listening on port/)));
    const { broker } = await brokerFor(stack, ports);
    for (const approach of ['least_connections', 'round_robin']) {
      const replies = await Promise.all(
        [1, 2, 3].map(() => classroomClient(broker.port, `AppID:Long:${approach}`)),
      );
      expect(replies).toEqual(['Response from Worker', 'Response from Worker', 'Response from Worker']);
      const client = python('client002.py', ['Short', approach], { BROKER_PORT: String(broker.port) });
      expect(await client.done).toBe(0);
      expect(client.output()).toBe('[Client] Received: Response from Worker\n');
    }
    // Each worker saw exactly the job part: `AppID:Long`, never the strategy, never a newline.
    expect(procs.every((p) => !/Traceback/.test(p.output()))).toBe(true);
    expect(
      procs
        .map((p) => (p.output().match(/Processing (long|short)/g) ?? []).length)
        .reduce((a, b) => a + b, 0),
    ).toBe(8);
  });

  it("seed 004's client through our broker to seed 004's servers (ACK with no newline, connection kept open)", async () => {
    const ports = [await deadPort(), await deadPort()];
    const servers = ports.map((port, i) => python('server004.py', [String(i + 1)], { PORT: String(port) }));
    await Promise.all(servers.map((s) => waitOutput(s, /listening/)));
    const { broker } = await brokerFor(stack, ports, { strategy: 'round-robin' });
    const client = python('client004.py', [], { BROKER_PORT: String(broker.port), MESSAGES: '4' });
    expect(await client.done).toBe(0);
    const acks = client.output().match(/Message Received: ACK from Server \d/g) ?? [];
    expect(acks).toEqual([
      'Message Received: ACK from Server 1',
      'Message Received: ACK from Server 2',
      'Message Received: ACK from Server 1',
      'Message Received: ACK from Server 2',
    ]);
    expect(client.output()).not.toMatch(/Retry/);
  });

  it('fails over when a classroom worker dies, and the classroom client never sees it', async () => {
    const ports = [await deadPort(), await deadPort()];
    const procs = ports.map((port, i) =>
      python('worker002.py', [String(i + 1)], { PORT: String(port), TIME_SCALE: '0.05' }),
    );
    await Promise.all(procs.map((p) => waitOutput(p, /Listening on port/)));
    // A long ejection backoff: on a loaded machine four python clients can take longer than the default
    // 1 s, after which the dead worker would be let back (up) until a request tries it again.
    const { broker } = await brokerFor(stack, ports, { strategy: 'round-robin', ejectBaseMs: 30_000 });
    procs[0].child.kill('SIGKILL');
    await procs[0].done;
    for (let i = 0; i < 4; i++) {
      const client = python('client002.py', ['Short', 'round_robin'], { BROKER_PORT: String(broker.port) });
      expect(await client.done).toBe(0);
      expect(client.output()).toBe('[Client] Received: Response from Worker\n');
    }
    expect(broker.balancer.pool.get('1')!.state).toBe('down');
  });
});
