/**
 * The line above the key bar: a spinner while something runs, otherwise the latest notice
 * ("no container running yet", "lesson complete — ...", a failed live read). Made as lines of text
 * for the layout (layout.ts), which gives it at most MAX_STATUS_LINES lines and always at least one,
 * so the panes do not jump when a notice comes and goes.
 */
import { useEffect, useState } from 'react';
import type { Activity, Notice } from './controller.js';
import type { Line } from './layout.js';
import { fitWidth, wrapText } from './text.js';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const MAX_STATUS_LINES = 3;

const BUSY_TEXT: Partial<Record<Activity, string>> = {
  starting: 'starting the lesson…',
  running: 'running…',
  restarting: 'closing the session and starting over…',
  shell: 'in the shell…',
  closing: 'closing the session…',
};

/** The spinner's current character while `active`, turning every 80 ms. */
export function useSpinner(active: boolean): string {
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setFrame((n) => (n + 1) % SPINNER.length), 80);
    return () => clearInterval(timer);
  }, [active]);
  return SPINNER[frame]!;
}

export function isBusy(activity: Activity): boolean {
  return BUSY_TEXT[activity] !== undefined;
}

export function statusLines(activity: Activity, notice: Notice | null, spinner: string, width: number): Line[] {
  const lines: Line[] = [];
  const busyText = BUSY_TEXT[activity];
  if (busyText) lines.push([{ text: spinner, color: 'cyan' }, { text: ` ${fitWidth(busyText, width - 2)}` }]);
  if (activity === 'closed' && !notice) lines.push([{ text: 'session closed.', dim: true }]);
  if (notice) {
    const color = notice.tone === 'error' ? 'red' : 'green';
    for (const text of wrapText(notice.text, width)) lines.push([{ text, color }]);
  }
  if (lines.length > MAX_STATUS_LINES) {
    const last = lines[MAX_STATUS_LINES - 1]!;
    lines.length = MAX_STATUS_LINES;
    lines[MAX_STATUS_LINES - 1] = [{ ...last[0]!, text: fitWidth(`${last.map((span) => span.text).join('')} …`, width) }];
  }
  return lines.length > 0 ? lines : [[]];
}
