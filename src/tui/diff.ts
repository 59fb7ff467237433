/**
 * Which rows deserve the student's attention?
 *
 * Two questions, both answered by label:
 *  - differs: the same label is on both sides with different values. That is the lesson itself:
 *    the container sees another host name, another PID namespace inode, ...
 *  - change:  the value is not what the previous step showed, so the step just did that.
 *
 * Pure functions, no rendering: the TUI and the plain renderer both build on them.
 */
import type { PaneRow, Snapshot } from '../course/lesson.js';
import { cleanValue } from './text.js';

/** 'new': the label was not in this pane at the previous step. 'changed': its value is different. */
export type RowChange = 'new' | 'changed' | null;

export interface MarkedRow extends PaneRow {
  /** The same label is in the other pane with another value. */
  differs: boolean;
  change: RowChange;
}

export interface MarkedSnapshot {
  host: MarkedRow[];
  container: MarkedRow[];
}

/** Label → value. If a pane repeats a label, the first row wins (it is the one drawn first). */
function valuesByLabel(rows: readonly PaneRow[]): Map<string, string> {
  const values = new Map<string, string>();
  for (const row of rows) {
    if (!values.has(row.label)) values.set(row.label, cleanValue(row.value));
  }
  return values;
}

/** Labels present in both panes whose values differ. */
export function differingLabels(snapshot: Snapshot): Set<string> {
  const host = valuesByLabel(snapshot.host);
  const container = valuesByLabel(snapshot.container);
  const labels = new Set<string>();
  for (const [label, value] of host) {
    if (container.has(label) && container.get(label) !== value) labels.add(label);
  }
  return labels;
}

/** How a row compares with the same pane at the previous step (no previous step: no change). */
function rowChange(row: PaneRow, before: Map<string, string> | undefined): RowChange {
  if (!before) return null;
  const previousValue = before.get(row.label);
  if (previousValue === undefined) return 'new';
  return previousValue === cleanValue(row.value) ? null : 'changed';
}

/** Marks every row of `snapshot`; `previous` is the snapshot of the step before, if any. */
export function markRows(snapshot: Snapshot, previous?: Snapshot): MarkedSnapshot {
  const differs = differingLabels(snapshot);
  const mark = (rows: readonly PaneRow[], previousPane: readonly PaneRow[] | undefined): MarkedRow[] => {
    const before = previousPane && valuesByLabel(previousPane);
    return rows.map((row) => ({ ...row, differs: differs.has(row.label), change: rowChange(row, before) }));
  };
  return { host: mark(snapshot.host, previous?.host), container: mark(snapshot.container, previous?.container) };
}
