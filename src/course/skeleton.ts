/**
 * Turns a reference lesson file into the student's skeleton: every exercise region becomes
 *
 *     // TODO(uts.hostname): Give the container its own host name.
 *     throw new Todo('uts.hostname', 'Give the container its own host name.', 1);
 *
 * and everything else stays exactly as written.
 */
import { splitLines, type ExerciseRegion } from './markers.js';

/** The task as a single-quoted TypeScript string literal. */
function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The two lines that stand in for a region in the skeleton. */
export function todoLines(region: ExerciseRegion, lesson: number): string[] {
  return [
    `${region.indent}// TODO(${region.id}): ${region.task}`,
    `${region.indent}throw new Todo(${quote(region.id)}, ${quote(region.task)}, ${lesson});`,
  ];
}

/** Replaces the regions (found in this same source by findExercises) with their TODO lines. */
export function replaceRegions(source: string, regions: readonly ExerciseRegion[], lesson: number): string {
  const lines = splitLines(source);
  // From the last region up, so the line numbers of the earlier ones stay valid.
  for (const region of [...regions].sort((a, b) => b.line - a.line)) {
    lines.splice(region.line - 1, region.endLine - region.line + 1, ...todoLines(region, lesson));
  }
  return lines.join(source.includes('\r\n') ? '\r\n' : '\n');
}

export interface TodoLocation {
  id: string;
  task: string;
  /** 1-based line of the `// TODO(id)` comment in the generated file. */
  line: number;
}

/** Where the TODOs ended up in a generated skeleton (after imports were added, lines have moved). */
export function findTodos(skeleton: string): TodoLocation[] {
  const todos: TodoLocation[] = [];
  splitLines(skeleton).forEach((text, index) => {
    const match = /^\s*\/\/ TODO\(([^()\s]+)\): (.*)$/.exec(text);
    if (match) todos.push({ id: match[1] ?? '', task: (match[2] ?? '').trim(), line: index + 1 });
  });
  return todos;
}
