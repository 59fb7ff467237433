/**
 * The monitor: the container's babysitter on the host side, like Docker's containerd-shim or podman's
 * conmon. It stays outside the container, starts init, relays the control messages, waits for the
 * command to end and reports how it ended.
 *
 * Why it exists: a PID namespace is different from all the others. unshare(CLONE_NEWPID) does not move
 * the caller — a process never changes PID — it decides where the caller's *next child* goes; that
 * child becomes PID 1 of the new namespace. So some process must create (or join) the PID namespace and
 * then start a child: the monitor does exactly that, then starts init as that child.
 *
 * Handed off (the plan message names a startSocket: `oci create` for an engine), that is all it does:
 * it leaves as soon as init is ready, so init — and the command it becomes — is adopted by the
 * caller's subreaper, which waits for it (runc's `create` exits the same way; conmon and
 * containerd-shim are subreapers for exactly this).
 */
import { spawn } from 'node:child_process';
import { closeSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import path from 'node:path';
import { constants as osConstants } from 'node:os';
import { PR_SET_PDEATHSIG, formatErrorLine, type Syscalls } from '../sys/index.js';
import { enterPidNamespace, initCommand, initIsAdopted, needsPidNamespace } from './namespaces.js';
import { becomeSubreaper, endOf, Orphan } from '../sys/reaper.js';
import { jsonLine, onJsonLines, writeJsonFile } from '../sys/json.js';
import { shortSocketPath } from '../sys/socket-path.js';
import { CONTROL_FD, type FromInit, type ToInit } from './protocol.js';
import type { FeatureRegistry } from './features.js';
import type { ContainerPlan } from './plan.js';

export interface MonitorOptions {
  dieWithParent: boolean;
  /**
   * Stay on as the container's shim after the runtime has gone (runc's `create` + `start` from two
   * different processes, containerd-shim's job). The monitor then also listens on <shimDir>/monitor.sock,
   * where a later process sends {"type":"start"} (with a "console" path, for a terminal: forwarded to
   * init like everything the start message carries) and hears the same messages the runtime would
   * (started, error, exit) — runc uses a FIFO, exec.fifo, for the same hand-over — and it writes how
   * the command ended to <shimDir>/exit.json, since nobody may be listening when it does.
   */
  shimDir?: string;
}

export function runMonitor(sys: Syscalls, entry: string, registry: FeatureRegistry, options: MonitorOptions): void {
  // With the runtime gone nobody would clean up after us: go too (the kernel sends the signal).
  if (options.dieWithParent) sys.prctl(PR_SET_PDEATHSIG, osConstants.signals.SIGKILL);
  // A Ctrl-C in the terminal is for the command (when it shares the terminal), not for its babysitter.
  for (const signal of ['SIGINT', 'SIGQUIT'] as const) process.on(signal, () => {});
  const runtime = new Socket({ fd: CONTROL_FD, readable: true, writable: true, allowHalfOpen: true });
  const listeners = new Set<Socket>();
  const report = (message: FromInit, then?: () => void) => {
    for (const listener of listeners) if (listener.writable) listener.write(jsonLine(message));
    if (runtime.writable) runtime.write(jsonLine(message), () => then?.());
    else then?.();
  };
  let init: ReturnType<typeof spawn> | undefined;
  let adopted = new Orphan(false); // init, when a helper forks it and leaves (namespaces.ts: initIsAdopted)
  let started = false;
  let failed = false;
  let ready = false;

  const forward = (message: ToInit) => (init?.stdio[CONTROL_FD] as Socket | undefined)?.write(jsonLine(message));
  const shim = options.shimDir ? listenAsShim(options.shimDir, listeners, forward) : undefined;

  onJsonLines<ToInit>(runtime, (message) => {
    if (message.type === 'plan') {
      try {
        if (needsPidNamespace(message.plan)) enterPidNamespace(sys, message.plan, registry);
        init = startInit(entry, message, message.handOff ?? Boolean(message.startSocket));
      } catch (error) {
        report({ type: 'error', message: formatErrorLine(error), exitCode: 125 }, () => process.exit(125));
        return;
      }
    } else {
      forward(message); // "start" whole (init needs its console path, which means nothing out here), "attached"
    }
  });
  // The runtime closed its end before the command started: it gave up, so stop the container.
  // A shim expects exactly that (`create` returns, `start` comes later from another process).
  runtime.on('end', () => {
    if (started || shim) return;
    init?.kill('SIGKILL');
    adopted.kill();
  });
  runtime.on('error', () => {});

  function startInit(entryFile: string, planMessage: Extract<ToInit, { type: 'plan' }>, handOff: boolean) {
    // Descriptors to preserve for the command sit right after the control pipe, here as in init.
    // So does a start socket the runtime bound (startListenerFd), at the same number.
    const preserved = Array.from({ length: (planMessage.preservedFds ?? 0) + (planMessage.startListenerFd ? 1 : 0) }, (_, index) => CONTROL_FD + 1 + index);
    const command = initCommand(planMessage.plan, entryFile, CONTROL_FD + 1 + preserved.length);
    // A PID namespace made or joined by init's helper, which forks init and leaves: we adopt it.
    adopted = new Orphan(initIsAdopted(planMessage.plan));
    if (adopted.expected) becomeSubreaper(sys);
    const child = spawn(command.file, command.args, { stdio: ['inherit', 'inherit', 'inherit', 'pipe', ...preserved, ...command.fds], env: { ...process.env, ...command.env } });
    for (const fd of command.fds) closeSync(fd); // the child has them now
    const control = child.stdio[CONTROL_FD] as Socket;
    control.write(jsonLine(adopted.expected ? { ...planMessage, adopter: process.pid } : planMessage));
    onJsonLines<FromInit>(control, (message) => {
      if (message.type === 'spawned') adopted.found(message.pid);
      // The runtime wants the host's PID. Handed off, our job ends here: init is the caller's subreaper's now.
      if (message.type === 'ready') {
        ready = true;
        report({ type: 'ready', pid: message.hostPid, hostPid: message.hostPid }, handOff ? () => process.exit(0) : undefined);
      } else {
        if (message.type === 'error') failed = true;
        report(message);
      }
    });
    // init's end of the pipe is close-on-exec: end of file after "ready" without an error means execve
    // succeeded. Before "ready" it means init died; its end, reported below, tells the runtime so.
    control.on('end', () => {
      adopted.none(); // no "spawned" by then: there is no init to adopt
      if (ready && !failed) {
        started = true;
        report({ type: 'started' });
      }
    });
    control.on('error', () => {});
    // endOf resolves after the child's 'close', which comes after both its exit and the pipe's end, so
    // "started" is always reported before "exit" (for an adopted init: also after its end).
    void endOf(sys, child, adopted).then(({ code, signal }) => {
      // Written before anyone is told: whoever hears "exit" (or finds the monitor gone) can read it.
      if (shim) shim.recordExit({ code, signal, failed });
      if (failed) process.exit(0);
      else report({ type: 'exit', code, signal }, () => process.exit(0));
    });
    return child;
  }
}

/**
 * The shim's door for later processes: a unix socket in the container's state folder. Each line a
 * client sends is a ToInit message (only "start" is accepted); every report is copied to every client.
 */
function listenAsShim(dir: string, listeners: Set<Socket>, onStart: (message: ToInit) => void) {
  const socketPath = path.join(dir, 'monitor.sock');
  rmSync(socketPath, { force: true }); // a socket file left by a monitor killed with SIGKILL
  const server = createServer((client) => {
    listeners.add(client);
    client.on('close', () => listeners.delete(client));
    client.on('error', () => {});
    onJsonLines<ToInit>(client, (message) => {
      if (message.type === 'start') onStart(message);
    });
  });
  const address = shortSocketPath(socketPath);
  server.once('listening', address.release).once('error', address.release);
  server.listen(address.path);
  server.unref(); // the socket alone must not keep the monitor alive
  return {
    recordExit(status: { code: number | null; signal: NodeJS.Signals | null; failed: boolean }) {
      try {
        // Atomically (write, then rename): whoever finds the monitor gone reads all of it or nothing.
        writeJsonFile(path.join(dir, 'exit.json'), { ...status, at: new Date().toISOString() });
      } catch {
        // the folder is gone already: the container was deleted by force
      }
      server.close();
    },
  };
}
