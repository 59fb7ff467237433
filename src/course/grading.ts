/**
 * For lesson authors: a graded check is a vitest test that says which exercise it checks.
 *
 *   graded('uts.hostname', 'the container gets its own host name', async () => { ... });
 *
 * The exercise id goes into the test's meta (`task.meta.exercise`), where the scorecard reporter finds
 * it. It is set when the test is collected, so the id is known even when the test never gets to run.
 */
import { test, type TestFunction } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** The exercise a graded check belongs to, e.g. "uts.hostname". */
    exercise?: string;
  }
}

export function graded(exercise: string, name: string, fn: TestFunction, timeout?: number): void {
  test(name, { meta: { exercise }, timeout }, fn);
}
