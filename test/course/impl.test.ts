import path from 'node:path';
import { expect, test } from 'vitest';
import { implementationRoot, lessonFile, testingWorkshop } from '../../src/course/impl.js';
import { fixtures, repo } from './helpers.js';

test('implementationRoot: the reference by default, the workshop with LAB_IMPL=workshop, any folder with LAB_WORKSHOP_DIR', () => {
  expect(implementationRoot({})).toBe(repo);
  expect(implementationRoot({ LAB_IMPL: 'reference' })).toBe(repo);
  expect(implementationRoot({ LAB_IMPL: 'workshop' })).toBe(path.join(repo, 'workshop'));
  expect(implementationRoot({ LAB_IMPL: 'workshop', LAB_WORKSHOP_DIR: '/tmp/elsewhere' })).toBe('/tmp/elsewhere');
  expect(() => implementationRoot({ LAB_WORKSHOP_DIR: 'relative/path' })).toThrow('must be an absolute path');
  expect(() => implementationRoot({ LAB_IMPL: 'mine' })).toThrow('LAB_IMPL must be "workshop" or "reference"');
  expect(testingWorkshop({})).toBe(false);
  expect(testingWorkshop({ LAB_WORKSHOP_DIR: '/tmp/elsewhere' })).toBe(true);
});

test('lessonFile: the lesson in the implementation under test, else the reference', () => {
  const env = { LAB_WORKSHOP_DIR: fixtures };
  expect(lessonFile('01-alpha', 'alpha.ts', env)).toBe(path.join(fixtures, 'lessons', '01-alpha', 'alpha.ts'));
  // The fixture folder has no lesson 01-uts: fall back to the repository's reference.
  expect(lessonFile('01-uts', 'uts.ts', env)).toBe(path.join(repo, 'lessons', '01-uts', 'uts.ts'));
  expect(lessonFile('01-uts', 'uts.ts', {})).toBe(path.join(repo, 'lessons', '01-uts', 'uts.ts'));
});
