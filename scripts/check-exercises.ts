/**
 * For lesson authors: checks the exercise markers of every lesson and, with --grade, that each lesson's
 * graded checks all fail on the generated skeleton and all pass on the reference.
 *
 *   npx tsx scripts/check-exercises.ts            markers only (fast)
 *   npx tsx scripts/check-exercises.ts --grade 1  also grade lesson 1 (runs its tests twice)
 */
import { existsSync } from 'node:fs';
import { exitWithError } from '../src/course/errors.js';
import { MarkerError } from '../src/course/markers.js';
import { gradeReference, gradeSkeleton, gradingProblems } from '../src/course/grade-skeleton.js';
import { defaultTestFile } from '../src/course/grading-config.js';
import { displayPath, lessonLabel, listLessons, parseLessonNumber } from '../src/course/paths.js';
import { readLesson } from '../src/course/workshop.js';

async function main(argv: string[]): Promise<number> {
  const grade = argv.includes('--grade');
  const only = argv.filter((a) => !a.startsWith('--')).map((a) => parseLessonNumber(a));
  if (only.includes(undefined)) throw new Error(`usage: npx tsx scripts/check-exercises.ts [--grade] [N ...]`);

  let problems = 0;
  for (const lesson of listLessons().filter((l) => only.length === 0 || only.includes(l.number))) {
    let regions;
    try {
      regions = readLesson(lesson).flatMap((s) => s.regions);
    } catch (error) {
      if (!(error instanceof MarkerError)) throw error;
      console.log(`${lessonLabel(lesson).padEnd(22)} ✗ ${error.message}`);
      problems++;
      continue;
    }
    const hints = regions.reduce((n, r) => n + r.hints.length, 0);
    console.log(`${lessonLabel(lesson).padEnd(22)} ${regions.length === 0 ? 'no exercises yet' : `${regions.length} exercises, ${hints} hints`}`);
    if (!grade || regions.length === 0) continue;

    if (!existsSync(defaultTestFile(lesson))) {
      console.log(`  ✗ no graded test file: ${displayPath(defaultTestFile(lesson))}`);
      problems++;
      continue;
    }
    const [skeleton, reference] = [await gradeSkeleton(lesson.number), await gradeReference(lesson.number)];
    const found = gradingProblems(skeleton, reference);
    const graded = reference.outcomes.filter((o) => o.exercise !== undefined).length;
    if (found.length === 0) console.log(`  ✓ ${graded} graded checks: all fail on the skeleton, all pass on the reference`);
    for (const problem of found) console.log(`  ✗ ${problem}`);
    problems += found.length;
  }
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => process.exit(code), exitWithError);
