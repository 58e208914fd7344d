import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { LabReport } from '../../src/lab/output.js';
import { runCli } from '../client/run-cli.js';
import { Stack } from '../helpers/backends.js';

/** A shipped lesson's path. */
export const lessonFile = (name: string) => `examples/lessons/${name}.yaml`;

/**
 * What the lesson tests share, with its hooks registered in the calling file: a temporary directory
 * for reports and edited lessons (`dir()`, valid inside tests), the Stack of what a test starts (closed
 * after each), and `lab()`, which runs a lab command with `--json` and returns its report.
 */
export function labFixture(prefix: string) {
  const stack = new Stack();
  let directory = '';
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(() => rm(directory, { recursive: true, force: true }));
  afterEach(() => stack.closeAll());

  async function lab(args: string[], timeoutMs: number): Promise<LabReport> {
    const out = join(directory, `${Math.random().toString(36).slice(2)}.json`);
    const r = await runCli([...args, '--json', out], timeoutMs);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    return JSON.parse(await readFile(out, 'utf8')) as LabReport;
  }
  return { stack, lab, dir: () => directory };
}
