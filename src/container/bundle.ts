/**
 * Builds the init program (entry.ts and everything it imports, lesson code included) into one plain
 * JavaScript file, and rebuilds it when a source is newer — so a student who edits a lesson and runs
 * it again always runs what they wrote.
 *
 * Two builds exist: the reference (dist/init.js) and the student's (workshop/.build/init.js), where
 * every import of a lesson file is redirected to the student's copy in workshop/lessons/ when there
 * is one.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin, PluginBuild } from 'esbuild';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface BundleTarget {
  /** Where the student's lessons are (workshop/), or undefined for the reference build. */
  workshop?: string;
  /** An init bundle that is already built (used by the bundle itself, e.g. its `enter` mode). */
  prebuilt?: string;
}

function outputFile(target: BundleTarget): string {
  return target.workshop ? path.join(target.workshop, '.build', 'init.js') : path.join(REPO_ROOT, 'dist', 'init.js');
}

/** The init bundle for a target, built first if missing or older than any of its sources. */
export async function initBundle(target: BundleTarget = {}): Promise<string> {
  if (target.prebuilt) return target.prebuilt;
  const output = outputFile(target);
  if (isStale(output)) await buildInit(target);
  return output;
}

function isStale(output: string): boolean {
  const metaFile = `${output}.inputs.json`;
  if (!existsSync(output) || !existsSync(metaFile)) return true;
  const builtAt = statSync(output).mtimeMs;
  const { inputs, watchedDirs } = JSON.parse(readFileSync(metaFile, 'utf8')) as { inputs: string[]; watchedDirs: string[] };
  // A new file in a watched folder can change what an import resolves to, so folders count too.
  return [...inputs, ...watchedDirs].some((file) => !existsSync(file) || statSync(file).mtimeMs > builtAt);
}

export async function buildInit(target: BundleTarget = {}): Promise<string> {
  const { build } = await import('esbuild');
  const output = outputFile(target);
  mkdirSync(path.dirname(output), { recursive: true });
  const result = await build({
    entryPoints: [path.join(REPO_ROOT, 'src/container/entry.ts')],
    // Built under a temporary name and renamed into place (below), so that a container starting in
    // another process meanwhile runs the old init or the new one, never a half-written file.
    outfile: `${output}.${process.pid}.tmp`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['koffi'], // a native addon: loaded from node_modules at run time
    metafile: true,
    logLevel: 'silent',
    plugins: target.workshop ? [preferWorkshopLessons(target.workshop)] : [],
  });
  renameSync(`${output}.${process.pid}.tmp`, output);
  const inputs = Object.keys(result.metafile.inputs).map((file) => path.resolve(process.cwd(), file));
  const watchedDirs = target.workshop ? lessonDirs(path.join(target.workshop, 'lessons')) : [];
  // The same for the list of inputs, which other processes read to decide whether to rebuild.
  const temporary = `${output}.inputs.json.${process.pid}`;
  writeFileSync(temporary, JSON.stringify({ inputs, watchedDirs }));
  renameSync(temporary, `${output}.inputs.json`);
  return output;
}

function lessonDirs(root: string): string[] {
  if (!existsSync(root)) return [root];
  return [root, ...readdirSync(root).map((name) => path.join(root, name))];
}

/** esbuild plugin: `../../lessons/01-uts/uts.js` resolves to workshop/lessons/01-uts/uts.ts if it exists. */
function preferWorkshopLessons(workshop: string): Plugin {
  const lessonsRoot = path.join(REPO_ROOT, 'lessons') + path.sep;
  return {
    name: 'prefer-workshop-lessons',
    setup(builder: PluginBuild) {
      builder.onResolve({ filter: /^\./ }, (args) => {
        const wanted = path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
        if (!wanted.startsWith(lessonsRoot)) return undefined;
        const mine = path.join(workshop, 'lessons', wanted.slice(lessonsRoot.length));
        return existsSync(mine) ? { path: mine } : undefined;
      });
    },
  };
}
