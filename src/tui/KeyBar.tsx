/**
 * The keys, always at the bottom. While something runs only q and the keys that move the panes
 * work, and the bar says so. Made as lines of text for the layout (layout.ts); a bar too long for
 * the terminal wraps between keys, never inside one.
 */
import type { Activity } from './controller.js';
import type { Line } from './layout.js';
import { displayWidth, fitWidth } from './text.js';

/** Keys of the lesson: they run steps and the session. */
export const STEP_KEYS = ['→/n next', '←/b back', 'r rerun', 's shell', 'q quit'];
/** Keys of the panes: they only change what is on screen, so they work at any time. */
export const PANE_KEYS = ['↑↓ scroll', 'tab pane', 'z zoom'];
export const KEYS = [...STEP_KEYS, ...PANE_KEYS].join(' · ');

const SEPARATOR = ' · ';

export function keyBarLines(activity: Activity, width: number): Line[] {
  if (activity === 'closing' || activity === 'closed') return []; // the status line says what happens
  if (activity === 'idle') return joinWrapped([...STEP_KEYS, ...PANE_KEYS], width).map((text) => [{ text }]);
  return joinWrapped(['q quit', ...PANE_KEYS, 'other keys wait until this finishes'], width).map((text) => [{ text, dim: true }]);
}

/** The items joined with " · ", as few lines as fit in `width`. */
function joinWrapped(items: string[], width: number): string[] {
  const lines: string[] = [];
  for (const item of items) {
    const last = lines.at(-1);
    if (last !== undefined && displayWidth(last + SEPARATOR + item) <= width) lines[lines.length - 1] = last + SEPARATOR + item;
    else lines.push(fitWidth(item, width));
  }
  return lines;
}
