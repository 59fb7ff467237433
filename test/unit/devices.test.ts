/**
 * Lesson 07's device rules without root: the v1 lines, and the v2 eBPF program — run here by a small
 * interpreter of the instructions it uses, so the test judges what the kernel would answer, not how
 * the program is written.
 */
import { describe, expect, it } from 'vitest';
import {
  ALWAYS_ALLOWED_DEVICES, DENY_ALL_DEVICES, deviceProgram, encodeProgram, v1DeviceLines, type DeviceRule,
} from '../../lessons/07-security/devices.js';
import { hostDevices, parseDevice } from '../../src/final/security.js';
import { BPF_PROG_TYPE_CGROUP_DEVICE, linuxSyscalls } from '../../src/sys/index.js';
import { describeAsRoot } from '../helpers/root.js';

/** Runs an encoded device program on one request, as the kernel's BPF_PROG_TYPE_CGROUP_DEVICE hook would. */
function run(bytes: Uint8Array, request: { type: 'b' | 'c'; access: string; major: number; minor: number }): number {
  const view = Buffer.from(bytes);
  const access = [...request.access].reduce((mask, letter) => mask | ({ m: 1, r: 2, w: 4 } as Record<string, number>)[letter]!, 0);
  const ctx = [(access << 16) | (request.type === 'b' ? 1 : 2), request.major, request.minor];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0, steps = 0; pc < view.length / 8; pc++) {
    if (++steps > 4096) throw new Error('the program loops');
    const code = view.readUInt8(pc * 8);
    const dst = view.readUInt8(pc * 8 + 1) & 0xf;
    const src = view.readUInt8(pc * 8 + 1) >> 4;
    const off = view.readInt16LE(pc * 8 + 2);
    const imm = view.readInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x61: // ldxw dst, [src + off]: r1 is the context
        if (src !== 1 || off % 4 !== 0 || off > 8) throw new Error(`bad context read at ${off}`);
        r[dst] = ctx[off / 4]!;
        break;
      case 0x54: r[dst] = (r[dst]! & imm) >>> 0; break;
      case 0x74: r[dst] = r[dst]! >>> imm; break;
      case 0xbc: r[dst] = r[src]!; break;
      case 0xb7: r[dst] = imm; break;
      case 0x55: if (r[dst] !== imm) pc += off; break;
      case 0x15: if (r[dst] === imm) pc += off; break;
      case 0x95: return r[0]!;
      default: throw new Error(`opcode 0x${code.toString(16)} is not one the lesson uses`);
    }
  }
  throw new Error('the program ran off its end without exit');
}

const docker = [DENY_ALL_DEVICES, ...ALWAYS_ALLOWED_DEVICES];
const allowed = (rules: DeviceRule[], type: 'b' | 'c', major: number, minor: number, access: string) =>
  run(encodeProgram(deviceProgram(rules)), { type, major, minor, access }) === 1;

describe('the device cgroup (lesson 07)', () => {
  it("Docker's default list: /dev/null and the terminals open, the host's disk does not, any node may be made", () => {
    expect(allowed(docker, 'c', 1, 3, 'rw')).toBe(true); // /dev/null
    expect(allowed(docker, 'c', 136, 4, 'rw')).toBe(true); // /dev/pts/4
    expect(allowed(docker, 'b', 8, 0, 'r')).toBe(false); // /dev/sda
    expect(allowed(docker, 'c', 1, 1, 'r')).toBe(false); // /dev/mem
    expect(allowed(docker, 'b', 8, 0, 'm')).toBe(true); // mknod is allowed; opening it is not
    expect(allowed(docker, 'c', 1, 11, 'rw')).toBe(false); // /dev/kmsg
  });

  it('an allow rule gives only the access it names; a later rule overrides an earlier one', () => {
    const readOnlyDisk: DeviceRule[] = [...docker, { allow: true, type: 'b', major: 8, minor: 0, access: 'r' }];
    expect(allowed(readOnlyDisk, 'b', 8, 0, 'r')).toBe(true);
    expect(allowed(readOnlyDisk, 'b', 8, 0, 'rw')).toBe(false);
    expect(allowed(readOnlyDisk, 'b', 8, 1, 'r')).toBe(false);
    const thenDenied: DeviceRule[] = [...readOnlyDisk, { allow: false, type: 'b', major: 8, access: 'rwm' }];
    expect(allowed(thenDenied, 'b', 8, 0, 'r')).toBe(false);
  });

  it('a deny rule refuses a request that asks for any access it names; a wildcard rule resets the list', () => {
    const noWrites: DeviceRule[] = [{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }];
    expect(allowed(noWrites, 'c', 1, 3, 'r')).toBe(true);
    expect(allowed(noWrites, 'c', 1, 3, 'rw')).toBe(false);
    expect(allowed(noWrites, 'b', 8, 0, 'rw')).toBe(true);
    const privileged: DeviceRule[] = [...docker, { allow: true, access: 'rwm' }];
    expect(allowed(privileged, 'b', 8, 0, 'rw')).toBe(true);
  });

  it("v1: 'a' into devices.deny, then every exception in order, in the kernel's syntax", () => {
    expect(v1DeviceLines(docker).slice(0, 4)).toEqual([
      { file: 'devices.deny', line: 'a' },
      { file: 'devices.allow', line: 'c *:* m' },
      { file: 'devices.allow', line: 'b *:* m' },
      { file: 'devices.allow', line: 'c 1:3 rwm' },
    ]);
    expect(v1DeviceLines([{ allow: true, access: 'rwm' }])).toEqual([{ file: 'devices.allow', line: 'a' }]);
  });

  it('bad rules are refused in one line naming the field', () => {
    expect(() => deviceProgram([{ allow: true, type: 'x' }])).toThrow('linux.resources.devices: type "x" is not a, b or c');
    expect(() => deviceProgram([{ allow: true, access: 'rwx' }])).toThrow('access "rwx" may hold only r, w and m');
    expect(() => deviceProgram([{ allow: 'yes' } as unknown as DeviceRule])).toThrow('"allow": true or false');
  });

  it('--device: the host node\'s type and numbers (from stat), the path inside, the permissions', () => {
    const disk = () => ({ mode: 0o060660, rdev: 8 * 256 + 16 }); // block 8:16, /dev/sdb
    expect(parseDevice('/dev/sdb:/dev/xvdb:r', disk)).toEqual([{
      node: { path: '/dev/xvdb', type: 'b', major: 8, minor: 16, fileMode: 0o660, uid: 0, gid: 0 },
      rule: { allow: true, type: 'b', major: 8, minor: 16, access: 'r' },
    }]);
    expect(parseDevice('/dev/sdb', disk)[0]!.rule.access).toBe('rwm');
    expect(() => parseDevice('/dev/sdb:/dev/x:q', disk)).toThrow('invalid --device "/dev/sdb:/dev/x:q"');
    expect(() => parseDevice('/etc/passwd', () => ({ mode: 0o100644, rdev: 0 }))).toThrow('--device /etc/passwd: not a device node');
  });

  // A small /dev: a folder of sound devices with a link and a plain file in it, the host's terminals and console.
  const tree: Record<string, { mode: number; rdev?: number; uid?: number; gid?: number; entries?: string[] }> = {
    '/dev': { mode: 0o040755, entries: ['snd', 'null', 'console', 'pts', 'ptmx', 'fd', 'stdin'] },
    '/dev/ptmx': { mode: 0o020666, rdev: 5 * 256 + 2 },
    '/dev/snd': { mode: 0o040755, entries: ['controlC0', 'pcmC0D0p', 'by-path', 'README'] },
    '/dev/snd/controlC0': { mode: 0o020660, rdev: 116 * 256 + 2, gid: 29 },
    '/dev/snd/pcmC0D0p': { mode: 0o020660, rdev: 116 * 256 + 3, gid: 29 },
    '/dev/snd/by-path': { mode: 0o120777 },
    '/dev/snd/README': { mode: 0o100644 },
    '/dev/null': { mode: 0o020666, rdev: 1 * 256 + 3 },
    '/dev/console': { mode: 0o020600, rdev: 5 * 256 + 1 },
    '/dev/pts': { mode: 0o040755, entries: ['0'] },
    '/dev/pts/0': { mode: 0o020620, rdev: 136 * 256 },
    '/dev/fd': { mode: 0o120777 },
    '/dev/stdin': { mode: 0o120777 },
    '/tmp/empty': { mode: 0o040755, entries: [] },
  };
  const stat = (file: string) => {
    const entry = tree[file];
    if (!entry) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
    return { mode: entry.mode, rdev: entry.rdev ?? 0, uid: entry.uid ?? 0, gid: entry.gid ?? 0 };
  };
  const list = (dir: string) => tree[dir]?.entries ?? [];

  it('--device of a folder: every device node under it, at the same place under the path inside; links and files left out', () => {
    expect(parseDevice('/dev/snd:/dev/sound:rw', stat, stat, list)).toEqual([
      { node: { path: '/dev/sound/controlC0', type: 'c', major: 116, minor: 2, fileMode: 0o660, uid: 0, gid: 29 }, rule: { allow: true, type: 'c', major: 116, minor: 2, access: 'rw' } },
      { node: { path: '/dev/sound/pcmC0D0p', type: 'c', major: 116, minor: 3, fileMode: 0o660, uid: 0, gid: 29 }, rule: { allow: true, type: 'c', major: 116, minor: 3, access: 'rw' } },
    ]);
    expect(() => parseDevice('/tmp/empty', stat, stat, list)).toThrow('--device /tmp/empty: no device nodes in that folder');
  });

  it("--privileged: the host's /dev node for node, without what the container has its own of (pts, ptmx), links, or the console", () => {
    expect(hostDevices(stat, list).map((node) => `${node.path} ${node.type} ${node.major}:${node.minor}`)).toEqual([
      '/dev/null c 1:3', '/dev/snd/controlC0 c 116:2', '/dev/snd/pcmC0D0p c 116:3',
    ]);
  });
});

describeAsRoot('the device programs in the kernel', () => {
  it("the kernel's verifier accepts every program the lesson and minidocker write, and refuses a broken one", () => {
    const sys = linuxSyscalls();
    const load = (instructions: Uint8Array) => sys.close(sys.bpfLoadProgram({ type: BPF_PROG_TYPE_CGROUP_DEVICE, instructions, license: 'MIT', name: 'lab_test' }));
    for (const rules of [docker, [{ allow: true, access: 'rwm' }], [...docker, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]] as DeviceRule[][]) {
      load(encodeProgram(deviceProgram(rules)));
    }
    // r0 = 1 without an exit: the verifier's own words come back in the error.
    expect(() => load(Uint8Array.from([0xb7, 0, 0, 0, 1, 0, 0, 0]))).toThrow(/bpf\(BPF_PROG_LOAD\).*EINVAL.*verifier: last insn is not an exit/);
  });
});
