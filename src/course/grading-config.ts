/**
 * The vitest settings for grading a student's workshop. In vitest.config.ts:
 *
 *   test: { testTimeout: 60_000, ...(isGradingCheckout() ? gradingConfig() : { include: [...] }) }
 *
 * Only the lessons the student has started are graded (not the reference copies standing in for
 * lessons they skipped), against their own code (LAB_IMPL=workshop), with the scorecard and JUnit XML.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ViteUserConfig } from 'vitest/config';
// Only light imports here: vitest.config.ts loads this file on every run.
import { defaultWorkshopDir, repoRoot, studentLessons, type LessonDir } from './paths.js';

export type TestOptions = NonNullable<ViteUserConfig['test']>;

/** The reporter module, by path: vitest loads it (TypeScript and all) through its own module loader. */
export const scorecardReporterPath = fileURLToPath(new URL('./scorecard-reporter.ts', import.meta.url));

export interface GradingOptions {
  /** Default: <repo>/workshop. Another folder is passed to the tests as LAB_WORKSHOP_DIR. */
  workshopDir?: string;
  /** The graded test file of a lesson. Default: <repo>/test/lessons/NN-slug.test.ts. */
  testFile?: (lesson: LessonDir) => string;
}

export function defaultTestFile(lesson: LessonDir): string {
  return path.join(repoRoot, 'test', 'lessons', `${lesson.slug}.test.ts`);
}

/** True when workshop/ holds at least one lesson the student started: then `npm test` grades it. */
export function isGradingCheckout(workshopDir: string = defaultWorkshopDir): boolean {
  return studentLessons(workshopDir).length > 0;
}

export function gradingConfig(options: GradingOptions = {}): TestOptions {
  const workshopDir = options.workshopDir ?? defaultWorkshopDir;
  const testFile = options.testFile ?? defaultTestFile;
  const include = studentLessons(workshopDir).map((lesson) => path.relative(repoRoot, testFile(lesson)).split(path.sep).join('/'));
  const env: Record<string, string> = { LAB_IMPL: 'workshop' };
  if (path.resolve(workshopDir) !== defaultWorkshopDir) env.LAB_WORKSHOP_DIR = path.resolve(workshopDir);
  return {
    include,
    env,
    // Lets the scorecard quote each check's code in results.json, when asked to (LAB_RESULTS_TEST_CODE=1).
    includeTaskLocation: true,
    // Expected values in full: a message cut after 40 characters tells the student nothing.
    chaiConfig: { truncateThreshold: 0 },
    reporters: [
      ['junit', { outputFile: path.join(workshopDir, 'junit.xml') }],
      // Last, so that its "N passed, N failed" line is the last thing printed.
      [scorecardReporterPath, { resultsFile: path.join(workshopDir, 'results.json') }],
    ],
  };
}
