import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { rewriteModule, relativeSpecifier } from '../../src/course/imports.js';
import { findExercises } from '../../src/course/markers.js';
import { findTodos, replaceRegions } from '../../src/course/skeleton.js';

describe('replaceRegions', () => {
  const source = [
    'export function setUp(sys: Sys, config: Config): void {',
    '  // EXERCISE(uts.hostname): Give the container its own host name (and NIS domain name, when one is set).',
    "  // HINT: The UTS namespace holds exactly two strings: the host name and the NIS domain name.",
    '  sys.sethostname(config.hostname);',
    '  if (config.domainname !== undefined) sys.setdomainname(config.domainname);',
    '  // END EXERCISE',
    '}',
    '',
  ].join('\n');

  test('turns a region into a TODO comment and a throw, with the same indentation, and keeps the rest', () => {
    expect(replaceRegions(source, findExercises(source, 'uts.ts'), 1)).toBe(
      [
        'export function setUp(sys: Sys, config: Config): void {',
        '  // TODO(uts.hostname): Give the container its own host name (and NIS domain name, when one is set).',
        "  throw new Todo('uts.hostname', 'Give the container its own host name (and NIS domain name, when one is set).', 1);",
        '}',
        '',
      ].join('\n'),
    );
  });

  test('escapes quotes and backslashes in the task', () => {
    const tricky = "f(() => {\n\t// EXERCISE(x.y): It's a \\ test.\n\tgo();\n\t// END EXERCISE\n});\n";
    const out = replaceRegions(tricky, findExercises(tricky, 'x.ts'), 7);
    expect(out).toContain("\tthrow new Todo('x.y', 'It\\'s a \\\\ test.', 7);");
  });

  test('keeps Windows line endings', () => {
    const crlf = source.replace(/\n/g, '\r\n');
    const out = replaceRegions(crlf, findExercises(crlf, 'uts.ts'), 1);
    expect(out.split('\r\n')).toHaveLength(5);
    expect(out.replace(/\r\n/g, '')).not.toContain('\n');
  });

  test('findTodos reports where each TODO landed', () => {
    const out = replaceRegions(source, findExercises(source, 'uts.ts'), 1);
    expect(findTodos(`import x from 'y';\n${out}`)).toEqual([
      { id: 'uts.hostname', task: 'Give the container its own host name (and NIS domain name, when one is set).', line: 3 },
    ]);
  });
});

describe('rewriteModule', () => {
  // The reference lesson at /repo/lessons/02-pid/pid.ts moves to /repo/workshop/lessons/02-pid/pid.ts.
  const move = { from: '/repo/lessons/02-pid/pid.ts', to: '/repo/workshop/lessons/02-pid/pid.ts', keepInside: '/repo/lessons' };

  test('re-points imports of the repository (static, multi-line, type, re-export, dynamic, import type)', () => {
    const source = [
      "import { spawn } from '../../src/sys/spawn.js';",
      'import {',
      '  a,',
      '  b,',
      "} from '../../src/sys/two.js';",
      "import type { Lesson } from \"../../src/course/lesson.js\";",
      "export { c } from '../../src/c.js';",
      "export type Uts = typeof import('../../src/uts.js');",
      "const lazy = () => import('../../src/lazy.js');",
    ].join('\n');
    expect(rewriteModule(source, move.from, { move })).toBe(
      [
        "import { spawn } from '../../../src/sys/spawn.js';",
        'import {',
        '  a,',
        '  b,',
        "} from '../../../src/sys/two.js';",
        "import type { Lesson } from \"../../../src/course/lesson.js\";",
        "export { c } from '../../../src/c.js';",
        "export type Uts = typeof import('../../../src/uts.js');",
        "const lazy = () => import('../../../src/lazy.js');",
      ].join('\n'),
    );
  });

  test('leaves imports of other lessons, of the same lesson, of packages and of node builtins alone', () => {
    const source = [
      "import { setUpUts } from '../01-uts/uts.js';",
      "import { helper } from './helper.js';",
      "import chalk from 'chalk';",
      "import path from 'node:path';",
    ].join('\n');
    expect(rewriteModule(source, move.from, { move })).toBe(source);
  });

  test('adds an import after the last import', () => {
    const source = "/** Doc. */\nimport a from 'a';\nimport {\n  b,\n} from 'b';\n\nexport const x = 1;\n";
    expect(rewriteModule(source, 'x.ts', { addImport: { name: 'Todo', line: "import { Todo } from './todo.js';" } })).toBe(
      "/** Doc. */\nimport a from 'a';\nimport {\n  b,\n} from 'b';\nimport { Todo } from './todo.js';\n\nexport const x = 1;\n",
    );
  });

  test('without imports, adds it below a file header comment, not between a doc comment and its function', () => {
    const add = { addImport: { name: 'Todo', line: 'import { Todo } from "./todo.js";' } };
    expect(rewriteModule('/** Header. */\n\n/** Doc. */\nexport function f() {}\n', 'x.ts', add)).toBe(
      '/** Header. */\nimport { Todo } from "./todo.js";\n\n/** Doc. */\nexport function f() {}\n',
    );
    expect(rewriteModule('/** Doc. */\nexport function f() {}\n', 'x.ts', add)).toBe('import { Todo } from "./todo.js";\n/** Doc. */\nexport function f() {}\n');
  });

  test('does not add an import the file already has', () => {
    const source = "import { Todo } from '../../src/course/todo.js';\n";
    expect(rewriteModule(source, 'x.ts', { addImport: { name: 'Todo', line: 'import { Todo } from "elsewhere";' } })).toBe(source);
  });

  test('relativeSpecifier always starts with ./ or ../', () => {
    expect(relativeSpecifier('/a/b', '/a/b/c.js')).toBe('./c.js');
    expect(relativeSpecifier('/a/b', '/a/c.js')).toBe('../c.js');
    expect(relativeSpecifier(path.join('/w', 'lessons', '01-uts'), '/src/course/todo.js')).toBe('../../../src/course/todo.js');
  });
});
