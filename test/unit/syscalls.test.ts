import { describe, expect, it } from 'vitest';
import { CLONE_NEWUTS, RecordingSyscalls, SyscallError, errnoName } from '../../src/sys/index.js';

describe('SyscallError', () => {
  it('names the call, its arguments and the errno the way strace does', () => {
    const error = new SyscallError('mount', ['overlay', '/x', 'overlay', 0, null], 22, 'Invalid argument');
    expect(error.message).toBe('mount("overlay", "/x", "overlay", 0, NULL): EINVAL — Invalid argument');
    expect(error.code).toBe('EINVAL');
  });

  it('shows flag words in hex and small numbers in decimal', () => {
    expect(new SyscallError('unshare', [CLONE_NEWUTS], 1, 'x').message).toContain('unshare(0x4000000)');
    expect(new SyscallError('setns', [7, CLONE_NEWUTS], 9, 'x').message).toContain('setns(7, 0x4000000)');
  });

  it('maps errno numbers to their names', () => {
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(99999)).toBe('errno 99999');
  });
});

describe('RecordingSyscalls', () => {
  it('records calls in order with their arguments', () => {
    const sys = new RecordingSyscalls();
    sys.unshare(CLONE_NEWUTS);
    sys.sethostname('box');
    expect(sys.calls).toEqual([
      { call: 'unshare', args: [CLONE_NEWUTS] },
      { call: 'sethostname', args: ['box'] },
    ]);
    expect(sys.argsOf('sethostname')).toEqual([['box']]);
  });

  it('fails an injected call with a SyscallError carrying the errno name', () => {
    const sys = new RecordingSyscalls().failOn('sethostname', 'EPERM');
    expect(() => sys.sethostname('box')).toThrow(/sethostname\("box"\): EPERM/);
    expect(() => sys.unshare(0)).not.toThrow();
  });
});
