/**
 * The whole TUI frame as lines of text, laid out to fit the terminal exactly.
 *
 * Ink draws below the cursor and cannot scroll: a frame taller than the terminal pushes its own top
 * (the lesson title, the step, the narration) off the screen. So the frame is planned here, line by
 * line, for the terminal's size: the title, the step heading, the narration, the status line and the
 * key bar always get their lines, and the panes get what is left, each scrolling on its own.
 *
 *   Lesson 4 · cgroups — limits you can watch being enforced            step 3/7
 *   Memory: past the limit, the OOM killer
 *   The container allocates 16 MiB at a time until the kernel says no. ...
 *   ╭─ ▶ HOST ──────────── 1–12 of 47 ─╮╭─ CONTAINER ───────────── 1–12 of 21 ─╮
 *   │ ≠ memory.max • changed           ││ ≠ memory.max                         │
 *   │ 67108864                         ││ max                                  │
 *   ╰─ ↓ more ─────────────────────────╯╰─ ↓ more ─────────────────────────────╯
 *   ⠋ running…
 *   →/n next · ←/b back · r rerun · s shell · q quit · ↑↓/jk scroll · tab pane · z zoom
 *
 * Pure functions: App.tsx draws the lines, the tests check them at any size.
 */
import type { MarkedRow } from './diff.js';
import { paneBox, paneLines } from './pane.js';
import { cleanValue, displayWidth, padToWidth, plainLines, wrapText, fitWidth, type Line } from './text.js';
import type { StepView } from './view.js';

export type { Line, Span } from './text.js';

export type Side = 'host' | 'container';
export const SIDES: readonly Side[] = ['host', 'container'];
const PANE_TITLES: Record<Side, string> = { host: 'HOST', container: 'CONTAINER' };

export interface TerminalSize {
  columns: number;
  rows: number;
}

/** What the user chose to look at: which pane has the keys, how far each is scrolled, zoomed or not. */
export interface PaneFocus {
  focus: Side;
  offsets: Record<Side, number>;
  /** The focused pane alone, the terminal's full width. */
  zoom: boolean;
}

export interface ScreenInput {
  size: TerminalSize;
  /** "Lesson 4 · cgroups — ..." */
  heading: string;
  /** "step 3/7", or null before the first step. */
  stepLabel: string | null;
  view: StepView | null;
  /** The status line and the key bar for a width, as lines of text (StatusLine.tsx, KeyBar.tsx). */
  status: (width: number) => Line[];
  keys: (width: number) => Line[];
  panes: PaneFocus;
}

/** How far a pane can scroll: what App.tsx needs to turn keys into offsets. */
export interface PaneExtent {
  /** Lines the pane's content has. */
  total: number;
  /** Lines of it on screen at once. */
  visible: number;
  /** The first line on screen (the requested offset, kept in range). */
  offset: number;
}

export interface Screen {
  lines: Line[];
  /** Per pane, when panes are on screen. A zoomed-away pane is not. */
  extents: Partial<Record<Side, PaneExtent>>;
}

/** A pane is never smaller than this (its two borders and two lines), so the content always shows. */
const MIN_PANE_HEIGHT = 4;
/** Terminals this tall get blank lines around the step heading; smaller ones need every line. */
const ROOMY_ROWS = 30;

/** The lines a frame of this size may take. One less than the terminal: Ink ends its frame with a newline. */
export function frameHeight(size: TerminalSize): number {
  return Math.max(1, size.rows - 1);
}

/** The frame for one moment: exactly frameHeight(size) lines, none wider than the terminal. */
export function layoutScreen(input: ScreenInput): Screen {
  const width = Math.max(10, input.size.columns);
  const height = frameHeight(input.size);
  const roomy = input.size.rows >= ROOMY_ROWS;
  const { view } = input;

  const header = headingLines(input.heading, input.stepLabel, width);
  const stepTitle = view ? plainLines(wrapText(cleanValue(view.title), width), { bold: true, color: 'cyan' }) : [];
  let narration = view ? plainLines(wrapText(cleanValue(view.narration), width)) : [];
  const status = input.status(width);
  const keys = input.keys(width);
  const gap: Line[] = roomy ? [[]] : [];

  const fixed = () => header.length + gap.length + stepTitle.length + narration.length + gap.length + status.length + keys.length;
  // Only on a terminal too small for the course (below 80×24) or with an unusually long narration:
  // cut the narration rather than lose the panes, and say so with …
  const spare = height - fixed() - MIN_PANE_HEIGHT;
  if (spare < 0 && narration.length > 1) {
    const keep = Math.max(1, narration.length + spare);
    const lastText = narration[keep - 1]!.map((span) => span.text).join('');
    narration = [...narration.slice(0, keep - 1), [{ text: fitWidth(`${lastText} …`, width) }]];
  }
  const bodyHeight = Math.max(0, height - fixed());

  let body: Line[] = [];
  const extents: Screen['extents'] = {};
  if (view?.record.status === 'failed') {
    body = plainLines(wrapText(`✗ ${view.record.error ?? 'unknown error'}`, width), { color: 'red' });
  } else if (view?.panes) {
    body = layoutPanes(view.panes, input.panes, width, bodyHeight, extents);
  }
  body = body.slice(0, bodyHeight);
  while (body.length < bodyHeight) body.push([]);

  const lines = [...header, ...gap, ...stepTitle, ...narration, ...gap, ...body, ...status, ...keys].slice(0, height);
  return { lines, extents };
}

/** "Lesson 4 · title" on the left, "step 3/7" on the right; a title too long for one line wraps. */
function headingLines(heading: string, stepLabel: string | null, width: number): Line[] {
  const right = stepLabel ? ` ${stepLabel}` : '';
  const room = width - displayWidth(right);
  const texts = room >= 10 ? wrapText(cleanValue(heading), room) : wrapText(cleanValue(heading), width);
  return texts.map((text, index) =>
    index === 0 && room >= 10 ? [{ text: padToWidth(text, room), bold: true }, { text: right }] : [{ text, bold: true }],
  );
}

/** Both panes side by side (or the focused one alone, zoomed), `height` lines tall. */
function layoutPanes(
  panes: Record<Side, readonly MarkedRow[]>,
  focus: PaneFocus,
  width: number,
  height: number,
  extents: Screen['extents'],
): Line[] {
  const shown: Side[] = focus.zoom ? [focus.focus] : [...SIDES];
  const leftWidth = shown.length === 1 ? width : Math.floor(width / 2);
  const boxes = shown.map((side, index) => {
    const boxWidth = index === 0 ? leftWidth : width - leftWidth;
    const content = paneLines(panes[side], boxWidth - 4);
    const visible = Math.max(1, height - 2);
    const offset = Math.min(Math.max(0, focus.offsets[side]), Math.max(0, content.length - visible));
    extents[side] = { total: content.length, visible, offset };
    return paneBox({
      title: PANE_TITLES[side],
      focused: side === focus.focus,
      zoomed: focus.zoom,
      content,
      offset,
      width: boxWidth,
      height,
    });
  });
  return Array.from({ length: height }, (_, row) => boxes.flatMap((box) => box[row] ?? []));
}
