/**
 * Text tables for reports that must fit a width (`npm run bench` prints into terminals and CI logs of
 * 100 columns): a cell too long for its column wraps onto more lines at word boundaries, so no column
 * is ever pushed out of line by one long cell.
 */

const GAP = '  ';

/**
 * Lays out `rows` (the first one is the header) in at most `maxWidth` columns. Columns keep their
 * natural width while the table fits; when it does not, the widest column gives up width first.
 * Cells are plain text without line breaks.
 */
export function formatTable(rows: readonly (readonly string[])[], maxWidth: number): string[] {
  const columnCount = Math.max(0, ...rows.map((row) => row.length));
  const cell = (row: readonly string[], column: number) => row[column] ?? '';
  const natural = Array.from({ length: columnCount }, (_, column) => Math.max(1, ...rows.map((row) => cell(row, column).length)));
  // The longest word of a column: narrower than that, words would be cut in the middle.
  const longestWord = natural.map((_, column) =>
    Math.max(1, ...rows.flatMap((row) => cell(row, column).split(' ').map((word) => word.length))),
  );
  const widths = [...natural];
  const total = () => widths.reduce((sum, width) => sum + width, 0) + GAP.length * (columnCount - 1);
  while (total() > maxWidth) {
    // Narrow the widest column that can still give; if none can, words get cut (wrapCell breaks them).
    const shrinkable = widths.map((width, column) => (width > longestWord[column]! ? width : 0));
    const pick = Math.max(...shrinkable) > 0 ? shrinkable : widths.map((width) => (width > 8 ? width : 0));
    const widest = pick.indexOf(Math.max(...pick));
    if (pick[widest] === 0) break;
    widths[widest]!--;
  }
  const lines: string[] = [];
  for (const row of rows) {
    const wrapped = widths.map((width, column) => wrapCell(cell(row, column), width));
    const height = Math.max(...wrapped.map((cellLines) => cellLines.length));
    for (let line = 0; line < height; line++) {
      lines.push(wrapped.map((cellLines, column) => (cellLines[line] ?? '').padEnd(widths[column]!)).join(GAP).trimEnd());
    }
  }
  return lines;
}

/**
 * Splits `text` into lines of at most `width` characters, at spaces; a longer word is cut. Lines after
 * the first hang two spaces further in, so a wrapped cell does not read as a row of its own; a cell's
 * leading spaces (a sub-row's indent) indent all its lines.
 */
export function wrapCell(text: string, width: number): string[] {
  const indent = /^ */.exec(text)![0].slice(0, Math.max(0, width - 1));
  const hang = width - indent.length > 4 ? '  ' : '';
  const lines: string[] = [];
  let current = '';
  const room = () => width - indent.length - (lines.length > 0 ? hang.length : 0);
  const finishLine = () => {
    lines.push(`${indent}${lines.length > 0 ? hang : ''}${current}`);
    current = '';
  };
  for (let word of text.trimStart().split(/ +/)) {
    if (current && current.length + 1 + word.length > room()) finishLine();
    // A word longer than a whole line is cut.
    while (word.length > room()) {
      const cut = room() - (current ? current.length + 1 : 0);
      current = current ? `${current} ${word.slice(0, cut)}` : word.slice(0, cut);
      word = word.slice(cut);
      finishLine();
    }
    current = current ? `${current} ${word}` : word;
  }
  finishLine();
  return lines;
}
