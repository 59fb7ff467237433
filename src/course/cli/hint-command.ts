/** What `npm run hint N [EXERCISE-ID]` does and prints, as a function the course's tests can call. */
import chalk from 'chalk';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CourseError } from '../errors.js';
import { revealNextHint, resetHints, type HintFolders, type HintReveal } from '../hints.js';
import { displayPath, lessonLabel, parseLessonNumber } from '../paths.js';

const USAGE = 'npm run hint N [EXERCISE-ID] [-- --reset]';

interface HintArgs {
  lesson: number;
  exercise?: string;
  reset: boolean;
}

function parseHintArgs(argv: readonly string[]): HintArgs {
  const positional: string[] = [];
  let reset = false;
  for (const arg of argv) {
    if (arg === '--reset') reset = true;
    else if (arg.startsWith('--')) throw new CourseError(`unknown option ${arg}; usage: ${USAGE}`);
    else positional.push(arg);
  }
  if (positional.length === 0) throw new CourseError(`which lesson? usage: ${USAGE}, e.g. npm run hint 1`);
  if (positional.length > 2) throw new CourseError(`one lesson and at most one exercise, got "${positional.join(' ')}"; usage: ${USAGE}`);
  const lesson = parseLessonNumber(positional[0]);
  if (lesson === undefined) throw new CourseError(`"${positional[0]}" is not a lesson number; usage: ${USAGE}`);
  return { lesson, exercise: positional[1], reset };
}

/** Runs the command; returns what to print. Throws CourseError on bad input. */
export function hintCommand(argv: readonly string[], folders: HintFolders = {}): string {
  const { lesson, exercise, reset } = parseHintArgs(argv);
  if (reset) {
    const lessonDir = resetHints(lesson, exercise, folders);
    const what = exercise ? `the hints of ${exercise}` : 'all its hints';
    return `${lessonLabel(lessonDir)}: ${what} hidden again; \`npm run hint ${lesson}${exercise ? ` ${exercise}` : ''}\` starts from the first one.`;
  }
  const reveal = revealNextHint(lesson, exercise, folders);
  if ('noExercises' in reveal) {
    const readme = path.join(reveal.lesson.dir, 'README.md');
    const readMore = existsSync(readme) ? displayPath(readme) : `${displayPath(reveal.lesson.dir)}/`;
    return `${lessonLabel(reveal.lesson)} has no exercises, so no hints. The whole story is in ${readMore}.`;
  }
  return formatHints(reveal);
}

const WHY: Record<HintReveal['reason'], string> = {
  asked: '',
  failing: 'the first exercise your last `npm test` failed',
  todo: 'the first exercise whose TODO is still in your copy',
  first: 'the first exercise of the lesson; you have no copy of it yet: `npm run exercise N`',
  'all-done': 'every exercise of your copy is written and none failed at your last `npm test`; this is the first one',
};

export function formatHints({ lesson, exercise, reason, hints, shown, revealedNew, exerciseIds }: HintReveal): string {
  const n = lesson.number;
  const again = `npm run hint ${n} ${exercise.id}`;
  const out = [chalk.bold(`${lessonLabel(lesson)} · ${exercise.id}: hint ${shown} of ${hints.length}`)];
  if (reason !== 'asked') out.push(chalk.dim(`(${WHY[reason].replace('npm run exercise N', `npm run exercise ${n}`)})`));
  out.push(`  TODO: ${exercise.task}`, '');
  hints.slice(0, shown).forEach((hint, index) => {
    const isNew = revealedNew && index === shown - 1;
    const line = `${isNew ? '▶' : ' '} ${index + 1}. ${hint}`;
    out.push(isNew ? chalk.bold(line) : line);
  });
  out.push('');
  // The reference's region, for a student who wants to compare after trying: it is not a hint.
  const reference = `${exercise.file}:${exercise.line}`;
  if (shown < hints.length) out.push(chalk.dim(`Run \`${again}\` again for the next one.`));
  else out.push(`${revealedNew ? 'That was the last hint' : 'You have seen every hint'} for ${exercise.id}. Stuck all the same? The reference solution is in ${reference}.`);
  const others = exerciseIds.filter((id) => id !== exercise.id);
  if (others.length > 0) out.push(chalk.dim(`Another exercise: \`npm run hint ${n} ID\`, ID one of ${others.join(', ')}.`));
  return out.join('\n');
}
