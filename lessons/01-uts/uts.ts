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
  // HINT: A namespace is left with one system call that takes one flag per kind of namespace to leave.
  // HINT: unshare(2) with the UTS flag, CLONE_NEWUTS (already imported at the top of the file); `sys` offers each system call under its C name.
  // HINT: man 2 unshare (the CLONE_NEWUTS paragraph), and "The system calls" in this lesson's README.
  sys.unshare(CLONE_NEWUTS);
  // END EXERCISE
}

/** Step 2, also inside: name the container. Only the new namespace sees the change. */
export function setUpUts(sys: Syscalls, config: UtsConfig): void {
  // EXERCISE(uts.hostname): Set the container's host name, and its NIS domain name when the config has one.
  // HINT: The UTS namespace holds two strings: the host name and the NIS domain name.
  // HINT: Each string has a system call of its own; the domain name is set only when config.domainname is defined.
  // HINT: man 2 sethostname and man 2 setdomainname; `sys` has a method named after each.
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
  // HINT: Container IDs are 64 hex digits; `docker ps` shows a shorter form of them, and so does `hostname` inside a container.
  // HINT: The short ID is a prefix of the ID: its first 12 characters.
  // HINT: String.prototype.slice on MDN; Docker's own version is TruncateID in its stringid package.
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
  // HINT: The format is KIND:[NUMBER]; anything else (no brackets, an empty text) must throw.
  // HINT: A regular expression anchored at both ends, with a group around the digits, takes it apart; Number() turns the group into a number.
  // HINT: man 7 namespaces, "The /proc/[pid]/ns/ directory"; RegExp.prototype.exec on MDN.
  const match = /^(\w+):\[(\d+)\]$/.exec(link.trim());
  if (!match) throw new Error(`not a namespace link: ${link}`);
  return Number(match[2]);
  // END EXERCISE
}
