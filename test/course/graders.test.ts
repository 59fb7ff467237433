/**
 * The graders are themselves tested: for every lesson with exercises, the generated skeleton must FAIL
 * every graded check (a check that passes on a skeleton checks nothing) and the reference must PASS
 * them all. Graded checks start real containers, hence root.
 */
import { expect, it } from 'vitest';
import { gradeReference, gradeSkeleton, gradingProblems } from '../../src/course/grade-skeleton.js';
import { readLesson } from '../../src/course/workshop.js';
import { listLessons } from '../../src/course/paths.js';
import { describeAsRoot } from '../helpers/root.js';

// A malformed marker throws here, which fails this file loudly: the skeleton could not be generated.
const lessonsWithExercises = listLessons().filter((lesson) => readLesson(lesson).some((source) => source.regions.length > 0));

describeAsRoot('graders: skeleton fails, reference passes', () => {
  for (const lesson of lessonsWithExercises) {
    it(`lesson ${lesson.slug}`, async () => {
      const [skeleton, reference] = [await gradeSkeleton(lesson.number), await gradeReference(lesson.number)];
      expect(gradingProblems(skeleton, reference)).toEqual([]);
    }, 300_000);
  }
});
