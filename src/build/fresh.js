/**
 * Is a bundle up to date? Each bundle in dist/ (or a workshop's .build/) has a list of the files it was
 * built from next to it, `<bundle>.inputs.json`: it is stale when it is missing or any of those files,
 * or a watched folder, changed after it — or, for a split bundle, when one of its chunks is missing.
 * Plain JavaScript, so the launchers in bin/ can ask before anything needs compiling. Paths are stored
 * relative to the repository, so a checkout that is mounted elsewhere (the VM suite mounts it at
 * /project) agrees with the host about what is fresh.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** @param {string} output the bundle @param {string} root the repository @returns {boolean} */
export function isStale(output, root) {
  const metaFile = `${output}.inputs.json`;
  if (!existsSync(output) || !existsSync(metaFile)) return true;
  const builtAt = statSync(output).mtimeMs;
  /** @type {{ inputs: string[]; watchedDirs: string[]; chunks?: string[] }} */
  const { inputs, watchedDirs, chunks = [] } = JSON.parse(readFileSync(metaFile, 'utf8'));
  // A split bundle's entry is useless without the chunks it loads.
  if (chunks.some((chunk) => !existsSync(path.join(path.dirname(output), chunk)))) return true;
  // A new file in a watched folder can change what an import resolves to, so folders count too.
  return [...inputs, ...watchedDirs].some((relative) => {
    const file = path.resolve(root, relative);
    return !existsSync(file) || statSync(file).mtimeMs > builtAt;
  });
}
