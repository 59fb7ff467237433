/**
 * Builds the programs that run as plain JavaScript — the container program (lessons/program.ts and everything it
 * imports, lesson code included) and the final runtime's two command-line tools — each into one file,
 * and rebuilds one when a source is newer: a student who edits a lesson and runs it again always runs
 * what they wrote, and nothing on a container's start path waits for TypeScript to be compiled.
 *
 * Two builds of each exist: the reference (dist/NAME.js) and the student's (workshop/.build/NAME.js),
 * where every import of a lesson file is redirected to the student's copy in workshop/lessons/ when
 * there is one.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
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

/** The bundles and their entry points. */
export const BUNDLES = {
  init: 'lessons/program.ts',
  minidocker: 'src/final/cli.ts',
  oci: 'src/final/oci/cli.ts',
} as const;

export type BundleName = keyof typeof BUNDLES;

export function bundlePath(name: BundleName, target: BundleTarget = {}): string {
  return target.workshop ? path.join(target.workshop, '.build', `${name}.js`) : path.join(REPO_ROOT, 'dist', `${name}.js`);
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
  mkdirSync(path.dirname(output), { recursive: true });
  const result = await build({
    entryPoints: [path.join(REPO_ROOT, BUNDLES[name])],
    // Built under a temporary name and renamed into place (below), so that a container starting in
    // another process meanwhile runs the old build or the new one, never a half-written file.
    outfile: `${output}.${process.pid}.tmp`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
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
  });
  renameSync(`${output}.${process.pid}.tmp`, output);
  const inputs = Object.keys(result.metafile.inputs).map((file) => path.relative(REPO_ROOT, path.resolve(process.cwd(), file)));
  const watchedDirs = target.workshop ? lessonDirs(path.join(target.workshop, 'lessons')).map((dir) => path.relative(REPO_ROOT, dir)) : [];
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
