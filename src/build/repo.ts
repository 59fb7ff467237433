/**
 * Where the repository is, found from this file (also once it is bundled into dist/ or a workshop's
 * .build/): the nearest folder above with both a package.json and a lessons/ folder.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot: string = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

/** The student's workshop: their copies of the lessons (workshop/lessons/) and their builds (.build/). */
export const defaultWorkshopDir = path.join(repoRoot, 'workshop');

function findRepoRoot(start: string): string {
  // A container's init in a user namespace runs this bundle from a descriptor (src/container/namespaces.ts:
  // initCommand), where no repository is around it, nor needed: it builds nothing.
  if (start === '/proc/self/fd') return start;
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'lessons'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find the repository root above ${start}`);
  }
}
