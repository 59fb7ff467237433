/**
 * `npm run hint N`: one more hint per call, in the order they appear in the reference lesson.
 *
 * The hints are the `// HINT:` lines of the reference source (the single source of truth); how many the
 * student has already seen is kept in workshop/.hints.json, e.g. { "revealed": { "01-uts": 2 } }.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultWorkshopDir, findLesson, referenceLessonsDir, type LessonDir } from './paths.js';
import { lessonNotFound, readLesson } from './workshop.js';

export interface Hint {
  exercise: string;
  text: string;
}

export interface HintFolders {
  lessonsDir?: string;
  workshopDir?: string;
}

interface HintState {
  revealed: Record<string, number>;
}

/** Every hint of a lesson, file by file, top to bottom. */
export function lessonHints(lesson: LessonDir): Hint[] {
  return readLesson(lesson).flatMap((source) => source.regions.flatMap((region) => region.hints.map((text) => ({ exercise: region.id, text }))));
}

function stateFile(workshopDir: string): string {
  return path.join(workshopDir, '.hints.json');
}

function readState(workshopDir: string): HintState {
  const file = stateFile(workshopDir);
  if (!existsSync(file)) return { revealed: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<HintState>;
    return { revealed: typeof parsed.revealed === 'object' && parsed.revealed !== null ? parsed.revealed : {} };
  } catch {
    return { revealed: {} }; // A damaged file only costs the student a replay of the hints.
  }
}

function writeState(workshopDir: string, state: HintState): void {
  mkdirSync(workshopDir, { recursive: true });
  writeFileSync(stateFile(workshopDir), `${JSON.stringify(state, null, 2)}\n`);
}

export interface HintReveal {
  lesson: LessonDir;
  hints: Hint[];
  /** How many are shown now (the first `shown` of `hints`). */
  shown: number;
  /** False when every hint had already been shown before this call. */
  revealedNew: boolean;
}

/** Reveals the next hint of lesson `number` and remembers that it was shown. */
export function revealNextHint(number: number, folders: HintFolders = {}): HintReveal {
  const lessonsDir = folders.lessonsDir ?? referenceLessonsDir;
  const workshopDir = folders.workshopDir ?? defaultWorkshopDir;
  const lesson = findLesson(number, lessonsDir);
  if (!lesson) throw lessonNotFound(number, lessonsDir);

  const hints = lessonHints(lesson);
  const state = readState(workshopDir);
  // Clamp: the hints may have changed since the state was written.
  const before = Math.min(Math.max(0, Math.floor(Number(state.revealed[lesson.slug]) || 0)), hints.length);
  const shown = Math.min(before + 1, hints.length);
  state.revealed[lesson.slug] = shown;
  writeState(workshopDir, state);
  return { lesson, hints, shown, revealedNew: shown > before };
}

/** Forgets which hints of lesson `number` were shown. */
export function resetHints(number: number, folders: HintFolders = {}): LessonDir {
  const lessonsDir = folders.lessonsDir ?? referenceLessonsDir;
  const workshopDir = folders.workshopDir ?? defaultWorkshopDir;
  const lesson = findLesson(number, lessonsDir);
  if (!lesson) throw lessonNotFound(number, lessonsDir);
  const state = readState(workshopDir);
  delete state.revealed[lesson.slug];
  writeState(workshopDir, state);
  return lesson;
}
