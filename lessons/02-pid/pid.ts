/**
 * Lesson 02 — PID and IPC namespaces: the command becomes PID 1.
 *
 * A PID namespace gives a container its own process numbers, starting at 1. The namespaces nest: the
 * host still sees every container process, under another number, while the container sees only its own.
 * An IPC namespace gives it its own System V message queues, semaphores and shared memory.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC, type Syscalls } from '../../src/sys/index.js';

/**
 * Run by the monitor, not by init: unshare(CLONE_NEWPID) does not move the caller (a process never
 * changes its PID); it decides where the caller's NEXT child goes. That child, init, becomes PID 1.
 */
export function newPidNamespace(sys: Syscalls): void {
  // EXERCISE(pid.unshare): Make the calling thread's next child the first process (PID 1) of a new PID namespace.
  // HINT: As in lesson 01: one system call, with the flag of the PID namespace.
  // HINT: Only the calling thread's NEXT child lands in the new namespace, as its PID 1; the caller stays where it is. That is why the monitor starts init afterwards.
  // HINT: man 2 unshare (CLONE_NEWPID) and man 7 pid_namespaces.
  sys.unshare(CLONE_NEWPID);
  // END EXERCISE
}

/** Run by init: System V IPC objects created inside are invisible outside, and the other way round. */
export function newIpcNamespace(sys: Syscalls): void {
  // EXERCISE(ipc.unshare): Give the calling thread a new IPC namespace.
  // HINT: As in lesson 01: one unshare(2) call.
  // HINT: The flag is named like the others, CLONE_NEW plus the namespace's name; it is imported at the top of the file.
  // HINT: man 7 ipc_namespaces and man 2 unshare.
  sys.unshare(CLONE_NEWIPC);
  // END EXERCISE
}

/**
 * Run by init. `ps` reads /proc, and /proc shows the PID namespace of whoever MOUNTED it — the host's,
 * until the container mounts its own. Mounting over /proc would hide the host's /proc for everyone,
 * so first the container gets a mount namespace of its own whose mounts do not propagate back to the
 * host (on systemd machines "/" is a shared mount). Lesson 03 is all about this; here it is a given.
 */
export function newMountNamespace(sys: Syscalls): void {
  sys.unshare(CLONE_NEWNS);
  sys.mount(null, '/', null, MS_REC | MS_PRIVATE);
}

/** A step run by init once it is PID 1 of its namespace: a /proc that shows the container's processes. */
export function mountProc(sys: Syscalls): void {
  // EXERCISE(pid.proc): Mount a new proc filesystem on /proc with MS_NOSUID, MS_NODEV and MS_NOEXEC (no setuid, no devices, no executables).
  // HINT: mount(2) takes a source, a target, a file system type, flags and data; for a virtual file system the source is only a label.
  // HINT: Source "proc", target "/proc", type "proc"; the three flags OR-ed together; no data.
  // HINT: man 2 mount (the MS_* flags) and man 5 proc ("Mounting the proc filesystem").
  sys.mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC);
  // END EXERCISE
}

/**
 * The NSpid line of /proc/PID/status lists a process's PID in every namespace it is in, outermost
 * first: "NSpid:\t4242\t1" is host PID 4242, PID 1 in its container.
 */
export function parseNSpid(status: string): number[] {
  // EXERCISE(pid.nspid): Return the numbers of the NSpid: line of a /proc/PID/status text, outermost first; throw if there is none.
  // HINT: /proc/PID/status holds one "Key:<TAB>value" line per field; only the NSpid: line matters here.
  // HINT: Find that line, drop its key, split the rest on whitespace, turn each part into a number; no such line: throw.
  // HINT: man 5 proc, the NSpid entry of /proc/[pid]/status; String.prototype.split with /\s+/ on MDN.
  const line = status.split('\n').find((entry) => entry.startsWith('NSpid:'));
  if (!line) throw new Error('no NSpid: line (is this /proc/PID/status?)');
  return line.slice('NSpid:'.length).trim().split(/\s+/).map(Number);
  // END EXERCISE
}

/** Host PID → PID inside its innermost PID namespace. */
export function pidInside(hostPid: number): number {
  const pids = parseNSpid(readFileSync(`/proc/${hostPid}/status`, 'utf8'));
  return pids[pids.length - 1]!;
}

/** The parts of a running container `stop` needs (the runtime's Container has them). */
export interface Stoppable {
  kill(signal: NodeJS.Signals): boolean;
  wait(): Promise<{ exitCode: number }>;
}

/**
 * `docker stop`: ask politely, then insist. PID 1 of a namespace gets only the signals it has a handler
 * for — the kernel drops the rest, even SIGTERM — so a `sleep` as PID 1 never stops on SIGTERM. After
 * the grace period, SIGKILL (which the kernel always delivers from outside the namespace): exit 137.
 */
export async function stopContainer(container: Stoppable, graceMs: number): Promise<number> {
  // EXERCISE(pid.stop): Send SIGTERM; if the container has not exited within graceMs, send SIGKILL. Return its exit code.
  // HINT: This is `docker stop`: ask politely, wait a while, then insist.
  // HINT: Race container.wait() against a timer of graceMs; if the timer wins, send SIGKILL and wait again. Clear the timer either way, or Node stays alive until it fires.
  // HINT: Promise.race and setTimeout/clearTimeout on MDN; `docker stop --time` in Docker's documentation.
  container.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), graceMs)));
  const ended = await Promise.race([container.wait(), timeout]);
  clearTimeout(timer);
  if (ended) return ended.exitCode;
  container.kill('SIGKILL');
  return (await container.wait()).exitCode;
  // END EXERCISE
}

/**
 * `docker run --init`: a tiny init runs as PID 1 and starts the command as its child. It reaps every
 * orphan the kernel re-parents to it (no zombies) and passes signals on (SIGTERM works again).
 * Docker ships tini for this, as /sbin/docker-init; so does this lab.
 */
export function withInit(args: readonly string[], initPath: string): string[] {
  // EXERCISE(pid.init): Return the argv that runs `args` under the init program: the init, "--", then the command.
  // HINT: An init like tini is a program that runs your command as its child: the init's own argv comes first.
  // HINT: tini's usage is `tini [OPTIONS] -- PROGRAM [ARGS...]`: the "--" ends tini's options, so a command that starts with "-" is not taken for one.
  // HINT: `tini --help`, or tini's README; `docker run --init` in Docker's documentation.
  return [initPath, '--', ...args];
  // END EXERCISE
}

/**
 * The host's view of a PID namespace: every process whose /proc/PID/ns/pid link names it. This is how
 * the host "sees the child namespace's processes under other numbers".
 */
export function hostPidsInNamespaceOf(hostPid: number): number[] {
  const namespace = readlinkSync(`/proc/${hostPid}/ns/pid`);
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return readlinkSync(`/proc/${name}/ns/pid`) === namespace;
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}
