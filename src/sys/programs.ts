/**
 * `which`, without a shell: where a program is on a search path. Root's tools live in the sbin folders,
 * which a user's PATH (and sudo's, on some systems) may lack, so those are searched too.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** PATH with the sbin folders in front, for a child that runs root's tools (ip, ss, iptables). */
export const ROOT_SEARCH_PATH = [...SBIN_DIRS, process.env.PATH ?? '/usr/bin:/bin'].join(':');

/** The first executable file called `name` in `searchPath`'s folders, then the sbin folders; null if none. */
export function findProgram(name: string, searchPath: string = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  for (const dir of [...searchPath.split(':'), ...SBIN_DIRS]) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}
