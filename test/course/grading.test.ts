/**
 * The grading contract end to end: child vitest runs with the real grading config, the scorecard
 * reporter, results.json, the CI count line and the exit code, on the fixture lessons.
 */
import { appendFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { gradeReference, gradeSkeleton, gradingProblems, type GradeRun } from '../../src/course/grade-skeleton.js';
import { gradingConfig, isGradingCheckout } from '../../src/course/grading-config.js';
import { findLesson } from '../../src/course/paths.js';
import { generateLessonCopy, readLesson, startExercise, workshopLessonDir } from '../../src/course/workshop.js';
import { fixtureLessons, gradedFixture, inTempDir, makeStandalone, runGradingVitest } from './helpers.js';

const lastLine = (text: string): string => text.trim().split('\n').at(-1) ?? '';

/** A workshop where the student has started the given lessons (skeletons), ready to be graded. */
function workshopWith(dir: string, lessons: number[]): string {
  const workshop = path.join(dir, 'workshop');
  for (const lesson of lessons) startExercise(lesson, { lessonsDir: fixtureLessons, workshopDir: workshop });
  makeStandalone(workshop);
  return workshop;
}

/** As if the student had finished lesson `number`: the reference solution, in their own copy. */
function solve(workshop: string, number: number): void {
  const lesson = findLesson(number, fixtureLessons)!;
  for (const file of generateLessonCopy(lesson, readLesson(lesson), workshopLessonDir(lesson, workshop), fixtureLessons, false)) {
    writeFileSync(file.path, file.text);
  }
}

describe('npm test in a workshop (gradingConfig + scorecard reporter)', () => {
  test('unfinished exercises: scorecard, results.json, JUnit XML, the count line last, exit code 1', () =>
    inTempDir(async (dir) => {
      const workshop = workshopWith(dir, [1, 2]);
      const run = await runGradingVitest(workshop, dir);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain(
        [
          'Lesson 01 · Alpha  1/5 checks passed (1 skipped)',
          '  ✗ the container gets its own host name  [alpha.hostname]',
          '    not done yet: Give the container its own host name (and NIS domain name, when one is set).',
          '    hint: npm run hint 1 alpha.hostname',
          '  ✗ NIS domain name > is set when one is given  [alpha.hostname]',
        ].join('\n'),
      );
      expect(run.stdout).toContain('  ✗ shouts the host name  [alpha.shout]\n    not done yet: Return the host name in capitals, followed by "!".');
      expect(run.stdout).toContain('Lesson 02 · Beta  0/1 checks passed\n  ✗ starts a machine set up like lesson 01  [beta.start]');
      expect(run.stdout).toContain('    hint: npm run hint 2 beta.start');
      // CI reads this: plain, alone, and after everything else (the JUnit reporter's "written to" line too).
      expect(lastLine(run.stdout)).toBe('1 passed, 5 failed, 1 skipped');

      const results = JSON.parse(readFileSync(path.join(workshop, 'results.json'), 'utf8'));
      expect(Object.keys(results).sort()).toEqual(['status', 'tests', 'version']);
      expect(results).toMatchObject({ version: 2, status: 'fail' });
      expect(results.tests.map((t: { name: string; status: string }) => `${t.status} ${t.name}`)).toEqual([
        'fail Lesson 01 · Alpha > the container gets its own host name',
        'fail Lesson 01 · Alpha > NIS domain name > is set when one is given',
        'fail Lesson 01 · Alpha > reads the host name back',
        'fail Lesson 01 · Alpha > shouts the host name',
        'pass Lesson 01 · Alpha > describes the configuration (not an exercise)',
        'fail Lesson 02 · Beta > starts a machine set up like lesson 01',
      ]);
      expect(results.tests[0]).toEqual({
        name: 'Lesson 01 · Alpha > the container gets its own host name',
        status: 'fail',
        message: 'TODO(alpha.hostname): Give the container its own host name (and NIS domain name, when one is set). — run `npm run hint 1 alpha.hostname` for a hint.',
      });
      expect(results.tests[4]).not.toHaveProperty('message');
      // The checks' source holds the answers: none of it by default, in results.json or in the JUnit XML.
      expect(JSON.stringify(results)).not.toContain('setUpAlpha(sys');

      const junit = readFileSync(path.join(workshop, 'junit.xml'), 'utf8');
      expect(junit).toContain('<testsuites');
      expect(junit).toContain('the container gets its own host name');
      expect(junit).not.toContain("setUpAlpha(sys, { hostname: 'box' })");
    }));

  test('LAB_RESULTS_TEST_CODE=1 puts each check\'s source into results.json, for instructors', () =>
    inTempDir(async (dir) => {
      const workshop = workshopWith(dir, [1]);
      await runGradingVitest(workshop, dir, { LAB_RESULTS_TEST_CODE: '1' });
      const results = JSON.parse(readFileSync(path.join(workshop, 'results.json'), 'utf8'));
      expect(results.tests[0]).toMatchObject({
        name: 'Lesson 01 · Alpha > the container gets its own host name',
        test_code: "const sys = new FakeSys();\nalpha.setUpAlpha(sys, { hostname: 'box' });\nexpect(sys.hostname).toBe('box');",
      });
    }));

  test('a finished lesson passes: exit code 0, status "pass"; reference copies are not graded', () =>
    inTempDir(async (dir) => {
      const workshop = workshopWith(dir, [1]);
      solve(workshop, 1);
      const run = await runGradingVitest(workshop, dir);
      expect(run.stdout).toContain('Lesson 01 · Alpha  5/5 checks passed (1 skipped) ✓');
      expect(lastLine(run.stdout)).toBe('5 passed, 0 failed, 1 skipped');
      expect(run.status).toBe(0);
      expect(JSON.parse(readFileSync(path.join(workshop, 'results.json'), 'utf8'))).toMatchObject({ version: 2, status: 'pass' });

      // Lesson 02 started without lesson 01: 01 is a reference copy, and only 02 is graded.
      const other = workshopWith(path.join(dir, 'other'), [2]);
      const second = await runGradingVitest(other, dir);
      expect(second.stdout).not.toContain('Lesson 01');
      expect(second.stdout).toContain('Lesson 02 · Beta  0/1 checks passed');
      expect(lastLine(second.stdout)).toBe('0 passed, 1 failed');
    }));

  test('a lesson file that does not even load: status "error" with a message, counted as a failure', () =>
    inTempDir(async (dir) => {
      const workshop = workshopWith(dir, [1]);
      appendFileSync(path.join(workshop, 'lessons/01-alpha/alpha.ts'), '\nexport function oops( {\n');
      const run = await runGradingVitest(workshop, dir);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('Lesson 01 · Alpha  could not run');
      expect(run.stdout).toMatch(/could not load\n {4}.*Expected .*\(at .*lessons\/01-alpha\/alpha\.ts:\d+\)/);
      expect(lastLine(run.stdout)).toBe('0 passed, 1 failed');
      const results = JSON.parse(readFileSync(path.join(workshop, 'results.json'), 'utf8'));
      expect(results).toMatchObject({ version: 2, status: 'error', tests: [] });
      expect(results.message).toContain('01-alpha.graded.ts could not load');
      expect(results.message).not.toContain('\u001b['); // no terminal colours
    }));
});

describe('gradingConfig', () => {
  test('includes the graded tests of the lessons the student started, not of reference copies', () =>
    inTempDir((dir) => {
      const workshop = path.join(dir, 'workshop');
      expect(isGradingCheckout(workshop)).toBe(false);
      startExercise(2, { lessonsDir: fixtureLessons, workshopDir: workshop });
      expect(isGradingCheckout(workshop)).toBe(true);
      const config = gradingConfig({ workshopDir: workshop });
      expect(config.include).toEqual(['test/lessons/02-beta.test.ts']);
      expect(config.env).toEqual({ LAB_IMPL: 'workshop', LAB_WORKSHOP_DIR: workshop });
      expect(config.includeTaskLocation).toBe(true);
      expect(config.chaiConfig).toEqual({ truncateThreshold: 0 }); // expected values in full
      expect(config.reporters).toEqual([
        ['junit', { outputFile: path.join(workshop, 'junit.xml') }],
        [expect.stringMatching(/src\/course\/scorecard-reporter\.ts$/), { resultsFile: path.join(workshop, 'results.json') }],
      ]);
    }));
});

describe('gradeSkeleton / gradeReference', () => {
  test('the fixture skeletons fail every graded check, the references pass them all, temp folders are removed', () =>
    inTempDir(async (tempParent) => {
      const options = (slug: string) => ({ lessonsDir: fixtureLessons, testFile: gradedFixture(slug), tempParent });
      const [skeleton1, reference1, skeleton2, reference2] = await Promise.all([
        gradeSkeleton(1, options('01-alpha')),
        gradeReference(1, options('01-alpha')),
        gradeSkeleton(2, options('02-beta')), // needs a reference copy of lesson 01 to load at all
        gradeReference(2, options('02-beta')),
      ]);
      const states = (run: GradeRun) => run.outcomes.map((o) => `${o.state} ${o.exercise ?? '-'} ${o.fullName}`);
      expect(states(skeleton1)).toEqual([
        'failed alpha.hostname the container gets its own host name',
        'failed alpha.hostname NIS domain name > is set when one is given',
        'failed alpha.read reads the host name back',
        'failed alpha.shout shouts the host name',
        'passed - describes the configuration (not an exercise)',
        'skipped - a check the authors switched off',
      ]);
      expect(skeleton1.outcomes[0]?.message).toContain('TODO(alpha.hostname)');
      expect(skeleton1.exitCode).toBe(1);
      expect(reference1.exitCode).toBe(0);
      expect(states(skeleton2)).toEqual(['failed beta.start starts a machine set up like lesson 01']);
      expect(states(reference2)).toEqual(['passed beta.start starts a machine set up like lesson 01']);
      expect(gradingProblems(skeleton1, reference1)).toEqual([]);
      expect(gradingProblems(skeleton2, reference2)).toEqual([]);
      expect(readdirSync(tempParent)).toEqual([]);
    }));

  test('the temp folder is removed when generating the skeleton fails, too', () =>
    inTempDir(async (tempParent) => {
      const lessons = path.join(tempParent, 'lessons');
      mkdirSync(path.join(lessons, '01-bad'), { recursive: true });
      writeFileSync(path.join(lessons, '01-bad', 'bad.ts'), '// EXERCISE(bad.one): No end.\nx();\n');
      const testFile = gradedFixture('01-alpha');
      await expect(gradeSkeleton(1, { lessonsDir: lessons, testFile, tempParent })).rejects.toThrow('has no // END EXERCISE');
      expect(readdirSync(tempParent)).toEqual(['lessons']);
      await expect(gradeSkeleton(1, { lessonsDir: fixtureLessons, testFile: path.join(tempParent, 'none.test.ts'), tempParent })).rejects.toThrow('has no graded test file');
    }));

  test('gradingProblems names checks that pass on the skeleton or fail on the reference', () => {
    const lesson = findLesson(1, fixtureLessons)!;
    const run = (implementation: GradeRun['implementation'], states: GradeRun['outcomes'][number]['state'][]): GradeRun => ({
      implementation,
      lesson,
      exitCode: 1,
      fileErrors: [],
      output: '',
      outcomes: states.map((state, i) => ({ name: `c${i}`, fullName: `c${i}`, exercise: 'x.y', state, message: state === 'failed' ? 'boom\nmore' : undefined })),
    });
    expect(gradingProblems(run('skeleton', ['failed', 'passed']), run('reference', ['passed', 'failed']))).toEqual([
      'skeleton: "c1" [x.y] passed, but a graded check must fail before the exercise is done',
      'reference: "c1" [x.y] failed: boom',
    ]);
    expect(gradingProblems(run('skeleton', []), run('reference', []))[0]).toContain('no graded checks');
  });
});
