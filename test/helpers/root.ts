/**
 * Root-only tests: they create real namespaces, so they run as root (as CI does) and are skipped,
 * with the reason in their name, everywhere else.
 */
import { describe } from 'vitest';
import { sharesOurRoot } from '../../src/sys/process.js';

export const isRoot = process.getuid?.() === 0;

export const ROOT_SKIP_REASON = 'needs root: run `npm test` (it goes through sudo when you are not root)';

/** describe() for tests that need root; elsewhere the block is skipped and says why. */
export function describeAsRoot(name: string, body: () => void): void {
  if (isRoot) describe(name, body);
  else describe.skip(`${name} (skipped: ${ROOT_SKIP_REASON})`, body);
}

/**
 * Refuses to go on when a container's "/" is the host's own. A test that writes or deletes inside a
 * container (rm -r /usr/sbin, echo >> /etc/passwd) runs the student's code: if their root file system
 * step did nothing, those commands would change the machine. Checked from outside, by the kernel's answer.
 */
export function assertOwnRoot(pid: number): void {
  if (sharesOurRoot(pid)) {
    throw new Error(`the container's "/" is the host's (PID ${pid}): its root file system was not set up, so the test stops before it changes anything`);
  }
}
