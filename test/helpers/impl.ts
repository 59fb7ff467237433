/**
 * Graded tests check whichever implementation is under test — the reference, the student's workshop,
 * or a generated skeleton — so they get lesson code and the init bundle from here, never directly.
 */
import type { BundleTarget } from '../../src/build/bundle.js';
import { implementationRoot, testingWorkshop } from '../../src/course/impl.js';

export { importLesson, registryUnderTest } from '../../src/course/impl.js';

/** The init program containers start with: built from the implementation under test. */
export function bundleUnderTest(): BundleTarget {
  return testingWorkshop() ? { workshop: implementationRoot() } : {};
}
