/**
 * npm run lesson N [-- --plain] [--mine] [--sandbox]
 *
 * Checks the machine has what lesson N needs, then presents it: the Ink TUI on a terminal, plain text
 * with --plain or without one. With --mine the containers run the student's code from workshop/;
 * with --sandbox lesson 06 leaves the machine's own network alone (see LessonContext.sandbox).
 * Run by a user without root, it runs the lesson in the user's own user namespace where the lesson
 * can do without the machine's root, else says why and goes through sudo (../rootless.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { requireFor, isRequirementError } from '../doctor.js';
import { CourseError, exitWithError } from '../errors.js';
import { loadRegistry, type LessonFactory } from '../lesson.js';
import { defaultWorkshopDir, findLesson, REFERENCE_COPY_MARKER, repoRoot } from '../paths.js';
import { parseLessonArgs } from './args.js';
import { presentLesson } from '../../tui/present.js';
import { runLessonWithoutRoot } from '../rootless.js';
import { inUserNamespace } from '../../sys/process.js';

const USAGE = 'npm run lesson N [-- --plain] [--mine] [--sandbox]';

// `sudo env "PATH=$PATH"` hands us a normal user's PATH, which on Debian lacks the sbin folders where
// ip, iptables and brctl live; the commands the lessons run (and their containers inherit) need them.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const searchPath = (process.env.PATH ?? '').split(':');
process.env.PATH = [...SBIN.filter((dir) => !searchPath.includes(dir)), ...searchPath].join(':');

try {
  const { lesson: number, flags } = parseLessonArgs(process.argv.slice(2), ['--plain', '--mine', '--sandbox'], USAGE);
  const reference = findLesson(number);
  if (!reference || !existsSync(path.join(reference.dir, 'lesson.ts'))) {
    throw new CourseError(`lesson ${number} is not written yet; try \`npm run lesson 1\``);
  }
  const mine = flags.has('--mine');
  let script = path.join(reference.dir, 'lesson.ts');
  if (mine) {
    const own = path.join(defaultWorkshopDir, 'lessons', reference.slug);
    if (!existsSync(own) || existsSync(path.join(own, REFERENCE_COPY_MARKER))) {
      throw new CourseError(`you have no lesson ${number} of your own yet: run \`npm run exercise ${number}\` first`);
    }
    script = path.join(own, 'lesson.ts');
  }

  // Not root: run rootless (as root of the user's own user namespace) where the lesson can, else through sudo.
  const rootless = process.geteuid?.() === 0 && inUserNamespace();
  if (process.geteuid?.() !== 0) process.exit(await runLessonWithoutRoot(number));

  await requireFor(number, { rootless });
  const factory = ((await import(pathToFileURL(script).href)) as { default: LessonFactory }).default;
  const lesson = factory({ mine, bundle: mine ? { workshop: defaultWorkshopDir } : {}, registry: await loadRegistry(mine ? defaultWorkshopDir : undefined), sandbox: flags.has('--sandbox') });
  const codeOrigin = mine
    ? `your code from ${path.relative(repoRoot, path.dirname(script))} (--mine)`
    : `the reference code from ${path.relative(repoRoot, reference.dir)} (add --mine to run yours)`;
  process.exit(await presentLesson(lesson, { plain: flags.has('--plain') ? true : undefined, codeOrigin }));
} catch (error) {
  if (isRequirementError(error)) exitWithError(new CourseError(error.message, 1));
  exitWithError(error);
}
