/**
 * The terminal ioctls a console needs, typed: what glibc's unlockpt(3), ptsname(3) and login_tty(3)
 * do, each one ioctl(2) on top of Syscalls (so a RecordingSyscalls sees the very ioctl). ioctl_tty(2)
 * describes them all.
 *
 * Arguments cross into C as typed arrays: a Uint32Array or Uint16Array is laid out in the machine's
 * own byte order, exactly as the kernel's `unsigned int` and `struct winsize` are.
 */
import { OPOST, TCGETS, TCSETS, TERMIOS_OFLAG_OFFSET, TERMIOS_SIZE, TIOCGPGRP, TIOCGPTN, TIOCGWINSZ, TIOCSCTTY, TIOCSPGRP, TIOCSPTLCK, TIOCSWINSZ } from './constants.js';
import { constants as osConstants } from 'node:os';
import type { Syscalls } from './syscalls.js';

/** struct winsize (tty_ioctl(4)): a terminal's size in character cells; the pixel sizes are rarely set. */
export interface WindowSize {
  rows: number;
  cols: number;
  xpixel?: number;
  ypixel?: number;
}

const bytesOf = (array: Uint16Array | Uint32Array | Int32Array) => new Uint8Array(array.buffer);

/** unlockpt(3): a new pty's slave cannot be opened until its master unlocks it. */
export function unlockPty(sys: Syscalls, masterFd: number): void {
  sys.ioctlPtr(masterFd, TIOCSPTLCK, bytesOf(Int32Array.of(0)));
}

/** The N of /dev/pts/N, the slave of this master (ptsname(3) asks the same question). */
export function ptyNumber(sys: Syscalls, masterFd: number): number {
  const number = new Uint32Array(1);
  sys.ioctlPtr(masterFd, TIOCGPTN, bytesOf(number));
  return number[0]!;
}

/**
 * Makes the terminal open on `fd` the controlling terminal of the caller's session. The caller must be
 * a session leader without one (setsid(2) first); the terminal must not be another session's.
 */
export function makeControllingTerminal(sys: Syscalls, fd: number): void {
  sys.ioctlInt(fd, TIOCSCTTY, 0);
}

export function setWindowSize(sys: Syscalls, fd: number, size: WindowSize): void {
  const winsize = Uint16Array.of(size.rows, size.cols, size.xpixel ?? 0, size.ypixel ?? 0);
  sys.ioctlPtr(fd, TIOCSWINSZ, bytesOf(winsize));
}

export function getWindowSize(sys: Syscalls, fd: number): WindowSize {
  const winsize = new Uint16Array(4);
  sys.ioctlPtr(fd, TIOCGWINSZ, bytesOf(winsize));
  const [rows, cols, xpixel, ypixel] = winsize;
  return { rows: rows!, cols: cols!, xpixel: xpixel!, ypixel: ypixel! };
}

/**
 * Turns a terminal's output processing off (c_oflag's OPOST), the one part of cfmakeraw(3) that Node's
 * raw mode (libuv's) leaves on. Text passed through from another terminal has had it already: a
 * container's pty turned "\n" into "\r\n", and ONLCR here would write "\r\r\n".
 */
export function stopOutputProcessing(sys: Syscalls, fd: number): void {
  const termios = new Uint8Array(TERMIOS_SIZE);
  sys.ioctlPtr(fd, TCGETS, termios);
  const view = new DataView(termios.buffer);
  view.setUint32(TERMIOS_OFLAG_OFFSET, view.getUint32(TERMIOS_OFLAG_OFFSET, true) & ~OPOST, true);
  sys.ioctlPtr(fd, TCSETS, termios);
}

/** tcgetpgrp(3): the terminal's foreground process group. */
export function foregroundGroup(sys: Syscalls, fd: number): number {
  const group = new Int32Array(1);
  sys.ioctlPtr(fd, TIOCGPGRP, bytesOf(group));
  return group[0]!;
}

/**
 * tcsetpgrp(3): makes process group `group` the terminal's foreground, what a shell does when a job
 * ends. A process of a background group that tries it is sent SIGTTOU (which stops it) unless it
 * blocks SIGTTOU, so it is blocked for the call (tty_ioctl(4), "Job control").
 */
export function setForegroundGroup(sys: Syscalls, fd: number, group: number): void {
  const { SIGTTOU } = osConstants.signals;
  sys.setSignalBlocked(SIGTTOU, true);
  try {
    sys.ioctlPtr(fd, TIOCSPGRP, bytesOf(Int32Array.of(group)));
  } finally {
    sys.setSignalBlocked(SIGTTOU, false);
  }
}
