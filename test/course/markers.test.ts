import { describe, expect, test } from 'vitest';
import { checkUniqueIds, findExercises, MarkerError } from '../../src/course/markers.js';

const lines = (...text: string[]): string => text.join('\n');

describe('findExercises', () => {
  test('reads id, task, hints, indentation and the line range of each region', () => {
    const source = lines(
      'export function f(): number {',
      '    // EXERCISE(demo.one): Return one.',
      '    // HINT: It is a number.',
      '    // HINT: It is not zero.',
      '    return 1;',
      '    // END EXERCISE',
      '}',
      'export function g(): void {',
      '  // EXERCISE(demo.two): Do nothing, loudly.',
      '  console.log("nothing");',
      '  // END EXERCISE',
      '}',
    );
    expect(findExercises(source, 'demo.ts')).toEqual([
      { id: 'demo.one', task: 'Return one.', hints: ['It is a number.', 'It is not zero.'], file: 'demo.ts', line: 2, endLine: 6, indent: '    ' },
      { id: 'demo.two', task: 'Do nothing, loudly.', hints: [], file: 'demo.ts', line: 9, endLine: 11, indent: '  ' },
    ]);
  });

  test('a file without markers has no exercises', () => {
    expect(findExercises('export const x = 1; // EXERCISE is just a word here\n', 'x.ts')).toEqual([]);
  });

  test.each([
    ['no END', ['// EXERCISE(a.b): Task.', 'code();'], 1, 'has no // END EXERCISE'],
    ['nested', ['// EXERCISE(a.b): Task.', 'code();', '// EXERCISE(a.c): Other.', 'code();', '// END EXERCISE'], 3, 'cannot nest'],
    ['empty body', ['// EXERCISE(a.b): Task.', '// HINT: Something.', '', '// a comment is not code', '// END EXERCISE'], 5, 'has no code'],
    ['END alone', ['code();', '// END EXERCISE'], 2, 'without an EXERCISE'],
    ['HINT outside', ['// HINT: lost', 'code();'], 1, 'HINT outside an exercise region'],
    ['missing task', ['// EXERCISE(a.b):', 'code();', '// END EXERCISE'], 1, 'malformed marker'],
    ['missing colon', ['// EXERCISE(a.b) Task.', 'code();', '// END EXERCISE'], 1, 'malformed marker'],
    ['bad id', ['// EXERCISE(a b): Task.', 'code();', '// END EXERCISE'], 1, 'malformed marker'],
    ['id with a slash', ['// EXERCISE(a/b): Task.', 'code();', '// END EXERCISE'], 1, 'not a valid exercise id'],
    ['END with extra text', ['// EXERCISE(a.b): Task.', 'code();', '// END EXERCISE here'], 3, 'malformed marker'],
  ])('rejects a malformed region (%s) with file:line', (_, source, line, problem) => {
    const attempt = (): unknown => findExercises(lines('export {};', ...source), 'lessons/01-x/x.ts');
    expect(attempt).toThrow(MarkerError);
    expect(attempt).toThrow(`lessons/01-x/x.ts:${line + 1}: `);
    expect(attempt).toThrow(problem);
  });

  test('marker errors are one line', () => {
    expect.assertions(1);
    try {
      findExercises('// EXERCISE(a.b): Task.\ncode();\n', 'x.ts');
    } catch (error) {
      expect((error as Error).message).not.toContain('\n');
    }
  });
});

describe('checkUniqueIds', () => {
  test('rejects an id used twice in a lesson, at the second use, naming the first', () => {
    const first = findExercises('// EXERCISE(a.b): One.\ncode();\n// END EXERCISE\n', 'lessons/01-x/one.ts');
    const second = findExercises('\n\n// EXERCISE(a.b): Two.\ncode();\n// END EXERCISE\n', 'lessons/01-x/two.ts');
    expect(() => checkUniqueIds([...first, ...second])).toThrow('lessons/01-x/two.ts:3: exercise id "a.b" is already used at lessons/01-x/one.ts:1');
  });

  test('accepts distinct ids', () => {
    const regions = findExercises('// EXERCISE(a.b): One.\nx();\n// END EXERCISE\n// EXERCISE(a.c): Two.\ny();\n// END EXERCISE\n', 'x.ts');
    expect(() => checkUniqueIds(regions)).not.toThrow();
  });
});
