/**
 * The exercise contract, for every lesson:
 *  - every graded check names an exercise of its lesson;
 *  - every exercise has a check that spells out what it requires (graded(..., { requires: [...] }));
 *  - each required word appears in the lesson's README or in that exercise's TODO line — a check may
 *    demand nothing the student was never told;
 *  - `npm run exercise N` ends with the README's own command for running the student's code.
 *
 * The checks are read from the test files' source (TypeScript's parser), not run: no root, no containers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { formatReport, readmeMineCommand } from '../../src/course/cli/exercise-command.js';
import { defaultTestFile } from '../../src/course/grading-config.js';
import type { ExerciseRegion } from '../../src/course/markers.js';
import { listLessons } from '../../src/course/paths.js';
import { readLesson } from '../../src/course/workshop.js';
import { plain } from './helpers.js';

interface GradedCall {
  /** The exercise argument: an id, or a pattern when it is a template (`${version}.apply`). */
  exercise: RegExp;
  exerciseText: string;
  name: string;
  requires: string[] | undefined;
  line: number;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every graded(...) call of a test file, with its exercise and its `requires` list. */
export function gradedCalls(source: string, fileName: string): GradedCall[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const calls: GradedCall[] = [];
  const text = (node: ts.Node | undefined): string => (node ? node.getText(file) : '');
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'graded') {
      const [exerciseArg, nameArg, , optionsArg] = node.arguments;
      let exercise: RegExp;
      if (exerciseArg && ts.isStringLiteral(exerciseArg)) exercise = new RegExp(`^${escapeRegExp(exerciseArg.text)}$`);
      else if (exerciseArg && ts.isTemplateExpression(exerciseArg)) {
        // `${version}.apply` matches v1.apply and v2.apply.
        const parts = [exerciseArg.head.text, ...exerciseArg.templateSpans.map((span) => span.literal.text)];
        exercise = new RegExp(`^${parts.map(escapeRegExp).join('[a-z0-9_-]+')}$`);
      } else exercise = /^$/;
      let requires: string[] | undefined;
      if (optionsArg && ts.isObjectLiteralExpression(optionsArg)) {
        const property = optionsArg.properties.find((p) => ts.isPropertyAssignment(p) && text(p.name) === 'requires');
        if (property && ts.isPropertyAssignment(property) && ts.isArrayLiteralExpression(property.initializer)) {
          requires = property.initializer.elements.map((element) =>
            ts.isStringLiteral(element) || ts.isNoSubstitutionTemplateLiteral(element) ? element.text : `<not a string literal: ${text(element)}>`,
          );
        }
      }
      const name = nameArg && (ts.isStringLiteral(nameArg) || ts.isNoSubstitutionTemplateLiteral(nameArg)) ? nameArg.text : text(nameArg);
      calls.push({ exercise, exerciseText: text(exerciseArg), name, requires, line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return calls;
}

/** Compared without case, Markdown backticks and line breaks: the README may say `mode=755` or MODE=755. */
const normalise = (text: string): string => text.replace(/`/g, '').replace(/\s+/g, ' ').toLowerCase();

const lessons = listLessons().filter((lesson) => readLesson(lesson).some((source) => source.regions.length > 0));

describe.each(lessons.map((lesson) => [lesson.slug, lesson] as const))('the exercise contract of %s', (_slug, lesson) => {
  const exercises: ExerciseRegion[] = readLesson(lesson).flatMap((source) => source.regions);
  const testFile = defaultTestFile(lesson);
  const calls = gradedCalls(readFileSync(testFile, 'utf8'), testFile);
  const readme = normalise(readFileSync(path.join(lesson.dir, 'README.md'), 'utf8'));
  const where = (call: GradedCall): string => `${path.basename(testFile)}:${call.line} "${call.name}"`;

  test('every graded check names an exercise of the lesson', () => {
    const strays = calls.filter((call) => !exercises.some((e) => call.exercise.test(e.id))).map((call) => `${where(call)}: ${call.exerciseText}`);
    expect(strays).toEqual([]);
  });

  test('every exercise has a check that says what it requires', () => {
    const unstated = exercises.filter((e) => !calls.some((call) => call.exercise.test(e.id) && (call.requires?.length ?? 0) > 0)).map((e) => e.id);
    expect(unstated).toEqual([]);
  });

  test("each requirement is stated in the README or in the exercise's TODO", () => {
    const missing: string[] = [];
    for (const call of calls) {
      const matching = exercises.filter((e) => call.exercise.test(e.id));
      for (const required of call.requires ?? []) {
        const stated = readme.includes(normalise(required)) || matching.some((e) => normalise(e.task).includes(normalise(required)));
        if (!stated) missing.push(`${where(call)} requires "${required}", which neither the README nor the TODO of ${matching.map((e) => e.id).join('/')} states`);
      }
    }
    expect(missing).toEqual([]);
  });

  test('no hint is the answer: none quotes a statement of the solution', () => {
    const quoting: string[] = [];
    for (const source of readLesson(lesson)) {
      const lines = source.source.split('\n');
      for (const region of source.regions) {
        // The solution's statements, long enough to be more than a name (`return null;` is no answer).
        const statements = lines
          .slice(region.line, region.endLine - 1)
          .map((line) => line.trim().replace(/;$/, ''))
          .filter((line) => !line.startsWith('//') && line.length >= 20);
        for (const hint of region.hints) {
          const quoted = statements.find((statement) => hint.replace(/\s+/g, ' ').includes(statement.replace(/\s+/g, ' ')));
          if (quoted) quoting.push(`${region.id}: a hint quotes the solution's \`${quoted}\``);
        }
      }
    }
    expect(quoting).toEqual([]);
  });

  test('at least one exercise is a function of real logic: three statements or more, with a decision in them', () => {
    const sizable = readLesson(lesson).flatMap((source) => {
      const lines = source.source.split('\n');
      return source.regions.filter((region) => {
        const code = lines.slice(region.line, region.endLine - 1).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('//'));
        return code.length >= 3 && code.some((line) => /\b(if|for|while|throw|return)\b|\?|\.(map|filter|find)\(/.test(line));
      });
    });
    expect(sizable.map((region) => region.id)).not.toEqual([]);
  });

  test("`npm run exercise` ends with the README's command for running your own code", () => {
    const command = readmeMineCommand(lesson);
    expect(command, `${lesson.slug}/README.md has no \`npm run lesson ${lesson.number} -- --mine\` line`).toMatch(new RegExp(`npm run lesson ${lesson.number} -- .*--mine`));
    const report = plain(formatReport({ lesson, dir: lesson.dir, files: [], replaced: 'nothing', referenceCopies: [] }));
    const next = report.slice(report.indexOf('Next:'));
    expect(next.split('\n')[1]?.trim().startsWith(command!)).toBe(true);
  });
});

test('the contract reader finds ids, templates and requirement lists', () => {
  const calls = gradedCalls(
    [
      "graded('a.b', 'one', () => {}, { requires: ['X', `Y`] });",
      "graded(`${v}.apply`, 'two', () => {}, 60_000);",
      "graded('a.c', 'three', () => {}, { timeout: 5, requires: [name] });",
    ].join('\n'),
    'x.ts',
  );
  expect(calls.map((c) => [c.exercise.source, c.requires, c.line])).toEqual([
    ['^a\\.b$', ['X', 'Y'], 1],
    ['^[a-z0-9_-]+\\.apply$', undefined, 2],
    ['^a\\.c$', ['<not a string literal: name>'], 3],
  ]);
});
