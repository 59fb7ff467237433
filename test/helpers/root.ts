/**
 * Root-only tests: they create real namespaces, so they run as root (as CI does) and are skipped,
 * with the reason in their name, everywhere else.
 */
import { describe } from 'vitest';

export const isRoot = process.getuid?.() === 0;

export const ROOT_SKIP_REASON = 'needs root: run `sudo env "PATH=$PATH" npm test`';

/** describe() for tests that need root; elsewhere the block is skipped and says why. */
export function describeAsRoot(name: string, body: () => void): void {
  if (isRoot) describe(name, body);
  else describe.skip(`${name} (skipped: ${ROOT_SKIP_REASON})`, body);
}
