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
