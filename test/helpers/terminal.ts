/**
 * The user's side of a terminal, for tests: a pty master (console.ts) attached to streams the test
 * types into and reads from — what a terminal emulator does for a person.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { attachTerminal, openConsole, type Console, type Detach } from '../../src/container/console.js';

/** Fails after `ms` instead of waiting forever: a broken console must fail a test, not hang it. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The user's side of a console: keys typed into it, and everything that came out, as text. */
export class TestTerminal {
  readonly keys = new PassThrough();
  readonly screen = new PassThrough();
  output = '';
  readonly detach: Detach;

  constructor(readonly pty: Console) {
    this.screen.setEncoding('utf8').on('data', (text: string) => (this.output += text));
    this.detach = attachTerminal(pty, { stdin: this.keys, stdout: this.screen });
  }

  type(line: string): void {
    this.keys.write(`${line}\n`);
  }

  /**
   * Waits until the output matches. The terminal echoes what is typed, so patterns are written not to
   * match the command line itself: `echo "tty=$(tty)"` is echoed as such, its output is tty=/dev/pts/0.
   */
  async waitFor(pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (Date.now() > deadline) throw new Error(`no ${pattern} in the terminal after ${ms} ms; it shows:\n${this.output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The command is gone: read its last output, stop copying, close the master. */
  async finish(): Promise<void> {
    await within(this.detach.outputEnded, 5000, 'the end of the output');
    this.detach();
    this.pty.close();
  }
}


/**
 * Starts a program on a new terminal of `rows`×`cols`, as a terminal emulator does: a pty in our root's
 * devpts, its slave as the program's stdin, stdout and stderr. Returns our side of it, the program, and
 * its exit code to come.
 */
export function spawnOnTerminal(command: string, args: string[], options: { rows: number; cols: number; env?: NodeJS.ProcessEnv }): { terminal: TestTerminal; child: ChildProcess; exited: Promise<number | null> } {
  const outer = openConsole(process.pid);
  outer.resize(options.rows, options.cols);
  const slave = openSync(outer.slavePath, 'r+');
  const child = spawn(command, args, { stdio: [slave, slave, slave], env: options.env ?? process.env });
  closeSync(slave); // the program has its copies; the output ends when the last of them closes
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { terminal: new TestTerminal(outer), child, exited };
}
