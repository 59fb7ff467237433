/**
 * Which implementation the graded tests exercise: the reference lessons or the student's workshop.
 *
 * A graded test never imports lesson code statically; it asks for it here, so the same test file checks
 * the reference (for the course's own CI) or the student's copy (when they run `npm test`).
 *
 *   LAB_WORKSHOP_DIR=/abs/path   that folder's lessons/ (used to grade a generated skeleton in a temp dir)
 *   LAB_IMPL=workshop            <repo>/workshop/lessons/
 *   neither (or LAB_IMPL=reference)  <repo>/lessons/
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CourseError } from './errors.js';
import { defaultWorkshopDir, repoRoot } from './paths.js';
import type { FeatureRegistry } from '../container/features.js';
import { loadRegistry } from './lesson.js';

type Env = Record<string, string | undefined>;

/** The absolute path whose lessons/ folder holds the implementation under test. */
export function implementationRoot(env: Env = process.env): string {
  const workshopDir = env.LAB_WORKSHOP_DIR;
  if (workshopDir) {
    if (!path.isAbsolute(workshopDir)) throw new CourseError(`LAB_WORKSHOP_DIR must be an absolute path, got "${workshopDir}"`);
    return workshopDir;
  }
  const impl = env.LAB_IMPL;
  if (impl === 'workshop') return defaultWorkshopDir;
  if (impl === undefined || impl === '' || impl === 'reference') return repoRoot;
  throw new CourseError(`LAB_IMPL must be "workshop" or "reference", got "${impl}"`);
}

/** True when the implementation under test is a workshop (the student's copy or a generated skeleton). */
export function testingWorkshop(env: Env = process.env): boolean {
  return implementationRoot(env) !== repoRoot;
}

/**
 * The path of `file` in lesson `slug` ("01-uts") of the implementation under test. A workshop that does
 * not have the lesson at all falls back to the reference, so later lessons can stand on earlier ones.
 */
export function lessonFile(slug: string, file: string, env: Env = process.env): string {
  const lessonDir = path.join(implementationRoot(env), 'lessons', slug);
  const base = existsSync(lessonDir) ? lessonDir : path.join(repoRoot, 'lessons', slug);
  return path.join(base, file);
}

/**
 * Imports a lesson module of the implementation under test. Give the .ts file name; for types, pass the
 * reference module's type:
 *
 *   const uts = await importLesson<typeof import('../../lessons/01-uts/uts.js')>('01-uts', 'uts.ts');
 */
export async function importLesson<Module>(slug: string, file: string): Promise<Module> {
  return (await import(pathToFileURL(lessonFile(slug, file)).href)) as Module;
}

/** The lessons' features of the implementation under test (src/course/lesson.ts: loadRegistry). */
export function registryUnderTest(env: Env = process.env): Promise<FeatureRegistry> {
  return loadRegistry(testingWorkshop(env) ? implementationRoot(env) : undefined);
}
