/**
 * A pure, in-memory lesson for the frame's tests: no root, no kernel objects. It records what the
 * frame did to it (sessions started, steps run, snapshots read, closes) so tests can check it.
 */
import type { Lesson, LessonSession, ShellCommand, Snapshot } from '../../src/course/lesson.js';

export interface FakeOptions {
  /** Index of a step whose run() throws. */
  failAt?: number;
  refreshMs?: number;
  /** What shell() returns once the container exists (step 2 on). Default: a harmless command. */
  shell?: ShellCommand;
  /** Makes run() of this step wait until release() is called. */
  holdAt?: number;
}

export interface FakeLog {
  starts: number;
  closes: number;
  /** Closes per session, by session number (1-based). */
  closesBySession: number[];
  runs: string[];
  snapshots: number;
  release: () => void;
}

export const STEP_TITLES = ['Look at the host', 'Start a container', 'Give it a host name', 'List its processes'];

export function fakeLesson(options: FakeOptions = {}): { lesson: Lesson; log: FakeLog } {
  let release = () => {};
  const log: FakeLog = { starts: 0, closes: 0, closesBySession: [], runs: [], snapshots: 0, release: () => release() };
  const lesson: Lesson = {
    number: 1,
    slug: '01-uts',
    title: 'UTS namespace: a host name of its own',
    refreshMs: options.refreshMs ?? 0,
    async start(): Promise<LessonSession> {
      log.starts++;
      const sessionNumber = log.starts;
      log.closesBySession[sessionNumber] = 0;
      let container = false;
      let hostname = 'devbox';
      let processes = false;
      const step = (title: string, narration: string, work: () => void) => ({
        title,
        narration,
        async run() {
          const index = STEP_TITLES.indexOf(title);
          log.runs.push(`${sessionNumber}:${index + 1}`);
          if (options.holdAt === index) await new Promise<void>((resolve) => (release = resolve));
          if (options.failAt === index) throw new Error(`boom at step ${index + 1}\nstack line that must not show`);
          work();
        },
      });
      return {
        steps: [
          step(STEP_TITLES[0]!, 'Before anything: the host as it is.', () => {}),
          step(STEP_TITLES[1]!, 'clone() with CLONE_NEWUTS gives the child its own UTS namespace.', () => (container = true)),
          step(STEP_TITLES[2]!, 'sethostname() inside changes only the container.', () => (hostname = 'lab-3f2a')),
          step(STEP_TITLES[3]!, 'ps inside the container.', () => (processes = true)),
        ],
        async snapshot(): Promise<Snapshot> {
          log.snapshots++;
          const snapshot: Snapshot = {
            host: [
              { label: 'hostname', value: 'devbox', source: 'hostname' },
              { label: 'uts ns', value: 'uts:[4026531838]', source: 'readlink /proc/self/ns/uts' },
              { label: 'reads', value: String(log.snapshots) },
            ],
            container: [],
          };
          if (container) {
            snapshot.container.push(
              { label: 'hostname', value: hostname, source: 'hostname' },
              { label: 'uts ns', value: 'uts:[4026532201]', source: 'readlink /proc/1/ns/uts' },
            );
          }
          if (processes) {
            snapshot.container.push({ label: 'processes', value: '  PID CMD\n    1 \x1b[1msh\x1b[0m\n    7 ps\n' });
          }
          return snapshot;
        },
        shell: () => (container ? (options.shell ?? { file: 'true', args: [], banner: 'Entering the container.' }) : null),
        async close() {
          log.closes++;
          log.closesBySession[sessionNumber]!++;
        },
      };
    },
  };
  return { lesson, log };
}

/** Polls until `condition` holds (Ink and the controller settle over a few ticks). */
export async function until(condition: () => boolean, what = 'condition', timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
