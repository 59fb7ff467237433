import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BundleTarget } from '../build/bundle.js';
import { repoRoot } from '../build/repo.js';
import { FeatureRegistry, type AnyFeature } from '../container/features.js';
import { listLessons } from './paths.js';

/**
 * The contract between a lesson and the frame that presents it (the Ink TUI or plain text).
 *
 * A lesson is a short script of steps. Each step does something real (start a container, change its
 * host name, ...) and the frame then reads both sides of the machine live: what the HOST sees and what
 * the CONTAINER sees. Rows with the same label on both sides are compared, so a difference (a new
 * namespace inode, another host name) stands out.
 */

/** One row in a pane: a label and the value read live (may span several lines, e.g. `ps` output). */
export interface PaneRow {
  label: string;
  value: string;
  /** The command or file the value came from, shown dimmed so students can run it themselves. */
  source?: string;
}

/** What both panes show at one moment. */
export interface Snapshot {
  host: PaneRow[];
  container: PaneRow[];
}

/** One step of a lesson. */
export interface LessonStep {
  title: string;
  /** What happens and why, in a sentence or three. Shown as the narration line. */
  narration: string;
  /** Does the step's work. Throwing ends the step with the error shown in place of the panes. */
  run(): Promise<void>;
}

/** A shell the frame may open "inside the container" when the user presses the shell key. */
export interface ShellCommand {
  file: string;
  args: string[];
  /** Shown before the shell starts, e.g. "Entering the container's UTS namespace. Type exit to return." */
  banner: string;
}

/** One run of a lesson: it owns every container, mount, cgroup ... it creates, and removes them in close(). */
export interface LessonSession {
  steps: LessonStep[];
  /** Reads both panes live. Called after every step and, while the user looks at a step, every refreshMs. */
  snapshot(): Promise<Snapshot>;
  /** How to open a shell in the current container, or null while there is none. */
  shell(): ShellCommand | null;
  /** Removes everything the session made. Safe to call twice and after a failed step. */
  close(): Promise<void>;
}

/** What the launcher tells a lesson: whose code to run (the reference or the student's workshop). */
export interface LessonContext {
  /** Which init bundle containers start with: the reference, or the student's build. */
  bundle: BundleTarget;
  /**
   * The lessons' features (lessons/registry.ts), for the host side of a container built from its
   * config.json (lessons/03-mount/folders.ts: startLabContainer). Loaded by path, as the lessons are.
   */
  registry: FeatureRegistry;
  /** True with --mine: the student's own lesson code is running. */
  mine: boolean;
  /**
   * True with --sandbox: lesson 06 builds its "host" network (bridge, NAT rules) inside a throwaway
   * network namespace instead of the machine's own, so a shared machine's network is never touched.
   */
  sandbox?: boolean;
}

/**
 * lessons/registry.ts, loaded by path: the course machinery never imports the lessons (scripts/deps.ts).
 * With a workshop, each lesson's features come from the student's copy of its feature.ts where there is
 * one — the host side of a container then runs the student's code, as its init does (the --mine
 * bundle) — in the registry's order, which stays the one place a feature is registered.
 */
export async function loadRegistry(workshop?: string): Promise<FeatureRegistry> {
  const load = async (file: string) => (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const { registry } = (await load(path.join(repoRoot, 'lessons', 'registry.ts'))) as { registry: FeatureRegistry };
  if (!workshop) return registry;
  const replaced = new Map<AnyFeature, AnyFeature>();
  for (const lesson of listLessons()) {
    const own = path.join(workshop, 'lessons', lesson.slug, 'feature.ts');
    if (!existsSync(own)) continue;
    const [reference, mine] = [await load(path.join(lesson.dir, 'feature.ts')), await load(own)];
    for (const [name, value] of Object.entries(reference)) {
      if (registry.features.includes(value as AnyFeature) && mine[name]) replaced.set(value as AnyFeature, mine[name] as AnyFeature);
    }
  }
  return new FeatureRegistry(registry.features.map((feature) => replaced.get(feature) ?? feature));
}

/** A lesson module's default export: makes the Lesson for one run of `npm run lesson N`. */
export type LessonFactory = (context: LessonContext) => Lesson;

export interface Lesson {
  number: number;
  slug: string; // "01-uts"
  title: string; // "UTS namespace: a host name of its own"
  /** How often the panes are re-read while a step is shown, in ms (0: only after each step). */
  refreshMs?: number;
  start(): Promise<LessonSession>;
}
