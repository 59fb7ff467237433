/**
 * Opening a shell "inside the container": the TUI gives the terminal away, the shell owns it until
 * it exits, then the TUI takes it back.
 */
import { spawn } from 'node:child_process';
import type { ShellCommand } from '../course/lesson.js';
import { foregroundGroup, linuxSyscalls, setForegroundGroup } from '../sys/index.js';

/**
 * Prints the banner, runs the shell with the terminal as its stdin/stdout/stderr and resolves when
 * it exits. Rejects only when the shell could not be started at all (e.g. the file does not exist).
 */
export function runShell(command: ShellCommand, stdout: NodeJS.WritableStream): Promise<void> {
  stdout.write(`\n${command.banner}\n\n`);
  const keepTerminal = holdForeground();
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command.file, command.args, { stdio: 'inherit' });
    child.once('error', (error) => reject(new Error(`could not open a shell (${command.file}): ${error.message}`)));
    child.once('exit', () => {
      stdout.write('\n');
      resolve();
    });
  }).finally(keepTerminal);
}

/**
 * An interactive shell with job control makes its own process group the terminal's foreground and,
 * on exit, gives the terminal back to the group it found. A shell in the container's PID namespace
 * cannot: our group has no number there, so it fails ("Cannot set tty process group") and the
 * terminal stays with a group that no longer exists. Then every use of the terminal we make
 * (Ink's raw mode) fails with EIO, or stops us with SIGTTOU. So we note the foreground group
 * before the shell and put it back after. Returns the function that puts it back.
 */
function holdForeground(): () => void {
  if (!process.stdin.isTTY) return () => {};
  const sys = linuxSyscalls();
  let ours: number;
  try {
    ours = foregroundGroup(sys, 0);
  } catch {
    return () => {}; // not our controlling terminal: nothing a shell could take from us
  }
  return () => {
    try {
      if (foregroundGroup(sys, 0) !== ours) setForegroundGroup(sys, 0, ours);
    } catch {
      // The terminal is gone (the window closed): the session is closing anyway.
    }
  };
}
