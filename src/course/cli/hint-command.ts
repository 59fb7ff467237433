/** What `npm run hint N` does and prints, as a function the course's tests can call. */
import chalk from 'chalk';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { revealNextHint, resetHints, type HintFolders, type HintReveal } from '../hints.js';
import { displayPath, lessonLabel } from '../paths.js';
import { parseLessonArgs } from './args.js';

const USAGE = 'npm run hint N [-- --reset]';

/** Runs the command; returns what to print. Throws CourseError on bad input. */
export function hintCommand(argv: readonly string[], folders: HintFolders = {}): string {
  const { lesson, flags } = parseLessonArgs(argv, ['--reset'], USAGE);
  if (flags.has('--reset')) {
    const reset = resetHints(lesson, folders);
    return `${lessonLabel(reset)}: hints hidden again; \`npm run hint ${lesson}\` starts from the first one.`;
  }
  return formatHints(revealNextHint(lesson, folders));
}

export function formatHints({ lesson, hints, shown, revealedNew }: HintReveal): string {
  const readme = path.join(lesson.dir, 'README.md');
  const readMore = existsSync(readme) ? displayPath(readme) : `${displayPath(lesson.dir)}/`;
  if (hints.length === 0) return `${lessonLabel(lesson)} has no hints. The whole story is in ${readMore}.`;

  const out = [chalk.bold(`${lessonLabel(lesson)}: hint ${shown} of ${hints.length}`), ''];
  hints.slice(0, shown).forEach((hint, index) => {
    const isNew = revealedNew && index === shown - 1;
    const line = `${isNew ? '▶' : ' '} ${index + 1}. ${chalk.cyan(`[${hint.exercise}]`)} ${hint.text}`;
    out.push(isNew ? chalk.bold(line) : line);
  });
  out.push('');
  if (!revealedNew) out.push(`That is every hint for this lesson; you have seen them all. The whole story is in ${readMore}.`);
  else if (shown === hints.length) out.push(`That was the last hint. The whole story is in ${readMore}.`);
  else out.push(chalk.dim(`Run \`npm run hint ${lesson.number}\` again for the next one.`));
  return out.join('\n');
}
