/**
 * What one step looks like on screen, derived from the controller's state. Both renderers (Ink and
 * plain text) draw from this, so they can never disagree about what differs or changed.
 */
import type { ControllerState, StepRecord } from './controller.js';
import { markRows, type MarkedSnapshot } from './diff.js';

export interface StepView {
  /** 1-based, for people. */
  number: number;
  total: number;
  title: string;
  narration: string;
  record: StepRecord;
  /** The panes to draw. While a step runs: the previous step's panes, until the new ones are read. */
  panes: MarkedSnapshot | null;
  /** Is this the newest step run (as opposed to one revisited with "back")? */
  isNewest: boolean;
}

export function stepView(state: ControllerState, index: number = state.viewing): StepView | null {
  const record = state.history[index];
  const step = state.steps[index];
  if (!record || !step) return null;
  const shownIndex = record.status === 'running' ? index - 1 : index;
  const shown = state.history[shownIndex]?.snapshot;
  return {
    number: index + 1,
    total: state.steps.length,
    title: step.title,
    narration: step.narration,
    record,
    panes: shown ? markRows(shown, state.history[shownIndex - 1]?.snapshot) : null,
    isNewest: index === state.history.length - 1,
  };
}
