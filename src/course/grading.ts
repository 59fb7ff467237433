/**
 * For lesson authors: a graded check is a vitest test that says which exercise it checks.
 *
 *   graded('uts.hostname', 'the container gets its own host name', async () => { ... });
 *
 * The exercise id goes into the test's meta (`task.meta.exercise`), where the scorecard reporter finds
 * it. It is set when the test is collected, so the id is known even when the test never gets to run.
 *
 * The exercise contract: a check that wants exact values names them, as the words a student reads,
 *
 *   graded('mount.kernel-fs', '…', () => { ... }, { requires: ['MS_STRICTATIME', 'mode=755,size=65536k'] });
 *
 * and test/course/contract.test.ts proves that each one appears in the lesson's README or in the
 * exercise's TODO line: no check may require what the student was never told. The list must be plain
 * string literals, so that the contract test can read it from the source without running the check.
 */
import { test, type TestFunction } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** The exercise a graded check belongs to, e.g. "uts.hostname". */
    exercise?: string;
  }
}

export interface GradedOptions {
  timeout?: number;
  /** What the check insists on, word for word as the README or the TODO states it. */
  requires?: readonly string[];
}

export function graded(exercise: string, name: string, fn: TestFunction, options?: number | GradedOptions): void {
  const timeout = typeof options === 'number' ? options : options?.timeout;
  test(name, { meta: { exercise }, timeout }, fn);
}
