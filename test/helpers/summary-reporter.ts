import type { Reporter, RunnerTask, RunnerTestFile } from 'vitest/node';

/**
 * Ends the run with one plain line, `tests: N passed, N failed, N skipped`, which CI and people read
 * the same way whatever the runner prints above it.
 */
export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const walk = (task: RunnerTask) => {
      if (task.type === 'suite') {
        for (const t of task.tasks) walk(t);
        if (task.result?.state === 'fail' && task.tasks.length === 0) failed++;
        return;
      }
      const state = task.result?.state;
      if (state === 'pass') passed++;
      else if (state === 'fail') failed++;
      else skipped++;
    };
    // A file that failed to load has no tests but counts as a failure (walk's empty-suite case).
    for (const f of files) walk(f);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
