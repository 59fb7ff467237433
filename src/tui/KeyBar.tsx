/** The keys, always at the bottom. While something runs only q works, and the bar says so. */
import { Text } from 'ink';
import type { Activity } from './controller.js';

export const KEYS = '→/n next · ←/b back · r rerun · s shell · q quit';

export function KeyBar({ activity }: { activity: Activity }) {
  if (activity === 'closing' || activity === 'closed') return null; // the status line says what happens
  if (activity === 'idle') return <Text>{KEYS}</Text>;
  return <Text dimColor>q quit (other keys wait until this finishes)</Text>;
}
