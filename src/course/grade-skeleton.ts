/**
 * Grades a lesson's generated skeleton (or its reference) with the lesson's graded test file, in a
 * child vitest, and returns what happened to each check. The course's own tests use it to prove, for
 * every lesson, that the skeleton fails every graded check and the reference passes them all:
 *
 *   const skeleton = await gradeSkeleton(1);
 *   const reference = await gradeReference(1);
 *   expect(gradingProblems(skeleton, reference)).toEqual([]);
 *
 * The skeleton is generated into a temporary folder, exactly as `npm run exercise N` would generate it
 * (with reference copies of the earlier lessons), and the folder is removed afterwards, pass or fail.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CourseError } from './errors.js';
import { defaultTestFile, scorecardReporterPath } from './grading-config.js';
import { displayPath, findLesson, referenceLessonsDir, repoRoot, type LessonDir } from './paths.js';
import { lessonNotFound, startExercise } from './workshop.js';

export interface GradedOutcome {
  name: string;
  /** With the names of the describe blocks around it, joined by " > ". */
  fullName: string;
  /** Set for graded checks (declared with graded()). */
  exercise?: string;
  state: 'passed' | 'failed' | 'skipped';
  /** The failure messages, for a failed check. */
  message?: string;
}

export interface GradeRun {
  implementation: 'skeleton' | 'reference';
  lesson: LessonDir;
  /** vitest's exit code; null when it was killed for taking too long. */
  exitCode: number | null;
  outcomes: GradedOutcome[];
  /** Errors that stopped a test file from loading or running at all. */
  fileErrors: string[];
  /** Everything the child vitest printed (the scorecard included), for debugging a surprise. */
  output: string;
}

export interface GradeOptions {
  /** The reference lessons. Default: <repo>/lessons. */
  lessonsDir?: string;
  /** The graded test file. Default: <repo>/test/lessons/NN-slug.test.ts. It must be inside the repository. */
  testFile?: string;
  /** Kill the child vitest after this long. Default: 5 minutes. */
  timeoutMs?: number;
  /** Where to make the temporary folder. Default: the system's temp folder. */
  tempParent?: string;
}

/** Generates lesson `number`'s skeleton in a temp folder and runs its graded checks against it. */
export async function gradeSkeleton(number: number, options: GradeOptions = {}): Promise<GradeRun> {
  const lessonsDir = options.lessonsDir ?? referenceLessonsDir;
  const lesson = requireLesson(number, lessonsDir);
  const testFile = requireTestFile(lesson, options.testFile);
  return withTempDir(options.tempParent, async (dir) => {
    const workshopDir = path.join(dir, 'workshop');
    startExercise(number, { lessonsDir, workshopDir });
    // The copy lives outside the repository, so give it what the repository gives a workshop inside it:
    // the packages to import, and "type": "module".
    symlinkSync(path.join(repoRoot, 'node_modules'), path.join(workshopDir, 'node_modules'), 'dir');
    writeFileSync(path.join(workshopDir, 'package.json'), '{ "private": true, "type": "module" }\n');
    // The same grading settings a student's `npm test` gets, only pointed at this workshop.
    const config = `import { gradingConfig } from ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'src/course/grading-config.ts')).href)};
const test = gradingConfig({ workshopDir: ${JSON.stringify(workshopDir)}, testFile: () => ${JSON.stringify(testFile)} });
test.reporters = [['json', { outputFile: ${JSON.stringify(path.join(dir, 'report.json'))} }], ...test.reporters];
export default { root: ${JSON.stringify(repoRoot)}, test: { testTimeout: 60000, hookTimeout: 60000, ...test } };
`;
    return runVitest('skeleton', lesson, dir, config, options.timeoutMs);
  });
}

/** Runs lesson `number`'s graded checks against the reference lesson. */
export async function gradeReference(number: number, options: GradeOptions = {}): Promise<GradeRun> {
  const lessonsDir = options.lessonsDir ?? referenceLessonsDir;
  const lesson = requireLesson(number, lessonsDir);
  const testFile = requireTestFile(lesson, options.testFile);
  // Lessons kept somewhere else (test fixtures) are handed to the tests as a workshop of their own.
  const env = path.resolve(lessonsDir) === referenceLessonsDir ? { LAB_IMPL: 'reference' } : { LAB_WORKSHOP_DIR: path.dirname(path.resolve(lessonsDir)) };
  return withTempDir(options.tempParent, async (dir) => {
    const config = `export default ${JSON.stringify({
      root: repoRoot,
      test: {
        include: [path.relative(repoRoot, testFile).split(path.sep).join('/')],
        env,
        testTimeout: 60000,
        hookTimeout: 60000,
        includeTaskLocation: true,
        reporters: [['json', { outputFile: path.join(dir, 'report.json') }], [scorecardReporterPath, { resultsFile: false }]],
      },
    })};\n`;
    return runVitest('reference', lesson, dir, config, options.timeoutMs);
  });
}

/**
 * What is wrong with a lesson's grading, one line per problem: a graded check that passes on the
 * skeleton (it checks nothing the student writes), one that fails on the reference, or no graded
 * checks at all. An empty list means the lesson's grading is sound.
 */
export function gradingProblems(skeleton: GradeRun, reference: GradeRun): string[] {
  const problems: string[] = [];
  for (const run of [skeleton, reference]) {
    for (const error of run.fileErrors) problems.push(`${run.implementation}: a test file could not run: ${error.split('\n', 1)[0]}`);
  }
  const gradedOf = (run: GradeRun): GradedOutcome[] => run.outcomes.filter((o) => o.exercise !== undefined);
  if (gradedOf(reference).length === 0) problems.push(`${displayPath(reference.lesson.dir)}: no graded checks (use graded() in the lesson's test file)`);
  for (const check of gradedOf(skeleton)) {
    if (check.state !== 'failed') problems.push(`skeleton: "${check.fullName}" [${check.exercise}] ${check.state}, but a graded check must fail before the exercise is done`);
  }
  for (const check of gradedOf(reference)) {
    if (check.state !== 'passed') problems.push(`reference: "${check.fullName}" [${check.exercise}] ${check.state}${check.message ? `: ${check.message.split('\n', 1)[0]}` : ''}`);
  }
  return problems;
}

function requireLesson(number: number, lessonsDir: string): LessonDir {
  const lesson = findLesson(number, lessonsDir);
  if (!lesson) throw lessonNotFound(number, lessonsDir);
  return lesson;
}

function requireTestFile(lesson: LessonDir, testFile: string | undefined): string {
  const file = path.resolve(testFile ?? defaultTestFile(lesson));
  if (!existsSync(file)) throw new CourseError(`lesson ${lesson.number} has no graded test file: ${displayPath(file)} does not exist`);
  if (path.relative(repoRoot, file).startsWith('..')) throw new CourseError(`the graded test file must be inside the repository: ${file}`);
  return file;
}

/** Runs `work` in a fresh temp folder and removes the folder afterwards, whatever happens. */
async function withTempDir<T>(parent: string | undefined, work: (dir: string) => Promise<T>): Promise<T> {
  // realpath: on some systems the temp folder is behind a symlink, which would confuse relative paths.
  const dir = mkdtempSync(path.join(realpathSync(parent ?? os.tmpdir()), 'mini-docker-grade-'));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The child's environment: ours, minus what the vitest running us set and what selects an implementation. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(VITEST|LAB_IMPL$|LAB_WORKSHOP_DIR$)/.test(key) && key !== 'NODE_ENV' && key !== 'TEST') env[key] = value;
  }
  return { ...env, FORCE_COLOR: '0', NO_COLOR: '1', CI: 'true' };
}

const vitestCli = path.join(path.dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

interface JsonReport {
  testResults?: {
    name: string;
    message?: string;
    assertionResults?: { title: string; fullName: string; ancestorTitles?: string[]; status: string; meta?: { exercise?: string }; failureMessages?: string[] | null }[];
  }[];
}

async function runVitest(implementation: GradeRun['implementation'], lesson: LessonDir, dir: string, config: string, timeoutMs = 300_000): Promise<GradeRun> {
  const configFile = path.join(dir, 'vitest.config.mjs');
  writeFileSync(configFile, config);
  const { exitCode, output } = await new Promise<{ exitCode: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [vitestCli, 'run', '--config', configFile], { cwd: repoRoot, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, output });
    });
  });

  const reportFile = path.join(dir, 'report.json');
  const report: JsonReport = existsSync(reportFile) ? (JSON.parse(readFileSync(reportFile, 'utf8')) as JsonReport) : {};
  const outcomes: GradedOutcome[] = [];
  const fileErrors: string[] = [];
  if (!existsSync(reportFile)) fileErrors.push(`vitest wrote no report (exit code ${exitCode}): ${output.trim().split('\n').slice(-5).join(' | ')}`);
  for (const file of report.testResults ?? []) {
    if (file.message) fileErrors.push(`${displayPath(file.name, repoRoot)}: ${file.message}`);
    for (const test of file.assertionResults ?? []) {
      const state = test.status === 'passed' ? 'passed' : test.status === 'failed' ? 'failed' : 'skipped';
      const outcome: GradedOutcome = { name: test.title, fullName: [...(test.ancestorTitles ?? []), test.title].join(' > '), state };
      if (test.meta?.exercise) outcome.exercise = test.meta.exercise;
      if (state === 'failed') outcome.message = (test.failureMessages ?? []).join('\n');
      outcomes.push(outcome);
    }
  }
  return { implementation, lesson, exitCode, outcomes, fileErrors, output };
}
