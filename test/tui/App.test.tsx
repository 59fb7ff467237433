import { afterEach, describe, expect, test, vi } from 'vitest';
import { render, cleanup } from 'ink-testing-library';
import type { ShellCommand } from '../../src/course/lesson.js';
import { App } from '../../src/tui/App.js';
import { LessonController, messages } from '../../src/tui/controller.js';
import { KEYS } from '../../src/tui/KeyBar.js';
import { fakeLesson, until, type FakeOptions } from './fakeLesson.js';

const controllers: LessonController[] = [];
afterEach(async () => {
  cleanup();
  await Promise.all(controllers.splice(0).map((controller) => controller.close()));
});

/** Renders the app on a fake lesson and waits for step 1. */
async function mount(options: FakeOptions = {}) {
  const { lesson, log } = fakeLesson(options);
  const controller = new LessonController(lesson);
  controllers.push(controller);
  const onShell = vi.fn<(command: ShellCommand) => void>();
  const ink = render(<App controller={controller} onShell={onShell} />);
  void controller.start();
  // The last frame with content: when unmounting in CI, Ink writes a bare newline after it.
  const frame = () => ink.frames.findLast((text) => text.trim() !== '') ?? '';
  await until(() => frame().includes('step 1/4') && frame().includes(KEYS), 'step 1 on screen');
  /** Types keys one at a time; Ink needs a moment between writes to take them apart. */
  const press = async (...keys: string[]) => {
    for (const key of keys) {
      ink.stdin.write(key);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const settle = () => until(() => controller.getState().activity === 'idle' && frame().includes(KEYS), 'idle');
  return { controller, log, onShell, ink, frame, press, settle };
}

/** The line of the frame that contains `text`. */
const lineWith = (frame: string, text: string) => frame.split('\n').find((line) => line.includes(text)) ?? '';

describe('App', () => {
  test('shows the header, the step, both panes with values and sources, and the key bar', async () => {
    const { frame } = await mount();
    expect(frame()).toContain('Lesson 1 · UTS namespace: a host name of its own');
    expect(frame()).toContain('step 1/4');
    expect(frame()).toContain('Look at the host');
    expect(frame()).toContain('Before anything: the host as it is.');
    expect(frame()).toContain('HOST');
    expect(frame()).toContain('CONTAINER');
    expect(frame()).toContain('uts:[4026531838]');
    expect(frame()).toContain('$ readlink /proc/self/ns/uts');
    expect(frame()).toContain('(nothing yet)');
    expect(frame()).toContain('→/n next · ←/b back · r rerun · s shell · q quit');
  });

  test('puts HOST and CONTAINER side by side and marks differing rows with ≠ on both sides', async () => {
    const { frame, press, settle } = await mount();
    await press('n', 'n');
    await settle();
    expect(frame()).toContain('step 3/4');
    const hostnameLine = lineWith(frame(), '≠ hostname');
    expect(hostnameLine).toMatch(/≠ hostname.*≠ hostname/); // one line, both panes
    expect(lineWith(frame(), 'uts:[4026531838]')).toContain('uts:[4026532201]');
    expect(frame()).not.toContain('≠ reads'); // host-only row: nothing to compare with
  });

  test('rows equal on both sides are not marked', async () => {
    const { frame, press, settle } = await mount();
    await press('n');
    await settle();
    // Step 2: same host name on both sides, different namespace inode.
    expect(frame()).toContain('≠ uts ns');
    expect(lineWith(frame(), 'hostname')).not.toContain('≠');
  });

  test('marks values that changed since the previous step', async () => {
    const { frame, press, settle } = await mount();
    await press('n');
    await settle();
    expect(lineWith(frame(), 'hostname')).toContain('hostname • new');
    await press('n');
    await settle();
    expect(lineWith(frame(), '≠ hostname')).toContain('≠ hostname • changed');
    expect(frame()).toContain('lab-3f2a');
  });

  test('renders multi-line values line by line, without escape codes from the command', async () => {
    const { frame, press, settle } = await mount();
    await press('n', 'n', 'n');
    await settle();
    expect(frame()).toContain('step 4/4');
    const lines = frame().split('\n');
    const header = lines.findIndex((line) => line.includes('PID CMD'));
    expect(header).toBeGreaterThan(0);
    expect(lines[header + 1]).toMatch(/│\s+1 sh\s+│/);
    expect(lines[header + 2]).toMatch(/│\s+7 ps\s+│/);
  });

  test('b goes back to the recorded step without re-running; arrows work too', async () => {
    const { frame, press, settle, log } = await mount();
    await press('n', 'n');
    await settle();
    await press('b');
    expect(frame()).toContain('step 2/4 (history)');
    expect(frame()).toContain('Start a container');
    await press('\x1b[D'); // ←
    expect(frame()).toContain('step 1/4 (history)');
    await press('\x1b[C', 'n'); // →, n: forward through history
    expect(frame()).toContain('step 3/4');
    expect(frame()).not.toContain('(history)');
    expect(log.runs).toEqual(['1:1', '1:2', '1:3']);
  });

  test('keys that arrive together are taken one by one', async () => {
    const { press, settle, log, frame } = await mount();
    await press('nb'); // n runs step 2; b comes while it runs and is ignored
    await settle();
    expect(log.runs).toEqual(['1:1', '1:2']);
    expect(frame()).toContain('step 2/4');
  });

  test('next at the last step says the lesson is complete', async () => {
    const { frame, press, settle } = await mount();
    await press('n', 'n', 'n');
    await settle();
    await press('n');
    expect(frame()).toContain(messages.complete);
  });

  test('a throwing step shows its error in red in place of the panes; r and q still work', async () => {
    const { frame, press, settle, log, controller } = await mount({ failAt: 1 });
    await press('n');
    await settle();
    expect(frame()).toContain('✗ boom at step 2');
    expect(frame()).not.toContain('stack line that must not show');
    expect(frame()).not.toContain('HOST');
    await press('r');
    await until(() => log.starts === 2 && frame().includes('step 1/4'), 'the rerun');
    expect(frame()).not.toContain('✗');
    await press('q');
    await until(() => controller.getState().activity === 'closed', 'close');
    expect(log.closesBySession).toEqual([undefined, 1, 1]);
  });

  test('r closes the session and starts again at step 1', async () => {
    const { frame, press, log } = await mount();
    await press('n', 'n');
    await until(() => log.runs.length === 3, 'step 3');
    await press('r');
    await until(() => log.starts === 2 && log.runs.at(-1) === '2:1', 'the rerun');
    await until(() => frame().includes('step 1/4'), 'step 1 on screen');
    expect(log.closesBySession[1]).toBe(1);
    expect(log.closesBySession[2]).toBe(0);
  });

  test('q closes the session exactly once and ends the app', async () => {
    const { press, log, controller, frame } = await mount();
    await press('q', 'q');
    await until(() => controller.getState().activity === 'closed', 'close');
    await press('q', 'n');
    expect(log.closes).toBe(1);
    expect(log.runs).toEqual(['1:1']);
    expect(frame()).toContain('session closed.');
  });

  test('Ctrl-C quits like q', async () => {
    const { press, log, controller } = await mount();
    await press('\x03');
    await until(() => controller.getState().activity === 'closed', 'close');
    expect(log.closes).toBe(1);
  });

  test('s without a container says so and opens nothing', async () => {
    const { press, onShell, frame } = await mount();
    await press('s');
    expect(frame()).toContain('no container running yet');
    expect(onShell).not.toHaveBeenCalled();
  });

  test('s with a container hands the shell command to the caller', async () => {
    const shell = { file: 'sh', args: ['-i'], banner: 'Entering the container.' };
    const { press, settle, onShell } = await mount({ shell });
    await press('n');
    await settle();
    await press('s');
    expect(onShell).toHaveBeenCalledExactlyOnceWith(shell);
  });

  test('keys other than q are ignored while a step runs', async () => {
    const { press, log, frame, controller } = await mount({ holdAt: 1 });
    await press('n');
    await until(() => frame().includes('running…'), 'the spinner');
    expect(frame()).toContain('q quit · ↑↓ scroll · tab pane · z zoom · other keys wait until this finishes');
    await press('n', 'r', 'b');
    expect(log.runs).toEqual(['1:1', '1:2']);
    expect(log.starts).toBe(1);
    log.release();
    await until(() => controller.getState().activity === 'idle', 'step 2 to finish');
    expect(frame()).toContain('step 2/4');
    expect(log.runs).toEqual(['1:1', '1:2']);
  });

  test('live values are redrawn as the panes are re-read', async () => {
    const { frame } = await mount({ refreshMs: 10 });
    const reads = () => Number(/reads\D*(\d+)/s.exec(frame())?.[1]);
    const first = reads();
    await until(() => reads() >= first + 2, 'the reads counter to move on screen');
  });
});
