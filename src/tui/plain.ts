/**
 * The plain renderer: for CI logs, pipes and tests. Runs every step in order and prints what the
 * TUI would show, as plain lines: no colours, no cursor movement, no escape codes at all.
 *
 * It deliberately does not use chalk: the output must be plain whatever the terminal supports,
 * and values are cleaned of any escape codes the lesson's commands produced.
 *
 *   Step 2/4: Give the container its own host name
 *   sethostname() inside the new UTS namespace changes only the container's name.
 *
 *     host       hostname: devbox
 *                  from: hostname
 *     container  hostname: lab-3f2a   ≠ differs from host   (changed)
 *                  from: hostname
 */
import type { LessonController } from './controller.js';
import type { MarkedRow } from './diff.js';
import { cleanValue } from './text.js';
import { stepView, type StepView } from './view.js';

const SIDE_WIDTH = 'container'.length;
const INDENT = ' '.repeat(2 + SIDE_WIDTH + 2);

function formatRow(side: 'host' | 'container', row: MarkedRow): string[] {
  const other = side === 'host' ? 'container' : 'host';
  const marks = [row.differs && `≠ differs from ${other}`, row.change && `(${row.change})`].filter(Boolean);
  const suffix = marks.length > 0 ? `   ${marks.join('   ')}` : '';
  const lines = cleanValue(row.value).split('\n');
  const head = `  ${side.padEnd(SIDE_WIDTH)}  ${cleanValue(row.label)}:`;
  const out =
    lines.length === 1
      ? [`${head} ${lines[0]}${suffix}`]
      : [`${head}${suffix}`, ...lines.map((line) => `${INDENT}  ${line}`)];
  if (row.source) out.push(`${INDENT}  from: ${cleanValue(row.source)}`);
  return out;
}

/** The text for one step, ending with a newline. */
export function formatStep(view: StepView): string {
  const lines = [`Step ${view.number}/${view.total}: ${cleanValue(view.title)}`, cleanValue(view.narration), ''];
  if (view.record.status === 'failed') {
    lines.push(`error: ${view.record.error ?? 'unknown error'}`);
  } else if (view.panes) {
    for (const side of ['host', 'container'] as const) {
      const rows = view.panes[side];
      if (rows.length === 0) lines.push(`  ${side.padEnd(SIDE_WIDTH)}  (nothing yet)`);
      for (const row of rows) lines.push(...formatRow(side, row));
    }
  }
  return `${lines.join('\n')}\n\n`;
}

/**
 * Runs the whole lesson through `controller`, writing as it goes; `codeOrigin` (whose code runs) is
 * said under the lesson's title. Returns the exit code: 0 when
 * every step succeeded, 1 when one failed (the rest are not run: they build on it).
 * Closing the session is the caller's job (presentLesson), so it also happens on a signal.
 */
export async function runPlain(
  controller: LessonController,
  write: (text: string) => void,
  codeOrigin?: string,
): Promise<number> {
  const { lesson } = controller;
  write(`Lesson ${lesson.number}: ${cleanValue(lesson.title)}\n`);
  if (codeOrigin) write(`Running ${codeOrigin}.\n`);
  write('\n');
  await controller.start();
  for (let index = 0; ; index++) {
    const state = controller.getState();
    if (controller.isClosing) return 1; // interrupted: presentLesson reports the signal
    const view = stepView(state, index);
    if (!view) {
      // No record: the session did not start, or running the step failed outside the step itself.
      if (index < state.steps.length || state.notice?.tone === 'error') {
        write(`error: ${state.notice?.text ?? 'the step did not run'}\n`);
        return 1;
      }
      write('Lesson complete.\n');
      return 0;
    }
    write(formatStep(view));
    if (view.record.status === 'failed') return 1;
    if (index + 1 < state.steps.length) await controller.next();
  }
}
