/**
 * `npm run exercise N`: gives the student their own copy of lesson N to fill in.
 *
 * The copy goes to workshop/lessons/NN-slug/ and is generated from the reference lesson: every
 * `// EXERCISE ... // END EXERCISE` region becomes a `throw new Todo(...)`. Everything is planned in
 * memory first, so a bad marker or a refusal leaves the disk untouched.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CourseError } from './errors.js';
import { relativeSpecifier, rewriteModule } from './imports.js';
import { checkUniqueIds, findExercises, type ExerciseRegion } from './markers.js';
import {
  REFERENCE_COPY_MARKER,
  defaultWorkshopDir,
  displayPath,
  findLesson,
  lessonLabel,
  lessonShortName,
  lessonSourceFiles,
  listLessons,
  referenceLessonsDir,
  repoRoot,
  type LessonDir,
} from './paths.js';
import { findTodos, replaceRegions, type TodoLocation } from './skeleton.js';

export interface Folders {
  /** The reference lessons. Default: <repo>/lessons. */
  lessonsDir?: string;
  /** The student's workshop; the copies go to its lessons/ folder. Default: <repo>/workshop. */
  workshopDir?: string;
}

interface ResolvedFolders {
  lessonsDir: string;
  workshopDir: string;
}

function resolveFolders(folders: Folders = {}): ResolvedFolders {
  return { lessonsDir: folders.lessonsDir ?? referenceLessonsDir, workshopDir: folders.workshopDir ?? defaultWorkshopDir };
}

/** The module skeletons import Todo from. Written with .js, as NodeNext wants. */
const TODO_MODULE = path.join(repoRoot, 'src', 'course', 'todo.js');

export interface LessonSource {
  /** Absolute path of the reference file. */
  file: string;
  source: string;
  regions: ExerciseRegion[];
}

/** Reads a reference lesson's files and their exercise markers (checked: well-formed, ids unique). */
export function readLesson(lesson: LessonDir): LessonSource[] {
  const sources = lessonSourceFiles(lesson.dir).map((file) => {
    const source = readFileSync(file, 'utf8');
    return { file, source, regions: findExercises(source, displayPath(file)) };
  });
  checkUniqueIds(sources.flatMap((s) => s.regions));
  return sources;
}

export interface GeneratedFile {
  /** Absolute destination path. */
  path: string;
  text: string;
  todos: TodoLocation[];
}

/** Where a lesson's copy goes in a workshop. */
export function workshopLessonDir(lesson: LessonDir, workshopDir: string): string {
  return path.join(workshopDir, 'lessons', lesson.slug);
}

/**
 * The generated files of one lesson copy. `skeleton: true` replaces the exercise regions (the student's
 * copy); `false` keeps the solutions (a reference copy). Either way relative imports are fixed up.
 */
export function generateLessonCopy(lesson: LessonDir, sources: LessonSource[], destDir: string, lessonsDir: string, skeleton: boolean): GeneratedFile[] {
  return sources.map(({ file, source, regions }) => {
    const dest = path.join(destDir, path.relative(lesson.dir, file));
    const withTodos = skeleton && regions.length > 0 ? replaceRegions(source, regions, lesson.number) : source;
    const text = rewriteModule(withTodos, file, {
      move: { from: file, to: dest, keepInside: lessonsDir },
      addImport:
        skeleton && regions.length > 0
          ? { name: 'Todo', line: `import { Todo } from '${relativeSpecifier(path.dirname(dest), TODO_MODULE)}';` }
          : undefined,
    });
    return { path: dest, text, todos: skeleton ? findTodos(text) : [] };
  });
}

export type WorkshopState = 'missing' | 'reference-copy' | 'student';

export function workshopState(lesson: LessonDir, workshopDir: string): WorkshopState {
  const dir = workshopLessonDir(lesson, workshopDir);
  if (!existsSync(dir)) return 'missing';
  return existsSync(path.join(dir, REFERENCE_COPY_MARKER)) ? 'reference-copy' : 'student';
}

const REFERENCE_COPY_NOTE = `This folder is an unchanged copy of the reference lesson, put here so that later lessons
have something to build on. \`npm run exercise N\` replaces it with your own copy to fill in.
`;

// Lets the student's editor (and \`npx tsc -p workshop\`) check the copies with the course's settings:
// the root tsconfig.json leaves workshop/ out on purpose.
function workshopTsconfig(workshopDir: string): string {
  const base = relativeSpecifier(workshopDir, path.join(repoRoot, 'tsconfig.json'));
  return `// Written by \`npm run exercise\`: checks your lessons with the course's compiler settings.
{
  "extends": "${base}",
  "include": ["lessons"],
  "exclude": []
}
`;
}

export interface ExerciseOptions extends Folders {
  /** Replace a copy the student already has, after backing it up. */
  reset?: boolean;
  /** For the backup folder's name (tests pass a fixed date). */
  now?: Date;
}

export interface ExerciseReport {
  lesson: LessonDir;
  /** The new copy's folder. */
  dir: string;
  files: GeneratedFile[];
  /** What happened to what was there before. */
  replaced: 'nothing' | 'reference-copy' | 'backed-up';
  backupDir?: string;
  /** Earlier lessons that were missing and got a reference copy. */
  referenceCopies: { lesson: LessonDir; dir: string }[];
}

/** "there is no lesson 9; the lessons are 1 UTS, 2 PID, …; e.g. `npm run hint 1`" — for the command the student ran. */
export function lessonNotFound(number: number, lessonsDir: string, command = 'exercise'): CourseError {
  const lessons = listLessons(lessonsDir);
  const which = lessons.length > 0 ? `the lessons are ${lessons.map((l) => `${l.number} ${lessonShortName(l.slug)}`).join(', ')}` : 'there are no lessons yet';
  return new CourseError(`there is no lesson ${number}; ${which}; e.g. \`npm run ${command} ${lessons[0]?.number ?? 1}\``);
}

/** Creates workshop/lessons/NN-slug/ for lesson `number`. Throws CourseError (nothing written) on bad input. */
export function startExercise(number: number, options: ExerciseOptions = {}): ExerciseReport {
  const { lessonsDir, workshopDir } = resolveFolders(options);
  const lesson = findLesson(number, lessonsDir);
  if (!lesson) throw lessonNotFound(number, lessonsDir);

  const sources = readLesson(lesson);
  if (!sources.some((s) => s.regions.length > 0)) {
    throw new CourseError(`${lessonLabel(lesson)} has no exercises yet (no EXERCISE markers in ${displayPath(lesson.dir)}/); pick another lesson`);
  }

  const dir = workshopLessonDir(lesson, workshopDir);
  const state = workshopState(lesson, workshopDir);
  if (state === 'student' && !options.reset) {
    throw new CourseError(
      `${displayPath(dir)}/ already holds your work for ${lessonLabel(lesson)}; to start over run \`npm run exercise ${number} -- --reset\` (it backs your copy up to ${displayPath(path.join(workshopDir, '.backup'))}/ first)`,
      1,
    );
  }

  const files = generateLessonCopy(lesson, sources, dir, lessonsDir, true);
  // Earlier lessons the new one may import from: give the student a working reference copy of each missing one.
  const earlier = listLessons(lessonsDir).filter(
    (l) => l.number < lesson.number && workshopState(l, workshopDir) === 'missing' && lessonSourceFiles(l.dir).length > 0,
  );
  const copies = earlier.map((l) => {
    const copyDir = workshopLessonDir(l, workshopDir);
    // Reference copies keep their solutions, so their markers need not be checked here.
    const copySources = lessonSourceFiles(l.dir).map((file) => ({ file, source: readFileSync(file, 'utf8'), regions: [] }));
    return { lesson: l, dir: copyDir, files: generateLessonCopy(l, copySources, copyDir, lessonsDir, false) };
  });

  // Everything is planned; from here on we write.
  let backupDir: string | undefined;
  if (state === 'student') {
    backupDir = backupPath(workshopDir, lesson, options.now ?? new Date());
    mkdirSync(path.dirname(backupDir), { recursive: true });
    renameSync(dir, backupDir);
  } else if (state === 'reference-copy') {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const copy of copies) {
    writeFiles(copy.files);
    writeFileSync(path.join(copy.dir, REFERENCE_COPY_MARKER), REFERENCE_COPY_NOTE);
  }
  writeFiles(files);
  const tsconfig = path.join(workshopDir, 'tsconfig.json');
  if (!existsSync(tsconfig)) writeFileSync(tsconfig, workshopTsconfig(workshopDir));

  return {
    lesson,
    dir,
    files,
    replaced: state === 'student' ? 'backed-up' : state === 'reference-copy' ? 'reference-copy' : 'nothing',
    backupDir,
    referenceCopies: copies.map(({ lesson: l, dir: d }) => ({ lesson: l, dir: d })),
  };
}

function writeFiles(files: readonly GeneratedFile[]): void {
  for (const file of files) {
    mkdirSync(path.dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.text);
  }
}

/** workshop/.backup/01-uts-2025-11-23T02-38-00, with a suffix if that exists already. */
function backupPath(workshopDir: string, lesson: LessonDir, now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '-');
  const base = path.join(workshopDir, '.backup', `${lesson.slug}-${stamp}`);
  let candidate = base;
  for (let n = 2; existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}
