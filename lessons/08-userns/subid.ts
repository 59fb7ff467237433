/**
 * Subordinate IDs: the host IDs an ordinary user may hand to its containers.
 *
 * Without privilege, a user may map exactly one ID into a user namespace: its own. A container needs
 * 65536 of them (root, daemon, www-data, nobody …), so the administrator lends each user a range in
 * /etc/subuid and /etc/subgid, one "owner:start:count" line per range:
 *
 *   alice:100000:65536      alice may use the host's IDs 100000–165535
 *   1001:165536:65536       the owner may also be written as a number
 *
 * Only two setuid-root programs of the `uidmap` package, newuidmap and newgidmap, read these files:
 * they check that every range asked for is the caller's, then write the map with root's power
 * (CAP_SETUID over the parent namespace, which the kernel demands for more than one ID). Rootless
 * podman and Docker's rootless mode call them; so does `unshare --map-auto`.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { OciIdMapping } from '../../src/container/config.js';
import { findProgram } from '../../src/sys/programs.js';

/** One line of /etc/subuid or /etc/subgid. */
export interface SubordinateRange {
  /** A user name or a numeric user ID, as written in the file. */
  owner: string;
  /** The first host ID of the range. */
  start: number;
  /** How many IDs, start … start + count - 1. */
  count: number;
}

/**
 * The ranges of a /etc/subuid (or /etc/subgid) text, in file order. Blank lines and lines that are not
 * "owner:start:count" with whole numbers are skipped: they lend nothing, which is how newuidmap
 * treats them (subid(5)).
 */
export function parseSubordinateIds(text: string): SubordinateRange[] {
  // EXERCISE(subid.parse): Parse each "owner:start:count" line into a SubordinateRange, skipping blank and malformed lines.
  // HINT: A line has exactly three fields separated by ":"; the owner is a name or a number, start and count are whole numbers, and count is at least 1.
  // HINT: Split the text into lines, split each trimmed line on ":", keep only the lines with three fields whose last two are digits only (a regular expression), and convert those with Number().
  // HINT: man 5 subuid; the shadow package's lib/subordinateio.c (subordinate_parse) reads the same lines.
  const ranges: SubordinateRange[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(':');
    if (fields.length !== 3) continue;
    const [owner, start, count] = fields as [string, string, string];
    if (owner === '' || !/^\d+$/.test(start) || !/^\d+$/.test(count) || Number(count) === 0) continue;
    ranges.push({ owner, start: Number(start), count: Number(count) });
  }
  return ranges;
  // END EXERCISE
}

/** A user as /etc/passwd knows it: both forms a range's owner may take. */
export interface UserName {
  name: string;
  uid: number;
}

/** The ranges lent to `user`: those whose owner is the user's name or its numeric ID, in file order. */
export function rangesFor(ranges: readonly SubordinateRange[], user: UserName): SubordinateRange[] {
  // EXERCISE(subid.ranges): Keep the ranges whose owner is the user's name or its uid written as a number, in file order.
  // HINT: The owner field is text: "alice" and "1000" may both mean alice, so compare it with the name and with the uid turned into text.
  // HINT: One filter over the ranges, with two comparisons joined by "or"; String(user.uid) is the uid as the file writes it.
  // HINT: man 5 subuid ("the login name or UID"); newuidmap does the same in have_range() of shadow's lib/subordinateio.c.
  return ranges.filter(({ owner }) => owner === user.name || owner === String(user.uid));
  // END EXERCISE
}

/**
 * What a rootless runtime writes for a user with these ranges (podman's default): the container's root
 * is the user itself — the one ID it may map alone — and IDs 1, 2 … come from its ranges, one after
 * the other.
 */
export function rootlessMappings(ownId: number, ranges: readonly SubordinateRange[]): OciIdMapping[] {
  const mappings: OciIdMapping[] = [{ containerID: 0, hostID: ownId, size: 1 }];
  let next = 1;
  for (const { start, count } of ranges) {
    mappings.push({ containerID: next, hostID: start, size: count });
    next += count;
  }
  return mappings;
}

/** /etc/subuid or /etc/subgid, parsed; empty when the file does not exist. */
export function readSubordinateIds(file: '/etc/subuid' | '/etc/subgid' | string): SubordinateRange[] {
  return existsSync(file) ? parseSubordinateIds(readFileSync(file, 'utf8')) : [];
}

/** Where newuidmap and newgidmap are, or why they are not: one line for the screen. */
export function mapHelpers(): { newuidmap: string | null; newgidmap: string | null; note: string } {
  const newuidmap = findProgram('newuidmap');
  const newgidmap = findProgram('newgidmap');
  const note = newuidmap && newgidmap
    ? `${newuidmap} and ${newgidmap} (setuid root)`
    : 'not installed: they come with the uidmap package (apt-get install uidmap)';
  return { newuidmap, newgidmap, note };
}
