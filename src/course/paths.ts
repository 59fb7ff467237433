/**
 * Where things live: the repository, its lessons, and the student's workshop.
 *
 * Every function takes the folders as parameters with the real repository as the default, so the
 * course's own tests can point them at small fixture lessons instead.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { defaultWorkshopDir, repoRoot } from '../build/repo.js';

export { defaultWorkshopDir, repoRoot };

/** The reference lessons, written by the course authors (solution regions included). */
export const referenceLessonsDir = path.join(repoRoot, 'lessons');

/** Left in a workshop lesson folder that holds an unchanged reference copy rather than the student's work. */
export const REFERENCE_COPY_MARKER = '.reference-copy';

export interface LessonDir {
  number: number;
  /** The folder name, e.g. "01-uts". */
  slug: string;
  /** The folder's absolute path. */
  dir: string;
}

const LESSON_FOLDER = /^(\d{2})-[a-z0-9][a-z0-9-]*$/;

/** The lesson folders (NN-slug) in a lessons/ folder, by number. */
export function listLessons(lessonsDir: string = referenceLessonsDir): LessonDir[] {
  if (!existsSync(lessonsDir)) return [];
  return readdirSync(lessonsDir)
    .filter((name) => LESSON_FOLDER.test(name) && statSync(path.join(lessonsDir, name)).isDirectory())
    .map((slug) => ({ number: Number(slug.slice(0, 2)), slug, dir: path.join(lessonsDir, slug) }))
    .sort((a, b) => a.number - b.number);
}

export function findLesson(number: number, lessonsDir: string = referenceLessonsDir): LessonDir | undefined {
  return listLessons(lessonsDir).find((lesson) => lesson.number === number);
}

/** The lessons in a workshop that hold the student's own work (not reference copies). */
export function studentLessons(workshopDir: string = defaultWorkshopDir): LessonDir[] {
  return listLessons(path.join(workshopDir, 'lessons')).filter((l) => !existsSync(path.join(l.dir, REFERENCE_COPY_MARKER)));
}

/** "1", "01" → 1; anything else → undefined. */
export function parseLessonNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,2}$/.test(text)) return undefined;
  return Number(text);
}

export function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

// Short names for the scorecard. Unknown slugs fall back to their words, capitalised.
const SHORT_NAMES: Record<string, string> = {
  uts: 'UTS',
  pid: 'PID',
  ipc: 'IPC',
  mount: 'Mount',
  cgroups: 'cgroups',
  overlay: 'OverlayFS',
  network: 'Network',
  api: 'API',
  userns: 'User namespace',
};

/** "01-uts" → "UTS". */
export function lessonShortName(slug: string): string {
  const words = slug.replace(/^\d{2}-/, '');
  return SHORT_NAMES[words] ?? words.replace(/(^|-)(\w)/g, (_, sep: string, c: string) => (sep ? ' ' : '') + c.toUpperCase());
}

/** "Lesson 01 · UTS". */
export function lessonLabel(lesson: { number: number; slug: string }): string {
  return `Lesson ${pad2(lesson.number)} · ${lessonShortName(lesson.slug)}`;
}

/** A path for messages: relative to the current folder when inside it, else absolute. Always with "/". */
export function displayPath(file: string, from: string = process.cwd()): string {
  const relative = path.relative(from, file);
  const shown = relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
  return shown.split(path.sep).join('/');
}

/** All .ts files of a lesson folder (subfolders too) that belong to the student's copy: no tests. Sorted. */
export function lessonSourceFiles(lessonDir: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && entry.name.endsWith('.ts') && !/\.(test|spec)\.ts$/.test(entry.name)) files.push(full);
    }
  };
  walk(lessonDir);
  return files.sort();
}
