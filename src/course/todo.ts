/**
 * The error a student's unfinished exercise throws. The generated skeleton of a lesson replaces each
 * solution region with `throw new Todo(...)`, so running the code says exactly what is left to do.
 */
export class Todo extends Error {
  override name = 'Todo';
  constructor(
    /** The exercise's id, e.g. "uts.hostname". */
    readonly exercise: string,
    /** What the student has to write, one sentence. */
    readonly task: string,
    /** The lesson number, for the `npm run hint N` pointer. */
    readonly lesson: number,
  ) {
    super(`TODO(${exercise}): ${task} — run \`npm run hint ${lesson} ${exercise}\` for a hint.`);
  }
}

export function isTodo(error: unknown): error is Todo {
  return error instanceof Error && error.name === 'Todo' && 'exercise' in error;
}
