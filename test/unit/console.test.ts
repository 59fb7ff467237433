/**
 * The console's logic, call by call, without root: what init asks the kernel for to take its terminal,
 * and what the runtime asks for to make one.
 */
import { describe, expect, it } from 'vitest';
import {
  O_CLOEXEC, O_NOCTTY, O_RDWR, RecordingSyscalls, TIOCGPTN, TIOCGWINSZ, TIOCSCTTY, TIOCSPTLCK, TIOCSWINSZ, getWindowSize,
  setWindowSize,
} from '../../src/sys/index.js';
import { attachConsole } from '../../src/container/init.js';
import { openConsole, ptmxFor } from '../../src/container/console.js';

describe('attachConsole: init takes the console as its controlling terminal', () => {
  it('starts a session, opens the slave (O_NOCTTY), takes it with TIOCSCTTY, then makes it fds 0, 1 and 2', () => {
    const sys = new RecordingSyscalls();
    attachConsole(sys, '/dev/pts/3');
    expect(sys.calls).toEqual([
      { call: 'setsid', args: [] },
      { call: 'open', args: ['/dev/pts/3', O_RDWR | O_NOCTTY | O_CLOEXEC, 0] },
      { call: 'ioctlInt', args: [10, TIOCSCTTY, 0] }, // 10: the descriptor RecordingSyscalls' open returned
      { call: 'dup2', args: [10, 0] },
      { call: 'dup2', args: [10, 1] },
      { call: 'dup2', args: [10, 2] },
      { call: 'close', args: [10] },
    ]);
  });

  it('refuses, before opening anything, when setsid says EPERM and init does not lead its own session', () => {
    // RecordingSyscalls' getsid answers 4241 (the parent's session), getpid 4242.
    const sys = new RecordingSyscalls().failOn('setsid', 'EPERM');
    expect(() => attachConsole(sys, '/dev/pts/0')).toThrow(/leads a process group.*setsid: EPERM/);
    expect(sys.argsOf('open')).toEqual([]);
  });

  it('goes on after EPERM when init already leads its own session', () => {
    class SessionLeader extends RecordingSyscalls {
      override getsid(pid: number): number {
        super.getsid(pid);
        return 4242; // what RecordingSyscalls' getpid answers: the caller's own session
      }
    }
    const sys = new SessionLeader().failOn('setsid', 'EPERM');
    attachConsole(sys, '/dev/pts/0');
    expect(sys.calls.map(({ call }) => call)).toEqual(['setsid', 'getsid', 'getpid', 'open', 'ioctlInt', 'dup2', 'dup2', 'dup2', 'close']);
  });

  it('lets any other setsid failure through, and a failing TIOCSCTTY still closes the slave', () => {
    expect(() => attachConsole(new RecordingSyscalls().failOn('setsid', 'EINVAL'), '/dev/pts/0')).toThrow(/setsid\(\): EINVAL/);
    const sys = new RecordingSyscalls().failOn('ioctlInt', 'EPERM');
    expect(() => attachConsole(sys, '/dev/pts/0')).toThrow(/ioctlInt/);
    expect(sys.calls.at(-1)).toEqual({ call: 'close', args: [10] });
    expect(sys.argsOf('dup2')).toEqual([]);
  });
});

describe('openConsole: the runtime makes the pty', () => {
  it('opens the ptmx in the root of the container’s process, unlocks the pty and asks for its number', () => {
    const sys = new RecordingSyscalls();
    const pty = openConsole(4321, sys);
    const ptmx = ptmxFor(4321);
    expect(sys.calls).toEqual([
      { call: 'open', args: [ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC, 0] },
      { call: 'ioctlPtr', args: [10, TIOCSPTLCK, [0, 0, 0, 0]] }, // *arg == 0: unlock
      { call: 'ioctlPtr', args: [10, TIOCGPTN, [0, 0, 0, 0]] },
    ]);
    expect(pty.masterFd).toBe(10);
    expect(pty.slavePath).toBe('/dev/pts/0'); // the number RecordingSyscalls "wrote": none, so 0
    pty.close();
    pty.close();
    expect(sys.argsOf('close')).toEqual([[10]]); // once
  });

  it('uses the container’s devpts through /proc/PID/root, and the host’s /dev/ptmx only when there is none', () => {
    expect(ptmxFor(77, (file) => file === '/proc/77/root/dev/pts/ptmx')).toBe('/proc/77/root/dev/pts/ptmx');
    expect(ptmxFor(77, () => false)).toBe('/dev/ptmx');
  });

  it('closes the master again when the pty cannot be unlocked', () => {
    const sys = new RecordingSyscalls().failOn('ioctlPtr', 'ENOTTY');
    expect(() => openConsole(4321, sys)).toThrow(/ENOTTY/);
    expect(sys.argsOf('close')).toEqual([[10]]);
  });

  it('passes struct winsize as four native u16: rows, cols, xpixel, ypixel', () => {
    const sys = new RecordingSyscalls();
    setWindowSize(sys, 5, { rows: 0x0102, cols: 80 });
    const [, request, bytes] = sys.argsOf('ioctlPtr')[0]!;
    expect(request).toBe(TIOCSWINSZ);
    expect([...new Uint16Array(Uint8Array.from(bytes as number[]).buffer)]).toEqual([0x0102, 80, 0, 0]);
    expect(getWindowSize(sys, 5)).toEqual({ rows: 0, cols: 0, xpixel: 0, ypixel: 0 });
    expect(sys.argsOf('ioctlPtr')[1]!.slice(0, 2)).toEqual([5, TIOCGWINSZ]);
  });
});
