/**
 * The layers of the project (scripts/deps.ts): the core knows nothing of the lessons, the course or the
 * final runtime; a lesson knows only the lessons before it; nothing imports in a circle.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { analyzeDependencies, formatReport } from '../../scripts/deps.js';

describe('the import picture', () => {
  it('has no import against the layers and no cycle in this repository', () => {
    const report = analyzeDependencies();
    expect(report.violations.map(({ edge, why }) => `${edge.from} → ${edge.to}: ${why}`)).toEqual([]);
    expect(report.cycles).toEqual([]);
    // The core is there and imports the system-call layer (the picture is not empty by accident).
    expect(report.folders.get('src/container')?.get('src/sys')).toBeGreaterThan(0);
  });

  describe('catches what it is for', () => {
    let root: string;
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    const write = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), text);
    };

    it('an upward import, a later lesson, and a cycle', () => {
      root = mkdtempSync(path.join(tmpdir(), 'deps-'));
      write('src/container/runtime.ts', "import { x } from '../../lessons/01-uts/uts.js';\nexport const y = x;\n");
      write('lessons/01-uts/uts.ts', "import { z } from '../02-pid/pid.js';\nexport const x = z;\n");
      write('lessons/02-pid/pid.ts', "export const z = 1;\n");
      write('src/sys/a.ts', "import { b } from './b.js';\nexport const a = b;\n");
      write('src/sys/b.ts', "import { a } from './a.js';\nexport const b = a;\n");
      const report = analyzeDependencies(root);
      expect(report.violations.map(({ why }) => why)).toEqual([
        'lessons/01-uts imports a later lesson, lessons/02-pid',
        'src/container may not import lessons/01-uts',
      ]);
      expect(report.cycles).toEqual([['src/sys/a.ts', 'src/sys/b.ts']]);
      expect(formatReport(report)).toContain('✗ cycle: src/sys/a.ts ↔ src/sys/b.ts');
    });
  });
});
