import { describe, expect, test } from 'vitest';
import { formatTable, wrapCell } from '../../src/final/table.js';

// Rows like `npm run bench` prints, with the longest cells it has seen.
const BENCH_ROWS = [
  ['measurement', 'median', 'vs bridge', 'vs runc'],
  ['minidocker run --rm busybox /bin/true', '412 ms', '1.00x', '3.10x'],
  ['minidocker run --rm --network none lab05/large:100mb /bin/true', '301 ms', '0.73x', '2.26x'],
  ['runc run (same rootfs, /bin/true, new netns)', '133 ms', '0.32x', '1.00x'],
  ['crun run: cannot run here: cannot set up cgroups: this machine mounts cgroup v1 and v2 side by side (hybrid), which crun refuses', '-', '-', '-'],
  ['idle detached container (mean of 3): monitor private (USS)', '21.4 MiB', '', ''],
  ['  monitor PSS / RSS (RSS counts the shared node binary)', '24.0 MiB / 61.2 MiB', '', ''],
];

describe('formatTable', () => {
  test('a table that fits keeps its natural widths, one line per row', () => {
    const lines = formatTable([['a', 'bb'], ['ccc', 'd']], 100);
    expect(lines).toEqual(['a    bb', 'ccc  d']);
  });

  test("the bench's rows fit 100 columns, long cells wrap, and the other columns stay in line", () => {
    const lines = formatTable(BENCH_ROWS, 100);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100);
    expect(lines.length).toBeGreaterThan(BENCH_ROWS.length); // something wrapped
    // Every word of every cell is still there, whole.
    const text = lines.join(' ');
    for (const row of BENCH_ROWS) for (const cell of row) for (const word of cell.split(/\s+/).filter(Boolean)) expect(text).toContain(word);
    // The median column starts at the same place on every line that has one.
    const medianAt = lines[0]!.indexOf('median');
    for (const value of ['412 ms', '301 ms', '133 ms', '21.4 MiB', '24.0 MiB / 61.2 MiB']) {
      expect(lines.find((line) => line.includes(value))!.indexOf(value)).toBe(medianAt);
    }
  });

  test('an indented sub-row keeps its indent on every wrapped line', () => {
    const lines = formatTable([['name', 'value'], ['  a long indented label that wraps', '1']], 24);
    const label = lines.slice(1).map((line) => line.slice(0, 2));
    expect(label.length).toBeGreaterThan(1);
    for (const start of label) expect(start).toBe('  ');
  });
});

describe('wrapCell', () => {
  test('wraps at spaces, later lines hanging two spaces in', () => {
    expect(wrapCell('one two three four', 9)).toEqual(['one two', '  three', '  four']);
    expect(wrapCell('', 5)).toEqual(['']);
  });

  test('cuts a word longer than the width', () => {
    expect(wrapCell('abcdefghijkl', 6)).toEqual(['abcdef', '  ghij', '  kl']);
    expect(wrapCell('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']); // too narrow to hang
  });
});
