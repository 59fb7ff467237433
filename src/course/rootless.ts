/**
 * `npm run lesson N` for a user without root. A lesson that needs nothing of the machine's root
 * (LESSON_NEEDS_ROOT) runs as root of the user's own user namespace — the one rootless minidocker
 * uses (lessons/08-userns/rootless.ts) — and says so; any other says why in one line, then goes
 * through sudo (scripts/as-root.sh) as before.
 */

/** What this file uses of lesson 08's rootless.ts, loaded by path as the course loads every lesson. */
interface RootlessModule {
  rootlessPlaces(env: NodeJS.ProcessEnv, user: RootlessUser): { runDir: string; stateDir: string };
  pauseProcess(places: { runDir: string; stateDir: string }, user: RootlessUser): Promise<number>;
  enterCommand(pausePid: number, command: readonly string[]): string[];
  currentUser(): RootlessUser;
  RootlessError: new (...args: never[]) => Error;
}
interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

async function loadRootless(): Promise<RootlessModule | null> {
  const lesson = findLesson(8);
  const file = lesson && path.join(lesson.dir, 'rootless.ts');
  return file && existsSync(file) ? ((await import(pathToFileURL(file).href)) as RootlessModule) : null;
}
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LESSON_NEEDS_ROOT } from './doctor/checks.js';
import { findLesson, repoRoot } from './paths.js';
import { findProgram } from '../sys/programs.js';
import { runInForeground } from '../sys/process.js';

/** Runs this command again, rootless or through sudo, and gives its exit status. */
export async function runLessonWithoutRoot(lesson: number): Promise<number> {
  const again = [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  const needsRoot = lesson in LESSON_NEEDS_ROOT ? LESSON_NEEDS_ROOT[lesson]! : 'it is not known to run without root';
  const rootless = needsRoot === null ? await loadRootless() : null;
  let why = `needs root: ${needsRoot ?? "lesson 08's rootless.ts, which runs lessons without root, is missing"}`;
  if (rootless) {
    const { currentUser, enterCommand, pauseProcess, rootlessPlaces, RootlessError } = rootless;
    const user = currentUser();
    const places = rootlessPlaces(process.env, user);
    try {
      const pause = await pauseProcess(places, user);
      process.stderr.write(`lesson ${lesson} runs without root: as root of your own user namespace (your IDs from /etc/subuid; lesson 08), not of the machine\n`);
      // The namespace's root is uid 0: tsx's cache (/tmp/tsx-0) and the lab's state would be the machine root's folders.
      const tmp = path.join(places.runDir, 'tmp');
      mkdirSync(tmp, { recursive: true, mode: 0o700 });
      return await runInForeground(enterCommand(pause, again), { ...process.env, TMPDIR: tmp, LAB_STATE_DIR: places.stateDir });
    } catch (error) {
      if (!(error instanceof RootlessError)) throw error;
      why = `could run without root, but ${error.message}`;
    }
  }
  if (!findProgram('sudo')) {
    process.stderr.write(`lesson ${lesson} ${why}; there is no sudo here: run it again as root\n`);
    return 1;
  }
  process.stderr.write(`lesson ${lesson} ${why}; trying sudo\n`);
  return runInForeground(['bash', path.join(repoRoot, 'scripts', 'as-root.sh'), ...again], process.env);
}
