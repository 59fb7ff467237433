/**
 * The container's init: the process that becomes the container.
 *
 * Why a separate Node process at all? unshare(2) moves only the calling *thread* into new namespaces,
 * and Node always runs several threads (V8's workers, libuv's pool), so the runtime cannot set up
 * namespaces for itself and then fork: fork() from Node is unsafe. runc meets the same problem with
 * Go's threads and solves it the same way: it re-executes itself as `runc init`, does the namespace
 * work first, then execve(2)s the user's command. Here:
 *
 *   1. read the plan from the control pipe, and die with our parent (the monitor) from then on —
 *      nothing may outlive a crashed runtime (handed off: also listen on its start socket and stop
 *      dying with the monitor, which is about to leave; see protocol.ts);
 *   3. enter namespaces: join the ones to join, create the new ones (on the main thread, synchronously);
 *   4. run each lesson's setup steps (host name, mounts, ...);
 *   5. report "ready" and wait for "start" (the runtime attaches cgroups and network meanwhile) — from
 *      the control pipe, or handed off, from the first connection to the start socket;
 *   6. with a console, make it the controlling terminal and the standard streams (attachConsole);
 *   7. execve the command. From here on the container's process is the command, not Node.
 *
 * Everything below is synchronous on purpose: asynchronous fs calls run on libuv's thread pool, whose
 * threads are still in the host's namespaces.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import {
  CLONE_FS, F_DUPFD_CLOEXEC, O_CLOEXEC, O_NOCTTY, O_RDWR, PR_SET_PDEATHSIG, SyscallError, formatErrorLine, makeControllingTerminal, type Syscalls,
} from '../sys/index.js';
import { SyncJsonLineReader, writeJsonLineSync } from '../sys/json.js';
import { CONTROL_FD, type FromInit, type ToInit } from './protocol.js';
import type { ContainerPlan } from './plan.js';
import type { FeatureRegistry } from './features.js';
import { ExecError, execCommand, prepareForExec, resolveCommand } from './exec.js';
import { namespaceFlag } from './namespaces.js';

export function runInit(sys: Syscalls, registry: FeatureRegistry): never {
  const parent = parentPid();
  let control = new SyncJsonLineReader(CONTROL_FD);
  let reportFd = CONTROL_FD;
  const report = (message: FromInit) => writeJsonLineSync(reportFd, message);
  try {
    // Until the plan comes, a parent that dies is an end of file here.
    const planMessage = control.next<ToInit>();
    if (planMessage?.type !== 'plan') process.exit(125); // the monitor went away before telling us anything
    dieWithParent(sys, planMessage.adopter ?? parent);
    const { plan, startSocket, startListenerFd, preservedFds = 0, handOff = Boolean(startSocket) } = planMessage;
    // Our PID as the host sees it, read while /proc is still the host's. It differs from the parent's
    // child PID when a helper forked us into a new PID namespace (namespaces.ts: initCommand).
    const hostPid = hostPidOfSelf();
    if (planMessage.attach) {
      // In a user namespace init may not join its cgroup itself: the host does, before any step runs.
      report({ type: 'spawned', pid: hostPid });
      if (control.next<ToInit>()?.type !== 'attached') process.exit(125);
    }
    // Bound now, while the path still means the host's file system (before any mount namespace is
    // entered or root changed); the descriptor keeps working wherever init goes afterwards.
    const startListener = startListenerFd ?? (startSocket ? sys.listenUnix(startSocket) : undefined);
    if (handOff) sys.prctl(PR_SET_PDEATHSIG, 0); // the monitor leaves after "ready": outlive it

    enterNamespaces(sys, plan, registry);
    for (const step of plan.steps) registry.runStep(sys, step);
    const file = resolveCommand(plan.process);
    sys.chdir(plan.process.cwd);

    report({ type: 'ready', pid: sys.getpid(), hostPid });
    if (startListener !== undefined) {
      // Whoever starts us connects; errors from here on go to them, and the connection (closed on exec)
      // ends when execve succeeds — the same "end of file means running" as the control pipe's.
      reportFd = sys.acceptConnection(startListener);
      sys.close(startListener);
      control = new SyncJsonLineReader(reportFd);
    }
    const startMessage = control.next<ToInit>();
    if (startMessage?.type !== 'start') process.exit(125); // the runtime gave up on this container

    if (startMessage.console) attachConsole(sys, startMessage.console);
    // The preserved descriptors move down onto 3, 4 ..., over the control pipe: errors go to a copy of it
    // (closed on exec like the original, so "end of file means running" still holds).
    if (preservedFds > 0 && reportFd === CONTROL_FD) reportFd = sys.fcntl(CONTROL_FD, F_DUPFD_CLOEXEC, CONTROL_FD + preservedFds + 1);
    prepareForExec(sys, { from: CONTROL_FD + 1, count: preservedFds });
    execCommand(sys, plan.process, file);
  } catch (error) {
    const exitCode = error instanceof ExecError ? error.exitCode : 125;
    // The pipe carries text: the cause chain in one line, each layer's message (step, call, errno).
    report({ type: 'error', message: formatErrorLine(error), exitCode });
    process.exit(exitCode);
  }
}

/**
 * PR_SET_PDEATHSIG: the kernel kills us when our parent dies. The signal follows the parent we have
 * when it exits — so an init that is adopted (protocol.ts: adopter) asks for it only once its adopter
 * is its parent: its first parent, the helper that forked it, leaves at once, and its exit would kill
 * an init that asked too early. Then, as runc does after the same prctl, the parent is checked again:
 * one that died before we asked sends nothing. PIDs as the host counts: our /proc is still its /proc.
 */
function dieWithParent(sys: Syscalls, parent: number): void {
  const deadline = Date.now() + ADOPTION_PATIENCE_MS;
  while (parentPid() !== parent) {
    if (Date.now() > deadline) throw new Error(`init was not adopted by PID ${parent} within ${ADOPTION_PATIENCE_MS / 1000} s (its parent is ${parentPid()})`);
    Atomics.wait(pause, 0, 0, 1); // the helper exits right after its fork: a few milliseconds at most
  }
  sys.prctl(PR_SET_PDEATHSIG, osConstants.signals.SIGKILL);
  if (parentPid() !== parent) process.exit(125);
}

const ADOPTION_PATIENCE_MS = 5000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/** PPid in /proc/self/status: our parent, counted in the PID namespace of that /proc (getppid(2) says 0 to PID 1 of a new one). */
function parentPid(): number {
  return Number(/^PPid:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}

/** NSpid's first number in /proc/self/status: our PID in the PID namespace of the /proc we see (the host's, before the container's is mounted). */
function hostPidOfSelf(): number {
  return Number(/^NSpid:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}

function enterNamespaces(sys: Syscalls, plan: ContainerPlan, registry: FeatureRegistry): void {
  // Open every /proc/PID/ns/* file first, then join: once init is in the container's mount namespace,
  // its /proc is the container's and the host PID in those paths means nothing (nsenter and runc do the same).
  const joins = plan.join
    // The PID namespace is joined by whoever starts init (it applies only to children); the user
    // namespace by nsenter, before Node starts (namespaces.ts: initCommand).
    .filter(({ kind }) => kind !== 'pid' && kind !== 'user')
    .map(({ kind, path }) => ({ kind, fd: openSync(path, 'r') }));
  const root = plan.root ? openSync(plan.root, 'r') : undefined;
  try {
    for (const { kind, fd } of joins) {
      // setns into a mount namespace needs a private root/cwd (fs_struct); Node's threads share ours.
      if (kind === 'mnt') sys.unshare(CLONE_FS);
      sys.setns(fd, namespaceFlag(kind));
    }
    // The container's own "/", opened from outside before the join: into it, then make it the root.
    if (root !== undefined) {
      sys.fchdir(root);
      sys.chroot('.');
    }
  } finally {
    for (const { fd } of joins) closeSync(fd);
    if (root !== undefined) closeSync(root);
  }
  for (const kind of plan.namespaces) {
    if (kind === 'pid') continue; // created by the monitor, see monitor.ts
    registry.namespaceCreator(kind)(sys);
  }
}

/**
 * Gives the command a terminal: the pty slave at `slavePath` becomes this session's controlling terminal
 * and fds 0, 1 and 2 — what login_tty(3) does, and runc's init with its console. With a controlling
 * terminal a shell can do job control: put each job in a process group of its own and hand the terminal
 * to the one in the foreground (tcsetpgrp), so Ctrl-C and Ctrl-Z reach that job and nothing else.
 *
 * The path is looked up here, in the container's mount namespace (init has pivot_rooted or joined it):
 * "/dev/pts/N" is the container's own devpts, where the runtime created the pty (see console.ts).
 */
export function attachConsole(sys: Syscalls, slavePath: string): void {
  becomeSessionLeader(sys);
  // O_NOCTTY: the terminal is taken explicitly below, not as a side effect of open.
  const fd = sys.open(slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC);
  try {
    makeControllingTerminal(sys, fd);
    for (const standard of [0, 1, 2]) sys.dup2(fd, standard); // dup2 leaves the copies open across exec
  } finally {
    if (fd > 2) sys.close(fd); // the copies hold the terminal now
  }
}

/**
 * Only a session leader may acquire a controlling terminal (TIOCSCTTY), and setsid(2) makes one — unless
 * the caller already leads a process group: then setsid fails with EPERM, since the group's ID would
 * have to change under its members. A process that leads its own session already is fine as it is.
 * The monitor starts init as a plain child in its own group, so init normally gets a fresh session.
 * (A shell's `setsid` command forks first to avoid the EPERM; init cannot fork, it is Node.)
 */
function becomeSessionLeader(sys: Syscalls): void {
  try {
    sys.setsid();
  } catch (error) {
    if (!(error instanceof SyscallError && error.code === 'EPERM')) throw error;
    if (sys.getsid(0) === sys.getpid()) return; // our own session already
    throw new Error('init: cannot take a console: init leads a process group, so it cannot start a session (setsid: EPERM), and only a session leader may have a controlling terminal');
  }
}
