/**
 * Collecting a process that is not our own child: a child subreaper (prctl PR_SET_CHILD_SUBREAPER, as
 * conmon and containerd-shim are) is given the orphans among its descendants, and waitpid(2) works on
 * them as on its own children. Node's child_process knows only the children it spawned, so an adopted
 * one is waited for here: at each SIGCHLD, with waitpid for that one PID and WNOHANG. Never for "any
 * child": that would take the exit statuses of Node's own children from under libuv.
 */
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { PR_SET_CHILD_SUBREAPER, WNOHANG } from './constants.js';
import { SyscallError } from './errors.js';
import type { Syscalls } from './syscalls.js';

/** How a process ended: its exit code, or the signal that killed it (by name, as child_process says). */
export interface EndStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** WIFEXITED/WEXITSTATUS and WIFSIGNALED/WTERMSIG of a raw wait status (<sys/wait.h>). */
export function decodeWaitStatus(status: number): EndStatus {
  const signal = status & 0x7f;
  if (signal === 0) return { code: (status >> 8) & 0xff, signal: null };
  const name = Object.entries(constants.signals).find(([, number]) => number === signal)?.[0];
  return { code: null, signal: (name as NodeJS.Signals | undefined) ?? null };
}

/** Orphaned descendants become our children from now on, not PID 1's. */
export function becomeSubreaper(sys: Syscalls): void {
  sys.prctl(PR_SET_CHILD_SUBREAPER, 1);
}

/**
 * Resolves with how `pid` ended, once it has been given to us (an orphan of a descendant) and has
 * ended. `otherwise` answers when someone else collected it instead (it was never orphaned: its
 * parent waited for it) — the status that parent learned.
 */
export function waitForAdopted(sys: Syscalls, pid: number, otherwise: () => Promise<EndStatus>): Promise<EndStatus> {
  return new Promise((resolve) => {
    let done = false;
    const check = () => {
      if (done) return;
      try {
        const { pid: ended, status } = sys.waitpid(pid, WNOHANG);
        if (ended !== pid) return; // still running
        finish(decodeWaitStatus(status));
      } catch (error) {
        // ECHILD: not ours (yet). Gone altogether means its parent collected it.
        if (!(error instanceof SyscallError && error.code === 'ECHILD')) throw error;
        if (!existsSync(`/proc/${pid}`)) {
          stop();
          void otherwise().then(resolve);
        }
      }
    };
    const finish = (status: EndStatus) => {
      stop();
      resolve(status);
    };
    // SIGCHLD says when; the timer also keeps the event loop alive meanwhile (a signal listener does not).
    const timer = setInterval(check, 250);
    const stop = () => {
      done = true;
      clearInterval(timer);
      process.off('SIGCHLD', check);
    };
    process.on('SIGCHLD', check);
    check();
  });
}

/**
 * How a spawned process's work ended: the child's own status — or, when it forked the process that
 * matters and left (`adopted`), that process's, collected as its subreaper.
 * Resolves after the child's 'close' either way, so its output pipes are drained by then.
 */
export async function endOf(sys: Syscalls, child: ChildProcess, adopted: Orphan): Promise<EndStatus> {
  const own = await new Promise<EndStatus>((resolve) => child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })));
  const pid = await adopted.pid;
  return pid === undefined ? own : waitForAdopted(sys, pid, async () => own);
}

/**
 * The process a spawned helper forks and leaves, for us to adopt: its PID once it is told
 * (`found`), or undefined once it is known that there is none (`none`, or `expected` false).
 */
export class Orphan {
  private settle!: (pid: number | undefined) => void;
  private known: number | undefined;
  readonly pid = new Promise<number | undefined>((resolve) => (this.settle = resolve));

  constructor(readonly expected: boolean) {
    if (!expected) this.settle(undefined);
  }

  found(pid: number): void {
    if (!this.expected) return;
    this.known = pid;
    this.settle(pid);
  }

  none(): void {
    this.settle(undefined);
  }

  /** Ends it, if it is known and still there. */
  kill(): void {
    try {
      if (this.known) process.kill(this.known, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
