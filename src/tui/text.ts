/**
 * Small text helpers shared by the TUI and the plain renderer.
 *
 * Values come straight from commands (`ps`, `cat /proc/self/mountinfo`, ...). They may carry
 * colour codes, tabs or carriage returns, any of which would break a two-column layout or
 * leak escape codes into plain logs, so every value goes through cleanValue() first.
 */
import { stripVTControlCharacters } from 'node:util';

const TAB_WIDTH = 8;

/** Removes ANSI escapes and control characters, expands tabs, normalises line endings. */
export function cleanValue(value: string): string {
  return stripVTControlCharacters(value)
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map(expandTabs)
    .join('\n')
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '') // every control character except \n (\x0a)
    .replace(/\s+$/, ''); // command output usually ends with a newline we do not want to draw
}

function expandTabs(line: string): string {
  let out = '';
  for (const char of line) {
    out += char === '\t' ? ' '.repeat(TAB_WIDTH - (out.length % TAB_WIDTH)) : char;
  }
  return out;
}

/** The one line we show for a failure: the first line of the message, never a stack trace. */
export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message || error.name : String(error);
  const first = cleanValue(message).split('\n')[0]?.trim();
  return first || 'unknown error';
}

// ---- measuring and wrapping, for a frame that must fit the terminal -----------------------------

/**
 * Columns a character takes in a terminal: 2 for East Asian wide and fullwidth characters (and most
 * emoji), 0 for combining marks, 1 otherwise. A close approximation of wcwidth(3), enough for command
 * output; each drawn line is also cut at the pane's edge, so a wrong guess cannot break the layout.
 */
function charWidth(codePoint: number): number {
  if (codePoint >= 0x300 && codePoint <= 0x36f) return 0; // combining diacritical marks
  if (codePoint === 0x200b || codePoint === 0x200d || (codePoint >= 0xfe00 && codePoint <= 0xfe0f)) return 0;
  const wide =
    (codePoint >= 0x1100 && codePoint <= 0x115f) ||
    (codePoint >= 0x2e80 && codePoint <= 0xa4cf && codePoint !== 0x303f) ||
    (codePoint >= 0xac00 && codePoint <= 0xd7a3) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0xfe30 && codePoint <= 0xfe4f) ||
    (codePoint >= 0xff00 && codePoint <= 0xff60) ||
    (codePoint >= 0xffe0 && codePoint <= 0xffe6) ||
    (codePoint >= 0x1f300 && codePoint <= 0x1faff) ||
    (codePoint >= 0x20000 && codePoint <= 0x3fffd);
  return wide ? 2 : 1;
}

/** The columns `text` (one line, already cleaned) takes on screen. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) width += charWidth(char.codePointAt(0)!);
  return width;
}

/** The longest start of `text` that fits in `width` columns, and the rest. */
function splitAtWidth(text: string, width: number): [string, string] {
  let used = 0;
  let index = 0;
  for (const char of text) {
    const next = used + charWidth(char.codePointAt(0)!);
    if (next > width) break;
    used = next;
    index += char.length;
  }
  // Never return an empty head: a character wider than the line goes on a line of its own.
  if (index === 0 && text.length > 0) index = String.fromCodePoint(text.codePointAt(0)!).length;
  return [text.slice(0, index), text.slice(index)];
}

export interface WrapOptions {
  /** Put before every line after the first (a hanging indent, so a wrapped table line stands out). */
  hang?: string;
}

/**
 * Breaks one line of text into lines of at most `width` columns: at spaces where it can, inside a
 * word (a long path, a hash) where it must. Spaces are kept as they are, so columns of a table line
 * keep their alignment on its first line.
 */
export function wrapLine(text: string, width: number, { hang = '' }: WrapOptions = {}): string[] {
  width = Math.max(1, width);
  if (displayWidth(text) <= width) return [text];
  const hangWidth = displayWidth(hang) < width ? displayWidth(hang) : 0;
  const lines: string[] = [];
  let rest = text;
  while (rest !== '') {
    const room = lines.length === 0 ? width : width - hangWidth;
    if (displayWidth(rest) <= room) {
      lines.push(rest);
      break;
    }
    let [head, tail] = splitAtWidth(rest, room);
    // Break after the last space in the head, if there is one and the head does not end a word anyway.
    const lastSpace = head.lastIndexOf(' ');
    if (!tail.startsWith(' ') && lastSpace > 0) {
      tail = head.slice(lastSpace + 1) + tail;
      head = head.slice(0, lastSpace + 1);
    }
    lines.push(head.trimEnd() || head);
    rest = tail.replace(/^ +/, ''); // the space a line broke at is not carried to the next
  }
  return lines.map((line, index) => (index > 0 && hangWidth > 0 ? hang + line : line));
}

/** wrapLine() for every line of a multi-line text. */
export function wrapText(text: string, width: number, options?: WrapOptions): string[] {
  return text.split('\n').flatMap((line) => wrapLine(line, width, options));
}

/** `text` cut to `width` columns, ending in … when something was cut. */
export function fitWidth(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  return `${splitAtWidth(text, width - 1)[0]}…`;
}

/** `text` padded with spaces to exactly `width` columns (cut first if longer). */
export function padToWidth(text: string, width: number): string {
  const fitted = displayWidth(text) > width ? splitAtWidth(text, width)[0] : text;
  return fitted + ' '.repeat(Math.max(0, width - displayWidth(fitted)));
}

// ---- styled lines, as the TUI's layout makes them -------------------------------------------------

/** A run of text in one style. Colours are never the only signal: markers (≠, ▶, ↓) are text. */
export interface Span {
  text: string;
  bold?: boolean;
  dim?: boolean;
  color?: 'yellow' | 'cyan' | 'red' | 'green' | 'gray';
}

/** One line of the frame; never wider than the terminal. */
export type Line = Span[];

/** Each text as a line of one span in `style`. */
export const plainLines = (texts: string[], style: Omit<Span, 'text'> = {}): Line[] => texts.map((text) => [{ text, ...style }]);
