import { describe, expect, test } from 'vitest';
import { layoutScreen, type ScreenInput } from '../../src/tui/layout.js';
import { paneLines } from '../../src/tui/pane.js';
import { displayWidth, wrapLine } from '../../src/tui/text.js';
import type { StepView } from '../../src/tui/view.js';

const text = (line: { text: string }[]) => line.map((span) => span.text).join('');

describe('wrapLine', () => {
  test('breaks at spaces, inside a word only when it must', () => {
    expect(wrapLine('one two three', 8)).toEqual(['one two', 'three']);
    expect(wrapLine('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrapLine('short', 10)).toEqual(['short']);
  });

  test('a hanging indent goes before every line after the first, within the width', () => {
    const lines = wrapLine('PID1 sleep sleep sleep sleep', 12, { hang: '  ' });
    expect(lines[0]).toBe('PID1 sleep');
    for (const line of lines.slice(1)) expect(line.startsWith('  ')).toBe(true);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(12);
    expect(lines.join(' ').split(/\s+/).join(' ')).toBe('PID1 sleep sleep sleep sleep');
  });

  test('counts wide characters as two columns', () => {
    expect(displayWidth('容器')).toBe(4);
    for (const line of wrapLine('容器容器容器', 5)) expect(displayWidth(line)).toBeLessThanOrEqual(5);
  });
});

describe('paneLines', () => {
  test('marks differing and changed rows in text, and keeps the source', () => {
    const lines = paneLines([{ label: 'hostname', value: 'lab-3f2a', source: 'hostname', differs: true, change: 'changed' }], 40).map(text);
    expect(lines).toEqual(['≠ hostname • changed', 'lab-3f2a', '$ hostname']);
  });

  test('an empty pane says so', () => {
    expect(paneLines([], 40).map(text)).toEqual(['(nothing yet)']);
  });
});

describe('layoutScreen', () => {
  const view = (narration: string): StepView => ({
    number: 1,
    total: 2,
    title: 'A step',
    narration,
    record: { step: 0, status: 'done' },
    panes: { host: [{ label: 'a', value: 'b', differs: false, change: null }], container: [] },
    isNewest: true,
  });
  const input = (columns: number, rows: number, narration: string): ScreenInput => ({
    size: { columns, rows },
    heading: 'Lesson 9 · A title long enough to need two lines on a narrow terminal, at least',
    stepLabel: 'step 1/2',
    view: view(narration),
    status: () => [[]],
    keys: () => [[{ text: 'keys' }]],
    panes: { focus: 'host', zoom: false, offsets: { host: 0, container: 0 } },
  });

  test('the frame is exactly one line shorter than the terminal, the keys on its last line', () => {
    for (const [columns, rows] of [[80, 24], [120, 40], [200, 60]] as const) {
      const { lines } = layoutScreen(input(columns, rows, 'Short.'));
      expect(lines).toHaveLength(rows - 1);
      expect(text(lines.at(-1)!)).toBe('keys');
      for (const line of lines) expect(displayWidth(text(line))).toBeLessThanOrEqual(columns);
    }
  });

  test('a heading too long for the line wraps, the step label stays on the first line', () => {
    const { lines } = layoutScreen(input(50, 24, 'Short.'));
    expect(text(lines[0]!)).toMatch(/^Lesson 9 · .* step 1\/2$/);
    expect(text(lines[1]!)).toMatch(/^\S/);
    expect(displayWidth(text(lines[0]!))).toBe(50);
  });

  test('below 80×24, a narration that leaves no room for the panes is cut, and says so with …', () => {
    const { lines } = layoutScreen(input(40, 12, 'word '.repeat(80)));
    expect(lines).toHaveLength(11);
    expect(lines.map(text).some((line) => line.endsWith('…'))).toBe(true);
    expect(lines.map(text).some((line) => line.startsWith('╭─'))).toBe(true); // the panes keep their place
  });
});
