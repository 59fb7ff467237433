/**
 * Throwaway network namespaces for tests that touch networking: a test builds its "host" (bridge,
 * veths, iptables rules, sysctls) inside one, never in the machine's own network namespace, and the
 * namespace takes all of it along when it is deleted.
 *
 *   const netns = throwawayNetns();          // in a describe block: removes what it made after each test
 *   const host = netns.create();             // "lab-test-<our PID>-<random>", lo up
 *
 * Names carry the creating process's PID, so namespaces left by a test run that was killed are found
 * and removed the next time (removeOrphanedTestNetns).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach } from 'vitest';

export const TEST_NETNS_PREFIX = 'lab-test';

const PATH = `/usr/local/sbin:/usr/sbin:/sbin:${process.env.PATH ?? '/usr/bin:/bin'}`;

/** Runs `ip ARGS…` and returns its output; throws with ip's message when it fails. */
export function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', env: { ...process.env, PATH }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command inside a named namespace (`ip netns exec NAME …`). */
export function inNetns(name: string, argv: string[]): string {
  return ip(['netns', 'exec', name, ...argv]);
}

export function netnsNames(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter(Boolean);
}

export function netnsExists(name: string): boolean {
  return netnsNames().includes(name);
}

/** Creates "PREFIX-PID-RANDOM" with its loopback up (local delivery to its own addresses needs lo). */
export function createTestNetns(prefix = TEST_NETNS_PREFIX): string {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  ip(['netns', 'add', name]);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function removeTestNetns(name: string): void {
  if (netnsExists(name)) ip(['netns', 'del', name]);
}

/** Removes lab-test-PID-… namespaces whose PID is not running any more: left by a killed test run. */
export function removeOrphanedTestNetns(): string[] {
  const removed: string[] = [];
  for (const name of netnsNames()) {
    const pid = new RegExp(`^${TEST_NETNS_PREFIX}(?:-[a-z]+)*-(\\d+)-[0-9a-f]+$`).exec(name)?.[1];
    if (!pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      removeTestNetns(name);
      removed.push(name);
    }
  }
  return removed;
}

/**
 * For a describe block: create() makes a namespace that is removed after the test, pass or fail (and,
 * as a last resort, after the file). Also registers namespaces made some other way (track()).
 */
export function throwawayNetns(): { create(prefix?: string): string; track(name: string): void } {
  const made = new Set<string>();
  let swept = false;
  const removeAll = () => {
    for (const name of made) {
      try {
        removeTestNetns(name);
      } finally {
        made.delete(name);
      }
    }
  };
  afterEach(removeAll);
  afterAll(removeAll);
  return {
    create(prefix = TEST_NETNS_PREFIX) {
      if (!swept) {
        swept = true;
        removeOrphanedTestNetns();
      }
      const name = createTestNetns(prefix);
      made.add(name);
      return name;
    },
    track(name: string) {
      made.add(name);
    },
  };
}
