import { constants } from 'node:os';
import { describe, expect, test } from 'vitest';
import { RecordingSyscalls, setForegroundGroup, TIOCSPGRP } from '../../src/sys/index.js';

const { SIGTTOU } = constants.signals;
const bytesOf = (group: number) => [...new Uint8Array(Int32Array.of(group).buffer)];

describe('setForegroundGroup (tcsetpgrp)', () => {
  test('blocks SIGTTOU around the TIOCSPGRP ioctl, so a background group is not stopped by it', () => {
    const sys = new RecordingSyscalls();
    setForegroundGroup(sys, 0, 4242);
    expect(sys.calls).toEqual([
      { call: 'setSignalBlocked', args: [SIGTTOU, true] },
      { call: 'ioctlPtr', args: [0, TIOCSPGRP, bytesOf(4242)] },
      { call: 'setSignalBlocked', args: [SIGTTOU, false] },
    ]);
  });

  test('unblocks SIGTTOU again when the ioctl fails', () => {
    const sys = new RecordingSyscalls().failOn('ioctlPtr', 'ENOTTY');
    expect(() => setForegroundGroup(sys, 0, 4242)).toThrow(/ENOTTY/);
    expect(sys.calls.at(-1)).toEqual({ call: 'setSignalBlocked', args: [SIGTTOU, false] });
  });
});
