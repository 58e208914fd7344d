/**
 * The classroom scenario: App1..App4 send Long and Short jobs, one every `gapMs`, in the pattern
 * Long, Short, Short. Under round robin over three workers every Long lands on the same worker (the
 * pattern and the rotation have the same period), which is exactly the weakness least connections fixes:
 * it sends each Long to a worker that is not already busy.
 */
export interface DemoRequest {
  /** ms after the start of the run. */
  at: number;
  app: string;
  type: 'Long' | 'Short';
}

export function classroomScenario(requests: number, gapMs: number): DemoRequest[] {
  const out: DemoRequest[] = [];
  for (let i = 0; i < requests; i++) {
    out.push({ at: i * gapMs, app: `App${(i % 4) + 1}`, type: i % 3 === 0 ? 'Long' : 'Short' });
  }
  return out;
}
