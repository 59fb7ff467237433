/**
 * Reads the exercise markers in a reference lesson file.
 *
 * The reference code holds the solution exactly once, fenced like this:
 *
 *     // EXERCISE(uts.hostname): Give the container its own host name.
 *     // HINT: The UTS namespace holds exactly two strings ...
 *     sys.sethostname(config.hostname);
 *     // END EXERCISE
 *
 * The student's skeleton and the hints are both generated from these lines, so they cannot drift apart.
 * Markers are recognised per line (not by parsing TypeScript) to keep the format easy to predict.
 */
import { CourseError } from './errors.js';

export interface ExerciseRegion {
  /** e.g. "uts.hostname"; unique within a lesson. */
  id: string;
  /** What the student has to write, one sentence. */
  task: string;
  hints: string[];
  /** The file, as it should appear in messages. */
  file: string;
  /** 1-based line numbers of the EXERCISE and END EXERCISE lines. */
  line: number;
  endLine: number;
  /** The whitespace before the EXERCISE marker; the skeleton's TODO lines get the same. */
  indent: string;
}

/** A broken marker in a reference lesson; the message starts with file:line. */
export class MarkerError extends CourseError {
  constructor(
    readonly file: string,
    readonly line: number,
    problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
  }
}

// Anything that starts like a marker must be exactly a marker: a typo should fail loudly, not vanish.
const LOOKS_LIKE_MARKER = /^\s*\/\/\s*(EXERCISE|END EXERCISE|HINT)\b/;
const EXERCISE = /^(\s*)\/\/ EXERCISE\(([^()\s]*)\): (.*\S)\s*$/;
const HINT = /^\s*\/\/ HINT: (.*\S)\s*$/;
const END = /^\s*\/\/ END EXERCISE\s*$/;
const EXERCISE_ID = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/i;

export function splitLines(source: string): string[] {
  return source.split(/\r?\n/);
}

/** Finds every exercise region in one file. Throws MarkerError (file:line) on a malformed marker. */
export function findExercises(source: string, file: string): ExerciseRegion[] {
  const regions: ExerciseRegion[] = [];
  let open: ExerciseRegion | undefined;
  let codeLines = 0;

  splitLines(source).forEach((text, index) => {
    const line = index + 1;
    const fail = (problem: string): never => {
      throw new MarkerError(file, line, problem);
    };

    if (!LOOKS_LIKE_MARKER.test(text)) {
      // Blank lines and comments alone do not make a solution: an empty region would make an empty exercise.
      if (open && text.trim() !== '' && !text.trim().startsWith('//')) codeLines++;
      return;
    }

    const exercise = EXERCISE.exec(text);
    if (exercise) {
      const [, indent = '', id = '', task = ''] = exercise;
      if (open) fail(`EXERCISE(${id}) starts inside EXERCISE(${open.id}) from line ${open.line}; regions cannot nest, close that one with // END EXERCISE first`);
      if (!EXERCISE_ID.test(id)) fail(`"${id}" is not a valid exercise id; use words and dots, e.g. EXERCISE(uts.hostname)`);
      open = { id, task, hints: [], file, line, endLine: line, indent };
      codeLines = 0;
      return;
    }

    const hint = HINT.exec(text);
    if (hint) {
      if (!open) fail('HINT outside an exercise region; put it right after its // EXERCISE(id): line');
      open!.hints.push(hint[1] ?? '');
      return;
    }

    if (END.test(text)) {
      if (!open) fail('END EXERCISE without an EXERCISE before it');
      if (codeLines === 0) fail(`EXERCISE(${open!.id}) from line ${open!.line} has no code between its markers; the region must hold the solution`);
      regions.push({ ...open!, endLine: line });
      open = undefined;
      return;
    }

    fail('malformed marker; the forms are "// EXERCISE(id): task", "// HINT: text" and "// END EXERCISE"');
  });

  if (open) throw new MarkerError(file, open.line, `EXERCISE(${open.id}) has no // END EXERCISE; add one after the solution`);
  return regions;
}

/** Exercise ids are unique per lesson (across its files): the grader and the hints refer to them by id. */
export function checkUniqueIds(regions: readonly ExerciseRegion[]): void {
  const seen = new Map<string, ExerciseRegion>();
  for (const region of regions) {
    const first = seen.get(region.id);
    if (first) throw new MarkerError(region.file, region.line, `exercise id "${region.id}" is already used at ${first.file}:${first.line}; ids must be unique in a lesson`);
    seen.set(region.id, region);
  }
}
