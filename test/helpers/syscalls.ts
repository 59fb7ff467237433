/**
 * `expect(sys.calls).toMakeSyscalls([...])`: compares what lesson code asked the (recording) kernel for
 * with what it should have asked, call by call. On a mismatch the message names the first call that
 * differs and shows both versions as strace would print them:
 *
 *   call 3 of 3 differs:
 *     expected  mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID|MS_STRICTATIME, "mode=755,size=65536k")
 *     yours     mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID, "mode=755,size=65536k")
 *
 * A student reads system calls in man pages and in strace's output; `{ call: 'mount', …(1) }` helps nobody.
 */
import { expect } from 'vitest';
import * as constants from '../../src/sys/constants.js';
import type { SyscallRecord } from '../../src/sys/syscalls.js';

type FlagTable = readonly (readonly [string, number])[];

/** The named flags of one family, e.g. every MS_* constant, biggest first (so no name hides inside another). */
function family(prefix: string): FlagTable {
  return Object.entries(constants)
    .filter((entry): entry is [string, number] => entry[0].startsWith(prefix) && typeof entry[1] === 'number' && entry[1] > 0)
    .sort((a, b) => b[1] - a[1]);
}

const MOUNT_FLAGS = family('MS_');
const UMOUNT_FLAGS = family('MNT_');
const NAMESPACE_FLAGS = family('CLONE_');

/** 0x1000002 → "MS_NOSUID|MS_STRICTATIME"; bits without a name are shown in hex, 0 as "0". */
export function flagNames(value: number, table: FlagTable): string {
  const names: string[] = [];
  // >>> 0: JavaScript's bit operators work on signed 32-bit numbers; flags are unsigned.
  let rest = value >>> 0;
  for (const [name, bit] of table) {
    // Exact single bits only: a combined constant would swallow the bits of the flags it is made of.
    if ((bit & (bit - 1)) === 0 && (rest & bit) >>> 0 === bit) {
      names.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  names.reverse(); // smallest first, as strace prints them
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length > 0 ? names.join('|') : '0';
}

function quoted(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(quoted).join(', ')}]`;
  return String(value);
}

/** glibc's makedev, undone (the encoding lesson 03 builds). */
function deviceNumber(dev: number): string {
  const low = dev % 2 ** 32;
  const high = Math.floor(dev / 2 ** 32);
  const major = ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0);
  const minor = (low & 0xff) | ((low >>> 12) & 0xfffff00);
  return `makedev(${major}, ${minor})`;
}

function fileMode(mode: number): string {
  const type = mode & 0o170000;
  const permissions = `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
  if (type === constants.S_IFCHR) return `S_IFCHR|${permissions}`;
  return type === 0 ? permissions : `0${mode.toString(8)}`;
}

/** One recorded call as strace prints it: mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL). */
export function straceForm(record: SyscallRecord): string {
  const args = record.args;
  const number = (i: number): number => Number(args[i]);
  let shown: string[];
  switch (record.call) {
    case 'mount':
      shown = [quoted(args[0]), quoted(args[1]), quoted(args[2]), flagNames(number(3), MOUNT_FLAGS), quoted(args[4])];
      break;
    case 'umount2':
      shown = [quoted(args[0]), flagNames(number(1), UMOUNT_FLAGS)];
      break;
    case 'unshare':
      shown = [flagNames(number(0), NAMESPACE_FLAGS)];
      break;
    case 'setns':
      shown = [quoted(args[0]), flagNames(number(1), NAMESPACE_FLAGS)];
      break;
    case 'mknod':
      shown = [quoted(args[0]), fileMode(number(1)), deviceNumber(number(2))];
      break;
    case 'umask':
      shown = [`0${number(0).toString(8).padStart(3, '0')}`];
      break;
    default:
      shown = args.map(quoted);
  }
  // The double's method names are camelCase; the system calls are not.
  const name = record.call.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return `${name}(${shown.join(', ')})`;
}

/** Why two call lists differ, in strace form; undefined when they are the same. */
export function syscallDifference(actual: readonly SyscallRecord[], expected: readonly SyscallRecord[]): string | undefined {
  const count = Math.max(actual.length, expected.length);
  for (let i = 0; i < count; i++) {
    const want = expected[i];
    const got = actual[i];
    const wantText = want ? straceForm(want) : undefined;
    const gotText = got ? straceForm(got) : undefined;
    if (wantText === gotText) continue;
    const before = i === 0 ? '' : ` (the ${i === 1 ? 'call' : `${i} calls`} before it matched)`;
    const lines = [`call ${i + 1} of ${expected.length} differs${before}:`];
    lines.push(`  expected  ${wantText ?? `no more calls: your code made ${actual.length}, ${expected.length} expected`}`);
    lines.push(`  yours     ${gotText ?? `no call: your code stopped after ${actual.length}`}`);
    if (i > 0) lines.push(`  after     ${straceForm(expected[i - 1]!)}`);
    return lines.join('\n');
  }
  return undefined;
}

expect.extend({
  toMakeSyscalls(received: readonly SyscallRecord[], expected: readonly SyscallRecord[]) {
    const difference = syscallDifference(received, expected);
    return {
      pass: difference === undefined,
      message: () => (difference === undefined ? `expected other system calls than:\n${received.map(straceForm).join('\n')}` : difference),
    };
  },
});

declare module 'vitest' {
  interface Matchers<T = any> {
    /** The recorded calls are exactly `expected`, in order; a mismatch is shown in strace form. */
    toMakeSyscalls(expected: readonly SyscallRecord[]): T;
  }
}
