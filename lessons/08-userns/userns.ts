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
import { readlinkSync, writeFileSync } from 'node:fs';
import type { OciIdMapping } from '../../src/container/config.js';
import { findProgram } from '../../src/sys/programs.js';

/** The text of a uid_map or gid_map: one "inside outside count" line per mapping (user_namespaces(7)). */
export function formatIdMap(mappings: readonly OciIdMapping[]): string {
  return mappings.map(({ containerID, hostID, size }) => `${containerID} ${hostID} ${size}\n`).join('');
}

/** The host ID an ID of the namespace is, through its mappings; undefined when it is not mapped. */
export function hostIdOf(mappings: readonly OciIdMapping[], id: number): number | undefined {
  const mapping = mappings.find(({ containerID, size }) => id >= containerID && id < containerID + size);
  return mapping ? mapping.hostID + (id - mapping.containerID) : undefined;
}

/**
 * Maps the user namespace process `pid` is in, from outside: its gid_map, then its uid_map. Each file
 * is written once, in one write(2), before anything in the namespace needs an ID. Root (CAP_SETUID
 * and CAP_SETGID over the parent namespace) may map any host IDs; an unprivileged user may map only
 * its own ID, and gid_map only after writing "deny" to setgroups (lesson README).
 */
export function writeIdMaps(pid: number, uidMappings: readonly OciIdMapping[], gidMappings: readonly OciIdMapping[]): void {
  writeFileSync(`/proc/${pid}/gid_map`, formatIdMap(gidMappings));
  writeFileSync(`/proc/${pid}/uid_map`, formatIdMap(uidMappings));
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
