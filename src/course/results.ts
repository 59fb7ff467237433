/**
 * The outcome of a test run, in plain data, and the three ways we report it: the scorecard students
 * read, the one-line count CI reads, and Exercism's results.json (version 2) for tools.
 *
 * The scorecard reporter converts vitest's objects into this model; everything here is pure, so the
 * wording can be tested without running vitest.
 */
import chalk from 'chalk';
import { lessonLabel, pad2 } from './paths.js';

export interface TodoInfo {
  exercise: string;
  task: string;
  lesson: number;
}

export interface ErrorInfo {
  /** The error's class name, e.g. "TypeError", when it says more than "Error". */
  name?: string;
  message: string;
  /** Set when the error is (or was caused by) a Todo from an unfinished skeleton. */
  todo?: TodoInfo;
  /** Set for a failed assertion (expect), as opposed to an exception. */
  assertion?: boolean;
  /** Where it was thrown in lesson code, e.g. "workshop/lessons/01-uts/uts.ts:12", when we can tell. */
  where?: string;
  /** vitest's "- Expected / + Received" diff of a failed comparison, when it made one. */
  diff?: string;
}

export interface CheckResult {
  name: string;
  /** With the names of the describe blocks around it, joined by " > ". */
  fullName: string;
  /** The exercise a graded check belongs to. */
  exercise?: string;
  state: 'passed' | 'failed' | 'skipped';
  errors: ErrorInfo[];
  /** The test's body, for results.json when an instructor asks for it (it holds the expected values). */
  testCode?: string;
}

export interface FileResult {
  /** The test file, relative to the project root. */
  file: string;
  /** Set for a lesson's graded test file (NN-slug.*.ts). */
  lesson?: { number: number; slug: string };
  /** Errors outside any test: the file failed to load, or a beforeAll/afterAll hook threw. */
  fileErrors: ErrorInfo[];
  checks: CheckResult[];
}

export interface RunResult {
  files: FileResult[];
  /** Errors vitest could not pin on a test (e.g. a rejected promise nobody awaited). */
  unhandledErrors: ErrorInfo[];
}

/** Which lesson a test file checks, from its name: "test/lessons/01-uts.test.ts" → lesson 1, "01-uts". */
export function lessonOfTestFile(file: string): { number: number; slug: string } | undefined {
  const match = /(?:^|[\\/])((\d{2})-[a-z0-9][a-z0-9-]*)\.[a-z]+\.tsx?$/.exec(file);
  return match ? { number: Number(match[2]), slug: match[1] ?? '' } : undefined;
}

// --- counting ---------------------------------------------------------------------------------------

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/**
 * Counts checks. A file that failed outside its tests and each unhandled error count as one failure
 * each: otherwise a file that cannot even load would leave the count saying "0 failed".
 */
export function countChecks(run: RunResult): Counts {
  const checks = run.files.flatMap((f) => f.checks);
  return {
    passed: checks.filter((c) => c.state === 'passed').length,
    failed: checks.filter((c) => c.state === 'failed').length + run.files.filter((f) => f.fileErrors.length > 0).length + run.unhandledErrors.length,
    skipped: checks.filter((c) => c.state === 'skipped').length,
  };
}

/** The plain closing line CI reads: "3 passed, 2 failed" (", 1 skipped" when any). */
export function countLine(run: RunResult): string {
  const { passed, failed, skipped } = countChecks(run);
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

// --- the scorecard --------------------------------------------------------------------------------

/** Why a check failed, in one line. An unfinished exercise reads "not done yet: <task>". */
export function failureReason(error: ErrorInfo | undefined): string {
  if (!error) return 'failed without an error message';
  if (error.todo) return `not done yet: ${error.todo.task}`;
  const reason = summaryLine(error.message) || 'failed without an error message';
  const named = error.name ? `${error.name}: ${reason}` : reason;
  return error.where ? `${named} (at ${error.where})` : named;
}

/** The first line of a message; when it only announces what follows ("... 1 error:"), the next one too. */
export function summaryLine(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const first = lines[0] ?? '';
  return first.endsWith(':') && lines[1] !== undefined ? `${first} ${lines[1]}` : first;
}

/** Which lesson's hints help with a failure: the Todo knows, else the test file's lesson. */
function hintLesson(file: FileResult, error: ErrorInfo | undefined): number | undefined {
  return error?.todo?.lesson ?? file.lesson?.number;
}

/** More than this many lines of a failed assertion are cut (a diff of a whole file, say). */
const MAX_ASSERTION_LINES = 40;

/**
 * What a failed assertion says, in full: its message is written for the student (the first call that
 * differs, in strace form) or is vitest's "expected … to …", then the diff when vitest made one.
 */
export function assertionDetails(error: ErrorInfo): string[] {
  const message = error.message.split('\n').map((l) => l.trimEnd());
  while (message.length > 0 && message.at(-1) === '') message.pop();
  const diff = error.diff && !error.message.includes(error.diff.trim()) ? error.diff.split('\n').map((l) => l.trimEnd()) : [];
  const lines = [...message, ...(diff.length > 0 ? ['', ...diff] : [])];
  if (lines.length <= MAX_ASSERTION_LINES) return lines;
  return [...lines.slice(0, MAX_ASSERTION_LINES), `… ${lines.length - MAX_ASSERTION_LINES} more lines: run \`npx vitest run\` on the lesson's test file for all of it`];
}

function formatFailure(title: string, file: FileResult, error: ErrorInfo | undefined, withHint = true, exercise = error?.todo?.exercise): string[] {
  const reason = error?.assertion && !error.todo ? assertionDetails(error) : [failureReason(error)];
  const lines = [`  ${chalk.red('✗')} ${title}`, ...reason.map((line) => (line === '' ? '' : `    ${line}`))];
  const lesson = withHint ? hintLesson(file, error) : undefined;
  if (lesson !== undefined) lines.push(chalk.dim(`    hint: npm run hint ${lesson}${exercise ? ` ${exercise}` : ''}`));
  return lines;
}

/** A failed check's label: the exercise it grades — or, when another exercise's Todo stopped it, that one. */
export function failedExercise(check: CheckResult): string | undefined {
  return check.errors[0]?.todo?.exercise ?? check.exercise;
}

function formatGroup(title: string, files: FileResult[]): string[] {
  const checks = files.flatMap((f) => f.checks);
  const ran = checks.filter((c) => c.state !== 'skipped');
  const passed = ran.filter((c) => c.state === 'passed').length;
  const skipped = checks.length - ran.length;
  const broken = files.filter((f) => f.fileErrors.length > 0);
  const allGood = passed === ran.length && broken.length === 0;

  const nothingRan = ran.length === 0 && broken.length > 0;
  let headline = `${chalk.bold(title)}  ${nothingRan ? 'could not run' : `${passed}/${ran.length} checks passed`}`;
  if (skipped > 0) headline += chalk.dim(` (${skipped} skipped)`);
  if (allGood && ran.length > 0) headline += chalk.green(' ✓');
  const lines = [headline];

  for (const file of broken) {
    const what = couldNotLoad(file) ? 'could not load' : 'failed outside its tests';
    // No hint here: this is a broken file (often a typo), not an unsolved exercise.
    lines.push(...formatFailure(`${file.file} ${what}`, file, file.fileErrors[0], false));
  }
  for (const file of files) {
    for (const check of file.checks.filter((c) => c.state === 'failed')) {
      const name = files.length > 1 && !file.lesson ? `${check.fullName}  ${chalk.dim(file.file)}` : check.fullName;
      const exercise = failedExercise(check);
      lines.push(...formatFailure(exercise ? `${name}  ${chalk.dim(`[${exercise}]`)}` : name, file, check.errors[0], true, exercise));
    }
  }
  return lines;
}

/** The scorecard: one block per lesson (then one for any other test files), failures spelled out. */
export function formatScorecard(run: RunResult): string {
  const lessons = new Map<string, FileResult[]>();
  const others: FileResult[] = [];
  for (const file of run.files) {
    if (!file.lesson) {
      others.push(file);
      continue;
    }
    const key = `${pad2(file.lesson.number)}:${file.lesson.slug}`;
    lessons.set(key, [...(lessons.get(key) ?? []), file]);
  }

  const blocks: string[][] = [...lessons.keys()].sort().map((key) => {
    const files = lessons.get(key) ?? [];
    const lesson = files[0]?.lesson ?? { number: 0, slug: '' };
    return formatGroup(lessonLabel(lesson), files);
  });
  if (others.length > 0) blocks.push(formatGroup(lessons.size > 0 ? 'Other tests' : 'Tests', others));
  if (run.unhandledErrors.length > 0) {
    blocks.push([
      chalk.bold(`${run.unhandledErrors.length} error(s) outside any test`),
      ...run.unhandledErrors.map((e) => `  ${chalk.red('✗')} ${failureReason(e)}`),
    ]);
  }
  return blocks.map((lines) => lines.join('\n')).join('\n\n');
}

// --- Exercism results.json (test runner interface, version 2) --------------------------------------

export interface ExercismTest {
  name: string;
  status: 'pass' | 'fail' | 'error';
  message?: string;
  test_code?: string;
}

export interface ExercismResults {
  version: 2;
  status: 'pass' | 'fail' | 'error';
  message?: string;
  tests: ExercismTest[];
}

// Exercism caps messages at 65535 characters.
function cap(text: string): string {
  return text.length > 65_535 ? `${text.slice(0, 65_532)}...` : text;
}

/** A failed check is "fail" when an assertion or a Todo stopped it, "error" when something else threw. */
function exercismStatus(check: CheckResult): ExercismTest['status'] {
  if (check.state === 'passed') return 'pass';
  const error = check.errors[0];
  return !error || error.todo || error.assertion ? 'fail' : 'error';
}

/** A file that failed outside its tests and ran none of them: it could not even load. */
function couldNotLoad(file: FileResult): boolean {
  return file.fileErrors.length > 0 && !file.checks.some((c) => c.state !== 'skipped');
}

export interface ExercismOptions {
  /**
   * Put each check's source in `test_code`. Off by default: the source holds the expected values, i.e.
   * the answers. For instructors and tools that want it: LAB_RESULTS_TEST_CODE=1 (see scorecard-reporter.ts).
   */
  testCode?: boolean;
}

export function toExercismResults(run: RunResult, options: ExercismOptions = {}): ExercismResults {
  const tests: ExercismTest[] = [];
  const errorEntry = (name: string, errors: ErrorInfo[]): ExercismTest => ({ name, status: 'error', message: cap(errors.map((e) => e.message).join('\n\n')) });
  for (const file of run.files) {
    const prefix = file.lesson ? `${lessonLabel(file.lesson)} > ` : `${file.file} > `;
    // Exercism has no "skipped": a skipped check is simply not reported.
    for (const check of file.checks.filter((c) => c.state !== 'skipped')) {
      const test: ExercismTest = { name: prefix + check.fullName, status: exercismStatus(check) };
      if (check.state === 'failed') test.message = cap(check.errors.map((e) => e.message).join('\n\n') || failureReason(undefined));
      if (options.testCode && check.testCode !== undefined) test.test_code = check.testCode;
      tests.push(test);
    }
    // A hook that threw after tests did run: report it as a test of its own so it is not lost.
    if (file.fileErrors.length > 0 && !couldNotLoad(file)) tests.push(errorEntry(`${prefix}(outside any test)`, file.fileErrors));
  }
  for (const error of run.unhandledErrors) tests.push(errorEntry('(error outside any test)', [error]));

  const unloadable = run.files.filter(couldNotLoad);
  if (unloadable.length > 0) {
    const message = unloadable.map((f) => `${f.file} could not load: ${f.fileErrors.map((e) => e.message).join('\n')}`).join('\n\n');
    return { version: 2, status: 'error', message: cap(message), tests };
  }
  return { version: 2, status: tests.every((t) => t.status === 'pass') ? 'pass' : 'fail', tests };
}

// --- which exercises passed (for `npm run hint N` without an id) ---------------------------------

/** The file the scorecard leaves next to results.json: which exercises the last grading run passed. */
export const GRADED_FILE = '.graded.json';

/** What the last grading run found, per lesson slug and exercise id. */
export interface GradedExercises {
  lessons: Record<string, Record<string, 'passed' | 'failed'>>;
}

/**
 * Per lesson slug, each graded exercise's verdict: "failed" when any of its checks failed (a check
 * stopped by another exercise's Todo counts against that one), else "passed".
 */
export function exerciseOutcomes(run: RunResult): Record<string, Record<string, 'passed' | 'failed'>> {
  const lessons: Record<string, Record<string, 'passed' | 'failed'>> = {};
  for (const file of run.files) {
    if (!file.lesson) continue;
    const verdicts = (lessons[file.lesson.slug] ??= {});
    for (const check of file.checks) {
      if (check.state === 'failed') {
        const exercise = failedExercise(check);
        if (exercise) verdicts[exercise] = 'failed';
      } else if (check.state === 'passed' && check.exercise && verdicts[check.exercise] === undefined) {
        verdicts[check.exercise] = 'passed';
      }
    }
  }
  return lessons;
}
