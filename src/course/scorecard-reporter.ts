/**
 * A vitest reporter that grades: at the end of a run it prints a scorecard per lesson, the plain
 * "N passed, N failed" line CI reads, and writes results.json in Exercism's test runner format.
 *
 * Use it in vitest.config.ts (gradingConfig() does), or on the command line:
 *   npx vitest run --reporter=default --reporter=./src/course/scorecard-reporter.ts
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import type { SerializedError } from 'vitest';
import type { Reporter, TestCase, TestModule, TestSuite, Vitest } from 'vitest/node';
// For the types only: grading.ts declares the `exercise` field of a test's meta.
import type {} from './grading.js';
import { defaultWorkshopDir, displayPath } from './paths.js';
import { GRADED_FILE, countLine, exerciseOutcomes, formatScorecard, type GradedExercises, lessonOfTestFile, toExercismResults, type CheckResult, type ErrorInfo, type FileResult, type RunResult, type TodoInfo } from './results.js';
import { testCodeAt } from './test-code.js';

export interface ScorecardOptions {
  /**
   * Where to write results.json. Default: workshop/results.json when the repository has a workshop/
   * folder, else nowhere (a plain `npm test` in a fresh checkout should not create workshop/).
   * `false`: never.
   */
  resultsFile?: string | false;
  /**
   * Put each check's source code into results.json (`test_code`). Off by default: it holds the expected
   * values, the answers. Default: on when LAB_RESULTS_TEST_CODE=1, for instructors who want it.
   */
  testCode?: boolean;
}

/** LAB_RESULTS_TEST_CODE=1 asks for the checks' source in results.json. */
export function testCodeWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.LAB_RESULTS_TEST_CODE === '1';
}

type SerializedLike = SerializedError & { cause?: unknown };

// The message a Todo carries (see todo.ts). A Todo thrown in another process, such as the container's
// init, reaches the test only as text inside another error; this still recognises it.
const TODO_MESSAGE = /TODO\(([^()\s]+)\): (.+?) — run `npm run hint (\d+)(?: [^`\s]+)?` for a hint\./;

function asTodo(error: SerializedLike | undefined, depth = 0): TodoInfo | undefined {
  if (!error || depth > 5) return undefined;
  // The error crossed from a worker as plain data, so we look at its fields, not its class.
  if (error.name === 'Todo' && typeof error.task === 'string' && typeof error.exercise === 'string') {
    return { exercise: error.exercise, task: error.task, lesson: Number(error.lesson) };
  }
  const match = TODO_MESSAGE.exec(error.message ?? '');
  if (match) return { exercise: match[1] ?? '', task: match[2] ?? '', lesson: Number(match[3]) };
  return typeof error.cause === 'object' && error.cause !== null ? asTodo(error.cause as SerializedLike, depth + 1) : undefined;
}

/**
 * The first place in lesson code (where a student looks first) that the error's stack or message
 * names, as file:line relative to the root. Bundler errors put it in the message, with a relative path.
 */
function whereInLessons(error: SerializedLike, root: string): string | undefined {
  const text = `${error.stack ?? ''}\n${error.message ?? ''}`;
  for (const match of text.matchAll(/(?:file:\/\/)?([^\s()[\]'"`]+\.tsx?):(\d+)(?::\d+)?/g)) {
    const file = path.resolve(root, match[1] ?? '');
    if (/[\\/]lessons[\\/]/.test(file) && !/[\\/]node_modules[\\/]|\.test\.tsx?$/.test(file)) return `${displayPath(file, root)}:${match[2]}`;
  }
  return undefined;
}

/** A custom matcher's failure (expect.extend) arrives as a plain "Error": it is thrown from inside @vitest/expect. */
function isMatcherFailure(error: SerializedLike): boolean {
  return /[\\/]@vitest[\\/]expect[\\/]/.test(error.stack ?? '');
}

function toErrorInfo(error: SerializedLike, root: string): ErrorInfo {
  // Terminal colours mean nothing in results.json or in a summary line.
  const plain = { ...error, message: stripVTControlCharacters(error.message ?? String(error)), stack: stripVTControlCharacters(error.stack ?? '') };
  const info: ErrorInfo = { message: plain.message };
  const todo = asTodo(error);
  if (todo) info.todo = todo;
  else if (error.name === 'AssertionError' || isMatcherFailure(error)) info.assertion = true;
  else if (error.name && error.name !== 'Error') info.name = error.name;
  const where = todo || info.assertion ? undefined : whereInLessons(plain, root);
  if (where) info.where = where;
  if (info.assertion && typeof error.diff === 'string' && error.diff.trim() !== '') info.diff = stripVTControlCharacters(error.diff);
  return info;
}

function allSuites(module: TestModule): TestSuite[] {
  return [...module.children.allSuites()];
}

export default class ScorecardReporter implements Reporter {
  private vitest: Vitest | undefined;
  private readonly sources = new Map<string, string | undefined>();
  private pendingCountLine: string | undefined;

  private readonly includeTestCode: boolean;

  constructor(private readonly options: ScorecardOptions = {}) {
    this.includeTestCode = options.testCode ?? testCodeWanted();
  }

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
    // Other reporters (JSON, JUnit) log "report written to ..." after their files are written; printing
    // the count when vitest closes keeps it the very last line, where CI looks for it.
    vitest.onClose(() => this.printCountLine());
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const root = this.vitest?.config.root ?? process.cwd();
    const run: RunResult = {
      files: testModules.map((module) => this.fileResult(module, root)),
      unhandledErrors: unhandledErrors.map((e) => toErrorInfo(e, root)),
    };

    this.log('');
    this.log(formatScorecard(run));
    this.pendingCountLine = countLine(run);
    // In watch mode vitest stays open, so there is no "close" to wait for.
    if (!this.vitest || this.vitest.shouldKeepServer()) this.printCountLine();

    const resultsFile = this.resultsFile(root);
    if (resultsFile) {
      mkdirSync(path.dirname(resultsFile), { recursive: true });
      writeFileSync(resultsFile, `${JSON.stringify(toExercismResults(run, { testCode: this.includeTestCode }), null, 2)}\n`);
      // Next to it, which exercises passed: `npm run hint N` starts from the first one that did not.
      const graded: GradedExercises = { lessons: exerciseOutcomes(run) };
      writeFileSync(path.join(path.dirname(resultsFile), GRADED_FILE), `${JSON.stringify(graded, null, 2)}\n`);
    }
  }

  private log(text: string): void {
    if (this.vitest) this.vitest.logger.log(text);
    else console.log(text);
  }

  /** "3 passed, 2 failed": plain (no colour) and alone on its line, because CI reads it. */
  private printCountLine(): void {
    if (this.pendingCountLine === undefined) return;
    this.log('');
    this.log(this.pendingCountLine);
    this.pendingCountLine = undefined;
  }

  private resultsFile(root: string): string | undefined {
    const { resultsFile } = this.options;
    if (resultsFile === false) return undefined;
    if (resultsFile !== undefined) return path.resolve(root, resultsFile);
    return existsSync(defaultWorkshopDir) ? path.join(defaultWorkshopDir, 'results.json') : undefined;
  }

  private fileResult(module: TestModule, root: string): FileResult {
    const file = displayPath(module.moduleId, root);
    const fileErrors = [...module.errors(), ...allSuites(module).flatMap((s) => s.errors())].map((e) => toErrorInfo(e, root));
    const result: FileResult = { file, fileErrors, checks: [...module.children.allTests()].map((t) => this.checkResult(t, root)) };
    const lesson = lessonOfTestFile(module.moduleId);
    if (lesson) result.lesson = lesson;
    return result;
  }

  private checkResult(test: TestCase, root: string): CheckResult {
    const outcome = test.result();
    const check: CheckResult = {
      name: test.name,
      fullName: test.fullName,
      // "pending" only shows up when a run was interrupted; such a check did not pass.
      state: outcome.state === 'passed' ? 'passed' : outcome.state === 'skipped' ? 'skipped' : 'failed',
      errors: (outcome.errors ?? []).map((e) => toErrorInfo(e, root)),
    };
    const exercise = test.meta().exercise;
    if (exercise) check.exercise = exercise;
    const testCode = this.includeTestCode ? this.testCode(test) : undefined;
    if (testCode !== undefined) check.testCode = testCode;
    return check;
  }

  /** Needs `includeTaskLocation: true` in the config (gradingConfig sets it). */
  private testCode(test: TestCase): string | undefined {
    if (!test.location) return undefined;
    const file = test.module.moduleId;
    if (!this.sources.has(file)) this.sources.set(file, existsSync(file) ? readFileSync(file, 'utf8') : undefined);
    const source = this.sources.get(file);
    return source === undefined ? undefined : testCodeAt(source, test.location.line, file);
  }
}
