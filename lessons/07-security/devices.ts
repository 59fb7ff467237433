/**
 * Lesson 07 — devices: which device nodes the container's root may make and open.
 *
 * A device node is a door to a driver, and the door is chosen by numbers, not by name: whoever may
 * mknod(2) a block device 8:0 and open it reads the host's first disk, whatever the file is called
 * and wherever it lies. CAP_MKNOD is among Docker's 14 default capabilities (a package may need to
 * make a node), so a capability cannot be the guard. The guard is the device cgroup: for every
 * mknod and open of a device node by a process of the cgroup the kernel asks it "type, major,
 * minor, access — allowed?", and root gets the same answer as everyone else.
 *
 *   cgroup v1  the `devices` controller: "a" written to devices.deny refuses everything, then each
 *              "c 1:3 rwm" written to devices.allow lets one device through (cgroup-v1/devices.rst)
 *   cgroup v2  no files at all: a small eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, attached
 *              to the cgroup, returns 1 (allow) or 0 (refuse) for each request (cgroup-v2.rst,
 *              "Device controller"). runc and crun write that program themselves; so does this file.
 *
 * The rules come from config.json's linux.resources.devices, in order, each {allow, type, major,
 * minor, access}: a later rule overrides an earlier one, as when they are written to v1's files
 * one by one. The runtime appends the allow rules of the default nodes every container has
 * (runc's AllowedDevices), so no config can leave a container without a /dev/null.
 */
import { chownSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, O_CLOEXEC, O_DIRECTORY, O_RDONLY, S_IFBLK, S_IFCHR, S_IFIFO, type Syscalls,
} from '../../src/sys/index.js';
import { ConfigError, type OciDevice } from '../../src/container/config.js';
import { makedev } from '../03-mount/mount.js';
import { readCgroupFacts, removeStaleCgroups } from '../04-cgroups/cgroups.js';
import { makeChildCgroup, removeCgroupDir, removeParentIfEmpty, writeCgroupFile, type CgroupManager } from '../04-cgroups/manager.js';

/** One entry of linux.resources.devices (the runtime spec's LinuxDeviceCgroup). */
export interface DeviceRule {
  allow: boolean;
  /** "c" character, "b" block, "a" (or absent) both. */
  type?: string;
  /** Absent or null: any number (the "*" of v1's files). */
  major?: number | null;
  minor?: number | null;
  /** Some of "r" read, "w" write, "m" mknod; absent: all three. */
  access?: string;
}

/**
 * What every container may use whatever its config says (runc's specconv.AllowedDevices): mknod of
 * any node — the cgroup judges the open, not the making — and the default nodes of /dev.
 */
export const ALWAYS_ALLOWED_DEVICES: readonly DeviceRule[] = [
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, //          /dev/pts/*
];

/** Docker's list for a container that is not --privileged: refuse everything, then the defaults above. */
export const DENY_ALL_DEVICES: DeviceRule = { allow: false, access: 'rwm' };

// --- the rules ------------------------------------------------------------------------------------

/** Access bits as struct bpf_cgroup_dev_ctx carries them (BPF_DEVCG_ACC_* in linux/bpf.h). */
const ACCESS_BITS = { m: 1, r: 2, w: 4 } as const;
/** Device types as the kernel passes them (BPF_DEVCG_DEV_*). */
const TYPE_CODES = { b: 1, c: 2 } as const;

/** "rwm" → 7: the access bits a rule names. */
export function accessMask(access = 'rwm'): number {
  let mask = 0;
  for (const letter of access) {
    const bit = ACCESS_BITS[letter as keyof typeof ACCESS_BITS];
    if (bit === undefined) throw new ConfigError(`linux.resources.devices: access "${access}" may hold only r, w and m`);
    mask |= bit;
  }
  return mask;
}

/** A rule for every device of every type and access: the one that sets what the rest is measured against. */
function isWildcard(rule: DeviceRule): boolean {
  return (rule.type ?? 'a') === 'a' && rule.major == null && rule.minor == null && accessMask(rule.access) === 7;
}

/** Checks one rule's fields, so a typo in config.json is a one-line error and never a hole. */
function checkRule(rule: DeviceRule): void {
  if (typeof rule.allow !== 'boolean') throw new ConfigError('linux.resources.devices: every rule needs "allow": true or false');
  if (!['a', 'b', 'c'].includes(rule.type ?? 'a')) throw new ConfigError(`linux.resources.devices: type "${rule.type}" is not a, b or c`);
  for (const field of ['major', 'minor'] as const) {
    const value = rule[field];
    if (value != null && !(Number.isInteger(value) && value >= 0 && value < 2 ** 32)) throw new ConfigError(`linux.resources.devices: ${field} ${value} is not a device number`);
  }
  accessMask(rule.access);
}

/**
 * The rules that count, the way v1's files keep them: a wildcard rule resets the list (what every
 * later rule is an exception to); before any wildcard, a new cgroup allows what its parent allows.
 */
export function effectiveRules(rules: readonly DeviceRule[]): { defaultAllow: boolean; exceptions: DeviceRule[] } {
  rules.forEach(checkRule);
  let start = 0;
  let defaultAllow = true;
  rules.forEach((rule, index) => {
    if (isWildcard(rule)) {
      start = index + 1;
      defaultAllow = rule.allow;
    }
  });
  return { defaultAllow, exceptions: rules.slice(start) };
}

/** The lines to write, in order, to a v1 cgroup's devices.allow or devices.deny. */
export function v1DeviceLines(rules: readonly DeviceRule[]): { file: 'devices.allow' | 'devices.deny'; line: string }[] {
  const { defaultAllow, exceptions } = effectiveRules(rules);
  const file = (allow: boolean) => (allow ? 'devices.allow' : 'devices.deny') as 'devices.allow' | 'devices.deny';
  return [
    { file: file(defaultAllow), line: 'a' },
    ...exceptions.map((rule) => ({ file: file(rule.allow), line: `${rule.type ?? 'a'} ${rule.major ?? '*'}:${rule.minor ?? '*'} ${rule.access ?? 'rwm'}` })),
  ];
}

// --- the cgroup v2 program ------------------------------------------------------------------------

/** One eBPF instruction (linux/bpf.h struct bpf_insn), with what it means for the lesson to show. */
export interface BpfInstruction {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  text: string;
}

// Opcodes used here: class | operation | source (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W = 0x61; //  dst = *(u32 *)(src + off)
const ALU_AND_K = 0x54; //  dst &= imm           (32-bit)
const ALU_RSH_K = 0x74; //  dst >>= imm          (32-bit)
const ALU_MOV_X = 0xbc; //  dst = src            (32-bit)
const ALU64_MOV_K = 0xb7; // dst = imm
const JMP_JNE_K = 0x55; //  if dst != imm goto +off
const JMP_JEQ_K = 0x15; //  if dst == imm goto +off
const JMP_EXIT = 0x95; //   return r0

const insn = (code: number, dst: number, src: number, off: number, imm: number, text: string): BpfInstruction => ({ code, dst, src, off, imm, text });

/**
 * The device program for a list of rules. The kernel calls it with r1 pointing at
 * struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, access_type being
 * (access << 16) | type; it returns 1 to allow, 0 to refuse (the caller gets EPERM).
 *
 * The exceptions are tried from the last to the first, so the last rule that matches decides; an
 * allow rule matches a request whose every access bit it names, a deny rule one that asks for any
 * bit it names. No match: the default.
 */
export function deviceProgram(rules: readonly DeviceRule[]): BpfInstruction[] {
  const { defaultAllow, exceptions } = effectiveRules(rules);
  const program: BpfInstruction[] = [
    insn(LDX_MEM_W, 2, 1, 0, 0, 'r2 = ctx->access_type'),
    insn(ALU_AND_K, 2, 0, 0, 0xffff, 'r2 &= 0xffff          type: 1 block, 2 char'),
    insn(LDX_MEM_W, 3, 1, 0, 0, 'r3 = ctx->access_type'),
    insn(ALU_RSH_K, 3, 0, 0, 16, 'r3 >>= 16             access: 1 mknod, 2 read, 4 write'),
    insn(LDX_MEM_W, 4, 1, 4, 0, 'r4 = ctx->major'),
    insn(LDX_MEM_W, 5, 1, 8, 0, 'r5 = ctx->minor'),
  ];
  for (const rule of [...exceptions].reverse()) {
    // Each test jumps past the rest of its rule's block when the rule does not match. Jump offsets
    // count from the next instruction, so the block is laid out first and the offsets filled in after.
    const type = rule.type ?? 'a';
    const mask = accessMask(rule.access);
    const label = `${rule.allow ? 'allow' : 'deny'} ${type} ${rule.major ?? '*'}:${rule.minor ?? '*'} ${rule.access ?? 'rwm'}`;
    type Test = { code: number; dst: number; imm: number; why: string };
    const layout: (BpfInstruction | Test)[] = [];
    if (type !== 'a') layout.push({ code: JMP_JNE_K, dst: 2, imm: TYPE_CODES[type as 'b' | 'c'], why: `type is not ${type}` });
    if (mask !== 7 && rule.allow) {
      layout.push(insn(ALU_MOV_X, 6, 3, 0, 0, 'r6 = r3'), insn(ALU_AND_K, 6, 0, 0, 7 & ~mask, `r6 &= ${7 & ~mask}              the access this rule does not give`));
      layout.push({ code: JMP_JNE_K, dst: 6, imm: 0, why: 'it asks for more' });
    }
    if (mask !== 7 && !rule.allow) {
      layout.push(insn(ALU_MOV_X, 6, 3, 0, 0, 'r6 = r3'), insn(ALU_AND_K, 6, 0, 0, mask, `r6 &= ${mask}              the access this rule refuses`));
      layout.push({ code: JMP_JEQ_K, dst: 6, imm: 0, why: 'it asks for none of it' });
    }
    if (rule.major != null) layout.push({ code: JMP_JNE_K, dst: 4, imm: rule.major, why: `major is not ${rule.major}` });
    if (rule.minor != null) layout.push({ code: JMP_JNE_K, dst: 5, imm: rule.minor, why: `minor is not ${rule.minor}` });
    const length = layout.length + 2;
    layout.forEach((entry, i) => {
      if ('text' in entry) return program.push(entry);
      const off = length - i - 1;
      program.push(insn(entry.code, entry.dst, 0, off, entry.imm, `if ${entry.why}: skip ${off}   (${label})`));
    });
    program.push(insn(ALU64_MOV_K, 0, 0, 0, rule.allow ? 1 : 0, `r0 = ${rule.allow ? 1 : 0}                ${label}`), insn(JMP_EXIT, 0, 0, 0, 0, 'return r0'));
  }
  program.push(insn(ALU64_MOV_K, 0, 0, 0, defaultAllow ? 1 : 0, `r0 = ${defaultAllow ? 1 : 0}                no rule matched: ${defaultAllow ? 'allow' : 'refuse'}`), insn(JMP_EXIT, 0, 0, 0, 0, 'return r0'));
  return program;
}

/** The program as the kernel takes it: 8 bytes per instruction (code, dst|src<<4, off s16, imm s32), little-endian. */
export function encodeProgram(program: readonly BpfInstruction[]): Uint8Array {
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach((instruction, i) => {
    bytes.writeUInt8(instruction.code, i * 8);
    bytes.writeUInt8((instruction.src << 4) | instruction.dst, i * 8 + 1);
    bytes.writeInt16LE(instruction.off, i * 8 + 2);
    bytes.writeInt32LE(instruction.imm | 0, i * 8 + 4);
  });
  return bytes;
}

// --- on the host: the rules into the container's cgroup ---------------------------------------------

/**
 * Where the rules go. v2: the program is attached to the container's own cgroup (lesson 04 makes it,
 * init joins it). v1: the devices controller is a hierarchy of its own, so the container gets a folder
 * there too, placed like its lesson 04 cgroups: <devices mount>/mini-docker-lab/<name> by default.
 */
export type DeviceCgroup = { version: 'v2'; path: string } | { version: 'v1'; path: string; parent: string };

export function deviceCgroupOf(cgroup: CgroupManager): DeviceCgroup {
  if (cgroup.version === 'v2') return { version: 'v2', path: cgroup.paths[0]! };
  const mount = readCgroupFacts().layout.v1Mounts.devices;
  if (!mount) throw new Error('the cgroup v1 devices controller is not mounted: device rules cannot be enforced here');
  const parent = path.join(mount, cgroup.parent);
  return { version: 'v1', path: path.join(parent, cgroup.name), parent };
}

/**
 * Writes the rules, before init is let go (the feature's prepare): v1 lines into the container's
 * folder of the devices hierarchy, or on v2 the program, attached to its cgroup. The program stays
 * attached after its descriptors are closed, and goes with the cgroup.
 */
export async function applyDeviceRules(sys: Syscalls, target: DeviceCgroup, rules: readonly DeviceRule[]): Promise<void> {
  if (target.version === 'v1') {
    await removeStaleCgroups(readCgroupFacts(), { parentDirs: [target.parent] }); // left by runtimes killed with SIGKILL
    makeChildCgroup(target.path, () => mkdirSync(target.parent, { recursive: true }), () => new Error(`a device cgroup for this container exists already: ${target.path}`));
    for (const { file, line } of v1DeviceLines(rules)) writeCgroupFile(path.join(target.path, file), line);
    return;
  }
  const program = sys.bpfLoadProgram({ type: BPF_PROG_TYPE_CGROUP_DEVICE, instructions: encodeProgram(deviceProgram(rules)), license: 'MIT', name: 'lab_devices' });
  try {
    const folder = sys.open(target.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      sys.bpfAttachProgram(folder, program, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
    } finally {
      sys.close(folder);
    }
  } finally {
    sys.close(program);
  }
}

/** v1: puts a process into the container's device cgroup (init while it waits at "ready"; what exec starts). */
export function joinDeviceCgroup(target: DeviceCgroup, pid: number): void {
  if (target.version === 'v1') writeCgroupFile(path.join(target.path, 'cgroup.procs'), pid);
}

/** v1: the folder goes with the container (on v2 the program goes with the cgroup lesson 04 removes). */
export async function removeDeviceCgroup(target: DeviceCgroup): Promise<void> {
  if (target.version !== 'v1') return;
  await removeCgroupDir(target.path);
  removeParentIfEmpty(target.path);
}

// --- in the container: linux.devices ----------------------------------------------------------------

/** linux.devices checked, as init's deviceNodes step takes it. */
export function checkDevices(devices: readonly OciDevice[]): OciDevice[] {
  return devices.map((device) => {
    const where = `linux.devices "${device.path}"`;
    if (typeof device.path !== 'string' || !path.isAbsolute(device.path) || device.path.split('/').includes('..')) throw new ConfigError(`${where}: the path must be absolute, without ".."`);
    if (!['c', 'u', 'b', 'p'].includes(device.type)) throw new ConfigError(`${where}: type "${device.type}" is not c, u, b or p`);
    if (device.type !== 'p' && !(Number.isInteger(device.major) && Number.isInteger(device.minor))) throw new ConfigError(`${where}: a ${device.type === 'b' ? 'block' : 'character'} device needs a major and a minor number`);
    return device;
  });
}

/**
 * Init's step for linux.devices: each node made in the container's /dev (after pivot_root, so the
 * paths are the container's), with its mode and owner. One that exists already is replaced, as runc does.
 */
export function createDevices(sys: Syscalls, config: { devices: OciDevice[] }): void {
  const previousMask = sys.umask(0); // the mode is config.json's, not filtered by init's umask
  try {
    for (const device of config.devices) {
      const kind = device.type === 'b' ? S_IFBLK : device.type === 'p' ? S_IFIFO : S_IFCHR;
      mkdirSync(path.dirname(device.path), { recursive: true });
      rmSync(device.path, { force: true });
      sys.mknod(device.path, kind | ((device.fileMode ?? 0o666) & 0o7777), device.type === 'p' ? 0 : makedev(device.major!, device.minor!));
      chownSync(device.path, device.uid ?? 0, device.gid ?? 0);
    }
  } finally {
    sys.umask(previousMask);
  }
}
