/**
 * Builds the programs that run as plain JavaScript — the container program (lessons/program.ts and everything it
 * imports, lesson code included) and the final runtime's two command-line tools — each into one file
 * (minidocker's into an entry and its chunks), and rebuilds one when a source is newer: a student who
 * edits a lesson and runs it again always runs what they wrote, and nothing on a container's start
 * path waits for TypeScript to be compiled.
 *
 * Two builds of each exist: the reference (dist/) and the student's (workshop/.build/),
 * where every import of a lesson file is redirected to the student's copy in workshop/lessons/ when
 * there is one.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Plugin, PluginBuild } from 'esbuild';
import { isStale } from './fresh.js';
import { defaultWorkshopDir, repoRoot } from './repo.js';

export const REPO_ROOT = repoRoot;

export interface BundleTarget {
  /** Where the student's lessons are (workshop/), or undefined for the reference build. */
  workshop?: string;
  /** An init bundle that is already built (used by the bundle itself, e.g. its `enter` mode). */
  prebuilt?: string;
}

/**
 * The bundles and their entry points. init is CommonJS (dist/init.cjs): it starts with every container,
 * and Node loads a script faster than a module (no module loader to start, no module view of each
 * built-in to make). minidocker's is split: its entry (src/final/main.ts) is small and loads the rest of
 * the program (a chunk, dist/chunks/) only after it has started a foreground run's init, so that Node's
 * start in that second process overlaps the loading of the first.
 */
export const BUNDLES = {
  init: { entry: 'lessons/program.ts', file: 'init.cjs', split: false },
  minidocker: { entry: 'src/final/main.ts', file: 'minidocker.js', split: true },
  oci: { entry: 'src/final/oci/cli.ts', file: 'oci.js', split: false },
} as const;

export type BundleName = keyof typeof BUNDLES;

export function bundlePath(name: BundleName, target: BundleTarget = {}): string {
  return path.join(target.workshop ? path.join(target.workshop, '.build') : path.join(REPO_ROOT, 'dist'), BUNDLES[name].file);
}

/**
 * Which init the containers of this process run unless told otherwise: the reference one, or the
 * student's (minidocker --mine).
 */
let defaultTarget: BundleTarget = {};
export function useBundleTarget(target: BundleTarget): void {
  defaultTarget = target;
}

/** Does this process run the student's code (--mine)? A tool it starts must be told the same. */
export function usesWorkshop(): boolean {
  return defaultTarget.workshop !== undefined;
}

/**
 * A tool's `--mine` (first argument): its containers run the student's init from now on. The launcher
 * (bin/launch.js) has already started the student's build of the tool itself. Returns the other arguments.
 */
export function takeMineFlag(argv: string[]): string[] {
  if (argv[0] !== '--mine') return argv;
  useBundleTarget({ workshop: defaultWorkshopDir });
  return argv.slice(1);
}

/** The init bundle for a target, built first if missing or older than any of its sources. */
export async function initBundle(target: BundleTarget = defaultTarget): Promise<string> {
  if (target.prebuilt) return target.prebuilt;
  return freshBundle('init', target);
}

/**
 * A bundle of this process's target (the reference, or the student's with --mine), built first if
 * missing or older than any of its sources: for a program that runs one of the tools for us (conmon
 * runs `node <oci bundle> create …`).
 */
export async function freshBundle(name: BundleName, target: BundleTarget = defaultTarget): Promise<string> {
  const output = bundlePath(name, target);
  if (isStale(output, REPO_ROOT)) await buildBundle(name, target);
  return output;
}

export async function buildBundle(name: BundleName, target: BundleTarget = {}): Promise<string> {
  const { build } = await import('esbuild');
  const output = bundlePath(name, target);
  const outDir = path.dirname(output);
  mkdirSync(outDir, { recursive: true });
  const { entry, file, split } = BUNDLES[name];
  // Built under a temporary name and renamed into place (below), so that a container starting in
  // another process meanwhile runs the old build or the new one, never a half-written file.
  const staging = `${output}.${process.pid}.tmp`;
  const result = await build({
    entryPoints: { [name]: path.join(REPO_ROOT, entry) },
    ...(split ? { outdir: staging, splitting: true, chunkNames: 'chunks/[name]-[hash]' } : { outfile: staging }),
    bundle: true,
    platform: 'node',
    target: 'node20',
    ...(file.endsWith('.cjs') ? commonJs : { format: 'esm' as const }),
    // koffi is a native addon: always loaded from node_modules at run time. init takes every other
    // package inside: it may no longer see node_modules once it has pivoted into the container. The
    // command-line tools load their packages from node_modules, as any Node program does.
    // The lessons' features bring their host-side halves along (connect a network, build a bundle): zx and
    // esbuild are loaded only there, on the host, where node_modules is — never by init — so they stay out
    // of the file that every container start has to read.
    ...(name === 'init' ? { external: ['koffi', 'zx', 'esbuild'] } : { packages: 'external' as const }),
    metafile: true,
    logLevel: 'silent',
    plugins: target.workshop ? [preferWorkshopLessons(target.workshop)] : [],
  }).catch((error: Error & { errors?: { text: string }[] }) => {
    // esbuild's message lists its errors on lines of their own; the first one's text is the reason (and
    // is all of it that one line can carry, so the error is not kept as a cause).
    const reason = error.errors?.[0]?.text ?? error.message;
    const fix = /permission denied|EACCES|read-only/i.test(reason) ? `: run \`npm run build\` as the owner of ${REPO_ROOT}` : '';
    throw new Error(`could not build ${path.relative(REPO_ROOT, output)} (${reason})${fix}`);
  });
  const chunks = split ? publishSplitBuild(staging, output, result.metafile.outputs) : [];
  if (!split) renameSync(staging, output);
  const inputs = Object.keys(result.metafile.inputs).map((file) => path.relative(REPO_ROOT, path.resolve(process.cwd(), file)));
  const watchedDirs = target.workshop ? lessonDirs(path.join(target.workshop, 'lessons')).map((dir) => path.relative(REPO_ROOT, dir)) : [];
  // The same for the list of inputs, which other processes read to decide whether to rebuild.
  const temporary = `${output}.inputs.json.${process.pid}`;
  writeFileSync(temporary, JSON.stringify({ inputs, watchedDirs, chunks }));
  renameSync(temporary, `${output}.inputs.json`);
  if (split) pruneChunks(outDir);
  return output;
}

/**
 * A CommonJS bundle: strict mode first (the code was written as modules, which always are), and
 * import.meta.url, which esbuild leaves empty in CommonJS, as the file's own URL.
 */
const commonJs = {
  format: 'cjs' as const,
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: "'use strict';\nvar __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
};

/**
 * Moves a split build into place: the chunks first, then the entry, so that a process starting
 * meanwhile loads the old entry with its old chunks or the new one with its new chunks. A chunk's
 * name has a hash of its content: one of the same name already there is the same file.
 * Returns the chunks, relative to the entry's folder.
 */
function publishSplitBuild(staging: string, output: string, outputs: Record<string, unknown>): string[] {
  const outDir = path.dirname(output);
  const entry = path.join(staging, path.basename(output));
  const chunks = Object.keys(outputs)
    .map((file) => path.resolve(process.cwd(), file))
    .filter((file) => file !== entry)
    .map((file) => path.relative(staging, file));
  mkdirSync(path.join(outDir, 'chunks'), { recursive: true });
  for (const chunk of chunks) renameSync(path.join(staging, chunk), path.join(outDir, chunk));
  renameSync(entry, output);
  rmSync(staging, { recursive: true, force: true });
  return chunks;
}

/**
 * Removes the chunks no bundle of this folder uses any more. Not those of the last minutes: a process
 * that loaded an entry just before a rebuild may still be about to load its chunks.
 */
function pruneChunks(outDir: string): void {
  const inUse = new Set<string>();
  for (const { file, split } of Object.values(BUNDLES)) {
    if (!split) continue;
    try {
      const { chunks = [] } = JSON.parse(readFileSync(path.join(outDir, `${file}.inputs.json`), 'utf8')) as { chunks?: string[] };
      for (const chunk of chunks) inUse.add(chunk);
    } catch {
      // that bundle is not built here
    }
  }
  const chunkDir = path.join(outDir, 'chunks');
  const graceMs = 10 * 60_000;
  for (const file of readdirSync(chunkDir)) {
    const chunk = path.join('chunks', file);
    if (!inUse.has(chunk) && statSync(path.join(chunkDir, file)).mtimeMs < Date.now() - graceMs) rmSync(path.join(chunkDir, file), { force: true });
  }
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
