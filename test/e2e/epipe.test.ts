import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';

describe('a reader that leaves early', () => {
  it('ends `timbang simulate | head -1` quietly, exit 0, no stack', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'simulate', '--requests', '20000', '--strategy', 'all', '--seed', '3'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // Like `head -1`: read the first chunk, then close the pipe while the command still writes.
    await once(child.stdout, 'data');
    child.stdout.destroy();
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(code).toBe(0);
  });
});
