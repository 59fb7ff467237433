/**
 * Lesson 01 — the UTS namespace: a host name of its own.
 *
 * "UTS" is the UNIX Time-sharing System: the namespace holds the two names uname(2) reports besides
 * the kernel's own: the host name and the NIS domain name. A process in a new UTS namespace can change
 * them without the host noticing. Docker gives every container one, named after the container ID.
 */
import { readlinkSync } from 'node:fs';
import { CLONE_NEWUTS, type Syscalls } from '../../src/sys/index.js';

/** What the container's UTS namespace should say. */
export interface UtsConfig {
  hostname: string;
  domainname?: string;
}

/**
 * Step 1, run by init inside the container-to-be: leave the host's UTS namespace.
 * The new namespace starts as a copy of the old one: same names, until someone changes them.
 */
export function newUtsNamespace(sys: Syscalls): void {
  // EXERCISE(uts.unshare): Move the calling thread into a new UTS namespace.
  // HINT: unshare(2) takes one CLONE_NEW* flag per namespace to leave; the UTS one is CLONE_NEWUTS.
  // HINT: It is already imported at the top of the file: sys.unshare(CLONE_NEWUTS).
  sys.unshare(CLONE_NEWUTS);
  // END EXERCISE
}

/** Step 2, also inside: name the container. Only the new namespace sees the change. */
export function setUpUts(sys: Syscalls, config: UtsConfig): void {
  // EXERCISE(uts.hostname): Set the container's host name, and its NIS domain name when the config has one.
  // HINT: The UTS namespace holds two strings: the host name and the NIS domain name (setdomainname(2)).
  // HINT: sys.sethostname(config.hostname); then, only if config.domainname is defined, sys.setdomainname(...).
  sys.sethostname(config.hostname);
  if (config.domainname !== undefined) sys.setdomainname(config.domainname);
  // END EXERCISE
}

/**
 * Docker's default host name: the first 12 hex digits of the container ID — the short ID that
 * `docker ps` prints. So `hostname` inside a container tells you which container you are in.
 */
export function defaultHostname(containerId: string): string {
  // EXERCISE(uts.default-hostname): Return the short ID: the first 12 characters of the container ID.
  // HINT: Container IDs are 64 hex digits; `docker ps` shows the first 12, and so does `hostname` inside.
  // HINT: containerId.slice(0, 12)
  return containerId.slice(0, 12);
  // END EXERCISE
}

/**
 * Reads which namespace of a kind a process is in. /proc/PID/ns/uts is a magic symlink whose text is
 * "uts:[4026531838]": the number is the namespace's inode. Two processes share a namespace exactly when
 * the inodes are equal — that is how `lsns` and `docker inspect`-style tools compare them.
 */
export function namespaceInode(pid: number | 'self', kind = 'uts'): number {
  return parseNamespaceLink(readlinkSync(`/proc/${pid}/ns/${kind}`));
}

/** "uts:[4026531838]" → 4026531838. Throws on anything else. */
export function parseNamespaceLink(link: string): number {
  // EXERCISE(uts.inode): Parse a namespace link such as "uts:[4026531838]" into its inode number; throw if it does not match.
  // HINT: The format is KIND:[NUMBER] — a regular expression like /^(\w+):\[(\d+)\]$/ takes it apart.
  // HINT: Return Number(match[2]); throw new Error(`not a namespace link: ${link}`) when there is no match.
  const match = /^(\w+):\[(\d+)\]$/.exec(link.trim());
  if (!match) throw new Error(`not a namespace link: ${link}`);
  return Number(match[2]);
  // END EXERCISE
}
