/**
 * `npm run hint N [EXERCISE-ID]`: one more hint per call, for one exercise at a time.
 *
 * The hints are the `// HINT:` lines of the reference source (the single source of truth), in order:
 * a nudge, then the idea, then where to look (a man page, a file of the lesson). None is the answer
 * itself; a student who wants that reads the reference lesson.
 *
 * Without an ID, the hint is for the first exercise of the lesson that is not done yet: one the last
 * `npm test` failed (workshop/.graded.json, written by the scorecard) or whose TODO is still in the
 * student's copy. How many hints of each exercise were shown is kept in workshop/.hints.json, e.g.
 * { "revealed": { "01-uts": { "uts.hostname": 2 } } }.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CourseError } from './errors.js';
import type { ExerciseRegion } from './markers.js';
import { defaultWorkshopDir, findLesson, lessonLabel, lessonSourceFiles, referenceLessonsDir, type LessonDir } from './paths.js';
import { GRADED_FILE, type GradedExercises } from './results.js';
import { lessonNotFound, readLesson, workshopLessonDir, workshopState } from './workshop.js';

export interface Hint {
  exercise: string;
  text: string;
}

export interface HintFolders {
  lessonsDir?: string;
  workshopDir?: string;
}

/** Exercise id → how many of its hints were shown; per lesson slug. */
interface HintState {
  revealed: Record<string, Record<string, number>>;
}

/** Every hint of a lesson, file by file, top to bottom. */
export function lessonHints(lesson: LessonDir): Hint[] {
  return lessonExercises(lesson).flatMap((region) => region.hints.map((text) => ({ exercise: region.id, text })));
}

/** The exercises of a lesson in the order a student meets them: file by file, top to bottom. */
export function lessonExercises(lesson: LessonDir): ExerciseRegion[] {
  return readLesson(lesson).flatMap((source) => source.regions);
}

function readJson(file: string): unknown {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined; // A damaged file only costs the student a replay of the hints.
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function readState(workshopDir: string): HintState {
  const parsed = readJson(path.join(workshopDir, '.hints.json'));
  const revealed: HintState['revealed'] = {};
  if (isRecord(parsed) && isRecord(parsed.revealed)) {
    for (const [slug, counts] of Object.entries(parsed.revealed)) {
      // An older state counted per lesson (a number): it cannot say which exercise, so it starts over.
      if (!isRecord(counts)) continue;
      revealed[slug] = Object.fromEntries(Object.entries(counts).filter((entry): entry is [string, number] => typeof entry[1] === 'number'));
    }
  }
  return { revealed };
}

function writeState(workshopDir: string, state: HintState): void {
  mkdirSync(workshopDir, { recursive: true });
  writeFileSync(path.join(workshopDir, '.hints.json'), `${JSON.stringify(state, null, 2)}\n`);
}

/** The last grading run's verdict per exercise, or nothing when there was none. */
export function readGraded(workshopDir: string): GradedExercises {
  const parsed = readJson(path.join(workshopDir, GRADED_FILE));
  return isRecord(parsed) && isRecord(parsed.lessons) ? (parsed as unknown as GradedExercises) : { lessons: {} };
}

/** The exercise ids whose `throw new Todo('id', ...)` is still in the student's copy of the lesson. */
export function todosLeft(lesson: LessonDir, workshopDir: string): Set<string> {
  const left = new Set<string>();
  if (workshopState(lesson, workshopDir) !== 'student') return left;
  for (const file of lessonSourceFiles(workshopLessonDir(lesson, workshopDir))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/throw new Todo\('([^']+)'/g)) left.add(match[1] ?? '');
  }
  return left;
}

export type ChoiceReason = 'asked' | 'failing' | 'todo' | 'first' | 'all-done';

/**
 * Which exercise a bare `npm run hint N` is about: the first (in lesson order) that the last grading
 * run failed or whose TODO is still there; with no copy of the lesson yet, the first exercise.
 */
export function chooseExercise(lesson: LessonDir, exercises: readonly ExerciseRegion[], workshopDir: string): { exercise: ExerciseRegion; reason: ChoiceReason } {
  const graded = readGraded(workshopDir).lessons[lesson.slug] ?? {};
  const todos = todosLeft(lesson, workshopDir);
  for (const exercise of exercises) {
    if (graded[exercise.id] === 'failed') return { exercise, reason: 'failing' };
    if (todos.has(exercise.id)) return { exercise, reason: 'todo' };
  }
  const started = workshopState(lesson, workshopDir) === 'student';
  return { exercise: exercises[0]!, reason: started ? 'all-done' : 'first' };
}

export interface HintReveal {
  lesson: LessonDir;
  /** The exercise the hints are for. */
  exercise: ExerciseRegion;
  /** Why this exercise (when no id was given). */
  reason: ChoiceReason;
  /** Every hint of that exercise. */
  hints: string[];
  /** How many are shown now (the first `shown` of `hints`). */
  shown: number;
  /** False when every hint had already been shown before this call. */
  revealedNew: boolean;
  /** The lesson's exercise ids, in order (to name the others). */
  exerciseIds: string[];
}

function resolve(number: number, folders: HintFolders): { lesson: LessonDir; workshopDir: string } {
  const lessonsDir = folders.lessonsDir ?? referenceLessonsDir;
  const lesson = findLesson(number, lessonsDir);
  if (!lesson) throw lessonNotFound(number, lessonsDir, 'hint');
  return { lesson, workshopDir: folders.workshopDir ?? defaultWorkshopDir };
}

function unknownExercise(lesson: LessonDir, id: string, exercises: readonly ExerciseRegion[]): CourseError {
  return new CourseError(`${lessonLabel(lesson)} has no exercise "${id}"; its exercises are ${exercises.map((e) => e.id).join(', ')}`);
}

/** Reveals the next hint of one exercise of lesson `number` (the first not done yet, when `id` is not given). */
export function revealNextHint(number: number, id?: string, folders: HintFolders = {}): HintReveal | { lesson: LessonDir; noExercises: true } {
  const { lesson, workshopDir } = resolve(number, folders);
  const exercises = lessonExercises(lesson);
  if (exercises.length === 0) return { lesson, noExercises: true };

  let exercise: ExerciseRegion;
  let reason: ChoiceReason = 'asked';
  if (id !== undefined) {
    const found = exercises.find((e) => e.id === id);
    if (!found) throw unknownExercise(lesson, id, exercises);
    exercise = found;
  } else {
    ({ exercise, reason } = chooseExercise(lesson, exercises, workshopDir));
  }

  const state = readState(workshopDir);
  const counts = (state.revealed[lesson.slug] ??= {});
  // Clamp: the hints may have changed since the state was written.
  const before = Math.min(Math.max(0, Math.floor(Number(counts[exercise.id]) || 0)), exercise.hints.length);
  const shown = Math.min(before + 1, exercise.hints.length);
  counts[exercise.id] = shown;
  writeState(workshopDir, state);
  return { lesson, exercise, reason, hints: exercise.hints, shown, revealedNew: shown > before, exerciseIds: exercises.map((e) => e.id) };
}

/** Forgets which hints of lesson `number` (or of one of its exercises) were shown. */
export function resetHints(number: number, id?: string, folders: HintFolders = {}): LessonDir {
  const { lesson, workshopDir } = resolve(number, folders);
  if (id !== undefined) {
    const exercises = lessonExercises(lesson);
    if (!exercises.some((e) => e.id === id)) throw unknownExercise(lesson, id, exercises);
  }
  const state = readState(workshopDir);
  if (id === undefined) delete state.revealed[lesson.slug];
  else delete state.revealed[lesson.slug]?.[id];
  writeState(workshopDir, state);
  return lesson;
}
