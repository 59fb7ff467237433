import { expect, test } from 'vitest';
import { countLine, failureReason, formatScorecard, lessonOfTestFile, summaryLine, toExercismResults, type RunResult } from '../../src/course/results.js';
import { testCodeAt } from '../../src/course/test-code.js';
import { plain } from './helpers.js';

const todo = { message: 'TODO(uts.hostname): Name it. — run `npm run hint 1` for a hint.', todo: { exercise: 'uts.hostname', task: 'Name it.', lesson: 1 } };

const run: RunResult = {
  files: [
    {
      file: 'test/lessons/01-uts.test.ts',
      lesson: { number: 1, slug: '01-uts' },
      fileErrors: [],
      checks: [
        { name: 'a', fullName: 'a', exercise: 'uts.unshare', state: 'passed', errors: [], testCode: 'expect(1).toBe(1);' },
        { name: 'b', fullName: 'group > b', exercise: 'uts.hostname', state: 'failed', errors: [todo] },
        { name: 'c', fullName: 'c', exercise: 'uts.inode', state: 'failed', errors: [{ message: "expected 'x' to be 'y'\n\n- Expected\n+ Received", assertion: true }] },
        { name: 'd', fullName: 'd', state: 'failed', errors: [{ name: 'TypeError', message: 'x is undefined', where: 'workshop/lessons/01-uts/uts.ts:12' }] },
        { name: 'e', fullName: 'e', state: 'skipped', errors: [] },
      ],
    },
    { file: 'test/lessons/02-pid.test.ts', lesson: { number: 2, slug: '02-pid' }, fileErrors: [{ message: 'Transform failed with 1 error:\n\n[PARSE_ERROR] Expected `}`', where: 'workshop/lessons/02-pid/pid.ts:3' }], checks: [] },
  ],
  unhandledErrors: [],
};

test('the count line: failed includes a file that could not load', () => {
  expect(countLine(run)).toBe('1 passed, 4 failed, 1 skipped');
  expect(countLine({ files: [], unhandledErrors: [] })).toBe('0 passed, 0 failed');
  expect(countLine({ files: [], unhandledErrors: [{ message: 'boom' }] })).toBe('0 passed, 1 failed');
});

test('the scorecard: a block per lesson, each failure with its reason and the hint command', () => {
  expect(plain(formatScorecard(run))).toBe(
    [
      'Lesson 01 · UTS  1/4 checks passed (1 skipped)',
      '  ✗ group > b  [uts.hostname]',
      '    not done yet: Name it.',
      '    hint: npm run hint 1 uts.hostname',
      '  ✗ c  [uts.inode]',
      "    expected 'x' to be 'y'",
      '',
      '    - Expected',
      '    + Received',
      '    hint: npm run hint 1 uts.inode',
      '  ✗ d',
      '    TypeError: x is undefined (at workshop/lessons/01-uts/uts.ts:12)',
      '    hint: npm run hint 1',
      '',
      'Lesson 02 · PID  could not run',
      '  ✗ test/lessons/02-pid.test.ts could not load',
      '    Transform failed with 1 error: [PARSE_ERROR] Expected `}` (at workshop/lessons/02-pid/pid.ts:3)',
    ].join('\n'),
  );
});

test('a lesson with every check passing gets a tick; other test files get a block of their own', () => {
  const ok: RunResult = {
    files: [
      { file: 'test/lessons/01-uts.test.ts', lesson: { number: 1, slug: '01-uts' }, fileErrors: [], checks: [{ name: 'a', fullName: 'a', state: 'passed', errors: [] }] },
      { file: 'test/unit/x.test.ts', fileErrors: [], checks: [{ name: 'x', fullName: 'x', state: 'failed', errors: [{ message: 'nope' }] }] },
    ],
    unhandledErrors: [{ message: 'stray rejection' }],
  };
  expect(plain(formatScorecard(ok))).toBe(
    [
      'Lesson 01 · UTS  1/1 checks passed ✓',
      '',
      'Other tests  0/1 checks passed',
      '  ✗ x',
      '    nope',
      '',
      '1 error(s) outside any test',
      '  ✗ stray rejection',
    ].join('\n'),
  );
});

test('results.json follows the Exercism test runner interface, version 2', () => {
  const results = toExercismResults(run);
  expect(results.version).toBe(2);
  expect(results.status).toBe('error'); // lesson 02's file could not load
  expect(results.message).toContain('test/lessons/02-pid.test.ts could not load: Transform failed');
  expect(results.tests).toEqual([
    { name: 'Lesson 01 · UTS > a', status: 'pass' },
    { name: 'Lesson 01 · UTS > group > b', status: 'fail', message: todo.message },
    { name: 'Lesson 01 · UTS > c', status: 'fail', message: "expected 'x' to be 'y'\n\n- Expected\n+ Received" },
    { name: 'Lesson 01 · UTS > d', status: 'error', message: 'x is undefined' },
  ]);

  const loaded = { ...run, files: run.files.slice(0, 1) };
  expect(toExercismResults(loaded)).toMatchObject({ version: 2, status: 'fail' });
  expect(toExercismResults(loaded)).not.toHaveProperty('message');
  const passing = { files: [{ ...run.files[0]!, checks: run.files[0]!.checks.slice(0, 1) }], unhandledErrors: [] };
  expect(toExercismResults(passing)).toEqual({ version: 2, status: 'pass', tests: [{ name: 'Lesson 01 · UTS > a', status: 'pass' }] });
  // The checks' source holds the answers: only an instructor who asks gets it.
  expect(toExercismResults(passing, { testCode: true })).toEqual({ version: 2, status: 'pass', tests: [{ name: 'Lesson 01 · UTS > a', status: 'pass', test_code: 'expect(1).toBe(1);' }] });
});

test('a failed assertion is shown whole: every line of its message, then the diff vitest made', () => {
  const failed: RunResult = {
    files: [{
      file: 'test/lessons/03-mount.test.ts',
      lesson: { number: 3, slug: '03-mount' },
      fileErrors: [],
      checks: [
        {
          name: 'k', fullName: 'k', exercise: 'mount.kernel-fs', state: 'failed',
          errors: [{ assertion: true, message: 'call 3 of 3 differs:\n  expected  mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755")\n  yours     mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID, "mode=755")' }],
        },
        // Another exercise's Todo stopped this check: it is labelled with, and hinted for, that exercise.
        { name: 'p', fullName: 'p', exercise: 'mount.pivot', state: 'failed', errors: [{ message: 'TODO', todo: { exercise: 'mount.private', task: 'Make it private.', lesson: 3 } }] },
        { name: 't', fullName: 't', exercise: 'mount.mountinfo', state: 'failed', errors: [{ assertion: true, message: `expected 'a' to be 'b'`, diff: `- Expected\n+ Received\n\n${Array.from({ length: 50 }, (_, i) => `- line ${i}`).join('\n')}` }] },
      ],
    }],
    unhandledErrors: [],
  };
  const card = plain(formatScorecard(failed)).split('\n');
  expect(card.slice(0, 9)).toEqual([
    'Lesson 03 · Mount  0/3 checks passed',
    '  ✗ k  [mount.kernel-fs]',
    '    call 3 of 3 differs:',
    '      expected  mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755")',
    '      yours     mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID, "mode=755")',
    '    hint: npm run hint 3 mount.kernel-fs',
    '  ✗ p  [mount.private]',
    '    not done yet: Make it private.',
    '    hint: npm run hint 3 mount.private',
  ]);
  expect(card[10]).toBe("    expected 'a' to be 'b'");
  expect(card).toContain('    - line 30');
  expect(card).not.toContain('    - line 45');
  expect(card.at(-2)).toMatch(/^ {4}… 15 more lines: run `npx vitest run`/);
});

test('summaryLine and failureReason keep to one line', () => {
  expect(summaryLine('Transform failed with 1 error:\n\n[PARSE_ERROR] Expected `}`\n  at x')).toBe('Transform failed with 1 error: [PARSE_ERROR] Expected `}`');
  expect(summaryLine('plain\nmore')).toBe('plain');
  expect(failureReason(undefined)).toBe('failed without an error message');
});

test('lessonOfTestFile reads the lesson from the file name', () => {
  expect(lessonOfTestFile('/r/test/lessons/01-uts.test.ts')).toEqual({ number: 1, slug: '01-uts' });
  expect(lessonOfTestFile('test/course/fixtures/graded/02-beta.graded.ts')).toEqual({ number: 2, slug: '02-beta' });
  expect(lessonOfTestFile('test/unit/syscalls.test.ts')).toBeUndefined();
});

test('testCodeAt finds the body of the test function called on a line', () => {
  const source = [
    "import { test } from 'vitest';",
    '',
    "graded('a.b', 'name', async () => {",
    '  const x = 1;',
    '  expect(x).toBe(1);',
    '}, 10_000);',
    "test('short', () => expect(2).toBe(2));",
  ].join('\n');
  expect(testCodeAt(source, 3)).toBe('const x = 1;\nexpect(x).toBe(1);');
  expect(testCodeAt(source, 7)).toBe('expect(2).toBe(2)');
  expect(testCodeAt(source, 2)).toBeUndefined();
});
