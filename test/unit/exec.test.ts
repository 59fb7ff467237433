import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { CLOSE_RANGE_CLOEXEC, F_SETFD, RecordingSyscalls } from '../../src/sys/index.js';
import { ExecError, prepareForExec, resolveCommand, type FileCheck } from '../../src/container/exec.js';
import { exitCodeOf } from '../../src/container/runtime.js';
import { makePlan } from '../../src/container/plan.js';

const files = (table: Record<string, FileCheck>) => (file: string): FileCheck => table[file] ?? 'missing';
const spec = (args: string[], env = ['PATH=/usr/bin:/bin'], cwd = '/') => ({ args, env, cwd });

describe('resolveCommand: finding the program like execvp(3) and Docker', () => {
  it('searches the PATH of the command’s own environment, in order', () => {
    const exists = files({ '/bin/sh': 'ok', '/usr/bin/sh': 'ok' });
    expect(resolveCommand(spec(['sh']), exists)).toBe('/usr/bin/sh');
    expect(resolveCommand(spec(['sh'], ['PATH=/bin']), exists)).toBe('/bin/sh');
  });

  it('treats a name with a slash as a path, relative to the working directory', () => {
    const exists = files({ '/app/run.sh': 'ok' });
    expect(resolveCommand(spec(['./run.sh'], [], '/app'), exists)).toBe('/app/run.sh');
  });

  it('answers 127 for a missing program and 126 for one that cannot be executed', () => {
    const exists = files({ '/etc/passwd': 'not-executable', '/bin/data': 'not-executable' });
    const missing = () => resolveCommand(spec(['nope']), exists);
    expect(missing).toThrow(ExecError);
    expect(missing).toThrow('exec: "nope": executable file not found in $PATH');
    expect(() => resolveCommand(spec(['/etc/passwd']), exists)).toThrow(expect.objectContaining({ exitCode: 126 }));
    expect(() => resolveCommand(spec(['data']), exists)).toThrow(expect.objectContaining({ exitCode: 126 }));
    expect(() => resolveCommand(spec(['/nope']), exists)).toThrow(expect.objectContaining({ exitCode: 127 }));
  });
});

describe('prepareForExec: undoing what Node did to the process', () => {
  const sys = new RecordingSyscalls();
  prepareForExec(sys);

  it('clears close-on-exec on stdin, stdout and stderr', () => {
    const setfd = sys.argsOf('fcntl').filter(([, cmd]) => cmd === F_SETFD);
    expect(setfd.map(([fd]) => fd)).toEqual([0, 1, 2]);
  });

  it('marks every other descriptor close-on-exec', () => {
    expect(sys.argsOf('closeRange')).toEqual([[3, 0xffffffff, CLOSE_RANGE_CLOEXEC]]);
  });

  it('resets ignored signals such as SIGPIPE, and unblocks all', () => {
    const reset = sys.argsOf('resetSignal').map(([signal]) => signal);
    expect(reset).toContain(constants.signals.SIGPIPE);
    expect(reset).not.toContain(constants.signals.SIGKILL);
    expect(sys.argsOf('unblockAllSignals')).toHaveLength(1);
  });
});

describe('prepareForExec with descriptors to preserve (runc --preserve-fds)', () => {
  it('copies them down onto 3, 4 … after marking everything close-on-exec, lowest first', () => {
    const sys = new RecordingSyscalls();
    prepareForExec(sys, { from: 4, count: 2 });
    const order = sys.calls.map(({ call }) => call).filter((call) => call === 'closeRange' || call === 'dup2');
    expect(order).toEqual(['closeRange', 'dup2', 'dup2']);
    expect(sys.argsOf('dup2')).toEqual([[4, 3], [5, 4]]);
  });
});

describe('exit status, the way Docker reports it', () => {
  it('is the exit code, or 128 + the signal number', () => {
    expect(exitCodeOf(3, null)).toBe(3);
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
  });
});

describe('makePlan', () => {
  it('fills in Docker’s defaults: PATH, working directory /, no namespaces', () => {
    const plan = makePlan({ id: 'x', process: { args: ['true'] } });
    expect(plan.process.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(plan.process.cwd).toBe('/');
    expect(plan.namespaces).toEqual([]);
  });
});
