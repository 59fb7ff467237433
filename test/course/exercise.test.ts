import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { exerciseCommand } from '../../src/course/cli/exercise-command.js';
import { CourseError } from '../../src/course/errors.js';
import { studentLessons } from '../../src/course/paths.js';
import { startExercise } from '../../src/course/workshop.js';
import { fixtureLessons, inTempDir, makeStandalone, plain, repo, runNode } from './helpers.js';

const read = (file: string): string => readFileSync(file, 'utf8');

/** Every file below `dir`, relative, sorted (node_modules left out). */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile() && !path.join(e.parentPath, e.name).includes('node_modules'))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('startExercise on the fixture lessons', () => {
  test('writes the skeleton: regions replaced, Todo imported, repository imports re-pointed, lesson imports kept', () =>
    inTempDir((workshop) => {
      startExercise(1, { lessonsDir: fixtureLessons, workshopDir: workshop });
      // Tests, READMEs and other non-TypeScript files stay behind; subfolders come along.
      expect(tree(workshop)).toEqual(['lessons/01-alpha/alpha.ts', 'lessons/01-alpha/util/shout.ts', 'tsconfig.json']);

      const alpha = read(path.join(workshop, 'lessons/01-alpha/alpha.ts'));
      const reference = read(path.join(fixtureLessons, '01-alpha/alpha.ts'));
      const toRepo = path.relative(path.join(workshop, 'lessons/01-alpha'), repo).split(path.sep).join('/');
      expect(alpha).toContain(`import type { Lesson } from '${toRepo}/src/course/lesson.js';`);
      expect(alpha).toContain(`} from '${toRepo}/test/course/fixtures/support/fake-sys.js';`);
      expect(alpha).toContain(`await import('${toRepo}/test/course/fixtures/support/fake-sys.js')`);
      expect(alpha).toContain(`import { Todo } from '${toRepo}/src/course/todo.js';\n\nexport interface AlphaConfig`);
      expect(alpha).toContain(
        [
          'export function setUpAlpha(sys: FakeSys, config: AlphaConfig): void {',
          '  // TODO(alpha.hostname): Give the container its own host name (and NIS domain name, when one is set).',
          "  throw new Todo('alpha.hostname', 'Give the container its own host name (and NIS domain name, when one is set).', 1);",
          '}',
        ].join('\n'),
      );
      expect(alpha).toContain("    throw new Todo('alpha.read', 'Read the host name back the way `hostname` does (it\\'s in /proc/sys/kernel/hostname, a \\\\n at the end).', 1);");
      expect(alpha).not.toMatch(/EXERCISE|HINT|sethostname|trim\(\)/);
      // Outside the regions, nothing changed.
      const outside = (text: string): string => text.slice(text.indexOf('/** Not an exercise'), text.indexOf('export async function makeSys'));
      expect(outside(alpha)).toBe(outside(reference));

      const shout = read(path.join(workshop, 'lessons/01-alpha/util/shout.ts'));
      expect(shout).toContain(`import type { FakeSys } from '../${toRepo}/test/course/fixtures/support/fake-sys.js';`);
      expect(shout).toContain(`import { Todo } from '../${toRepo}/src/course/todo.js';`);
    }));

  test('returns where each TODO is', () =>
    inTempDir((workshop) => {
      const report = startExercise(1, { lessonsDir: fixtureLessons, workshopDir: workshop });
      const todos = report.files.flatMap((f) => f.todos.map((t) => `${path.relative(workshop, f.path)}:${t.line} ${t.id}`));
      expect(todos).toEqual(['lessons/01-alpha/alpha.ts:16 alpha.hostname', 'lessons/01-alpha/alpha.ts:21 alpha.read', 'lessons/01-alpha/util/shout.ts:7 alpha.shout']);
      for (const file of report.files) {
        const lines = read(file.path).split('\n');
        for (const todo of file.todos) expect(lines[todo.line - 1]).toContain(`// TODO(${todo.id}): ${todo.task}`);
      }
    }));

  test('the skeleton typechecks (with the workshop tsconfig it writes)', () =>
    inTempDir((dir) => {
      const workshop = path.join(dir, 'workshop');
      startExercise(2, { lessonsDir: fixtureLessons, workshopDir: workshop }); // lesson 02 and a reference copy of 01
      startExercise(1, { lessonsDir: fixtureLessons, workshopDir: workshop }); // now the skeleton of 01 too
      makeStandalone(workshop); // as inside a real checkout: node_modules (for @types/node) and an ESM package.json
      const config = ts.getParsedCommandLineOfConfigFile(path.join(workshop, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
      expect(config?.errors ?? ['no config']).toEqual([]);
      expect(config!.fileNames.map((f) => path.relative(workshop, f)).sort()).toEqual(['lessons/01-alpha/alpha.ts', 'lessons/01-alpha/util/shout.ts', 'lessons/02-beta/beta.ts']);
      const program = ts.createProgram(config!.fileNames, config!.options);
      const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(problems).toEqual([]);
    }));

  test('copies a missing earlier lesson as a marked reference copy, and a later `exercise` of it replaces the copy', () =>
    inTempDir((workshop) => {
      const report = startExercise(2, { lessonsDir: fixtureLessons, workshopDir: workshop });
      expect(report.referenceCopies.map((c) => c.lesson.slug)).toEqual(['01-alpha']);
      expect(tree(workshop)).toEqual([
        'lessons/01-alpha/.reference-copy',
        'lessons/01-alpha/alpha.ts',
        'lessons/01-alpha/util/shout.ts',
        'lessons/02-beta/beta.ts',
        'tsconfig.json',
      ]);
      const copy = read(path.join(workshop, 'lessons/01-alpha/alpha.ts'));
      expect(copy).toContain('sys.sethostname(config.hostname);'); // the solution, unchanged
      expect(copy).toContain('/test/course/fixtures/support/fake-sys.js'); // but its imports still resolve
      expect(read(path.join(workshop, 'lessons/02-beta/beta.ts'))).toContain("from '../01-alpha/alpha.js';");
      expect(studentLessons(workshop).map((l) => l.slug)).toEqual(['02-beta']);

      const second = startExercise(1, { lessonsDir: fixtureLessons, workshopDir: workshop });
      expect(second.replaced).toBe('reference-copy');
      expect(existsSync(path.join(workshop, 'lessons/01-alpha/.reference-copy'))).toBe(false);
      expect(read(path.join(workshop, 'lessons/01-alpha/alpha.ts'))).toContain("throw new Todo('alpha.hostname'");
      expect(studentLessons(workshop).map((l) => l.slug)).toEqual(['01-alpha', '02-beta']);
    }));

  test("refuses to overwrite the student's copy; --reset backs it up first", () =>
    inTempDir((workshop) => {
      startExercise(1, { lessonsDir: fixtureLessons, workshopDir: workshop });
      const mine = path.join(workshop, 'lessons/01-alpha/alpha.ts');
      writeFileSync(mine, '// my work\n');

      let refusal: unknown;
      try {
        startExercise(1, { lessonsDir: fixtureLessons, workshopDir: workshop });
      } catch (error) {
        refusal = error;
      }
      expect(refusal).toBeInstanceOf(CourseError);
      expect((refusal as CourseError).exitCode).toBe(1);
      expect((refusal as CourseError).message).toContain('npm run exercise 1 -- --reset');
      expect(read(mine)).toBe('// my work\n');

      const report = startExercise(1, { lessonsDir: fixtureLessons, workshopDir: workshop, reset: true, now: new Date('2025-01-02T03:04:05Z') });
      expect(report.replaced).toBe('backed-up');
      expect(path.relative(workshop, report.backupDir!)).toBe('.backup/01-alpha-2025-01-02T03-04-05');
      expect(read(path.join(report.backupDir!, 'alpha.ts'))).toBe('// my work\n');
      expect(read(mine)).toContain('throw new Todo(');
    }));

  test.each([
    [99, 'there is no lesson 99; the lessons are 1 Alpha, 2 Beta, 3 Gamma; e.g. `npm run exercise 1`'],
    [3, 'Lesson 03 · Gamma has no exercises yet'],
  ])('bad input (lesson %i) is a one-line error with exit code 2, and nothing is written', (lesson, message) =>
    inTempDir((workshop) => {
      let failure: unknown;
      try {
        startExercise(lesson, { lessonsDir: fixtureLessons, workshopDir: workshop });
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(CourseError);
      expect((failure as CourseError).message).toContain(message);
      expect((failure as CourseError).message).not.toContain('\n');
      expect((failure as CourseError).exitCode).toBe(2);
      expect(tree(workshop)).toEqual([]);
    }));

  test('a malformed marker names file and line, and nothing is written', () =>
    inTempDir((dir) => {
      const lessons = path.join(dir, 'lessons');
      cpSync(fixtureLessons, lessons, { recursive: true });
      const beta = path.join(lessons, '02-beta/beta.ts');
      writeFileSync(beta, read(beta).replace('  // END EXERCISE\n', ''));
      const workshop = path.join(dir, 'workshop');
      expect(() => startExercise(2, { lessonsDir: lessons, workshopDir: workshop })).toThrow(/02-beta\/beta\.ts:6: EXERCISE\(beta\.start\) has no \/\/ END EXERCISE/);
      expect(existsSync(workshop)).toBe(false);
    }));
});

describe('npm run exercise (the command)', () => {
  test('prints what was created, the TODOs and the next commands', () =>
    inTempDir((workshop) => {
      const out = plain(exerciseCommand(['2'], { lessonsDir: fixtureLessons, workshopDir: workshop }));
      expect(out).toContain('Lesson 02 · Beta: your copy is ready in');
      expect(out).toContain('Lesson 01 · Alpha was missing, so');
      expect(out).toMatch(/lessons\/02-beta\/beta\.ts:7 +beta\.start +Make a fresh FakeSys and set it up the way lesson 01 does\./);
      expect(out).toContain('npm run lesson 2 -- --mine');
      expect(out).toContain('npm test');
      expect(out).toContain('npm run hint 2');
    }));

  test.each([
    [[], 'which lesson?'],
    [['x'], '"x" is not a lesson number'],
    [['1', '2'], 'one lesson at a time'],
    [['1', '--force'], 'unknown option --force'],
  ])('rejects arguments %j', (argv, message) => {
    expect(() => exerciseCommand(argv, { lessonsDir: fixtureLessons, workshopDir: '/nonexistent' })).toThrow(message);
  });

  test('the real entry point: bad input → one line on stderr, exit code 2, no workshop created', async () => {
    const hadWorkshop = existsSync(path.join(repo, 'workshop'));
    for (const args of [[], ['99']]) {
      const run = await runNode([path.join(repo, 'node_modules/tsx/dist/cli.mjs'), 'src/course/cli/exercise.ts', ...args]);
      expect(run.status).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/^error: /);
    }
    expect(existsSync(path.join(repo, 'workshop'))).toBe(hadWorkshop);
  });
});
