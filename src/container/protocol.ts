/**
 * The messages runtime, monitor and init exchange, one JSON object per line, over the pipe each
 * process finds as fd 3 (CONTROL_FD). runc has the same conversation over its "sync pipe"
 * (libcontainer/sync.go: procReady, procRun, ...).
 *
 *   runtime ──plan──▶ monitor ──plan──▶ init        (init sets the container up)
 *  [runtime ◀spawned─ monitor ◀spawned─ init        (in a user namespace only: init waits while the
 *   runtime ─attached▶ monitor ─attached▶ init       host puts it where it may not go itself, its cgroup)]
 *   runtime ◀─ready── monitor ◀─ready── init        (pid known; cgroups/network can be attached now)
 *   runtime ──start─▶ monitor ──start─▶ init        (init takes the console, if any, and execs the command)
 *   runtime ◀started─ monitor   (init's end of the pipe closed on exec: the command is running)
 *   runtime ◀──exit── monitor   (the command ended: its code or signal)
 * Any stage may instead answer with `error` and stop. The lines are written and read with src/sys/json.ts.
 *
 * Handed off (the plan names a startSocket, as `oci create` does for engines): the monitor leaves once
 * init is ready, so init is adopted by the caller's subreaper (conmon, containerd-shim), which then
 * sees the command's exit itself. "start" then comes from whoever connects to the start socket, and
 * init answers on that connection: `error`, or end of file once the command runs (runc: exec.fifo).
 */
import type { ContainerPlan } from './plan.js';

export const CONTROL_FD = 3;

export type ToInit =
  /**
   * startSocket: hand the container off (above); a host path where init listens for "start".
   * preservedFds: that many more descriptors follow the control pipe (4, 5 ...) in the monitor and init;
   * the command gets them as 3, 4 ... (runc's --preserve-fds).
   */
  | {
      type: 'plan';
      plan: ContainerPlan;
      startSocket?: string;
      preservedFds?: number;
      /**
       * A start socket the runtime bound already, at this descriptor (after the preserved ones): for init in
       * a user namespace, which could not bind in the host's folders.
       */
      startListenerFd?: number;
      /** The monitor leaves once init is ready (above). Default: whether there is a startSocket. */
      handOff?: boolean;
      /** Say "spawned" with the host PID and wait for "attached" before the steps (runc's procHooks). */
      attach?: boolean;
      /**
       * init is forked by a helper that leaves at once (namespaces.ts: initIsAdopted): the PID, as the
       * host's /proc counts, of the subreaper that adopts it. init dies with that one, once adopted.
       */
      adopter?: number;
    }
  /** The host has done what init could not do itself (plan.attach): go on. */
  | { type: 'attached' }
  /**
   * console: a pty slave, "/dev/pts/N" as the container sees it, to become the command's controlling
   * terminal and stdin/stdout/stderr (`docker run -t`; see console.ts). The monitor passes it on as is.
   */
  | { type: 'start'; console?: string };

export type FromInit =
  /** pid as init sees itself (1 in a new PID namespace); hostPid as the host sees it. */
  | { type: 'ready'; pid: number; hostPid: number }
  | { type: 'spawned'; pid: number }
  | { type: 'started' }
  | { type: 'exit'; code: number | null; signal: string | null }
  /** exitCode follows Docker: 125 set-up failed, 126 cannot execute, 127 not found. */
  | { type: 'error'; message: string; exitCode: number };
