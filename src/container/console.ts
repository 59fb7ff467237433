/**
 * The container's console: a pseudo-terminal for `docker run -it` and `docker exec -it` ("console" is
 * runc's word for it).
 *
 * A pty is a pair of character devices. The master stays with the runtime; the slave, /dev/pts/N,
 * becomes the command's terminal (init makes it the controlling terminal and fds 0-2: attachConsole in
 * init.ts). Bytes written into the master arrive at the slave as typed keys, after the slave's line
 * discipline has done its work (echo, Ctrl-C → SIGINT to the foreground job, ...); what the command
 * writes to the slave comes out of the master.
 *
 * Which devpts the pty lives in matters. A container mounts a devpts of its own (lesson 03, option
 * `newinstance`): its terminals are numbered from 0 and the host's are not there. A pty made in the
 * host's instance would be /dev/pts/7 on the host and nothing at all inside the container.
 *   - runc: init opens /dev/ptmx inside the container and sends the master back to the runtime over
 *     a unix socket (an SCM_RIGHTS message), which passes it on to the engine's --console-socket.
 *   - here: init needs to send nothing. Once it has pivot_rooted (it reports "ready" after that), the
 *     host reaches the container's devpts through /proc/<init>/root. Opening the ptmx node THERE creates
 *     the pty in the container's instance: the kernel takes the instance from the superblock of the node
 *     that was opened. The OCI runtime then sends that master to an engine's --console-socket itself
 *     (src/sys: sendFileDescriptor; Node's own sockets cannot carry descriptors).
 *
 *   const container = await createContainer(plan);      // init is ready: its "/" is the rootfs
 *   const pty = container.openConsole();                  // or openConsole(container.pid)
 *   const detach = attachTerminal(pty);                   // raw mode, keys in, output out, resizes
 *   await container.start({ console: pty.slavePath });
 *   await container.wait();
 *   await detach.outputEnded;                             // the last output, after the command is gone
 *   detach();
 *   pty.close();
 */
import { chownSync, existsSync, readFileSync, readSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { ReadStream as TtyStream } from 'node:tty';
import {
  F_DUPFD_CLOEXEC, F_GETFL, F_SETFL, O_CLOEXEC, O_NOCTTY, O_NONBLOCK, O_RDWR, getWindowSize, linuxSyscalls, ptyNumber,
  setWindowSize, stopOutputProcessing, unlockPty, type Syscalls, type WindowSize,
} from '../sys/index.js';

/** One pseudo-terminal, seen from the runtime. */
export interface Console {
  /** The master: the runtime's end of the pty. */
  readonly masterFd: number;
  /** The slave, as the container sees it: "/dev/pts/N". What the start message carries to init. */
  readonly slavePath: string;
  /** Sets the terminal's size; the command's foreground job gets SIGWINCH (docker resizes the same way). */
  resize(rows: number, cols: number): void;
  size(): WindowSize;
  /** Closes the master (once; later calls do nothing). A command still using the slave is hung up: SIGHUP. */
  close(): void;
}

/**
 * Creates a pty in the devpts of the container whose init (or command) has host PID `pid`. Call it once
 * init has reported "ready" — for a new container and for an exec alike: an exec's init has joined the
 * container's mount namespace by then, and setns(2) put it at that namespace's root.
 */
export function openConsole(pid: number, sys: Syscalls = linuxSyscalls()): Console {
  // O_NOCTTY: a master must never become the runtime's own controlling terminal.
  const masterFd = sys.open(ptmxFor(pid), O_RDWR | O_NOCTTY | O_CLOEXEC);
  let slavePath: string;
  try {
    unlockPty(sys, masterFd);
    slavePath = `/dev/pts/${ptyNumber(sys, masterFd)}`;
    // The slave belongs to whoever opened the master: us, the host's root. A container in a user
    // namespace of its own has a root that is no one on the host, and could not open it (EACCES):
    // give it to the process that will (runc has its init open the pty inside for the same reason).
    const owner = effectiveIds(pid);
    if (owner.uid !== 0 || owner.gid !== 0) chownSync(`/proc/${pid}/root${slavePath}`, owner.uid, owner.gid);
  } catch (error) {
    sys.close(masterFd);
    throw error;
  }
  let open = true;
  return {
    masterFd,
    slavePath,
    resize: (rows, cols) => setWindowSize(sys, masterFd, { rows, cols }),
    size: () => getWindowSize(sys, masterFd),
    close() {
      if (!open) return;
      open = false;
      sys.close(masterFd);
    },
  };
}

/** A process's effective uid and gid, as the host sees them (/proc/PID/status); root's for one that is gone. */
function effectiveIds(pid: number): { uid: number; gid: number } {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // gone: nobody will open the slave, whoever owns it
  }
  const effective = (field: string) => Number(new RegExp(`^${field}:\\s+\\d+\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { uid: effective('Uid'), gid: effective('Gid') };
}

/**
 * The ptmx to open for the process `pid`: its root's /dev/pts/ptmx, the one of the devpts that its
 * /dev/pts/N names resolve in. Fallback, when that root has no devpts ptmx: the host's /dev/ptmx, whose
 * slaves are the host's /dev/pts/N — right for a process that shares the host's /dev (no mount namespace,
 * or one without lesson 03's rootfs), and a clear ENOENT from init for one whose /dev has no pts at all.
 */
export function ptmxFor(pid: number, exists: (file: string) => boolean = existsSync): string {
  const own = `/proc/${pid}/root/dev/pts/ptmx`;
  return exists(own) ? own : '/dev/ptmx';
}

/** The local side: a terminal (process.stdin/stdout) or any pair of streams (a test's). */
export interface TerminalStreams {
  stdin: Readable & { isTTY?: boolean; isRaw?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable & { isTTY?: boolean; columns?: number; rows?: number };
}

/** Stops copying (and restores the local terminal). Idempotent. */
export interface Detach {
  (): void;
  /**
   * Resolves when every process inside has closed the slave and all of their output has been copied:
   * the moment to detach after the command has ended, without losing its last words. Also resolves
   * on detach; rejects only on a read error other than the end.
   */
  readonly outputEnded: Promise<void>;
}

/**
 * Connects a console to the local terminal, like `docker run -it` does: keys go into the master, the
 * command's output comes out on stdout, and the size follows the local window.
 *
 * Node and a pty master: `new tty.ReadStream(fd)` (node-pty's way) makes a libuv tty stream of it.
 * libuv cannot reopen a master (that would make a new pty), so it leaves the descriptor blocking and
 * writes to it with blocking writes: fine for keystrokes, as the kernel queues kilobytes of input (a
 * huge paste into a command that reads nothing would stall this process until the command reads).
 * Reads come when epoll says there is data, 4095 bytes at most (the line discipline's buffer), so they
 * never block. The catch is at the end: when the last slave closes, epoll reports a hang-up and libuv,
 * after one more read, calls it end of file — though the pty may still hold output. So on that end (or
 * on the EIO a read returns once the slave is closed and the pty is empty: the normal end, not an
 * error) the rest is read here, until the kernel says EIO.
 */
export function attachTerminal(pty: Console, io: TerminalStreams = { stdin: process.stdin, stdout: process.stdout }): Detach {
  const sys = linuxSyscalls();
  const { stdin, stdout } = io;
  // Descriptors of our own, so that detaching and closing the console do not depend on each other:
  // the stream owns one (destroying it closes it), the other is for reading what is left at the end.
  const streamFd = sys.fcntl(pty.masterFd, F_DUPFD_CLOEXEC, 0);
  const drainFd = sys.fcntl(pty.masterFd, F_DUPFD_CLOEXEC, 0);
  let master: TtyStream;
  try {
    master = new TtyStream(streamFd);
  } catch (error) {
    sys.close(streamFd);
    sys.close(drainFd);
    throw error;
  }

  let settled = false;
  let resolveEnd!: () => void;
  let rejectEnd!: (error: Error) => void;
  const outputEnded = new Promise<void>((resolve, reject) => ((resolveEnd = resolve), (rejectEnd = reject)));
  outputEnded.catch(() => {}); // a caller that never awaits it must not crash on a read error
  let detached = false;

  const endOfOutput = () => {
    if (settled) return;
    settled = true;
    stdin.unpipe(master);
    if (!detached) copyWhatIsLeft(sys, drainFd, stdout);
    resolveEnd();
  };
  master.on('end', endOfOutput);
  master.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EIO') return endOfOutput();
    if (settled) return;
    settled = true;
    rejectEnd(error);
  });

  // Raw mode: the local terminal must not interpret the keys (no line editing, Ctrl-C is not our SIGINT);
  // every byte goes to the container's pty, whose line discipline does that job. docker: SetRawTerminal.
  const makeRaw = stdin.isTTY === true && typeof stdin.setRawMode === 'function' && stdin.isRaw !== true;
  const restoreTerminal = () => stdin.setRawMode?.(false);
  if (makeRaw) {
    stdin.setRawMode!(true);
    process.on('exit', restoreTerminal); // a process that exits while attached must not leave the shell raw
    // setRawMode(false) gives back the settings it saved, this one too.
    const fd = (stdin as { fd?: unknown }).fd; // a terminal's stream has one; a stand-in for one may not
    if (typeof fd === 'number') stopOutputProcessing(sys, fd);
  }

  // The size: the local window's now, and again whenever it changes. Node turns SIGWINCH into a 'resize'
  // event of a terminal stdout (docker's CLI listens for SIGWINCH and resizes the same way).
  const followWindow = () => {
    if (stdout.rows && stdout.columns) pty.resize(stdout.rows, stdout.columns);
  };
  if (stdout.isTTY) {
    followWindow();
    stdout.on('resize', followWindow);
  }

  stdin.pipe(master, { end: false }); // the end of our input is not the end of the container's terminal
  master.pipe(stdout, { end: false });

  const detach = () => {
    if (detached) return;
    detached = true;
    stdin.unpipe(master);
    stdin.pause(); // a terminal stdin that keeps reading would keep this process alive
    if (makeRaw) {
      restoreTerminal();
      process.off('exit', restoreTerminal);
    }
    if (stdout.isTTY) stdout.off('resize', followWindow);
    master.unpipe(stdout);
    master.destroy(); // closes streamFd
    sys.close(drainFd);
    if (!settled) {
      settled = true;
      resolveEnd();
    }
  };
  return Object.assign(detach, { outputEnded });
}

/**
 * After the hang-up: what the pty still holds, read until EIO (all slaves closed, nothing left).
 * Non-blocking, because a process may have opened the slave again meanwhile (then EAGAIN ends it).
 */
function copyWhatIsLeft(sys: Syscalls, fd: number, into: Writable): void {
  sys.fcntl(fd, F_SETFL, sys.fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  const buffer = Buffer.alloc(16384);
  for (;;) {
    let count: number;
    try {
      count = readSync(fd, buffer, 0, buffer.length, null);
    } catch {
      return; // EIO: the end; EAGAIN: a new reader of the slave; either way, nothing more to take now
    }
    if (count === 0) return;
    into.write(Buffer.from(buffer.subarray(0, count)));
  }
}
