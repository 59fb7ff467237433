import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import {
  checksFor,
  defaultRerun,
  formatReport,
  isRequirementError,
  requireFor,
  RequirementError,
  runDoctor,
  type CheckResult,
  type DoctorReport,
  type MachineView,
} from '../../src/course/doctor.js';
import { LAST_LESSON } from '../../src/course/doctor/checks.js';
import { CourseError } from '../../src/course/errors.js';
import { detectCgroupLayout, parseProcCgroups } from '../../src/sys/cgroupfs.js';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import { elfLinkage } from '../../src/sys/elf.js';
import { fakeMachine, type FakeMachineSpec, type FakeProgram } from '../../src/course/doctor/fake-machine.js';
import { parseIptablesVersion, parseVersion, versionAtLeast } from '../../src/course/doctor/versions.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const fixture = (name: string) => readFileSync(new URL(`fixtures/doctor/${name}`, import.meta.url), 'utf8');

// --- fixture ELF files ---------------------------------------------------------------------------

/** A minimal ELF file: header, program headers (a PT_LOAD, then PT_INTERP if asked), the interpreter path. */
function craftElf(options: { bits?: 32 | 64; bigEndian?: boolean; interpreter?: string } = {}): Uint8Array {
  const is64 = (options.bits ?? 64) === 64;
  const little = !options.bigEndian;
  const headerSize = is64 ? 64 : 52;
  const entrySize = is64 ? 56 : 32;
  const types = options.interpreter ? [1, 3] : [1]; // PT_LOAD, PT_INTERP
  const interp = new TextEncoder().encode(options.interpreter ? `${options.interpreter}\0` : '');
  const interpOffset = headerSize + types.length * entrySize;
  const bytes = new Uint8Array(interpOffset + interp.length);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, little ? 1 : 2, 1]);
  view.setUint16(16, 2, little); // ET_EXEC
  if (is64) {
    view.setBigUint64(32, BigInt(headerSize), little);
    view.setUint16(54, entrySize, little);
    view.setUint16(56, types.length, little);
  } else {
    view.setUint32(28, headerSize, little);
    view.setUint16(42, entrySize, little);
    view.setUint16(44, types.length, little);
  }
  types.forEach((type, i) => {
    const at = headerSize + i * entrySize;
    view.setUint32(at, type, little);
    if (type !== 3) return;
    if (is64) {
      view.setBigUint64(at + 8, BigInt(interpOffset), little);
      view.setBigUint64(at + 32, BigInt(interp.length), little);
    } else {
      view.setUint32(at + 4, interpOffset, little);
      view.setUint32(at + 16, interp.length, little);
    }
  });
  bytes.set(interp, interpOffset);
  return bytes;
}

const STATIC_ELF = craftElf();
const DYNAMIC_ELF = craftElf({ interpreter: '/lib64/ld-linux-x86-64.so.2' });

// --- fixture machines ----------------------------------------------------------------------------

const NAMESPACE_FILES = Object.fromEntries(
  ['uts', 'ipc', 'pid', 'mnt', 'net', 'cgroup', 'user'].flatMap((ns) => [
    [`/proc/self/ns/${ns}`, ''],
    [`/proc/sys/user/max_${ns}_namespaces`, '15000\n'],
  ]),
);

const FILESYSTEMS = 'nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\text4\nnodev\toverlay\n';
const BUSYBOX_HELP = 'BusyBox v1.36.1 (Debian 1:1.36.1-3) multi-call binary.\nUsage: busybox [function [arguments]...]\n';

const staticBusybox: FakeProgram = { bytes: STATIC_ELF, stdout: BUSYBOX_HELP };
const dynamicBusybox: FakeProgram = { bytes: DYNAMIC_ELF, stdout: BUSYBOX_HELP };
/** Lesson 02's tools: ps and ipcmk/ipcs, and Docker's --init, a static tini. */
const PROCESS_TOOLS: Record<string, FakeProgram> = {
  '/usr/bin/ps': {},
  '/usr/bin/ipcmk': {},
  '/usr/bin/ipcs': {},
  '/usr/bin/tini-static': { bytes: STATIC_ELF },
  '/usr/bin/nsenter': {},
  '/usr/bin/setpriv': {},
  '/usr/bin/timeout': {},
  // Lesson 07's seccomp compiler: a library, looked for where Debian and Ubuntu put it.
  '/usr/lib/x86_64-linux-gnu/libseccomp.so.2': { bytes: DYNAMIC_ELF },
};
const SESSION = '/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope';

/** Ubuntu 22.04 VM, cgroup v2, everything installed: the machine the course is written for. */
function v2Host(): FakeMachineSpec {
  return {
    kernel: '5.15.0-91-generic',
    node: '20.19.0',
    files: {
      ...NAMESPACE_FILES,
      '/proc/self/mountinfo': fixture('mountinfo-v2.txt'),
      '/proc/cgroups': fixture('cgroups-v2.txt'),
      '/proc/cmdline': 'BOOT_IMAGE=/vmlinuz-5.15.0-91-generic root=/dev/vda1 ro\n',
      '/proc/self/cgroup': '0::/user.slice/user-1000.slice/session-3.scope\n',
      '/proc/filesystems': FILESYSTEMS,
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
      '/sys/fs/cgroup/cgroup.subtree_control': 'cpuset cpu io memory hugetlb pids rdma misc\n',
      [`${SESSION}/memory.max`]: 'max\n',
      [`${SESSION}/memory.swap.max`]: 'max\n',
    },
    fsTypes: { '/sys/fs/cgroup': 'cgroup2fs' },
    programs: {
      '/usr/sbin/ip': { stdout: 'ip utility, iproute2-5.15.0, libbpf 0.5.0\n' },
      '/usr/sbin/iptables': { stdout: 'iptables v1.8.7 (nf_tables)\n' },
      '/usr/sbin/brctl': {},
      '/usr/sbin/bridge': {},
      '/usr/bin/busybox': staticBusybox,
      ...PROCESS_TOOLS,
    },
  };
}

/** This machine: v1 hybrid, no iptables, no brctl, no busybox. */
function hybridHost(): FakeMachineSpec {
  return {
    kernel: '6.18.44-fc-v782',
    node: '20.20.2',
    files: {
      ...NAMESPACE_FILES,
      '/proc/self/mountinfo': fixture('mountinfo-hybrid.txt'),
      '/proc/cgroups': fixture('cgroups-hybrid.txt'),
      '/proc/cmdline': 'console=ttyS0 quiet reboot=k panic=1 nomodule psi=1\n',
      '/proc/self/cgroup': '9:name=systemd:/\n8:pids:/\n4:memory:/\n1:cpu:/\n0::/\n',
      '/proc/filesystems': FILESYSTEMS,
      '/sys/fs/cgroup/unified/cgroup.controllers': 'hugetlb\n',
      '/sys/fs/cgroup/unified/cgroup.subtree_control': '',
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
      '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes': '9223372036854771712\n',
    },
    fsTypes: { '/sys/fs/cgroup': 'tmpfs' },
    programs: {
      '/usr/sbin/ip': { stdout: 'ip utility, iproute2-6.1.0, libbpf 1.1.0\n' },
      '/usr/sbin/bridge': {},
      '/usr/bin/qemu-system-x86_64': { stdout: 'QEMU emulator version 7.2.22\n' },
      ...PROCESS_TOOLS,
    },
  };
}

/** An Ubuntu 20.04-style v1 host: read-only tmpfs, cpu,cpuacct co-mounted, pids not mounted, no swap accounting. */
function v1NoPidsHost(): FakeMachineSpec {
  const spec = v2Host();
  return edit(spec, {
    files: {
      '/proc/self/mountinfo': fixture('mountinfo-v1-nopids.txt'),
      '/proc/cgroups': fixture('cgroups-v1-nopids.txt'),
      '/proc/self/cgroup': '4:memory:/user.slice\n3:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n',
      '/sys/fs/cgroup/cgroup.controllers': null,
      '/sys/fs/cgroup/cgroup.subtree_control': null,
      '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
    },
    fsTypes: { '/sys/fs/cgroup': 'tmpfs' },
  });
}

/** A copy of a spec with some files/programs replaced; null removes one. */
function edit(
  spec: FakeMachineSpec,
  changes: Omit<FakeMachineSpec, 'files' | 'programs'> & {
    files?: Record<string, string | Uint8Array | null>;
    programs?: Record<string, FakeProgram | null>;
  },
): FakeMachineSpec {
  const merge = <T,>(base: Record<string, T> = {}, delta: Record<string, T | null> = {}): Record<string, T> => {
    const out: Record<string, T> = { ...base };
    for (const [key, value] of Object.entries(delta)) {
      if (value === null) delete out[key];
      else out[key] = value;
    }
    return out;
  };
  return {
    ...spec,
    ...changes,
    files: merge(spec.files, changes.files),
    programs: merge(spec.programs, changes.programs),
  };
}

const OPTIONS = { rerun: 'npm run doctor' };

async function doctorOn(spec: FakeMachineSpec): Promise<DoctorReport> {
  return runDoctor({ ...OPTIONS, machine: fakeMachine(spec) });
}

function result(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no result for ${id}`);
  return found;
}

async function requirementError(promise: Promise<void>): Promise<RequirementError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof RequirementError)) throw new Error(`expected a RequirementError, got ${String(error)}`);
  return error;
}

// --- pure parsers --------------------------------------------------------------------------------

describe('parseMountinfo', () => {
  it('splits the fields around the "-" separator and decodes octal escapes', () => {
    const mounts = parseMountinfo(fixture('mountinfo-v2.txt'));
    const cgroup = mounts.find((m) => m.mountPoint === '/sys/fs/cgroup');
    expect(cgroup).toMatchObject({
      mountId: 33,
      parentId: 22,
      device: '0:28',
      root: '/',
      fsType: 'cgroup2',
      source: 'cgroup2',
      optionalFields: ['shared:9'],
      superOptions: ['rw', 'nsdelegate', 'memory_recursiveprot'],
    });
    const spaced = mounts.find((m) => m.mountId === 96);
    expect(spaced?.mountPoint).toBe('/home/student/My Lab');
    expect(spaced?.source).toBe('lab tmp');
  });

  it('handles a mount without optional fields and skips junk lines', () => {
    const mounts = parseMountinfo('garbage\n\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n');
    expect(mounts).toHaveLength(1);
    expect(mounts[0]).toMatchObject({ optionalFields: [], fsType: 'cgroup2', mountPoint: '/sys/fs/cgroup/unified' });
  });
});

describe('detectCgroupLayout', () => {
  it('pure v2: cgroup2 mounted at /sys/fs/cgroup', () => {
    const layout = detectCgroupLayout(parseMountinfo(fixture('mountinfo-v2.txt')), 'cgroup2fs');
    expect(layout).toEqual({ kind: 'v2', active: 'v2', v2Mount: '/sys/fs/cgroup', v1Mounts: {}, tmpfsReadOnly: false });
  });

  it('v2 is recognised from stat -f alone when mountinfo is unreadable', () => {
    expect(detectCgroupLayout([], 'cgroup2fs')).toMatchObject({ kind: 'v2', v2Mount: '/sys/fs/cgroup' });
  });

  it('hybrid (this machine): tmpfs with v1 controller mounts and a cgroup2 "unified" mount', () => {
    const layout = detectCgroupLayout(parseMountinfo(fixture('mountinfo-hybrid.txt')), 'tmpfs');
    expect(layout.kind).toBe('hybrid');
    expect(layout.active).toBe('v1');
    expect(layout.v2Mount).toBe('/sys/fs/cgroup/unified');
    expect(layout.v1Mounts).toMatchObject({
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      memory: '/sys/fs/cgroup/memory',
      pids: '/sys/fs/cgroup/pids',
    });
    expect(layout.v1Mounts).not.toHaveProperty('name=systemd');
  });

  it('v1 without pids: co-mounted cpu,cpuacct and a read-only tmpfs', () => {
    const layout = detectCgroupLayout(parseMountinfo(fixture('mountinfo-v1-nopids.txt')), 'tmpfs');
    expect(layout.kind).toBe('v1');
    expect(layout.v2Mount).toBeNull();
    expect(layout.v1Mounts.cpu).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.v1Mounts.cpuacct).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(layout.v1Mounts).not.toHaveProperty('pids');
    expect(layout.tmpfsReadOnly).toBe(true);
  });

  it('no cgroup mounts at all', () => {
    expect(detectCgroupLayout(parseMountinfo('27 1 254:0 / / rw - ext4 /dev/vda rw\n'), 'ext2/ext3').kind).toBe('none');
  });
});

describe('parseProcCgroups', () => {
  it('reads hierarchy and enabled columns', () => {
    const controllers = parseProcCgroups(fixture('cgroups-v1-nopids.txt'));
    expect(controllers.get('pids')).toEqual({ hierarchy: 0, enabled: true });
    expect(controllers.get('memory')).toEqual({ hierarchy: 4, enabled: true });
    expect(controllers.has('#subsys_name')).toBe(false);
  });
});

describe('elfLinkage', () => {
  it('no PT_INTERP: static', () => {
    expect(elfLinkage(STATIC_ELF)).toEqual({ kind: 'static' });
  });

  it('PT_INTERP after a PT_LOAD: dynamic, with the loader path', () => {
    expect(elfLinkage(DYNAMIC_ELF)).toEqual({ kind: 'dynamic', interpreter: '/lib64/ld-linux-x86-64.so.2' });
  });

  it('reads 32-bit big-endian files too', () => {
    expect(elfLinkage(craftElf({ bits: 32, bigEndian: true, interpreter: '/lib/ld.so.1' }))).toEqual({
      kind: 'dynamic',
      interpreter: '/lib/ld.so.1',
    });
    expect(elfLinkage(craftElf({ bits: 32 }))).toEqual({ kind: 'static' });
  });

  it('rejects scripts and truncated files', () => {
    expect(elfLinkage(new TextEncoder().encode('#!/bin/sh\necho hi\n')).kind).toBe('not-elf');
    expect(elfLinkage(DYNAMIC_ELF.subarray(0, 40)).kind).toBe('not-elf');
    expect(elfLinkage(DYNAMIC_ELF.subarray(0, 80)).kind).toBe('not-elf'); // headers cut off
  });

  it.skipIf(!existsSync('/bin/ls'))('/bin/ls on this machine is dynamic', () => {
    const linkage = elfLinkage(new Uint8Array(readFileSync('/bin/ls').subarray(0, 64 * 1024)));
    expect(linkage.kind).toBe('dynamic');
    expect(linkage.kind === 'dynamic' && linkage.interpreter).toMatch(/\/ld-[\w.-]+\.so/);
  });

  // glibc's ldconfig is linked statically on Debian and Ubuntu (it must work when libc is broken).
  it.skipIf(!existsSync('/sbin/ldconfig'))('/sbin/ldconfig on this machine is static', () => {
    expect(elfLinkage(new Uint8Array(readFileSync('/sbin/ldconfig').subarray(0, 64 * 1024)))).toEqual({ kind: 'static' });
  });
});

describe('versions', () => {
  it('parses iptables backends', () => {
    expect(parseIptablesVersion('iptables v1.8.9 (nf_tables)\n')).toEqual({ version: '1.8.9', backend: 'nf_tables' });
    expect(parseIptablesVersion('iptables v1.8.7 (legacy)\n')).toEqual({ version: '1.8.7', backend: 'legacy' });
    expect(parseIptablesVersion('iptables v1.6.1\n')).toEqual({ version: '1.6.1', backend: 'legacy' });
    expect(parseIptablesVersion('command not found')).toBeNull();
  });

  it('parses kernel releases and compares', () => {
    expect(parseVersion('6.18.44-fc-v782')).toEqual([6, 18, 44]);
    expect(parseVersion('5.15.0-91-generic')).toEqual([5, 15, 0]);
    expect(versionAtLeast([5, 15, 0], [5, 15, 0])).toBe(true);
    expect(versionAtLeast([5, 10, 209], [5, 15, 0])).toBe(false);
    expect(versionAtLeast([20, 18, 3], [20, 19, 0])).toBe(false);
    expect(versionAtLeast([22, 0, 0], [20, 19, 0])).toBe(true);
  });
});

// --- whole doctor on fixture machines ------------------------------------------------------------

describe('doctor on a cgroup v2 host with everything installed', () => {
  it('passes every required check', async () => {
    const report = await doctorOn(v2Host());
    expect(report.checks.filter((c) => c.required && !c.ok).map((c) => `${c.id}: ${c.found}`)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.readyThrough).toBe(LAST_LESSON);
    expect(report.cgroup?.kind).toBe('v2');
    expect(result(report, 'cgroup.version').found).toMatch(/^v2, unified/);
    expect(result(report, 'cgroup.memory').found).toBe('v2, enabled in /sys/fs/cgroup/cgroup.subtree_control');
    expect(result(report, 'cgroup.swap')).toMatchObject({ ok: true, found: `v2, ${SESSION}/memory.swap.max present` });
    expect(result(report, 'image.busybox')).toMatchObject({ ok: true, found: 'static, BusyBox v1.36.1 at /usr/bin/busybox' });
    // runc and crun are missing there: optional, so still ok.
    expect(result(report, 'opt.runc')).toMatchObject({ ok: false, required: false, fix: 'run `sudo apt-get install runc`' });
  });

  it('a controller that is available but not enabled passes, with the command to enable it', async () => {
    const report = await doctorOn(
      edit(v2Host(), { files: { '/sys/fs/cgroup/cgroup.subtree_control': 'cpu pids\n' } }),
    );
    expect(result(report, 'cgroup.memory')).toMatchObject({
      ok: true,
      hint: 'enable it with `echo +memory | sudo tee /sys/fs/cgroup/cgroup.subtree_control`',
    });
    expect(result(report, 'cgroup.swap')).toMatchObject({ ok: false, fix: 'run `echo +memory | sudo tee /sys/fs/cgroup/cgroup.subtree_control`' });
  });

  it('a controller disabled on the kernel command line fails with the GRUB fix', async () => {
    const report = await doctorOn(
      edit(v2Host(), {
        files: {
          '/proc/cmdline': 'root=/dev/vda1 ro cgroup_disable=memory\n',
          '/proc/cgroups': fixture('cgroups-v2.txt').replace('memory\t0\t93\t1', 'memory\t0\t93\t0'),
          '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io hugetlb pids\n',
          '/sys/fs/cgroup/cgroup.subtree_control': 'cpuset cpu io hugetlb pids\n',
        },
      }),
    );
    expect(result(report, 'cgroup.memory')).toMatchObject({
      ok: false,
      found: 'v2, not in /sys/fs/cgroup/cgroup.controllers',
      fix: 'remove `cgroup_disable=memory` from GRUB_CMDLINE_LINUX in /etc/default/grub, then run `sudo update-grub` and reboot',
    });
    expect(report.ok).toBe(false);
    expect(report.readyThrough).toBe(3);
  });

  it('swap accounting off on v2 suggests swapaccount=1', async () => {
    const report = await doctorOn(edit(v2Host(), { files: { [`${SESSION}/memory.swap.max`]: null } }));
    expect(result(report, 'cgroup.swap')).toMatchObject({ ok: false, required: false });
    expect(result(report, 'cgroup.swap').fix).toContain('add `swapaccount=1` to GRUB_CMDLINE_LINUX');
    expect(report.ok).toBe(true); // optional
  });
});

describe('doctor on this machine\'s layout (cgroup v1 hybrid)', () => {
  it('reports hybrid v1, the v1 controllers and swap accounting', async () => {
    const report = await doctorOn(hybridHost());
    expect(report.cgroup?.kind).toBe('hybrid');
    expect(result(report, 'cgroup.version')).toMatchObject({ ok: true });
    expect(result(report, 'cgroup.version').found).toBe(
      'v1 hybrid: v1 cpu, cpuacct, memory, pids mounted; cgroup2 at /sys/fs/cgroup/unified (controllers: hugetlb)',
    );
    expect(result(report, 'cgroup.version').hint).toContain('systemd.unified_cgroup_hierarchy=1');
    expect(result(report, 'cgroup.cpu').found).toBe('v1, mounted at /sys/fs/cgroup/cpu');
    expect(result(report, 'cgroup.pids').found).toBe('v1, mounted at /sys/fs/cgroup/pids');
    expect(result(report, 'cgroup.swap')).toMatchObject({ ok: true, found: 'v1, memory.memsw.limit_in_bytes present' });
  });

  it('fails iptables and busybox, passes bridge with a brctl hint, and is ready for lessons 1–2', async () => {
    const report = await doctorOn(hybridHost());
    expect(report.checks.filter((c) => c.required && !c.ok).map((c) => c.id)).toEqual(['net.iptables', 'image.busybox']);
    expect(result(report, 'net.iptables').fix).toBe('run `sudo apt-get install iptables`');
    expect(result(report, 'net.bridge')).toMatchObject({
      ok: true,
      found: 'no brctl; bridge (iproute2) at /usr/sbin/bridge',
      hint: "the course's examples use brctl: run `sudo apt-get install bridge-utils`",
    });
    expect(report.readyThrough).toBe(2);
    expect(report.ok).toBe(false);
  });
});

describe('doctor on a v1 host without the pids controller', () => {
  it('gives the mount command, remounting the read-only tmpfs first', async () => {
    const report = await doctorOn(v1NoPidsHost());
    expect(report.cgroup?.kind).toBe('v1');
    expect(result(report, 'cgroup.cpu')).toMatchObject({ ok: true, found: 'v1, mounted at /sys/fs/cgroup/cpu,cpuacct' });
    expect(result(report, 'cgroup.pids')).toMatchObject({
      ok: false,
      found: 'v1, not mounted',
      fix: 'run `sudo mount -o remount,rw /sys/fs/cgroup && sudo mkdir -p /sys/fs/cgroup/pids && sudo mount -t cgroup -o pids cgroup /sys/fs/cgroup/pids`',
    });
    expect(result(report, 'cgroup.version').found).toBe('v1: v1 cpu, cpuacct, memory mounted (no pids), no cgroup2');
  });

  it('reports missing swap accounting with the swapaccount=1 boot parameter', async () => {
    const report = await doctorOn(v1NoPidsHost());
    expect(result(report, 'cgroup.swap')).toMatchObject({ ok: false, found: 'v1, no memory.memsw.* files' });
    expect(result(report, 'cgroup.swap').fix).toContain('add `swapaccount=1`');
  });

  it('a kernel without the pids controller gets the stock-kernel fix instead', async () => {
    const report = await doctorOn(
      edit(v1NoPidsHost(), { files: { '/proc/cgroups': fixture('cgroups-v1-nopids.txt').replace(/^pids.*$/m, '') } }),
    );
    expect(result(report, 'cgroup.pids').fix).toMatch(/^your kernel was built without it \(CONFIG_CGROUP_PIDS\)/);
  });

  it('requireFor(4) names the pids controller; requireFor(3) passes', async () => {
    const machine = fakeMachine(v1NoPidsHost());
    const error = await requirementError(requireFor(4, { ...OPTIONS, machine }));
    expect(error.check).toBe('cgroup.pids');
    expect(error.message).toMatch(/^lesson 4 needs the cgroup pids controller \(process count limits\): run `sudo mount -o remount,rw/);
    await expect(requireFor(3, { ...OPTIONS, machine })).resolves.toBeUndefined();
  });
});

describe('process tools (lesson 02)', () => {
  it('a missing static tini stops lesson 2 with the apt fix, not lesson 1', async () => {
    const machine = fakeMachine(edit(v2Host(), { programs: { '/usr/bin/tini-static': null } }));
    const error = await requirementError(requireFor(2, { ...OPTIONS, machine }));
    expect(error.message).toBe("lesson 2 needs a static tini (Docker's --init): run `sudo apt-get install tini`");
    await expect(requireFor(1, { ...OPTIONS, machine })).resolves.toBeUndefined();
  });

  it('a dynamic tini-static is refused', async () => {
    const machine = fakeMachine(edit(v2Host(), { programs: { '/usr/bin/tini-static': { bytes: DYNAMIC_ELF } } }));
    expect((await requirementError(requireFor(2, { ...OPTIONS, machine }))).check).toBe('proc.tini');
  });

  it('names the missing ps/ipcmk/ipcs', async () => {
    const machine = fakeMachine(edit(v2Host(), { programs: { '/usr/bin/ipcmk': null } }));
    const error = await requirementError(requireFor(2, { ...OPTIONS, machine }));
    expect(error.found).toBe('ipcmk not found');
    expect(error.fix).toBe('run `sudo apt-get install procps util-linux`');
  });
});

describe('network helpers (lesson 06)', () => {
  it('a missing nsenter stops lesson 6 with the util-linux fix', async () => {
    const machine = fakeMachine(edit(v2Host(), { programs: { '/usr/bin/nsenter': null } }));
    const error = await requirementError(requireFor(6, { ...OPTIONS, machine }));
    expect(error.check).toBe('net.helpers');
    expect(error.found).toBe('nsenter not found');
    await expect(requireFor(5, { ...OPTIONS, machine })).resolves.toBeUndefined();
  });
});

describe('busybox', () => {
  it('missing: the one-line lesson 3 error names busybox-static', async () => {
    const machine = fakeMachine(edit(v2Host(), { programs: { '/usr/bin/busybox': null } }));
    const error = await requirementError(requireFor(3, { ...OPTIONS, machine }));
    expect(error.message).toBe(
      'lesson 3 needs a static busybox: run `sudo apt-get install busybox-static` (the Debian/Ubuntu `busybox` package is dynamically linked; busybox-static replaces it)',
    );
    expect(error.message).not.toContain('\n');
    expect(error.fix).toContain('sudo apt-get install busybox-static');
    expect(isRequirementError(error)).toBe(true);
    expect(error).toBeInstanceOf(CourseError);
    expect(error.exitCode).toBe(1);
    await expect(requireFor(2, { ...OPTIONS, machine })).resolves.toBeUndefined();
  });

  it('dynamic: fails and says which loader it would need', async () => {
    const report = await doctorOn(edit(v2Host(), { programs: { '/usr/bin/busybox': dynamicBusybox } }));
    expect(result(report, 'image.busybox')).toMatchObject({
      ok: false,
      found: '/usr/bin/busybox is dynamically linked (needs /lib64/ld-linux-x86-64.so.2)',
    });
    expect(result(report, 'image.busybox').fix).toContain('busybox-static');
  });

  it('a static /bin/busybox wins over a dynamic one found first on PATH', async () => {
    const report = await doctorOn(
      edit(v2Host(), { programs: { '/usr/bin/busybox': dynamicBusybox, '/bin/busybox': staticBusybox } }),
    );
    expect(result(report, 'image.busybox')).toMatchObject({ ok: true, found: 'static, BusyBox v1.36.1 at /bin/busybox' });
  });

  it('a shell script called busybox is not accepted', async () => {
    const script = { bytes: new TextEncoder().encode('#!/bin/sh\n') };
    const report = await doctorOn(edit(v2Host(), { programs: { '/usr/bin/busybox': script } }));
    expect(result(report, 'image.busybox')).toMatchObject({ ok: false, found: '/usr/bin/busybox is not an ELF program' });
  });
});

describe('network tools', () => {
  it('iptables with the nf_tables backend', async () => {
    const report = await doctorOn(v2Host());
    expect(result(report, 'net.iptables')).toMatchObject({
      ok: true,
      found: 'v1.8.7 (nf_tables backend) at /usr/sbin/iptables',
      hint: 'the rules live in nf_tables: `sudo nft list ruleset` shows them too',
    });
  });

  it('iptables with the legacy backend', async () => {
    const report = await doctorOn(
      edit(v2Host(), { programs: { '/usr/sbin/iptables': { stdout: 'iptables v1.8.9 (legacy)\n' } } }),
    );
    expect(result(report, 'net.iptables')).toMatchObject({ ok: true, found: 'v1.8.9 (legacy backend) at /usr/sbin/iptables' });
    expect(result(report, 'net.iptables').hint).toBeUndefined();
  });

  it('tools outside a user PATH without sbin are found, with a PATH hint', async () => {
    const report = await doctorOn({ ...v2Host(), path: ['/home/student/.nvm/versions/node/v20.19.0/bin', '/usr/bin', '/bin'] });
    expect(result(report, 'net.iptables').found).toBe('v1.8.7 (nf_tables backend) at /usr/sbin/iptables (not on PATH)');
    expect(result(report, 'net.iptables').hint).toContain('export PATH="$PATH:/usr/sbin:/sbin"');
    expect(result(report, 'net.ip').found).toBe('iproute2 5.15.0 at /usr/sbin/ip (not on PATH)');
  });

  it('neither brctl nor bridge: bridge-utils', async () => {
    const report = await doctorOn(edit(v2Host(), { programs: { '/usr/sbin/brctl': null, '/usr/sbin/bridge': null } }));
    expect(result(report, 'net.bridge')).toMatchObject({ ok: false, fix: 'run `sudo apt-get install bridge-utils`' });
    expect(report.readyThrough).toBe(5);
  });

  it('lesson 6 names the first missing network tool', async () => {
    const machine = fakeMachine(edit(v2Host(), { programs: { '/usr/sbin/ip': null, '/usr/sbin/iptables': null } }));
    const error = await requirementError(requireFor(6, { ...OPTIONS, machine }));
    expect(error.message).toBe('lesson 6 needs the `ip` command (iproute2): run `sudo apt-get install iproute2`');
  });
});

describe('system checks', () => {
  it('not root: the fix keeps PATH for nvm users', async () => {
    const report = await doctorOn({ ...v2Host(), euid: 1000 });
    const root = result(report, 'system.root');
    expect(root).toMatchObject({ ok: false, found: 'euid 1000, not root' });
    expect(root.fix).toBe(
      'run `sudo env "PATH=$PATH" npm run doctor` (plain sudo resets PATH, so it would not find a node installed with nvm)',
    );
    expect(report.readyThrough).toBe(0);
  });

  it('requireFor(1) repeats the lesson command in the root fix, before any other failure', async () => {
    const machine = fakeMachine(edit({ ...v2Host(), euid: 1000, kernel: '5.4.0-42-generic' }, {}));
    const error = await requirementError(requireFor(1, { rerun: 'npm run lesson 1', machine }));
    expect(error.check).toBe('system.root');
    expect(error.message).toMatch(/^lesson 1 needs root: run `sudo env "PATH=\$PATH" npm run lesson 1`/);
  });

  it('old Node under sudo points at the PATH trick', async () => {
    const report = await doctorOn({ ...v2Host(), node: '18.19.0' });
    const node = result(report, 'system.node');
    expect(node).toMatchObject({ ok: false, found: 'v18.19.0 (need ≥ 20.19)' });
    expect(node.fix).toContain('nvm install 20');
    expect(node.fix).toContain('sudo env "PATH=$PATH" npm run doctor');
  });

  it('old kernel: names the features it lacks', async () => {
    const report = await doctorOn({ ...v2Host(), kernel: '5.10.0-28-amd64' });
    const kernel = result(report, 'system.kernel');
    expect(kernel.ok).toBe(false);
    expect(kernel.found).toBe('5.10.0-28-amd64, older than 5.15 (close_range() with CLOSE_RANGE_CLOEXEC needs 5.11; cgroup.kill needs 5.14)');
    const error = await requirementError(requireFor(1, { ...OPTIONS, machine: fakeMachine({ ...v2Host(), kernel: '5.10.0-28-amd64' }) }));
    expect(error.message).toMatch(/^lesson 1 needs Linux ≥ 5.15: boot your distribution's stock kernel/);
  });
});

describe('namespaces', () => {
  it('a zero max_*_namespaces fails with the sysctl fix', async () => {
    const report = await doctorOn(edit(v2Host(), { files: { '/proc/sys/user/max_net_namespaces': '0\n' } }));
    expect(result(report, 'ns.net')).toMatchObject({
      ok: false,
      found: 'user.max_net_namespaces = 0',
      fix: 'run `sudo sysctl -w user.max_net_namespaces=10000`',
    });
    expect(report.readyThrough).toBe(5);
  });

  it('a missing namespace type fails; the max file is optional', async () => {
    const report = await doctorOn(
      edit(v2Host(), { files: { '/proc/self/ns/pid': null, '/proc/sys/user/max_uts_namespaces': null } }),
    );
    expect(result(report, 'ns.pid')).toMatchObject({ ok: false, found: 'no /proc/self/ns/pid' });
    expect(result(report, 'ns.pid').fix).toContain('CONFIG_PID_NS');
    expect(result(report, 'ns.uts')).toMatchObject({ ok: true, found: 'host name' });
    expect(report.readyThrough).toBe(1);
  });

  it('the user namespace is informational', async () => {
    const report = await doctorOn(edit(v2Host(), { files: { '/proc/self/ns/user': null } }));
    expect(result(report, 'ns.user')).toMatchObject({ ok: false, required: false });
    expect(report.ok).toBe(true);
  });

  it('user namespaces for ordinary users: which setting turns them off, and the sysctl that turns them on (informational)', async () => {
    expect(result(await doctorOn(v2Host()), 'userns.unprivileged')).toMatchObject({ ok: true, required: false });
    const ubuntu = result(await doctorOn(edit(v2Host(), { files: { '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1\n' } })), 'userns.unprivileged');
    expect(ubuntu).toMatchObject({ ok: false, found: 'kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu 23.10 and later)' });
    expect(ubuntu.fix).toContain('sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0');
    const debian = await doctorOn(edit(v2Host(), { files: { '/proc/sys/kernel/unprivileged_userns_clone': '0\n' } }));
    expect(result(debian, 'userns.unprivileged')).toMatchObject({ ok: false, found: 'kernel.unprivileged_userns_clone = 0' });
    expect(debian.ok).toBe(true);
  });

  it('subordinate IDs for --userns=auto: the ranges of "containers" and the uidmap helpers, with the lines that add them', async () => {
    const none = result(await doctorOn(v2Host()), 'userns.subid');
    expect(none).toMatchObject({ ok: false, required: false, found: 'no range for "containers" in /etc/subuid and /etc/subgid; newuidmap and newgidmap are missing' });
    expect(none.fix).toBe('run `echo containers:2147483647:2147483648 | sudo tee -a /etc/subuid /etc/subgid` (podman\'s convention); run `sudo apt-get install uidmap`');
    const lent = edit(v2Host(), {
      files: { '/etc/subuid': 'alice:100000:65536\ncontainers:2147483647:2147483648\n', '/etc/subgid': 'containers:2147483647:2147483648\n' },
      programs: { '/usr/bin/newuidmap': {}, '/usr/bin/newgidmap': {} },
    });
    expect(result(await doctorOn(lent), 'userns.subid')).toMatchObject({ ok: true, found: '"containers" is lent 2147483648 uids and 2147483648 gids' });
  });

  it('rootless minidocker, for the user who ran sudo: its ranges, slirp4netns, /dev/net/tun, and whether limits apply (informational)', async () => {
    const saved = { SUDO_USER: process.env.SUDO_USER, SUDO_UID: process.env.SUDO_UID };
    Object.assign(process.env, { SUDO_USER: 'alice', SUDO_UID: '1000' });
    try {
      const bare = result(await doctorOn(edit(v2Host(), { programs: { '/usr/bin/stat': { stdout: '600\n' } } })), 'userns.rootless');
      expect(bare).toMatchObject({ ok: false, required: false });
      expect(bare.found).toBe('alice has no range in /etc/subuid or /etc/subgid; slirp4netns is missing; /dev/net/tun is 600, not 666 (slirp4netns needs it); limits through systemd\'s delegation (a login session, or `loginctl enable-linger`)');
      expect(bare.fix).toBe('run `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice` (a range no other user has); run `sudo apt-get install slirp4netns`; run `sudo chmod 0666 /dev/net/tun` (udev\'s default on Debian and Ubuntu)');
      const ready = edit(v2Host(), {
        files: { '/etc/subuid': '1000:100000:65536\n', '/etc/subgid': 'alice:100000:65536\n' },
        programs: { '/usr/bin/slirp4netns': {}, '/usr/bin/stat': { stdout: '666\n' } },
      });
      expect(result(await doctorOn(ready), 'userns.rootless')).toMatchObject({ ok: true, found: "alice's ranges, slirp4netns; limits through systemd's delegation (a login session, or `loginctl enable-linger`)" });
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it('the cgroup namespace is needed by the final runtime only', async () => {
    const machine = fakeMachine(edit(v2Host(), { files: { '/proc/self/ns/cgroup': null } }));
    await expect(requireFor(6, { ...OPTIONS, machine })).resolves.toBeUndefined();
    const error = await requirementError(requireFor('final', { ...OPTIONS, machine }));
    expect(error.message).toMatch(/^the final runtime needs the cgroup namespace: /);
  });
});

describe('overlayfs', () => {
  const noOverlay = FILESYSTEMS.replace('nodev\toverlay\n', '');

  it('a loadable module is enough: the kernel loads it on the first mount', async () => {
    const report = await doctorOn(
      edit(v2Host(), {
        files: {
          '/proc/filesystems': noOverlay,
          '/lib/modules/5.15.0-91-generic/modules.dep': 'kernel/fs/overlayfs/overlay.ko:\nkernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\n',
        },
      }),
    );
    expect(result(report, 'fs.overlay')).toMatchObject({ ok: true, found: 'a module, loaded by the kernel on the first overlay mount' });
    expect(result(report, 'fs.overlay').hint).toMatch(/sudo modprobe overlay/);
    expect(report.readyThrough).toBe(LAST_LESSON);
  });

  it('not built at all: stock kernel', async () => {
    const report = await doctorOn(
      edit(v2Host(), {
        files: { '/proc/filesystems': noOverlay, '/lib/modules/5.15.0-91-generic/modules.dep': 'kernel/fs/fat/fat.ko:\n' },
      }),
    );
    expect(result(report, 'fs.overlay').fix).toMatch(/^your kernel lacks CONFIG_OVERLAY_FS/);
  });
});

describe('robustness', () => {
  it('a machine view that throws turns into failed checks, not a crash', async () => {
    const broken: MachineView = {
      ...fakeMachine(v2Host()),
      readText: () => Promise.reject(new Error('EIO: i/o error')),
    };
    const report = await runDoctor({ ...OPTIONS, machine: broken });
    expect(result(report, 'ns.uts')).toMatchObject({ ok: false, found: 'the check itself failed: EIO: i/o error' });
    expect(result(report, 'system.root').ok).toBe(true);
    expect(report.cgroup).toBeNull();
  });
});

describe('checksFor', () => {
  it('lesson 1 needs root, node, kernel and the uts namespace', () => {
    expect(checksFor(1)).toEqual(['system.root', 'system.node', 'system.kernel', 'ns.uts']);
  });

  it('later lessons include the earlier ones', () => {
    expect(checksFor(3)).toEqual([...checksFor(2), 'image.busybox']);
    expect(checksFor(4)).toEqual(expect.arrayContaining(['image.busybox', 'cgroup.cpu', 'cgroup.memory', 'cgroup.pids']));
    expect(checksFor(4)).not.toContain('fs.overlay');
    expect(checksFor(6)).toEqual(expect.arrayContaining(['fs.overlay', 'ns.net', 'net.iptables', 'net.bridge']));
  });

  it('the final runtime needs every required check, no optional one', () => {
    const final = checksFor('final');
    expect(final).toEqual(expect.arrayContaining([...checksFor(6), 'ns.cgroup']));
    expect(final).not.toContain('ns.user');
    expect(final).not.toContain('opt.runc');
    expect(final).not.toContain('cgroup.swap');
  });

  it('rejects lessons that do not exist', () => {
    expect(() => checksFor(0)).toThrow(RangeError);
    expect(() => checksFor(10)).toThrow(/there is no lesson 10/);
  });
});

describe('formatReport', () => {
  it('prints groups in order, ✓/✗ lines and fixes, without colour at level 0', async () => {
    const report = await doctorOn(hybridHost());
    const text = formatReport(report, new Chalk({ level: 0 }), 'npm run doctor');
    expect(text).not.toMatch(/\x1b\[/);
    const headings = ['System', 'Namespaces', 'cgroups', 'Filesystems', 'Network tools', 'Images', 'Optional'];
    const positions = headings.map((h) => text.indexOf(`\n${h}\n`));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(text).toMatch(/\n {2}✓ root {2,}running as root \(euid 0\)\n/);
    expect(text).toMatch(/\n {2}✗ iptables {2,}not found\n {4,}fix: run `sudo apt-get install iptables`\n/);
    expect(text).toContain('2 required checks failed. Ready for lessons 1–2.');
  });

  it('colours when asked to', async () => {
    const text = formatReport(await doctorOn(v2Host()), new Chalk({ level: 1 }), 'npm run doctor');
    expect(text).toMatch(/\x1b\[32m✓/);
    expect(text).toContain('All required checks passed');
  });
});

describe('defaultRerun', () => {
  it('repeats the npm script and its arguments', () => {
    expect(defaultRerun({ npm_lifecycle_event: 'lesson' }, ['node', 'lesson.ts', '3'])).toBe('npm run lesson 3');
    expect(defaultRerun({ npm_lifecycle_event: 'lesson' }, ['node', 'lesson.ts', '3', '--plain'])).toBe('npm run lesson 3 -- --plain');
    expect(defaultRerun({ npm_lifecycle_event: 'doctor' }, ['node', 'doctor.ts'])).toBe('npm run doctor');
    expect(defaultRerun({ npm_lifecycle_event: 'x' }, ['node', 'x.ts', 'a b'])).toBe("npm run x 'a b'");
    expect(defaultRerun({ npm_lifecycle_event: 'npx' }, ['node', 'doctor.ts', '--json'])).toBe('npm run doctor');
    expect(defaultRerun({}, ['node', 'doctor.ts'])).toBe('npm run doctor');
  });
});

// --- the real thing ------------------------------------------------------------------------------

/** What this machine's cgroup layout is, found without the doctor's code. */
function expectedCgroupKind(): string {
  const CGROUP2_SUPER_MAGIC = 0x63677270;
  const type = (path: string) => (existsSync(path) ? statfsSync(path).type : null);
  if (type('/sys/fs/cgroup') === CGROUP2_SUPER_MAGIC) return 'v2';
  const v1 = readFileSync('/proc/self/mountinfo', 'utf8').includes(' - cgroup cgroup ');
  if (!v1) return 'none';
  return type('/sys/fs/cgroup/unified') === CGROUP2_SUPER_MAGIC ? 'hybrid' : 'v1';
}

describe('the real doctor on this machine', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync('npx', ['tsx', 'src/course/cli/doctor.ts', ...args], {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 60_000,
    });

  it('--json: no stack trace, exit status matches the result, cgroup layout as detected independently', () => {
    const child = run(['--json']);
    expect(child.error).toBeUndefined();
    expect(child.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    const report = JSON.parse(child.stdout) as DoctorReport;
    expect(child.status).toBe(report.ok ? 0 : 1);
    expect(report.checks.length).toBeGreaterThan(20);
    expect(report.checks.every((c) => c.ok || typeof c.fix === 'string')).toBe(true);
    const kind = expectedCgroupKind();
    expect(report.cgroup?.kind ?? 'none').toBe(kind);
    if (kind === 'hybrid') {
      // This Debian 12 container: v1 controllers under /sys/fs/cgroup/<name>, cgroup2 at /unified.
      expect(result(report, 'cgroup.version').found).toMatch(/^v1 hybrid: /);
      expect(report.cgroup?.v2Mount).toBe('/sys/fs/cgroup/unified');
    }
  });

  it('text output: grouped, no colour under NO_COLOR, unknown flags rejected', () => {
    const child = run([], { NO_COLOR: '1', FORCE_COLOR: '1' });
    expect(child.stdout).toContain('\nSystem\n');
    expect(child.stdout).toContain('\nNetwork tools\n');
    expect(child.stdout).not.toMatch(/\x1b\[/);
    expect(child.stdout).toMatch(/[✓✗] kernel/);
    const bad = run(['--jsno']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown option --jsno');
  });
});
