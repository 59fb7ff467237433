import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { Lesson } from '../../src/course/lesson.js';
import { LessonController } from '../../src/tui/controller.js';
import { guardSession, prefersPlain, presentLesson } from '../../src/tui/present.js';
import { runShell } from '../../src/tui/shell.js';
import { fakeLesson, until } from './fakeLesson.js';
import { FakeStdin } from './terminal.js';

// Ink writes only its last frame when it believes it runs in CI (is-in-ci reads CI once, as Ink loads).
// These tests drive a real terminal session and read its frames, so CI=true (as on a CI machine) must
// not reach Ink here; the lab itself never shows the TUI under CI (prefersPlain, tested below).
vi.hoisted(() => {
  process.env.CI = 'false';
});

// The alternate screen (xterm's private mode 1049), the mouse wheel as arrow keys on it (mode 1007).
const SCREEN_ENTER = '\x1b[?1049h';
const SCREEN_LEAVE = '\x1b[?1049l';
const WHEEL_ON = '\x1b[?1007h';
const WHEEL_OFF = '\x1b[?1007l';
const CLEAR = '\x1b[2J\x1b[H';

/** A writable that keeps what was written. */
function sink(isTTY = false) {
  const stream = Object.assign(new EventEmitter(), {
    isTTY,
    columns: 100,
    rows: 60,
    text: '',
    write(chunk: string, callback?: () => void) {
      stream.text += chunk;
      if (typeof callback === 'function') callback();
      return true;
    },
  });
  return stream;
}

function terminal() {
  const stdin = new FakeStdin();
  const stdout = sink(true);
  const stderr = sink(true);
  const options = {
    plain: false,
    stdin: stdin as unknown as NodeJS.ReadStream,
    stdout: stdout as unknown as NodeJS.WriteStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
  };
  const press = async (key: string) => {
    stdin.write(key);
    await new Promise((resolve) => setTimeout(resolve, 20));
  };
  return { stdin, stdout, stderr, options, press };
}

async function presentPlain(lesson: Lesson, codeOrigin?: string) {
  const stdout = sink();
  const stderr = sink();
  const code = await presentLesson(lesson, {
    plain: true,
    codeOrigin,
    stdout: stdout as unknown as NodeJS.WriteStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
  });
  return { code, out: stdout.text, err: stderr.text };
}

describe('plain mode', () => {
  test('says whose code runs on the line under the title, once', async () => {
    const { lesson } = fakeLesson();
    const { out } = await presentPlain(lesson, 'your code from workshop/lessons/01-uts (--mine)');
    expect(out.split('\n').slice(0, 3)).toEqual([
      'Lesson 1: UTS namespace: a host name of its own',
      'Running your code from workshop/lessons/01-uts (--mine).',
      '',
    ]);
    expect(out.match(/Running /g)).toHaveLength(1);
  });

  test('prints every step with its title, narration and both panes, then closes once', async () => {
    const { lesson, log } = fakeLesson();
    const { code, out } = await presentPlain(lesson);
    expect(code).toBe(0);
    expect(out).toContain('Lesson 1: UTS namespace: a host name of its own');
    expect(out).toContain('Step 1/4: Look at the host\nBefore anything: the host as it is.');
    expect(out).toContain('Step 4/4: List its processes');
    expect(out).toMatch(/^ {2}host {7}hostname: devbox$/m);
    expect(out).toMatch(/^ {2}container {2}(processes:).*\n +PID CMD\n +1 sh\n +7 ps$/m);
    expect(out).toContain('Lesson complete.');
    expect(log.runs).toEqual(['1:1', '1:2', '1:3', '1:4']);
    expect(log.closes).toBe(1);
  });

  test('marks rows that differ between host and container', async () => {
    const { lesson } = fakeLesson();
    const { out } = await presentPlain(lesson);
    const step3 = out.slice(out.indexOf('Step 3/4'), out.indexOf('Step 4/4'));
    expect(step3).toContain('  container  hostname: lab-3f2a   ≠ differs from host   (changed)');
    expect(step3).toContain('  host       hostname: devbox   ≠ differs from container');
    expect(step3).toMatch(/^ {2}host {7}reads: 3 {3}\(changed\)$/m); // host only: never "differs"
  });

  test('contains no escape codes at all, even when the values carry some', async () => {
    const { lesson } = fakeLesson();
    const { out } = await presentPlain(lesson);
    expect(out).toContain('1 sh'); // the fake ps output is "1 \x1b[1msh\x1b[0m"
    expect(out).not.toContain('\x1b');
  });

  test('a failing step prints "error: <message>", stops, exits non-zero and still closes', async () => {
    const { lesson, log } = fakeLesson({ failAt: 2 });
    const { code, out } = await presentPlain(lesson);
    expect(code).toBe(1);
    expect(out).toMatch(/Step 3\/4: Give it a host name\n.*\n\nerror: boom at step 3\n/);
    expect(out).not.toContain('stack line');
    expect(out).not.toContain('Step 4/4');
    expect(out).not.toContain('Lesson complete');
    expect(log.closes).toBe(1);
  });

  test('a lesson that cannot start prints the error and exits non-zero', async () => {
    const { lesson } = fakeLesson();
    const { code, out } = await presentPlain({ ...lesson, start: () => Promise.reject(new Error('not root')) });
    expect(code).toBe(1);
    expect(out).toContain('error: could not start the lesson: not root');
  });

  test('a session that fails to close makes the exit code non-zero', async () => {
    const { lesson } = fakeLesson();
    const stubborn: Lesson = {
      ...lesson,
      async start() {
        const session = await lesson.start();
        return { ...session, close: () => Promise.reject(new Error('device busy')) };
      },
    };
    const { code, err } = await presentPlain(stubborn);
    expect(code).toBe(1);
    expect(err).toContain('could not close the session, something may be left behind: device busy');
  });

  test('SIGINT closes the session after the running step and exits 130', async () => {
    const { lesson, log } = fakeLesson({ holdAt: 1 });
    const done = presentPlain(lesson);
    await until(() => log.runs.length === 2, 'step 2 to start');
    process.emit('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.closes).toBe(0); // waits for the step: closing under it could leave things behind
    log.release();
    const { code, err } = await done;
    expect(code).toBe(130);
    expect(err).toContain('SIGINT: closed the session and stopped');
    expect(log.closes).toBe(1);
    expect(log.runs).toEqual(['1:1', '1:2']);
    expect(process.listenerCount('SIGINT')).toBe(0); // handlers removed again
  });

  test('a second SIGINT stops waiting for a hung step', async () => {
    const { lesson, log } = fakeLesson({ holdAt: 1 });
    const done = presentPlain(lesson);
    await until(() => log.runs.length === 2, 'step 2 to start');
    process.emit('SIGINT');
    process.emit('SIGINT');
    expect((await done).code).toBe(130);
    expect(log.closes).toBe(1);
    log.release();
  });
});

describe('TUI mode', () => {
  test('runs step 1 at once, next on n, and closes once on q', async () => {
    const { lesson, log } = fakeLesson();
    const { options, press, stdout } = terminal();
    const done = presentLesson(lesson, options);
    await until(() => log.snapshots === 1, 'step 1');
    await press('n');
    await until(() => log.snapshots === 2, 'step 2');
    await press('q');
    expect(await done).toBe(0);
    expect(log.runs).toEqual(['1:1', '1:2']);
    expect(log.closes).toBe(1);
    expect(stdout.text).toContain('Start a container'); // Ink drew on the stdout we gave it
  });

  test('s gives the terminal to the shell, then comes back with the state intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tui-shell-'));
    const marker = join(dir, 'ran');
    try {
      const script = `require('fs').writeFileSync(${JSON.stringify(marker)}, 'inside')`;
      const shell = { file: process.execPath, args: ['-e', script], banner: 'Entering the container.' };
      const { lesson, log } = fakeLesson({ shell });
      const { options, press, stdout, stdin } = terminal();
      const done = presentLesson(lesson, options);
      await until(() => log.snapshots === 1, 'step 1');
      await press('n');
      await until(() => log.snapshots === 2, 'step 2');
      await press('s');
      await until(() => existsSync(marker) && readFileSync(marker, 'utf8') === 'inside', 'the shell to run');
      expect(stdout.text).toContain('Entering the container.');
      expect(stdin.paused).toBeGreaterThan(0); // the terminal's input went to the shell
      await until(() => log.snapshots === 3, 'the panes re-read after the shell');
      // The shell ran on the normal screen; the TUI came back on a cleared alternate screen and
      // drew the whole frame there, not below the shell's output.
      const banner = stdout.text.indexOf('Entering the container.');
      const before = stdout.text.slice(0, banner);
      expect(before.lastIndexOf(SCREEN_LEAVE)).toBeGreaterThan(before.lastIndexOf(SCREEN_ENTER));
      const after = stdout.text.slice(banner);
      const redrawn = after.indexOf(SCREEN_ENTER + WHEEL_ON + CLEAR);
      expect(redrawn).toBeGreaterThan(0);
      await until(() => stdout.text.slice(banner + redrawn).includes('step 2/4'), 'the frame redrawn after the clear');
      await press('n'); // the remounted app still listens, and still knows we are at step 2
      await until(() => log.runs.length === 3, 'step 3');
      expect(log.runs).toEqual(['1:1', '1:2', '1:3']);
      await press('q');
      expect(await done).toBe(0);
      expect(log.closes).toBe(1);
      expect(stdout.text.endsWith(CLEAR + WHEEL_OFF + SCREEN_LEAVE)).toBe(true); // the terminal is given back as it was
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGTERM closes the session, ends the app and exits 143', async () => {
    const { lesson, log } = fakeLesson();
    const { options } = terminal();
    const done = presentLesson(lesson, options);
    await until(() => log.snapshots === 1, 'step 1');
    process.emit('SIGTERM');
    expect(await done).toBe(143);
    expect(log.closes).toBe(1);
  });

  test('an uncaught exception closes the session and exits 1', async () => {
    const { lesson, log } = fakeLesson();
    const { options, stderr } = terminal();
    const done = presentLesson(lesson, options);
    await until(() => log.snapshots === 1, 'step 1');
    (process as EventEmitter).emit('uncaughtException', new Error('kaboom'));
    expect(await done).toBe(1);
    expect(log.closes).toBe(1);
    expect(stderr.text).toContain('error: kaboom');
  });
});

describe('guardSession', () => {
  test('ignores SIGINT while a shell owns the terminal, but not SIGTERM', async () => {
    const { lesson, log } = fakeLesson();
    const controller = new LessonController(lesson);
    const target = new EventEmitter();
    const reports: number[] = [];
    const unguard = guardSession(controller, (code) => reports.push(code), target);
    await controller.start();
    let leaveShell: (() => void) | null = null;
    void controller.suspend(() => new Promise<void>((resolve) => (leaveShell = resolve)));
    await until(() => leaveShell !== null, 'the shell to start');
    target.emit('SIGINT');
    expect(reports).toEqual([]);
    expect(controller.isClosing).toBe(false);
    target.emit('SIGTERM');
    expect(reports).toEqual([143]);
    leaveShell!();
    await controller.closed;
    expect(log.closes).toBe(1);
    unguard();
    expect(target.eventNames()).toEqual([]);
  });

  test('SIGHUP reports 129', async () => {
    const { lesson } = fakeLesson();
    const controller = new LessonController(lesson);
    const target = new EventEmitter();
    const reports: number[] = [];
    guardSession(controller, (code) => reports.push(code), target);
    target.emit('SIGHUP');
    await controller.closed;
    expect(reports).toEqual([129]);
  });
});

describe('prefersPlain', () => {
  test('plain without a terminal or in CI, the TUI otherwise', () => {
    const tty = { isTTY: true };
    const pipe = { isTTY: false };
    expect(prefersPlain({ stdin: tty, stdout: tty }, {})).toBe(false);
    expect(prefersPlain({ stdin: tty, stdout: pipe }, {})).toBe(true);
    expect(prefersPlain({ stdin: pipe, stdout: tty }, {})).toBe(true); // no keyboard to read keys from
    expect(prefersPlain({ stdout: {} }, {})).toBe(true);
    expect(prefersPlain({ stdin: tty, stdout: tty }, { CI: 'true' })).toBe(true);
    expect(prefersPlain({ stdin: tty, stdout: tty }, { CI: 'false' })).toBe(false);
  });
});

describe('runShell', () => {
  test('rejects with a clear message when the shell cannot be started', async () => {
    const out = sink();
    const command = { file: '/nonexistent/sh', args: [], banner: 'hi' };
    await expect(runShell(command, out as unknown as NodeJS.WritableStream)).rejects.toThrow(
      'could not open a shell (/nonexistent/sh)',
    );
    expect(out.text).toContain('hi');
  });
});
