/**
 * Every step of every lesson, drawn by the real App at the terminal sizes people have: the frame
 * must fit (no taller, no wider than the terminal) and keep the lesson's title, the step heading, the
 * whole narration and the key bar on screen; panes too tall for it scroll.
 *
 * The lessons' steps and panes come from a recording of real runs (fixtures/lessons.json, made by
 * record-lessons.ts as root), replayed through a fake session: fast, and no root needed.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, test } from 'vitest';
import type { Lesson, LessonSession, Snapshot } from '../../src/course/lesson.js';
import { App } from '../../src/tui/App.js';
import { LessonController } from '../../src/tui/controller.js';
import { KEYS } from '../../src/tui/KeyBar.js';
import { displayWidth } from '../../src/tui/text.js';
import { until } from './fakeLesson.js';
import { RECORDING, type RecordedLesson } from './record-lessons.js';
import { renderIn, type TestTerminal } from './terminal.js';

const LESSONS = JSON.parse(readFileSync(RECORDING, 'utf8')) as RecordedLesson[];
// 80×24 and 120×40 are what people have; 120×36 is where lesson 6 step 4 lost its narration.
const SIZES = [
  [80, 24],
  [120, 36],
  [120, 40],
] as const;

/** A session that replays a recording: each step "runs" by making its recorded panes current. */
function replay(recorded: RecordedLesson): Lesson {
  return {
    number: recorded.number,
    slug: `${recorded.number}`,
    title: recorded.title,
    async start(): Promise<LessonSession> {
      let current: Snapshot = { host: [], container: [] };
      return {
        steps: recorded.steps.map((step) => ({
          title: step.title,
          narration: step.narration,
          async run() {
            if (step.error) throw new Error(step.error);
            current = step.snapshot!;
          },
        })),
        snapshot: async () => current,
        shell: () => null,
        close: async () => {},
      };
    },
  };
}

const opened: { controller: LessonController; terminal: TestTerminal }[] = [];
afterEach(async () => {
  for (const { controller, terminal } of opened.splice(0)) {
    terminal.ink.unmount();
    await controller.close();
  }
});

async function open(lesson: Lesson, columns: number, rows: number) {
  const controller = new LessonController(lesson, { refreshMs: 0 });
  const terminal = renderIn(<App controller={controller} onShell={() => {}} />, columns, rows);
  opened.push({ controller, terminal });
  await controller.start();
  return { controller, terminal };
}

/** Waits until the frame shows step `number` with nothing running (the key bar is back). */
async function showing(terminal: TestTerminal, number: number, total: number) {
  await until(() => terminal.frame().includes(`step ${number}/${total}`) && terminal.frame().includes('q quit ·'), `step ${number}/${total} on screen`);
}

const words = (text: string) => text.split(/\s+/).filter(Boolean);

/** Is every word of `text` in `lines`, in order, and nothing cut with an ellipsis on the way? */
function readsInOrder(lines: string[], text: string): boolean {
  const screen = words(lines.join(' ')).join(' ');
  let at = 0;
  for (const word of words(text)) {
    const found = screen.indexOf(word, at);
    if (found < 0) return false;
    at = found + word.length;
  }
  return true;
}

/** The text lines of one pane in a frame of `columns` (side by side, or zoomed when `zoomed`). */
function paneColumn(frame: string, side: 'host' | 'container', columns: number, zoomed = false): string[] {
  const left = zoomed ? columns : Math.floor(columns / 2);
  const [from, to] = side === 'host' || zoomed ? [2, left - 2] : [left + 2, columns - 2];
  return frame
    .split('\n')
    .filter((line) => line.startsWith('│'))
    .map((line) => line.slice(from, to).trimEnd());
}

/**
 * All of a pane's lines, read by scrolling it from top to bottom with the keys a student uses:
 * tab until the pane has the keys (▶), Home, then PgDn until the border says the last line shows.
 */
async function readWholePane(terminal: TestTerminal, side: 'host' | 'container', columns: number): Promise<string[]> {
  const title = side === 'host' ? 'HOST' : 'CONTAINER';
  const rangeOf = (frame: string) => new RegExp(`▶ ${title} ─+ (\\d+)–(\\d+) of (\\d+)`).exec(frame)?.slice(1).map(Number);
  if (!terminal.frame().includes(`▶ ${title}`)) await terminal.press('\t');
  await until(() => terminal.frame().includes(`▶ ${title}`), `${title} to have the keys`);
  await terminal.press('\x1b[1~'); // Home
  await until(() => (rangeOf(terminal.frame())?.[0] ?? 1) === 1, `${title} at its top`);
  const lines: string[] = [];
  for (let pages = 0; pages < 100; pages++) {
    const frame = terminal.frame();
    const visible = paneColumn(frame, side, columns);
    const range = rangeOf(frame);
    if (!range) return visible; // it all fits: no range in the border
    const [first, last, total] = range as [number, number, number];
    visible.slice(0, last - first + 1).forEach((line, index) => (lines[first - 1 + index] = line));
    if (last === total) return lines;
    await terminal.press('\x1b[6~'); // PgDn
    await until(() => rangeOf(terminal.frame())?.[0] !== first, `${title} to scroll on from line ${first}`);
  }
  throw new Error(`${title} did not reach its end`);
}

/** The checks every frame must pass; `what` names the frame in failures. */
function expectFits(frame: string, columns: number, rows: number, what: string) {
  const lines = frame.split('\n');
  // Ink ends a frame with a newline, which takes the terminal's last row: rows - 1 lines at most.
  expect(lines.length, `${what}: lines`).toBeLessThanOrEqual(rows - 1);
  for (const line of lines) expect(displayWidth(line), `${what}: width of "${line}"`).toBeLessThanOrEqual(columns);
  return lines;
}

describe.each(SIZES)('every step of every lesson at %i×%i', (columns, rows) => {
  test.each(LESSONS.map((lesson) => [lesson.number, lesson] as const))('lesson %i', async (_, recorded) => {
    const { controller, terminal } = await open(replay(recorded), columns, rows);
    const total = recorded.steps.length;
    for (const [index, step] of recorded.steps.entries()) {
      const what = `lesson ${recorded.number} step ${index + 1} at ${columns}×${rows}`;
      await showing(terminal, index + 1, total);
      const lines = expectFits(terminal.frame(), columns, rows, what);
      // The lesson's title (it may wrap) and the step heading come first, then the narration, whole.
      expect(lines[0], what).toMatch(new RegExp(`^Lesson ${recorded.number} · `));
      const headingAt = lines.findIndex((line, at) => at > 0 && line.startsWith(step.title.slice(0, 30)));
      expect(headingAt, `${what}: the step heading`).toBeGreaterThan(0);
      expect(readsInOrder(lines.slice(0, headingAt), `Lesson ${recorded.number} · ${recorded.title}`), `${what}: the lesson title`).toBe(true);
      const panesAt = lines.findIndex((line) => line.startsWith('╭─'));
      expect(panesAt, `${what}: the panes`).toBeGreaterThan(headingAt);
      expect(readsInOrder(lines.slice(headingAt, panesAt), `${step.title} ${step.narration}`), `${what}: the narration`).toBe(true);
      const ellipses = (text: string) => text.split('…').length - 1;
      expect(ellipses(lines.slice(headingAt, panesAt).join(' ')), `${what}: nothing cut`).toBe(ellipses(step.title + step.narration));
      expect(lines[panesAt], what).toMatch(/HOST.*CONTAINER/);
      // Both panes' first row is on screen, and the key bar is the last line, whole.
      for (const side of ['host', 'container'] as const) {
        const first = step.snapshot![side][0];
        if (first) expect(lines[panesAt + 1], `${what}: ${side}'s first row`).toContain(first.label.slice(0, 10));
      }
      expect(lines.at(-1), `${what}: the key bar`).toBe(KEYS);
      if (index + 1 < total) await controller.next();
    }
  });
});

describe('panes taller than the screen scroll', () => {
  const lesson4 = LESSONS.find((lesson) => lesson.number === 4)!;

  test('lesson 4 step 3 at 80×24: j scrolls HOST to its last line, tab hands the keys to CONTAINER', async () => {
    const { controller, terminal } = await open(replay(lesson4), 80, 24);
    await showing(terminal, 1, 7);
    await controller.next();
    await controller.next();
    await showing(terminal, 3, 7);
    const top = terminal.frame();
    const [, , hostTotal] = /▶ HOST ─+ 1–(\d+) of (\d+)/.exec(top)!.map(Number) as [number, number, number];
    expect(hostTotal).toBeGreaterThan(40); // far more than fits: the point of this test
    expect(top).toContain('↓ more');

    await terminal.press('j'.repeat(hostTotal + 5)); // more than enough: it stops at the end
    const atEnd = new RegExp(`▶ HOST ─+ \\d+–${hostTotal} of ${hostTotal}`);
    await until(() => atEnd.test(terminal.frame()), 'HOST scrolled to its end');
    const bottom = terminal.frame();
    expectFits(bottom, 80, 24, 'scrolled to the end');
    // The last row of HOST is on screen, in the HOST column, and nothing more is below.
    const hostColumn = bottom.split('\n').filter((line) => line.startsWith('│')).map((line) => line.slice(0, 40)).join(' ');
    expect(readsInOrder([hostColumn], lesson4.steps[2]!.snapshot!.host.at(-1)!.value)).toBe(true);
    expect(bottom.split('\n').findLast((line) => line.startsWith('╰'))!.slice(0, 40)).not.toContain('↓ more');
    // The other pane did not move.
    expect(bottom).toMatch(/CONTAINER ─+ 1–\d+ of \d+/);

    // Every row of HOST can be read, whole, by scrolling.
    // (Compared without white space: a long path wraps inside a word.)
    const squeeze = (text: string) => text.replace(/\s+/g, '');
    const host = squeeze((await readWholePane(terminal, 'host', 80)).join(''));
    for (const row of lesson4.steps[2]!.snapshot!.host) {
      for (const part of [row.label, row.value, row.source ?? '']) expect(host).toContain(squeeze(part));
    }
    await terminal.press('\x1b[1~'); // Home: back to the top of HOST

    await terminal.press('\t', '\x1b[B', '\x1b[B'); // tab, then ↓ ↓
    expect(terminal.frame()).toMatch(/▶ CONTAINER ─+ 3–\d+ of \d+/);
    expect(terminal.frame()).toMatch(/─ HOST ─+ \d+–\d+ of/);
    await terminal.press('k');
    expect(terminal.frame()).toMatch(/▶ CONTAINER ─+ 2–\d+ of \d+/);
  });

  test('z zooms the focused pane to the full width, and back', async () => {
    const { controller, terminal } = await open(replay(lesson4), 80, 24);
    await showing(terminal, 1, 7);
    await controller.next();
    await controller.next();
    await showing(terminal, 3, 7);
    await terminal.press('\t', 'z');
    const zoomed = expectFits(terminal.frame(), 80, 24, 'zoomed');
    const border = zoomed.find((line) => line.startsWith('╭─'))!;
    expect(border).toContain('▶ CONTAINER (z: both panes)');
    expect(border).not.toContain('HOST');
    expect(displayWidth(border)).toBe(80);
    await terminal.press('z');
    expect(terminal.frame()).toMatch(/╭─ HOST .*╭─ ▶ CONTAINER/);
  });

  test('a new step starts its panes at the top', async () => {
    const { controller, terminal } = await open(replay(lesson4), 80, 24);
    await showing(terminal, 1, 7);
    await terminal.press('jjjj');
    expect(terminal.frame()).toMatch(/▶ HOST ─+ 5–/);
    await controller.next();
    await showing(terminal, 2, 7);
    expect(terminal.frame()).toMatch(/▶ HOST ─+ 1–/);
  });
});

describe('values that do not fit', () => {
  const TALL = Array.from({ length: 200 }, (_, index) => `line ${index + 1}`).join('\n');
  const WIDE_WORD = `/sys/fs/cgroup/${'abcdef0123456789'.repeat(12)}/end-of-the-path`;
  const WIDE_TABLE = `PID  COMMAND\n  1  ${'sleep '.repeat(40)}last-word`;
  const lesson: RecordedLesson = {
    number: 9,
    title: 'Values that do not fit',
    steps: [
      {
        title: 'Too tall and too wide',
        narration: 'A value of 200 lines, a path of 220 characters without a space, a table line wider than the pane.',
        snapshot: {
          host: [{ label: 'tall', value: TALL, source: 'seq 200' }],
          container: [
            { label: 'wide word', value: WIDE_WORD },
            { label: 'wide table', value: WIDE_TABLE, source: 'ps' },
          ],
        },
      },
    ],
  };

  test.each(SIZES)('at %i×%i the frame fits, the long lines wrap whole, the tall value scrolls to its end', async (columns, rows) => {
    const { terminal } = await open(replay(lesson), columns, rows);
    await showing(terminal, 1, 1);
    const lines = expectFits(terminal.frame(), columns, rows, 'first frame');
    expect(lines.at(-1)).toBe(KEYS);
    expect(terminal.frame()).not.toContain('…');
    // The tall value: every line of it, in order, by scrolling.
    const host = await readWholePane(terminal, 'host', columns);
    expect(host).toEqual(['tall', ...TALL.split('\n'), '$ seq 200']);
    await terminal.press('\x1b[4~'); // End
    expectFits(terminal.frame(), columns, rows, 'scrolled to the end');
    expect(paneColumn(terminal.frame(), 'host', columns).at(-1)).toBe('$ seq 200');
    // The wide values: wrapped, not cut; read back without the wrapping they are whole.
    const container = (await readWholePane(terminal, 'container', columns)).map((line) => line.trim());
    expect(container.join('')).toContain(WIDE_WORD);
    const table = container.slice(container.indexOf('PID  COMMAND') + 1, container.indexOf('$ ps'));
    expect(table.length).toBeGreaterThan(1); // the table line wrapped...
    expect(table.join(' ')).toBe(WIDE_TABLE.split('\n')[1]!.trim()); // ...and lost nothing
    expectFits(terminal.frame(), columns, rows, 'scrolled');
  });

  test('a resize lays the frame out again at once, for the new size', async () => {
    const { terminal } = await open(replay(lesson), 120, 40);
    await showing(terminal, 1, 1);
    expect(terminal.frame().split('\n')).toHaveLength(39);
    terminal.resize(80, 24);
    await until(() => terminal.frame().split('\n').length === 23, 'the frame at 80×24');
    expectFits(terminal.frame(), 80, 24, 'after the resize');
    terminal.resize(100, 30);
    await until(() => terminal.frame().split('\n').length === 29, 'the frame at 100×30');
    expectFits(terminal.frame(), 100, 30, 'after the second resize');
  });
});
