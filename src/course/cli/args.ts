/** The little argument parsing the course's commands need: one lesson number and a few --flags. */
import { CourseError } from '../errors.js';
import { parseLessonNumber } from '../paths.js';

export interface LessonArgs {
  lesson: number;
  flags: Set<string>;
}

/** `usage` is the command with its placeholders, e.g. "npm run exercise N [-- --reset]". */
export function parseLessonArgs(argv: readonly string[], allowedFlags: readonly string[], usage: string): LessonArgs {
  const flags = new Set<string>();
  const positional: string[] = [];
  for (const arg of argv) {
    if (arg.startsWith('--')) {
      if (!allowedFlags.includes(arg)) throw new CourseError(`unknown option ${arg}; usage: ${usage}`);
      flags.add(arg);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length === 0) throw new CourseError(`which lesson? usage: ${usage}, e.g. ${usage.replace(/ N\b.*/, ' 1')}`);
  if (positional.length > 1) throw new CourseError(`one lesson at a time, got "${positional.join(' ')}"; usage: ${usage}`);
  const lesson = parseLessonNumber(positional[0]);
  if (lesson === undefined) throw new CourseError(`"${positional[0]}" is not a lesson number; usage: ${usage}`);
  return { lesson, flags };
}
