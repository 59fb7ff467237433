import { afterEach, describe, expect, test } from 'vitest';
import type { Lesson, LessonSession, Snapshot } from '../../src/course/lesson.js';
import { LessonController, messages } from '../../src/tui/controller.js';
import { fakeLesson, until } from './fakeLesson.js';

const controllers: LessonController[] = [];
function make(...args: Parameters<typeof fakeLesson>) {
  const { lesson, log } = fakeLesson(...args);
  const controller = new LessonController(lesson);
  controllers.push(controller);
  return { controller, log, state: () => controller.getState() };
}
afterEach(async () => {
  await Promise.all(controllers.splice(0).map((controller) => controller.close()));
});

const containerValue = (snapshot: Snapshot | undefined, label: string) =>
  snapshot?.container.find((row) => row.label === label)?.value;

describe('LessonController', () => {
  test('start() starts a session, runs step 1 and reads the panes', async () => {
    const { controller, log, state } = make();
    await controller.start();
    expect(log.starts).toBe(1);
    expect(log.runs).toEqual(['1:1']);
    expect(state().viewing).toBe(0);
    expect(state().history).toEqual([expect.objectContaining({ step: 0, status: 'done' })]);
    expect(state().history[0]?.snapshot?.host[0]).toMatchObject({ label: 'hostname', value: 'devbox' });
  });

  test('next runs the next step; back and forward replay history without re-running', async () => {
    const { controller, log, state } = make();
    await controller.start();
    await controller.next();
    await controller.next();
    expect(log.runs).toEqual(['1:1', '1:2', '1:3']);
    expect(containerValue(state().history[2]?.snapshot, 'hostname')).toBe('lab-3f2a');

    controller.back();
    controller.back();
    expect(state().viewing).toBe(0);
    controller.back(); // nothing before step 1
    expect(state().viewing).toBe(0);
    await controller.next();
    await controller.next();
    expect(state().viewing).toBe(2);
    expect(log.runs).toEqual(['1:1', '1:2', '1:3']); // nothing ran again
    expect(log.snapshots).toBe(3);

    await controller.next(); // at the newest step: runs step 4
    expect(log.runs).toEqual(['1:1', '1:2', '1:3', '1:4']);
  });

  test('next at the last step says the lesson is complete', async () => {
    const { controller, log, state } = make();
    await controller.start();
    for (let i = 0; i < 3; i++) await controller.next();
    expect(state().notice).toBeNull();
    await controller.next();
    expect(state().notice).toEqual({ text: messages.complete, tone: 'info' });
    expect(log.runs).toHaveLength(4);
  });

  test('a throwing step becomes a failed record with a one-line error; next does not go on', async () => {
    const { controller, log, state } = make({ failAt: 1 });
    await controller.start();
    await controller.next();
    expect(state().history[1]).toEqual({ step: 1, status: 'failed', error: 'boom at step 2' });
    expect(state().activity).toBe('idle');
    await controller.next();
    expect(log.runs).toEqual(['1:1', '1:2']);
    expect(state().notice?.text).toBe(messages.stepFailed);
  });

  test('a failing snapshot() fails the step too', async () => {
    const { lesson } = fakeLesson();
    const broken: Lesson = {
      ...lesson,
      async start(): Promise<LessonSession> {
        const session = await lesson.start();
        return { ...session, snapshot: () => Promise.reject(new Error('cannot read /proc')) };
      },
    };
    const controller = new LessonController(broken);
    controllers.push(controller);
    await controller.start();
    expect(controller.getState().history[0]).toMatchObject({ status: 'failed', error: 'cannot read /proc' });
  });

  test('a lesson that cannot start leaves a notice, and rerun tries again', async () => {
    let attempts = 0;
    const { lesson } = fakeLesson();
    const flaky: Lesson = {
      ...lesson,
      start: () => (++attempts === 1 ? Promise.reject(new Error('not root')) : lesson.start()),
    };
    const controller = new LessonController(flaky);
    controllers.push(controller);
    await controller.start();
    expect(controller.getState().notice).toEqual({ text: 'could not start the lesson: not root', tone: 'error' });
    expect(controller.getState().history).toHaveLength(0);
    await controller.rerun();
    expect(controller.getState().history).toHaveLength(1);
    expect(controller.getState().notice).toBeNull();
  });

  test('rerun closes the session once, starts a fresh one and runs step 1 again', async () => {
    const { controller, log, state } = make();
    await controller.start();
    await controller.next();
    await controller.rerun();
    expect(log.starts).toBe(2);
    expect(log.closesBySession).toEqual([undefined, 1, 0]);
    expect(log.runs).toEqual(['1:1', '1:2', '2:1']);
    expect(state().history).toHaveLength(1);
    expect(state().viewing).toBe(0);
    await controller.close();
    expect(log.closesBySession).toEqual([undefined, 1, 1]);
  });

  test('close() closes the session exactly once, however often it is called', async () => {
    const { controller, log, state } = make();
    await controller.start();
    await Promise.all([controller.close(), controller.close()]);
    await controller.close();
    expect(log.closes).toBe(1);
    expect(state().activity).toBe('closed');
    await controller.next(); // nothing runs after close
    await controller.rerun();
    expect(log.runs).toEqual(['1:1']);
    expect(log.starts).toBe(1);
  });

  test('while a step runs, other actions are ignored; close waits for the step', async () => {
    const { controller, log, state } = make({ holdAt: 1 });
    await controller.start();
    const running = controller.next();
    await until(() => log.runs.length === 2, 'step 2 to start');
    expect(state().activity).toBe('running');
    await controller.next();
    await controller.rerun();
    controller.back();
    expect(log.runs).toEqual(['1:1', '1:2']);
    expect(log.starts).toBe(1);
    expect(state().viewing).toBe(1);

    const closing = controller.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.closes).toBe(0); // still waiting for the step
    log.release();
    await Promise.all([running, closing]);
    expect(log.closes).toBe(1);
  });

  test('a second close() stops waiting for a step that hangs', async () => {
    const { controller, log } = make({ holdAt: 1 });
    await controller.start();
    void controller.next();
    await until(() => log.runs.length === 2, 'step 2 to start');
    void controller.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(log.closes).toBe(0);
    await controller.close();
    expect(log.closes).toBe(1);
    log.release();
  });

  test.each([
    ['waits for the start', 1],
    ['stops waiting (second close)', 2],
  ])('close() during a slow start closes the new session exactly once: %s', async (_, closeCalls) => {
    const { lesson, log } = fakeLesson();
    let letStart: (() => void) | null = null;
    const slow: Lesson = {
      ...lesson,
      start: () => new Promise<void>((resolve) => (letStart = resolve)).then(() => lesson.start()),
    };
    const controller = new LessonController(slow);
    const starting = controller.start();
    await until(() => letStart !== null, 'start() to be called');
    const closing = Array.from({ length: closeCalls }, () => controller.close());
    letStart!();
    await Promise.all([starting, ...closing]);
    await until(() => log.closes > 0, 'the session to be closed');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(log.starts).toBe(1);
    expect(log.closes).toBe(1);
    expect(log.runs).toEqual([]); // no step runs once closing has begun
  });

  test('shell() returns null with a notice before the container exists, the command after', async () => {
    const { controller, state } = make();
    await controller.start();
    expect(controller.shell()).toBeNull();
    expect(state().notice).toEqual({ text: messages.noContainer, tone: 'info' });
    await controller.next();
    expect(controller.shell()).toMatchObject({ file: 'true' });
  });

  test('suspend() runs the work exclusively, then re-reads the panes', async () => {
    const { controller, log, state } = make();
    await controller.start();
    const before = log.snapshots;
    let activityDuringWork = '';
    await controller.suspend(async () => {
      activityDuringWork = state().activity;
      await controller.next(); // ignored: the shell owns the terminal
    });
    expect(activityDuringWork).toBe('shell');
    expect(log.runs).toEqual(['1:1']);
    expect(log.snapshots).toBe(before + 1);
    expect(state().activity).toBe('idle');
  });
});

describe('live refresh', () => {
  test('re-reads the snapshot every refreshMs while the newest step is shown', async () => {
    const { controller, log, state } = make({ refreshMs: 10 });
    await controller.start();
    await until(() => log.snapshots >= 4, 'three refreshes');
    const reads = state().history[0]?.snapshot?.host.find((row) => row.label === 'reads')?.value;
    expect(Number(reads)).toBeGreaterThanOrEqual(3);
  });

  test('stops while an older step is shown and starts again at the newest', async () => {
    const { controller, log, state } = make({ refreshMs: 10 });
    await controller.start();
    await controller.next();
    controller.back();
    const frozen = log.snapshots;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(log.snapshots).toBe(frozen);
    await controller.next(); // back to the newest: forward through history, no run
    expect(log.runs).toHaveLength(2);
    await until(() => log.snapshots > frozen, 'refresh to resume');
    expect(state().viewing).toBe(1);
  });

  test('never overlaps two reads, even when a read is slower than refreshMs', async () => {
    const { lesson } = fakeLesson();
    let active = 0;
    let maxActive = 0;
    let reads = 0;
    const slow: Lesson = {
      ...lesson,
      refreshMs: 1,
      async start() {
        const session = await lesson.start();
        return {
          ...session,
          async snapshot() {
            active++;
            reads++;
            maxActive = Math.max(maxActive, active);
            await new Promise((resolve) => setTimeout(resolve, 15));
            active--;
            return session.snapshot();
          },
        };
      },
    };
    const controller = new LessonController(slow);
    controllers.push(controller);
    await controller.start();
    await until(() => reads >= 4, 'several reads');
    await controller.next(); // a step must wait for the read in flight too
    await until(() => reads >= 7, 'more reads');
    expect(maxActive).toBe(1);
  });

  test('a failing live read shows a notice and keeps the last panes', async () => {
    const { lesson } = fakeLesson();
    let calls = 0;
    const flaky: Lesson = {
      ...lesson,
      refreshMs: 5,
      async start() {
        const session = await lesson.start();
        return {
          ...session,
          snapshot: () => (++calls === 2 ? Promise.reject(new Error('container gone')) : session.snapshot()),
        };
      },
    };
    const controller = new LessonController(flaky);
    controllers.push(controller);
    await controller.start();
    await until(() => controller.getState().notice !== null, 'the notice');
    expect(controller.getState().notice).toEqual({ text: 'live read failed: container gone', tone: 'error' });
    expect(controller.getState().history[0]?.snapshot).toBeDefined();
    await until(() => controller.getState().notice === null, 'the next good read to clear it');
  });
});
