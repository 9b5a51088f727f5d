import { writeFileSync } from 'node:fs';
import type { Reporter, TestModule } from 'vitest/node';

// Writes .vitest-projects.json: passed / failed / skipped per vitest project, so .ci/run can say which
// broker each group ran on (the JSON reporter does not name projects).
export default class ProjectCounts implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts: Record<string, { passed: number; failed: number; skipped: number }> = {};
    for (const mod of testModules) {
      const c = (counts[mod.project.name] ??= { passed: 0, failed: 0, skipped: 0 });
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') c.passed++;
        else if (state === 'failed') c.failed++;
        else c.skipped++;
      }
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) c.failed++;
    }
    writeFileSync('.vitest-projects.json', `${JSON.stringify(counts, null, 2)}\n`);
  }
}
