import { describe, expect, test } from 'vitest';
import type { Snapshot } from '../../src/course/lesson.js';
import { differingLabels, markRows } from '../../src/tui/diff.js';
import { cleanValue, errorLine } from '../../src/tui/text.js';

const before: Snapshot = {
  host: [
    { label: 'hostname', value: 'devbox' },
    { label: 'uts ns', value: 'uts:[1]' },
  ],
  container: [{ label: 'hostname', value: 'devbox' }],
};
const after: Snapshot = {
  host: [
    { label: 'hostname', value: 'devbox' },
    { label: 'uts ns', value: 'uts:[1]' },
    { label: 'host only', value: 'x' },
  ],
  container: [
    { label: 'hostname', value: 'lab-3f2a' },
    { label: 'uts ns', value: 'uts:[2]' },
    { label: 'same', value: 'x' },
  ],
};

describe('differingLabels', () => {
  test('finds labels on both sides with different values, and only those', () => {
    expect([...differingLabels(after)].sort()).toEqual(['hostname', 'uts ns']);
    expect([...differingLabels(before)]).toEqual([]);
  });

  test('ignores differences that are only colour codes, tabs or a trailing newline', () => {
    const snapshot: Snapshot = {
      host: [{ label: 'a', value: '\x1b[1mdevbox\x1b[0m\n' }],
      container: [{ label: 'a', value: 'devbox' }],
    };
    expect(differingLabels(snapshot).size).toBe(0);
  });
});

describe('markRows', () => {
  test('marks rows that differ across panes, on both sides', () => {
    const marked = markRows(after, before);
    const flag = (rows: typeof marked.host) => Object.fromEntries(rows.map((row) => [row.label, row.differs]));
    expect(flag(marked.host)).toEqual({ hostname: true, 'uts ns': true, 'host only': false });
    expect(flag(marked.container)).toEqual({ hostname: true, 'uts ns': true, same: false });
  });

  test('marks rows changed or new since the previous step', () => {
    const marked = markRows(after, before);
    const change = (rows: typeof marked.host) => Object.fromEntries(rows.map((row) => [row.label, row.change]));
    expect(change(marked.host)).toEqual({ hostname: null, 'uts ns': null, 'host only': 'new' });
    expect(change(marked.container)).toEqual({ hostname: 'changed', 'uts ns': 'new', same: 'new' });
  });

  test('the first step has nothing to change from', () => {
    expect(markRows(after).container.map((row) => row.change)).toEqual([null, null, null]);
  });

  test('keeps the row itself (value, source) untouched', () => {
    const row = { label: 'l', value: 'v', source: 'cat /x' };
    expect(markRows({ host: [row], container: [] }).host[0]).toMatchObject(row);
  });
});

describe('text helpers', () => {
  test('cleanValue strips escapes and control characters, expands tabs, keeps lines', () => {
    expect(cleanValue('\x1b[31mred\x1b[0m\r\na\tb\x07\n')).toBe('red\na       b');
  });

  test('errorLine keeps only the first line of the message', () => {
    expect(errorLine(new Error('first\n    at stack'))).toBe('first');
    expect(errorLine('plain string')).toBe('plain string');
    expect(errorLine(new Error(''))).toBe('Error');
  });
});
