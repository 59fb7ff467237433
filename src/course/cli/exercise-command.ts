/** What `npm run exercise N` does and prints, as a function the course's tests can call. */
import chalk from 'chalk';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { displayPath, lessonLabel, type LessonDir } from '../paths.js';
import { startExercise, type ExerciseReport, type Folders } from '../workshop.js';
import { parseLessonArgs } from './args.js';

const USAGE = 'npm run exercise N [-- --reset]';

/** Runs the command; returns what to print. Throws CourseError on bad input. */
export function exerciseCommand(argv: readonly string[], folders: Folders = {}): string {
  const { lesson, flags } = parseLessonArgs(argv, ['--reset'], USAGE);
  return formatReport(startExercise(lesson, { ...folders, reset: flags.has('--reset') }));
}

/** Two aligned columns. */
function table(rows: [string, string][], indent = '  '): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`);
}

/**
 * How the lesson's README says to watch your own code run, e.g.
 * `sudo env "PATH=$PATH" npm run lesson 6 -- --mine --sandbox`: the README is the one place that says
 * which flags a lesson wants (lesson 06's --sandbox keeps a shared machine's network untouched).
 */
export function readmeMineCommand(lesson: LessonDir): string | undefined {
  const readme = path.join(lesson.dir, 'README.md');
  if (!existsSync(readme)) return undefined;
  for (const line of readFileSync(readme, 'utf8').split('\n')) {
    const command = line.replace(/\s+#.*$/, '').trim();
    if (new RegExp(`npm run lesson ${lesson.number} -- .*--mine\\b`).test(command)) return command;
  }
  return undefined;
}

export function formatReport(report: ExerciseReport): string {
  const { lesson } = report;
  const n = lesson.number;
  const out: string[] = [chalk.bold(`${lessonLabel(lesson)}: your copy is ready in ${displayPath(report.dir)}/`)];
  if (report.replaced === 'backed-up') out.push(`  Your previous copy is now in ${displayPath(report.backupDir ?? '')}/`);
  if (report.replaced === 'reference-copy') out.push('  It replaces the reference copy that was there.');
  for (const copy of report.referenceCopies) {
    out.push(`  ${lessonLabel(copy.lesson)} was missing, so ${displayPath(copy.dir)}/ is a finished reference copy for this lesson to build on`);
    out.push(chalk.dim(`    (\`npm run exercise ${copy.lesson.number}\` swaps it for your own copy to fill in)`));
  }
  for (const file of report.files) out.push(chalk.dim(`  created ${displayPath(file.path)}`));

  const todos = report.files.flatMap((file) => file.todos.map((todo) => ({ ...todo, where: `${displayPath(file.path)}:${todo.line}` })));
  const idWidth = Math.max(...todos.map((t) => t.id.length));
  out.push('', chalk.bold(`Your TODOs (${todos.length}):`));
  out.push(...table(todos.map((t) => [t.where, `${chalk.cyan(t.id.padEnd(idWidth))}  ${t.task}`])));

  out.push('', chalk.bold('Next:'));
  out.push(
    ...table([
      // As root, keeping the caller's PATH so a node installed with nvm is still found.
      [readmeMineCommand(lesson) ?? `sudo env "PATH=$PATH" npm run lesson ${n} -- --mine`, 'watch your code run in the lesson'],
      ['sudo env "PATH=$PATH" npm test', 'check your work'],
      [`npm run hint ${n} [ID]`, 'stuck? a hint for your first unfinished exercise (or the one named)'],
    ]),
  );
  return out.join('\n');
}
