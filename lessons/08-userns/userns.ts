/**
 * Lesson 08 — the user namespace: root inside, an ordinary user outside.
 *
 * A user namespace has its own user and group IDs. Its uid_map and gid_map say which host IDs its IDs
 * are: "0 100000 65536" makes the container's root (0) the host's 100000, and its IDs 0–65535 the
 * host's 100000–165535. Capabilities then belong to a namespace too: the container's root has them
 * all over the namespaces its user namespace owns — its host name, its mounts, its network — and none
 * over the host's, where it is user 100000.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import type { OciIdMapping } from '../../src/container/config.js';
import { findProgram } from '../../src/sys/programs.js';

/** What an unmapped ID looks like inside a user namespace: /proc/sys/kernel/overflowuid (65534, "nobody"). */
export const OVERFLOW_ID_FILE = '/proc/sys/kernel/overflowuid';

/** The text of a uid_map or gid_map: one "inside outside count" line per mapping (user_namespaces(7)). */
export function formatIdMap(mappings: readonly OciIdMapping[]): string {
  // EXERCISE(userns.format): Return the map's text: one line "containerID hostID size" per mapping, each ending with a newline.
  // HINT: The kernel reads a map as lines of three numbers separated by spaces: the first ID inside, the first ID outside, how many.
  // HINT: Turn each mapping into its line with a template string, then join the lines; every line ends with "\n", the last one too.
  // HINT: man 7 user_namespaces, "User and group ID mappings: uid_map and gid_map"; cat /proc/self/uid_map shows the host's own.
  return mappings.map(({ containerID, hostID, size }) => `${containerID} ${hostID} ${size}\n`).join('');
  // END EXERCISE
}

/** The mappings a uid_map or gid_map holds, read back: the inverse of formatIdMap. */
export function parseIdMap(text: string): OciIdMapping[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter((numbers) => numbers.length === 3 && numbers.every(Number.isInteger))
    .map(([containerID, hostID, size]) => ({ containerID: containerID!, hostID: hostID!, size: size! }));
}

/** The host ID an ID of the namespace is, through its mappings; undefined when it is not mapped. */
export function hostIdOf(mappings: readonly OciIdMapping[], id: number): number | undefined {
  // EXERCISE(userns.host-id): Find the mapping whose range holds `id` and return the host ID it is; undefined when no mapping holds it.
  // HINT: A mapping covers the IDs containerID, containerID + 1 … up to containerID + size - 1, and shifts them all by the same amount.
  // HINT: Find the one mapping with containerID <= id < containerID + size; the answer is its hostID plus how far `id` is past containerID.
  // HINT: man 7 user_namespaces: "Defining user and group ID mappings", the worked example with uid_map "0 1000 1"; Array.prototype.find on MDN.
  const mapping = mappings.find(({ containerID, size }) => id >= containerID && id < containerID + size);
  return mapping ? mapping.hostID + (id - mapping.containerID) : undefined;
  // END EXERCISE
}

/** Capability numbers of capabilities(7) that this module asks about. */
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;

/** Does the calling process hold capability `bit` right now (CapEff in /proc/self/status)? */
export function holdsCapability(bit: number): boolean {
  const mask = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return ((BigInt(`0x${mask}`) >> BigInt(bit)) & 1n) === 1n;
}

/**
 * Maps the user namespace process `pid` is in, from outside: its uid_map, then its gid_map. Each file
 * is written once, in one write(2), before anything in the namespace needs an ID: a second write fails
 * with EPERM. A writer with CAP_SETUID and CAP_SETGID over the parent namespace (root) may map any
 * host IDs, in either order; any other writer may map only its own ID, one line, and gid_map only
 * after "deny" is written to /proc/PID/setgroups (user_namespaces(7), since Linux 3.19).
 */
export function writeIdMaps(pid: number, uidMappings: readonly OciIdMapping[], gidMappings: readonly OciIdMapping[]): void {
  // EXERCISE(userns.write-maps): Write "deny" to setgroups first when we lack CAP_SETGID, then write uid_map and gid_map, each in one write.
  // HINT: Three files of /proc/PID are written here: setgroups (only for a writer without CAP_SETGID), uid_map and gid_map.
  // HINT: holdsCapability(CAP_SETGID) says whether we may skip setgroups; formatIdMap makes each map's text, and writeFileSync writes it in one go.
  // HINT: man 7 user_namespaces, "Writing "deny" to the /proc/[pid]/setgroups file"; runc's nsexec.c does the same (update_setgroups, update_uidmap, update_gidmap).
  if (!holdsCapability(CAP_SETGID)) writeFileSync(`/proc/${pid}/setgroups`, 'deny');
  writeFileSync(`/proc/${pid}/uid_map`, formatIdMap(uidMappings));
  writeFileSync(`/proc/${pid}/gid_map`, formatIdMap(gidMappings));
  // END EXERCISE
}

/** A process that holds a new user namespace (and a PID namespace for children, if asked) while it is mapped. */
export interface NamespaceHolder {
  pid: number;
  /** Ends it; the namespaces live on as long as a process is in them. */
  end(): void;
}

/**
 * Creates a user namespace — with a PID namespace it owns, for `withPid` — in a new process that only
 * holds them: `unshare --user [--pid] cat`. unshare (util-linux) is one thread, which the kernel
 * demands of a process that creates a user namespace; Node never is (EINVAL). It execs cat, which waits
 * on a pipe from us: the holder also ends when we do. Resolves once the namespace exists.
 */
export async function holdUserNamespace(withPid: boolean): Promise<NamespaceHolder> {
  const unshare = findProgram('unshare');
  if (!unshare) throw new Error('a user namespace is made with unshare, which is missing: install util-linux');
  const holder: ChildProcess = spawn(unshare, ['--user', ...(withPid ? ['--pid'] : []), '--', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const end = () => {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
  };
  let stderr = '';
  holder.stderr!.on('data', (chunk) => (stderr += chunk));
  const ours = readlinkSync('/proc/self/ns/user');
  const deadline = Date.now() + 5000;
  // Spawned means unshare(1) runs, not that it has unshared yet: its namespace link changes when it has.
  for (;;) {
    if (holder.exitCode !== null || holder.signalCode !== null) throw new Error(`unshare --user failed: ${stderr.trim() || `exit ${holder.exitCode ?? holder.signalCode}`}`);
    try {
      if (readlinkSync(`/proc/${holder.pid}/ns/user`) !== ours) break;
    } catch {
      // not started yet
    }
    if (Date.now() > deadline) {
      end();
      throw new Error('unshare --user did not create a user namespace within 5 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return { pid: holder.pid!, end };
}

/** A process's IDs as /proc/PID/status shows them to the reader: translated into the READER's user namespace. */
export function statusIds(pid: number | 'self'): { uid: number; gid: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  // "Uid:	0	0	0	0": real, effective, saved, file system. The effective one decides.
  const effective = (name: string) => Number(new RegExp(`^${name}:\\s*\\d+\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { uid: effective('Uid'), gid: effective('Gid') };
}

/** The mappings of process `pid`'s user namespace, as the host reads them. */
export function readIdMaps(pid: number): { uid: OciIdMapping[]; gid: OciIdMapping[]; setgroups: string } {
  return {
    uid: parseIdMap(readFileSync(`/proc/${pid}/uid_map`, 'utf8')),
    gid: parseIdMap(readFileSync(`/proc/${pid}/gid_map`, 'utf8')),
    setgroups: readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim(),
  };
}
