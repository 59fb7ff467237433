import { formatErrorDebug, formatErrorLine } from '../sys/errors.js';

/**
 * An error meant for the person at the keyboard, not for a debugger: its message is one line that says
 * what went wrong and what to do about it. The command-line tools print it as is, without a stack trace.
 */
export class CourseError extends Error {
  override name = 'CourseError';
  constructor(
    message: string,
    /** The process exit code: 2 for bad input (the usual case), 1 for "refused, nothing changed". */
    readonly exitCode: number = 2,
  ) {
    super(message);
  }
}

/** Prints an error the way the course's commands do: one line, then exits with the error's code. */
export function exitWithError(error: unknown): never {
  if (error instanceof CourseError) {
    console.error(`error: ${formatErrorLine(error)}`);
    process.exit(error.exitCode);
  }
  // Unexpected failures are bugs in the course, so say where to go; DEBUG=1 shows the causes' stacks for the authors.
  if (process.env.DEBUG) console.error(formatErrorDebug(error));
  console.error(`error: ${formatErrorLine(error)} (unexpected; run again with DEBUG=1 and report it if it persists)`);
  process.exit(1);
}

export function firstLine(text: string): string {
  return text.split('\n', 1)[0]?.trim() ?? '';
}
