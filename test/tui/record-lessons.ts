/**
 * Records what every lesson's steps show, for test/tui/screens.test.tsx: each step's title and
 * narration and both panes as read right after the step. The screen test replays this recording
 * through the real App at several terminal sizes, fast and without root.
 *
 * Run it again (as root; it takes minutes) after a lesson's steps or panes change:
 *
 *   sudo env "PATH=$PATH" LAB_STATE_DIR=$(mktemp -d) npx tsx test/tui/record-lessons.ts [N...]
 *
 * With lesson numbers, only those are recorded again; the others keep their recording.
 * Lesson 06 runs with --sandbox, so the machine's own network is not touched.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { registry } from '../../lessons/registry.js';
import type { LessonFactory, Snapshot } from '../../src/course/lesson.js';
import { listLessons } from '../../src/course/paths.js';
import { LessonController } from '../../src/tui/controller.js';

export interface RecordedStep {
  title: string;
  narration: string;
  /** The panes after the step, or the step's error when it failed. */
  snapshot?: Snapshot;
  error?: string;
}

export interface RecordedLesson {
  number: number;
  title: string;
  steps: RecordedStep[];
}

export const RECORDING = path.join(import.meta.dirname, 'fixtures', 'lessons.json');

// The lessons run ip, iptables and brctl, which live in the sbin folders (see src/course/cli/lesson.ts).
process.env.PATH = `/usr/local/sbin:/usr/sbin:/sbin:${process.env.PATH ?? ''}`;

async function record(number: number, dir: string): Promise<RecordedLesson> {
  const url = pathToFileURL(path.join(dir, 'lesson.ts')).href;
  const factory = ((await import(url)) as { default: LessonFactory }).default;
  const lesson = factory({ mine: false, bundle: {}, registry, sandbox: true });
  const controller = new LessonController(lesson, { refreshMs: 0 });
  try {
    await controller.start();
    for (;;) {
      const { history, steps } = controller.getState();
      const last = history.at(-1);
      if (!last || last.status !== 'done' || history.length >= steps.length) break;
      await controller.next();
    }
    const { history, steps } = controller.getState();
    if (history.length < steps.length) throw new Error(`stopped at step ${history.length}: ${history.at(-1)?.error}`);
    return {
      number: lesson.number,
      title: lesson.title,
      steps: steps.map((step, index) => ({
        title: step.title,
        narration: step.narration,
        ...(history[index]?.snapshot ? { snapshot: history[index].snapshot } : { error: history[index]?.error }),
      })),
    };
  } finally {
    await controller.close();
    if (controller.closeError) throw new Error(`lesson ${number} did not close: ${controller.closeError}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const only = process.argv.slice(2).map(Number);
  const previous = only.length && existsSync(RECORDING) ? (JSON.parse(readFileSync(RECORDING, 'utf8')) as RecordedLesson[]) : [];
  const lessons: RecordedLesson[] = [];
  for (const { number, dir } of listLessons()) {
    const kept = only.length && !only.includes(number) ? previous.find((recorded) => recorded.number === number) : undefined;
    if (kept) {
      lessons.push(kept);
      continue;
    }
    process.stderr.write(`recording lesson ${number}…\n`);
    lessons.push(await record(number, dir));
  }
  writeFileSync(RECORDING, `${JSON.stringify(lessons, null, 1)}\n`);
  process.stderr.write(`wrote ${RECORDING}\n`);
}
