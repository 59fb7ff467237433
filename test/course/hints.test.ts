import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { hintCommand } from '../../src/course/cli/hint-command.js';
import { lessonHints } from '../../src/course/hints.js';
import { findLesson } from '../../src/course/paths.js';
import { GRADED_FILE } from '../../src/course/results.js';
import { startExercise } from '../../src/course/workshop.js';
import { fixtureLessons, inTempDir, plain } from './helpers.js';

test('the hints come from the reference HINT lines, file by file, in source order', () => {
  expect(lessonHints(findLesson(1, fixtureLessons)!)).toEqual([
    { exercise: 'alpha.hostname', text: 'The UTS namespace holds exactly two strings: the host name and the NIS domain name.' },
    { exercise: 'alpha.hostname', text: "sethostname(2) changes the host name of the caller's UTS namespace: sys.sethostname(name)." },
    { exercise: 'alpha.read', text: 'The file ends with a newline; trim it.' },
  ]);
});

test('each call reveals one more hint of the exercise named, and only of that one', () =>
  inTempDir((dir) => {
    // No workshop yet: the state file goes to workshop/.hints.json anyway.
    const workshopDir = path.join(dir, 'workshop');
    const hint = (...argv: string[]): string => plain(hintCommand(argv, { lessonsDir: fixtureLessons, workshopDir }));

    // Stuck on the second exercise: its hint comes first, none of the first exercise's.
    const read = hint('1', 'alpha.read');
    expect(read).toContain('Lesson 01 · Alpha · alpha.read: hint 1 of 1');
    expect(read).toContain('TODO: Read the host name back the way `hostname` does');
    expect(read).toContain('▶ 1. The file ends with a newline; trim it.');
    expect(read).not.toContain('UTS namespace');
    expect(read).toContain('That was the last hint for alpha.read. Stuck all the same? The reference solution is in');
    expect(read).toContain('01-alpha/alpha.ts:');
    expect(read).toContain('Another exercise: `npm run hint 1 ID`, ID one of alpha.hostname, alpha.shout.');

    const first = hint('1', 'alpha.hostname');
    expect(first).toContain('alpha.hostname: hint 1 of 2');
    expect(first).toContain('▶ 1. The UTS namespace holds exactly two strings');
    expect(first).not.toContain('2.');
    expect(first).toContain('Run `npm run hint 1 alpha.hostname` again for the next one.');

    const second = hint('1', 'alpha.hostname');
    expect(second).toMatch(/^ {2}1\. The UTS namespace/m); // already seen: no arrow
    expect(second).toContain("▶ 2. sethostname(2) changes the host name of the caller's UTS namespace");
    expect(second).toContain('That was the last hint for alpha.hostname.');

    const third = hint('01', 'alpha.hostname');
    expect(third).toContain('hint 2 of 2');
    expect(third).not.toContain('▶');
    expect(third).toContain('You have seen every hint for alpha.hostname.');
    expect(JSON.parse(readFileSync(path.join(workshopDir, '.hints.json'), 'utf8'))).toEqual({
      revealed: { '01-alpha': { 'alpha.read': 1, 'alpha.hostname': 2 } },
    });

    expect(hint('1', 'alpha.hostname', '--reset')).toContain('the hints of alpha.hostname hidden again');
    expect(hint('1', 'alpha.hostname')).toContain('hint 1 of 2');
    expect(hint('1', '--reset')).toContain('all its hints hidden again');
    expect(hint('2')).toContain('▶ 1. new FakeSys() is a whole pretend machine.');
    expect(JSON.parse(readFileSync(path.join(workshopDir, '.hints.json'), 'utf8'))).toEqual({ revealed: { '02-beta': { 'beta.start': 1 } } });

    expect(() => hint('1', 'alpha.nope')).toThrow('Lesson 01 · Alpha has no exercise "alpha.nope"; its exercises are alpha.hostname, alpha.read, alpha.shout');
  }));

test('without an id: the first exercise the last npm test failed, else the first TODO still in the copy', () =>
  inTempDir((dir) => {
    const workshopDir = path.join(dir, 'workshop');
    const hint = (...argv: string[]): string => plain(hintCommand(argv, { lessonsDir: fixtureLessons, workshopDir }));

    // No copy yet: the lesson's first exercise.
    expect(hint('1')).toMatch(/alpha\.hostname: hint 1 of 2\n\(the first exercise of the lesson; you have no copy of it yet: `npm run exercise 1`\)/);

    startExercise(1, { lessonsDir: fixtureLessons, workshopDir });
    const copy = path.join(workshopDir, 'lessons/01-alpha/alpha.ts');
    // The student wrote the first exercise: its TODO is gone, so the hints move on to the next one.
    const source = readFileSync(copy, 'utf8');
    writeFileSync(copy, source.replace(/ *\/\/ TODO\(alpha\.hostname\).*\n.*throw new Todo\('alpha\.hostname'.*\n/, '  sys.sethostname(config.hostname);\n'));
    const next = hint('1');
    expect(next).toContain('alpha.read: hint 1 of 1');
    expect(next).toContain('(the first exercise whose TODO is still in your copy)');

    // The last grading run says alpha.hostname is wrong after all: that comes first.
    writeFileSync(path.join(workshopDir, GRADED_FILE), JSON.stringify({ lessons: { '01-alpha': { 'alpha.hostname': 'failed', 'alpha.read': 'failed' } } }));
    const failing = hint('1');
    expect(failing).toContain('alpha.hostname: hint 2 of 2'); // hint 1 was shown above
    expect(failing).toContain('(the first exercise your last `npm test` failed)');
  }));

test('a lesson without exercises says so; a damaged state file starts over; an unknown lesson lists the lessons', () =>
  inTempDir((workshopDir) => {
    const hint = (n: string): string => plain(hintCommand([n], { lessonsDir: fixtureLessons, workshopDir }));
    expect(hint('3')).toContain('Lesson 03 · Gamma has no exercises, so no hints.');
    writeFileSync(path.join(workshopDir, '.hints.json'), '{ not json');
    expect(hint('1')).toContain('hint 1 of 2');
    // The older format counted per lesson: it cannot say which exercise, so that lesson starts over.
    writeFileSync(path.join(workshopDir, '.hints.json'), JSON.stringify({ revealed: { '01-alpha': 2 } }));
    expect(hint('1')).toContain('hint 1 of 2');
    expect(() => hint('9')).toThrow('there is no lesson 9; the lessons are 1 Alpha, 2 Beta, 3 Gamma; e.g. `npm run hint 1`');
    expect(() => hintCommand(['1', 'a', 'b'], { lessonsDir: fixtureLessons, workshopDir })).toThrow('one lesson and at most one exercise');
    expect(existsSync(path.join(workshopDir, '.hints.json'))).toBe(true);
  }));
