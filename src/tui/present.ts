/**
 * presentLesson(): the one function a lesson's entry point calls.
 *
 * It picks the frame (the Ink TUI on a terminal, plain text in CI or a pipe), and it guarantees the
 * one thing that matters most: whatever happens (q, Ctrl-C, a signal, a crash), the session is
 * closed before we return, because it owns real kernel objects: containers, mounts, cgroups.
 */
import { createElement } from 'react';
import { render } from 'ink';
import type { Lesson, ShellCommand } from '../course/lesson.js';
import { App } from './App.js';
import { LessonController } from './controller.js';
import { runPlain } from './plain.js';
import { runShell } from './shell.js';
import { errorLine } from './text.js';

export interface PresentOptions {
  /** Plain text instead of the TUI. Default: plain when stdout is not a terminal or CI is set. */
  plain?: boolean;
  /**
   * Whose code the lesson runs, said once at the start of plain output ("your code from
   * workshop/lessons/02-pid (--mine)"): a log must show whether a run tested the student's work.
   */
  codeOrigin?: string;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

/** The conventional exit codes: 128 + the signal's number. */
const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGHUP: 129, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof SIGNAL_EXIT_CODES;

/**
 * Plain text when nobody is at a terminal: output to a pipe or a file, input that is not a keyboard
 * (the TUI could not read keys), or CI (the same rule as Ink's).
 */
export function prefersPlain(
  terminal: { stdin?: { isTTY?: boolean }; stdout: { isTTY?: boolean } },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  const isSet = (name: string) => env[name] !== undefined && env[name] !== '0' && env[name] !== 'false';
  const interactive = terminal.stdout.isTTY && (terminal.stdin?.isTTY ?? true);
  return !interactive || isSet('CI') || isSet('CONTINUOUS_INTEGRATION');
}

/**
 * Presents `lesson` and resolves with the exit code once its session is closed:
 * 0 when all went well, 1 after a failed step (plain mode), a crash or a failed close,
 * 128 + n after signal n.
 */
export async function presentLesson(lesson: Lesson, options: PresentOptions = {}): Promise<number> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const plain = options.plain ?? prefersPlain({ stdin, stdout });
  // Nobody watches live values scroll by in plain text, so plain mode never re-reads.
  const controller = new LessonController(lesson, plain ? { refreshMs: 0 } : {});

  // Why we stopped early, if we did. Printed at the end, once the TUI no longer owns the screen.
  let interruptedWith: number | null = null;
  const reasons: string[] = [];
  const unguard = guardSession(controller, (code, reason) => {
    interruptedWith ??= code;
    reasons.push(reason);
  });

  let code: number;
  try {
    code = plain
      ? await runPlain(controller, (text) => stdout.write(text), options.codeOrigin)
      : await runTui(controller, { stdin, stdout, stderr });
  } catch (error) {
    stderr.write(`error: ${errorLine(error)}\n`);
    code = 1;
  }
  await controller.close(); // never rejects; returns at once if the frame closed it already
  unguard();
  for (const reason of reasons) stderr.write(`${reason}\n`);
  if (controller.closeError) {
    stderr.write(`error: could not close the session, something may be left behind: ${controller.closeError}\n`);
    code = 1;
  }
  return interruptedWith ?? code;
}

/** For a lesson's entry point: presents the lesson (`--plain` forces plain text) and exits with its code. */
export async function presentLessonAndExit(lesson: Lesson, argv: readonly string[] = process.argv.slice(2)): Promise<never> {
  const code = await presentLesson(lesson, { plain: argv.includes('--plain') ? true : undefined });
  process.exit(code);
}

/**
 * Closes the session on SIGINT, SIGTERM, SIGHUP and on an uncaught exception or rejection, and
 * reports the exit code that should follow. Installing a handler replaces Node's default (die at
 * once), which is exactly the point: we die only after close(). A second signal stops waiting for a
 * running step. Returns the function that removes the handlers.
 */
export function guardSession(
  controller: LessonController,
  report: (exitCode: number, reason: string) => void,
  target: NodeJS.EventEmitter = process,
): () => void {
  const onSignal = (signal: HandledSignal) => () => {
    // While a shell runs, Ctrl-C belongs to it (the terminal sends SIGINT to us as well).
    if (signal === 'SIGINT' && controller.getState().activity === 'shell') return;
    report(SIGNAL_EXIT_CODES[signal], `${signal}: closed the session and stopped`);
    void controller.close();
  };
  const onCrash = (error: unknown) => {
    report(1, `error: ${errorLine(error)}`);
    void controller.close();
  };
  const handlers = new Map<string, (argument?: unknown) => void>([
    ...(Object.keys(SIGNAL_EXIT_CODES) as HandledSignal[]).map((signal) => [signal, onSignal(signal)] as const),
    ['uncaughtException', onCrash],
    ['unhandledRejection', onCrash],
  ]);
  for (const [event, handler] of handlers) target.on(event, handler);
  return () => {
    for (const [event, handler] of handlers) target.off(event, handler);
  };
}

interface Terminal {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/**
 * Escape codes for a full-screen program (xterm's control sequences, which terminals share):
 * the alternate screen is a second screen without scrollback, the one less and vim use, so the
 * lesson draws on a clean page and, when it ends, the terminal is as it was before.
 */
const SCREEN = {
  enter: '\x1b[?1049h',
  leave: '\x1b[?1049l',
  /** Erase the whole screen and put the cursor at its top left corner. */
  clear: '\x1b[2J\x1b[H',
  /** On the alternate screen, turn the mouse wheel into ↑/↓ keys (where the terminal supports it). */
  wheelAsArrows: '\x1b[?1007h',
  wheelAsArrowsOff: '\x1b[?1007l',
} as const;

/**
 * Back to the normal screen. The alternate screen is cleared first: tmux (3.3) otherwise leaves the
 * bottom of the last frame on the normal screen when the window was resized meanwhile.
 */
const LEAVE_SCREEN = SCREEN.clear + SCREEN.wheelAsArrowsOff + SCREEN.leave;

/**
 * The TUI loop. Ink owns the terminal until the user asks for a shell; then Ink is unmounted, the
 * shell runs on the normal screen, and a new Ink app is mounted on a clean alternate screen, on the
 * same controller, so nothing is lost.
 */
async function runTui(controller: LessonController, terminal: Terminal): Promise<number> {
  const { stdout } = terminal;
  // Ink redraws by erasing the lines it drew last; after a resize those are not where they were
  // (the terminal cut or rewrapped them). Start from a clean screen; Ink and the app, which listen
  // after us, then draw the frame anew for the new size. Only while Ink draws: never under a shell.
  const clearOnResize = () => stdout.write(SCREEN.clear);
  void controller.start();
  try {
    while (!controller.isClosing) {
      stdout.write(SCREEN.enter + SCREEN.wheelAsArrows + SCREEN.clear);
      const request: { shell?: ShellCommand } = {};
      const app = createElement(App, { controller, onShell: (command) => (request.shell = command) });
      stdout.on('resize', clearOnResize);
      const ink = render(app, {
        ...terminal,
        exitOnCtrlC: false, // Ctrl-C is a key like q: it must close the session, not just end Ink
        // Ink redirects console.log above its frame; that only makes sense on the process's own stdout.
        patchConsole: stdout === process.stdout,
      });
      await ink.waitUntilExit().finally(() => stdout.off('resize', clearOnResize));
      const shell = request.shell;
      if (!shell) break; // the app ended because the session closed
      // The shell gets the normal screen: its output stays in the terminal's scrollback.
      stdout.write(LEAVE_SCREEN);
      // Ink has left raw mode, but Node may still be reading the terminal and would steal the
      // shell's first keystrokes. Pausing stops that; the next Ink app resumes reading.
      terminal.stdin.pause();
      await controller.suspend(() => runShell(shell, stdout));
      // A resize while the shell had the terminal sent SIGWINCH to the shell's process group, not to
      // ours, so Node still believes the old size. The signal, sent to ourselves, makes it read the
      // size again (Node's TTY stream handles SIGWINCH), and the next frame is laid out for it.
      if (stdout.isTTY && stdout === process.stdout) process.kill(process.pid, 'SIGWINCH');
    }
  } finally {
    stdout.off('resize', clearOnResize);
    stdout.write(LEAVE_SCREEN);
  }
  return 0;
}
