/**
 * One side of the machine, HOST or CONTAINER, as lines of text: a rounded box of rows, each row a
 * label, its value and, dimmed, the command or file it came from. The box shows a window of the
 * rows' lines and says where that window is, so a pane taller than the screen scrolls.
 *
 * Markers are text, not just colour (they must survive a terminal without colours):
 *   ≠        the other pane has this label with another value: the lesson's point
 *   changed  the value is not what the previous step showed
 *   new      the row was not there at the previous step
 *   ▶        this pane has the scroll keys (tab gives them to the other)
 */
import type { MarkedRow } from './diff.js';
import { cleanValue, displayWidth, fitWidth, plainLines, wrapLine, type Line, type Span } from './text.js';

export interface BoxInput {
  title: string;
  focused: boolean;
  zoomed: boolean;
  content: Line[];
  offset: number;
  width: number;
  height: number;
}

/**
 * A rounded box with the pane's lines from `offset` on. The top border names the pane (▶ marks the
 * one the scroll keys move) and says which lines show; the bottom border says when more follow.
 */
export function paneBox({ title, focused, zoomed, content, offset, width, height }: BoxInput): Line[] {
  const inner = Math.max(1, width - 4);
  const visible = Math.max(1, height - 2);
  const border: Omit<Span, 'text'> = focused ? { color: 'cyan' } : { color: 'gray' };
  /** ╭─ label ──── note ─╮: the label is cut, then the note dropped, when the box is too narrow. */
  const edge = (left: string, label: string, labelStyle: Omit<Span, 'text'>, right: string, note: string): Line => {
    const room = Math.max(0, width - displayWidth(left) - displayWidth(right));
    const shownNote = displayWidth(label) + displayWidth(note) <= room ? note : '';
    const shownLabel = fitWidth(label, room - displayWidth(shownNote));
    const dashes = room - displayWidth(shownLabel) - displayWidth(shownNote);
    return [
      { text: left, ...border },
      { text: shownLabel, ...labelStyle },
      { text: '─'.repeat(Math.max(0, dashes)), ...border },
      { text: shownNote, dim: true },
      { text: right, ...border },
    ];
  };
  const scrolls = content.length > visible;
  const last = Math.min(content.length, offset + visible);
  const range = scrolls ? ` ${offset + 1}–${last} of ${content.length} ` : '';
  const name = `${focused ? '▶ ' : ''}${title}${zoomed ? ' (z: both panes)' : ''}`;
  const top = edge('╭─', ` ${name} `, focused ? { bold: true, color: 'cyan' } : { bold: true }, '─╮', range ? `${range}─` : '');
  const bottom = edge('╰─', last < content.length ? ' ↓ more ' : '', { dim: true }, '─╯', '');
  const rows: Line[] = [top];
  for (let index = 0; index < visible; index++) {
    const line = content[offset + index] ?? [];
    const used = line.reduce((sum, span) => sum + displayWidth(span.text), 0);
    rows.push([
      { text: '│ ', ...border },
      ...line,
      { text: ' '.repeat(Math.max(0, inner - used)) },
      { text: ' │', ...border },
    ]);
  }
  rows.push(bottom);
  return rows.slice(0, height);
}

/**
 * One pane's rows as lines `width` columns wide, a blank line between rows. Each row is its label (≠
 * when the other pane differs, • changed/new), its value, and dimmed the command it came from.
 * Nothing is cut: a long value wraps. A one-line value wraps like prose; the lines of a table (ps,
 * mountinfo) wrap with a hanging indent, so where each of its lines starts stays visible.
 */
export function paneLines(rows: readonly MarkedRow[], width: number): Line[] {
  if (rows.length === 0) return [[{ text: '(nothing yet)', dim: true }]];
  const colour = (row: MarkedRow) => (row.differs ? ({ color: 'yellow' } as const) : {});
  const lines: Line[] = [];
  rows.forEach((row, index) => {
    if (index > 0) lines.push([]);
    const label = `${row.differs ? '≠ ' : ''}${cleanValue(row.label)}`;
    const change = row.change ? ` • ${row.change}` : '';
    if (displayWidth(label + change) <= width) {
      lines.push([{ text: label, bold: true, ...colour(row) }, ...(change ? [{ text: change, color: 'cyan' as const }] : [])]);
    } else {
      lines.push(...plainLines(wrapLine(label + change, width, { hang: '  ' }), { bold: true, ...colour(row) }));
    }
    const valueLines = cleanValue(row.value).split('\n');
    const wrapped =
      valueLines.length === 1 ? wrapLine(valueLines[0]!, width) : valueLines.flatMap((line) => wrapLine(line, width, { hang: '  ' }));
    lines.push(...plainLines(wrapped, colour(row)));
    if (row.source) lines.push(...plainLines(wrapLine(`$ ${cleanValue(row.source)}`, width, { hang: '  ' }), { dim: true }));
  });
  return lines;
}
