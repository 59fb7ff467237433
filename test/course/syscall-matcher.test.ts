/** The graders' strace-form comparison of recorded system calls (test/helpers/syscalls.ts). */
import { expect, test } from 'vitest';
import { CLONE_NEWNS, CLONE_NEWUTS, MNT_DETACH, MS_NODEV, MS_NOSUID, MS_STRICTATIME, S_IFCHR } from '../../src/sys/index.js';
import type { SyscallRecord } from '../../src/sys/syscalls.js';
import { straceForm, syscallDifference } from '../helpers/syscalls.js';

const devMount = (flags: number): SyscallRecord => ({ call: 'mount', args: ['tmpfs', '/r/dev', 'tmpfs', flags, 'mode=755,size=65536k'] });

test('calls are shown as strace shows them: flag names, quoted strings, NULL, device numbers, octal modes', () => {
  expect(straceForm(devMount(MS_NOSUID | MS_STRICTATIME))).toBe('mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755,size=65536k")');
  expect(straceForm({ call: 'mount', args: [null, '/', null, 0, null] })).toBe('mount(NULL, "/", NULL, 0, NULL)');
  expect(straceForm({ call: 'mount', args: ['x', '/x', 'tmpfs', MS_NODEV | 0x80000000, null] })).toBe('mount("x", "/x", "tmpfs", MS_NODEV|0x80000000, NULL)');
  expect(straceForm({ call: 'umount2', args: ['.', MNT_DETACH] })).toBe('umount2(".", MNT_DETACH)');
  expect(straceForm({ call: 'unshare', args: [CLONE_NEWUTS | CLONE_NEWNS] })).toBe('unshare(CLONE_NEWNS|CLONE_NEWUTS)');
  expect(straceForm({ call: 'mknod', args: ['/dev/null', S_IFCHR | 0o666, 0x103] })).toBe('mknod("/dev/null", S_IFCHR|0666, makedev(1, 3))');
  expect(straceForm({ call: 'umask', args: [0o22] })).toBe('umask(0022)');
  expect(straceForm({ call: 'pivotRoot', args: ['.', '.'] })).toBe('pivot_root(".", ".")');
});

test('the difference is the first call that differs, both versions, and the call before it', () => {
  const proc: SyscallRecord = { call: 'mount', args: ['proc', '/r/proc', 'proc', MS_NOSUID, null] };
  expect(syscallDifference([proc, devMount(MS_NOSUID)], [proc, devMount(MS_NOSUID | MS_STRICTATIME)])).toBe(
    [
      'call 2 of 2 differs (the call before it matched):',
      '  expected  mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755,size=65536k")',
      '  yours     mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID, "mode=755,size=65536k")',
      '  after     mount("proc", "/r/proc", "proc", MS_NOSUID, NULL)',
    ].join('\n'),
  );
  expect(syscallDifference([proc], [proc, proc])).toContain('  yours     no call: your code stopped after 1');
  expect(syscallDifference([proc, proc], [proc])).toContain('  expected  no more calls: your code made 2, 1 expected');
  expect(syscallDifference([proc], [{ ...proc }])).toBeUndefined();
});

test('toMakeSyscalls passes on the same calls and fails with the difference as its message', () => {
  expect([devMount(MS_NOSUID)]).toMakeSyscalls([devMount(MS_NOSUID)]);
  expect(() => expect([devMount(MS_NOSUID)]).toMakeSyscalls([devMount(MS_NOSUID | MS_STRICTATIME)])).toThrow(/^call 1 of 1 differs:\n {2}expected {2}mount\(.*MS_NOSUID\|MS_STRICTATIME/);
});
