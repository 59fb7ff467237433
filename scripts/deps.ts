/**
 * `npm run deps`: which folder imports which, and whether every arrow points the allowed way.
 *
 *   src/sys ← src/container ← lessons/NN-* ← src/final
 *
 * src/sys (typed system calls and machine facts) and src/build (how the lab's programs are bundled)
 * import nothing of the project. The core, src/container, starts containers and knows nothing of the
 * lessons, the course or the final runtime: the lessons plug in through lessons/registry.ts. A lesson
 * may use the course's lesson contract (src/course/lesson.ts and friends) and the lessons before it,
 * never a later one. src/final composes the lessons. The course machinery (src/course, src/tui) sits
 * beside them: it loads lessons by path at run time, never by import. No file may be part of a cycle.
 *
 * Prints the folder graph; exits 1 (listing each offending import) when a rule is broken.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { importedModules } from '../src/course/imports.js';
import { repoRoot } from '../src/build/repo.js';

/** The layers and what each may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  'src/sys': [],
  'src/build': [],
  'src/container': ['src/sys', 'src/build'],
  'src/course': ['src/sys', 'src/build', 'src/container', 'src/tui'],
  'src/tui': ['src/sys', 'src/build', 'src/container', 'src/course'],
  lessons: ['src/sys', 'src/build', 'src/container', 'src/course', 'lessons/NN'],
  'lessons/NN': ['src/sys', 'src/build', 'src/container', 'src/course'],
  'src/final': ['src/sys', 'src/build', 'src/container', 'lessons', 'lessons/NN'],
};

export interface ImportEdge {
  from: string;
  to: string;
}

export interface DependencyReport {
  /** Folder → folder → number of imports. */
  folders: Map<string, Map<string, number>>;
  /** Imports that break a layer rule. */
  violations: { edge: ImportEdge; why: string }[];
  /** Groups of files that import each other in a circle. */
  cycles: string[][];
}

/** The folder a file belongs to, for the picture: "src/container", "lessons/03-mount", "lessons" … */
export function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'lessons') return /^\d\d-/.test(parts[1] ?? '') && parts.length > 2 ? `lessons/${parts[1]}` : 'lessons';
  return parts.slice(0, 2).join('/');
}

function layerOf(folder: string): string {
  return /^lessons\/\d\d-/.test(folder) ? 'lessons/NN' : folder;
}

function sourceFiles(root: string, dirs: string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts')) files.push(path.relative(root, full).split(path.sep).join('/'));
    }
  };
  for (const dir of dirs) if (existsSync(path.join(root, dir))) walk(path.join(root, dir));
  return files.sort();
}

/** `../x.js` from `src/a/b.ts` → `src/x.ts` (or .tsx, or the .js file itself); null for packages. */
function resolve(from: string, specifier: string, known: Set<string>): string | null {
  if (!specifier.startsWith('.')) return null;
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [target.replace(/\.js$/, '.ts'), target.replace(/\.js$/, '.tsx'), target]) if (known.has(candidate)) return candidate;
  return null;
}

export function analyzeDependencies(root: string = repoRoot): DependencyReport {
  const files = sourceFiles(root, ['src', 'lessons']);
  const known = new Set(files);
  // Plain JavaScript modules the TypeScript imports (src/build/fresh.js, shared with the launchers in bin/).
  const buildDir = path.join(root, 'src', 'build');
  for (const file of existsSync(buildDir) ? readdirSync(buildDir) : []) if (file.endsWith('.js')) known.add(`src/build/${file}`);
  const edges: ImportEdge[] = [];
  for (const from of files) {
    for (const specifier of importedModules(readFileSync(path.join(root, from), 'utf8'), from)) {
      const to = resolve(from, specifier, known);
      if (to) edges.push({ from, to });
    }
  }
  const folders = new Map<string, Map<string, number>>();
  const violations: DependencyReport['violations'] = [];
  for (const edge of edges) {
    const [fromFolder, toFolder] = [folderOf(edge.from), folderOf(edge.to)];
    if (fromFolder !== toFolder) {
      const row = folders.get(fromFolder) ?? new Map<string, number>();
      row.set(toFolder, (row.get(toFolder) ?? 0) + 1);
      folders.set(fromFolder, row);
    }
    const why = ruleBroken(fromFolder, toFolder);
    if (why) violations.push({ edge, why });
  }
  return { folders, violations, cycles: findCycles(files, edges) };
}

function ruleBroken(fromFolder: string, toFolder: string): string | null {
  if (fromFolder === toFolder) return null;
  const [fromLayer, toLayer] = [layerOf(fromFolder), layerOf(toFolder)];
  const allowed = ALLOWED[fromLayer];
  if (!allowed) return `${fromFolder} is not in the layer table of scripts/deps.ts`;
  if (fromLayer === 'lessons/NN' && toLayer === 'lessons/NN') {
    // A lesson builds on the ones before it; a later lesson is unknown to it.
    return fromFolder.localeCompare(toFolder) < 0 ? `${fromFolder} imports a later lesson, ${toFolder}` : null;
  }
  return allowed.includes(toLayer) ? null : `${fromFolder} may not import ${toFolder}`;
}

/** Tarjan's strongly connected components: every group of two or more files that reach each other. */
function findCycles(files: string[], edges: ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(files.map((file) => [file, []]));
  for (const { from, to } of edges) next.get(from)?.push(to);
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const to of next.get(file) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(file, Math.min(low.get(file)!, index.get(to)!));
    }
    if (low.get(file) === index.get(file)) {
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        group.push(member);
      } while (member !== file);
      if (group.length > 1) cycles.push(group.sort());
    }
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return cycles;
}

export function formatReport(report: DependencyReport): string {
  const lines = ['which folder imports which (number of imports):'];
  for (const from of [...report.folders.keys()].sort()) {
    const targets = [...report.folders.get(from)!.entries()].sort(([a], [b]) => a.localeCompare(b));
    lines.push(`  ${from.padEnd(20)} → ${targets.map(([to, count]) => `${to} (${count})`).join(', ')}`);
  }
  if (report.violations.length === 0 && report.cycles.length === 0) lines.push('no import breaks the layers, and no file is part of a cycle');
  for (const { edge, why } of report.violations) lines.push(`✗ ${edge.from} → ${edge.to}: ${why}`);
  for (const cycle of report.cycles) lines.push(`✗ cycle: ${cycle.join(' ↔ ')}`);
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const report = analyzeDependencies();
  console.log(formatReport(report));
  process.exit(report.violations.length || report.cycles.length ? 1 : 0);
}
