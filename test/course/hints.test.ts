import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { hintCommand } from '../../src/course/cli/hint-command.js';
import { lessonHints } from '../../src/course/hints.js';
import { findLesson } from '../../src/course/paths.js';
import { fixtureLessons, inTempDir, plain } from './helpers.js';

test('the hints come from the reference HINT lines, file by file, in source order', () => {
  expect(lessonHints(findLesson(1, fixtureLessons)!)).toEqual([
    { exercise: 'alpha.hostname', text: 'The UTS namespace holds exactly two strings: the host name and the NIS domain name.' },
    { exercise: 'alpha.hostname', text: "sethostname(2) changes the host name of the caller's UTS namespace: sys.sethostname(name)." },
    { exercise: 'alpha.read', text: 'The file ends with a newline; trim it.' },
  ]);
});

test('each call reveals one more hint, repeating the earlier ones, then says they are all shown', () =>
  inTempDir((dir) => {
    // No workshop yet: the state file goes to workshop/.hints.json anyway.
    const workshopDir = path.join(dir, 'workshop');
    const hint = (...argv: string[]): string => plain(hintCommand(argv, { lessonsDir: fixtureLessons, workshopDir }));

    const first = hint('1');
    expect(first).toContain('Lesson 01 · Alpha: hint 1 of 3');
    expect(first).toContain('▶ 1. [alpha.hostname] The UTS namespace holds exactly two strings');
    expect(first).not.toContain('2.');
    expect(first).toContain('Run `npm run hint 1` again for the next one.');
    expect(JSON.parse(readFileSync(path.join(workshopDir, '.hints.json'), 'utf8'))).toEqual({ revealed: { '01-alpha': 1 } });

    const second = hint('1');
    expect(second).toContain('hint 2 of 3');
    expect(second).toMatch(/^ {2}1\. \[alpha\.hostname\]/m); // already seen: no arrow
    expect(second).toContain("▶ 2. [alpha.hostname] sethostname(2) changes the host name of the caller's UTS namespace");

    const third = hint('01');
    expect(third).toContain('▶ 3. [alpha.read] The file ends with a newline; trim it.');
    expect(third).toContain('That was the last hint. The whole story is in');
    expect(third).toContain('01-alpha/README.md');

    const fourth = hint('1');
    expect(fourth).toContain('hint 3 of 3');
    expect(fourth).not.toContain('▶');
    expect(fourth).toContain('you have seen them all');
    expect(fourth).toContain('01-alpha/README.md');

    // Lessons are counted separately.
    expect(hint('2')).toContain('▶ 1. [beta.start] new FakeSys() is a whole pretend machine.');
    expect(hint('1', '--reset')).toContain('hints hidden again');
    expect(hint('1')).toContain('hint 1 of 3');
    expect(JSON.parse(readFileSync(path.join(workshopDir, '.hints.json'), 'utf8'))).toEqual({ revealed: { '01-alpha': 1, '02-beta': 1 } });
  }));

test('a lesson without hints says so; a damaged state file starts over; an unknown lesson is an error', () =>
  inTempDir((workshopDir) => {
    const hint = (n: string): string => plain(hintCommand([n], { lessonsDir: fixtureLessons, workshopDir }));
    expect(hint('3')).toContain('Lesson 03 · Gamma has no hints.');
    writeFileSync(path.join(workshopDir, '.hints.json'), '{ not json');
    expect(hint('1')).toContain('hint 1 of 3');
    expect(() => hint('9')).toThrow('there is no lesson 9');
    expect(existsSync(path.join(workshopDir, '.hints.json'))).toBe(true);
  }));
