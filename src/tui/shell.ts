/**
 * Opening a shell "inside the container": the TUI gives the terminal away, the shell owns it until
 * it exits, then the TUI takes it back.
 */
import { spawn } from 'node:child_process';
import type { ShellCommand } from '../course/lesson.js';

/**
 * Prints the banner, runs the shell with the terminal as its stdin/stdout/stderr and resolves when
 * it exits. Rejects only when the shell could not be started at all (e.g. the file does not exist).
 */
export function runShell(command: ShellCommand, stdout: NodeJS.WritableStream): Promise<void> {
  stdout.write(`\n${command.banner}\n\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command.file, command.args, { stdio: 'inherit' });
    child.once('error', (error) => reject(new Error(`could not open a shell (${command.file}): ${error.message}`)));
    child.once('exit', () => {
      stdout.write('\n');
      resolve();
    });
  });
}
