/**
 * Lesson 04 graded checks: Docker's flags parsed, limits written, the cgroup joined before exec, the
 * kernel enforcing memory, CPU and process limits, and nothing left behind.
 *
 * The unit checks need no root: they run the v1 and the v2 manager on fake cgroup trees (temporary
 * folders laid out like /sys/fs/cgroup, test/fixtures/cgroups/). The real-container checks run as root
 * on whichever cgroup version this machine has — cgroup v2 in test/vm/, v1 on a hybrid CI host — and
 * grade the exercises of that version's manager.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { graded } from '../../src/course/grading.js';
import { lessonFile } from '../../src/course/impl.js';
import { CLONE_NEWCGROUP, MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, RecordingSyscalls } from '../../src/sys/index.js';
import { detectCgroupLayout, type CgroupFacts } from '../../src/sys/cgroupfs.js';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import type { CreateOptions } from '../../src/container/runtime.js';
import { bundleUnderTest, importLesson, registryUnderTest } from '../helpers/impl.js';
import { describeAsRoot, isRoot } from '../helpers/root.js';
import { eventually, isRunning } from '../helpers/processes.js';
import '../helpers/syscalls.js';

// The lessons' features as the implementation under test has them: host-side planning runs its code too.
const registry = await registryUnderTest();

type Lesson<File extends string> = File extends 'limits' ? typeof import('../../lessons/04-cgroups/limits.js')
  : File extends 'manager' ? typeof import('../../lessons/04-cgroups/manager.js')
  : File extends 'v1' ? typeof import('../../lessons/04-cgroups/v1.js')
  : File extends 'v2' ? typeof import('../../lessons/04-cgroups/v2.js')
  : typeof import('../../lessons/04-cgroups/cgroups.js');
const limits = await importLesson<Lesson<'limits'>>('04-cgroups', 'limits.ts');
const manager = await importLesson<Lesson<'manager'>>('04-cgroups', 'manager.ts');
const v1 = await importLesson<Lesson<'v1'>>('04-cgroups', 'v1.ts');
const v2 = await importLesson<Lesson<'v2'>>('04-cgroups', 'v2.ts');
const cgroups = await importLesson<Lesson<'cgroups'>>('04-cgroups', 'cgroups.ts');

type CgroupManager = import('../../lessons/04-cgroups/manager.js').CgroupManager;
type LimitedContainer = import('../../lessons/04-cgroups/cgroups.js').LimitedContainer;

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/cgroups');
const MiB = 1024 * 1024;
const newId = () => Array.from({ length: 64 }, () => '0123456789abcdef'[randomInt(16)]).join('');

/** The test's own formula for cpu.weight, so a wrong sharesToWeight() fails only its own check. */
function expectedWeight(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262_144) return 10_000;
  const l = Math.log2(shares);
  return Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34));
}

// --- fake cgroup trees -------------------------------------------------------------------------------

const temporary: string[] = [];
afterEach(() => {
  for (const dir of temporary.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function fakeRoot(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lab-cgroups-'));
  temporary.push(dir);
  return dir;
}

const read = (file: string) => readFileSync(file, 'utf8').trim();

/** CgroupFacts for a machine with this mount table, as the doctor would read them. */
function factsFrom(mountinfoFixture: string, edit: (text: string) => string = (text) => text): CgroupFacts {
  const mountinfo = edit(readFileSync(path.join(FIXTURES, mountinfoFixture), 'utf8'));
  const layout = detectCgroupLayout(parseMountinfo(mountinfo), null);
  const all = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];
  const v2Root = layout.active === 'v2';
  return {
    layout,
    v2Controllers: v2Root ? all : ['hugetlb'],
    v2SubtreeControl: v2Root ? all : [],
    kernel: null,
    cmdline: 'BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet',
  };
}

describe('lesson 04 · Docker’s limit flags', () => {
  graded('limits.memory', 'parseMemory reads a number with an optional unit b, k, m or g, in either case', () => {
    const n = randomInt(1, 1000);
    expect(limits.parseMemory(`${n}m`)).toBe(n * MiB);
    expect(limits.parseMemory(`${n}M`)).toBe(n * MiB);
    expect(limits.parseMemory(`${n}k`)).toBe(n * 1024);
    expect(limits.parseMemory(`${n}G`)).toBe(n * 1024 ** 3);
    expect(limits.parseMemory(`${n}b`)).toBe(n);
    expect(limits.parseMemory(String(n))).toBe(n);
    expect(limits.parseMemory('1.5g')).toBe(1.5 * 1024 ** 3);
  }, { requires: ['1.5g', 'b, k, m or g in either case', 'powers of 1024', 'rounded down'] });

  graded('limits.memory', 'parseMemory rejects anything else with one clear line', () => {
    // What the TODO asks: a LimitError that names the flag and the text; the wording is the student's.
    expect(() => limits.parseMemory('64q')).toThrow(limits.LimitError);
    expect(() => limits.parseMemory('64q')).toThrow(/--memory.*64q|64q.*--memory/);
    for (const bad of ['', 'm', '-64m', '64mm', 'lots', '6 4m']) expect(() => limits.parseMemory(bad), bad).toThrow(limits.LimitError);
    expect(() => limits.parseMemory('x7', '--memory-swap')).toThrow(/--memory-swap.*x7|x7.*--memory-swap/);
  }, { requires: ['LimitError that names the flag and the text'] });

  graded('limits.memory', 'parseLimitFlags: Docker’s 6m minimum, and no swap unless --memory-swap allows it', () => {
    const n = randomInt(6, 4096);
    expect(limits.parseLimitFlags(['--memory', `${n}m`])).toEqual({ memory: { limit: n * MiB, swap: n * MiB } });
    expect(limits.parseLimitFlags([`--memory=${n}m`, '--memory-swap', `${2 * n}m`])).toEqual({ memory: { limit: n * MiB, swap: 2 * n * MiB } });
    expect(limits.parseLimitFlags(['-m', `${n}m`, '--memory-swap', '-1'])).toEqual({ memory: { limit: n * MiB, swap: -1 } });
    expect(() => limits.parseLimitFlags(['--memory', '5m'])).toThrow('the minimum is 6m');
    expect(() => limits.parseLimitFlags(['--memory', '64m', '--memory-swap', '32m'])).toThrow('at least --memory');
  });

  graded('limits.cpus', 'cpusToQuota: --cpus N is N × 100000 µs of CPU time in every 100000 µs period', () => {
    expect(limits.cpusToQuota(0.5)).toEqual({ quota: 50_000, period: 100_000 });
    const hundredths = randomInt(1, 1600);
    expect(limits.cpusToQuota(hundredths / 100)).toEqual({ quota: hundredths * 1000, period: 100_000 });
    expect(limits.parseLimitFlags(['--cpus', '1.5'], 4)).toEqual({ cpu: { quota: 150_000, period: 100_000 } });
  }, { requires: ['100000'] });

  graded('limits.weight', 'sharesToWeight: 2 → 1, 1024 → 100, 262144 → 10000, and the runc/crun curve between', () => {
    expect(limits.sharesToWeight(0)).toBe(0);
    expect(limits.sharesToWeight(2)).toBe(1);
    expect(limits.sharesToWeight(1024)).toBe(100);
    expect(limits.sharesToWeight(262_144)).toBe(10_000);
    expect([512, 2048, 4096, 100_000].map((shares) => limits.sharesToWeight(shares))).toEqual([59, 174, 303, 4340]);
    for (let i = 0; i < 20; i++) {
      const shares = randomInt(2, 262_145);
      expect(limits.sharesToWeight(shares), `shares ${shares}`).toBe(expectedWeight(shares));
    }
  }, { requires: ['0 stays 0', '1024', '10000'] });

  it('parses --cpus, --cpu-shares and --pids-limit as Docker does, and says what is wrong', () => {
    expect(limits.parseLimitFlags(['--cpus', '0.5', '--cpu-shares', '512', '--pids-limit', '32'], 2)).toEqual({
      cpu: { quota: 50_000, period: 100_000, shares: 512 },
      pids: { limit: 32 },
    });
    expect(limits.parseLimitFlags(['--pids-limit', '0'])).toEqual({ pids: { limit: -1 } });
    expect(limits.parseLimitFlags(['--pids-limit=-1'])).toEqual({ pids: { limit: -1 } });
    expect(() => limits.parseLimitFlags(['--cpus', '3'], 2)).toThrow('invalid --cpus "3": use a number of CPUs from 0.01 to 2 (this machine has 2), e.g. 0.5');
    expect(() => limits.parseLimitFlags(['--cpus', 'half'], 2)).toThrow(limits.LimitError);
    expect(() => limits.parseLimitFlags(['--cpu-shares', '1'])).toThrow('from 2 to 262144');
    expect(() => limits.parseLimitFlags(['--pids-limit', 'ten'])).toThrow('invalid --pids-limit "ten"');
    expect(() => limits.parseLimitFlags(['--memory-swap', '1g'])).toThrow('--memory-swap needs --memory');
    expect(() => limits.parseLimitFlags(['--cpu', '1'])).toThrow('unknown flag "--cpu"');
    expect(() => limits.parseLimitFlags(['--memory'])).toThrow('--memory needs a value');
    expect(limits.swapForCgroupV2({ limit: 64 * MiB, swap: 64 * MiB })).toBe(0);
    expect(limits.swapForCgroupV2({ limit: 64 * MiB, swap: 96 * MiB })).toBe(32 * MiB);
    expect(limits.swapForCgroupV2({ limit: 64 * MiB, swap: -1 })).toBe(-1);
  });
});

describe('lesson 04 · the managers, on fake cgroup trees', () => {
  graded('cgroup.detect', 'managerFor: v2 on a unified machine, v1 on hybrid and co-mounted ones, named after the container', () => {
    const id = newId();
    const unified = cgroups.managerFor(factsFrom('mountinfo-v2.txt'), id);
    expect(unified.version).toBe('v2');
    expect(unified.paths).toEqual([`/sys/fs/cgroup/mini-docker-lab/${id}`]);

    const hybrid = cgroups.managerFor(factsFrom('mountinfo-v1-hybrid.txt'), id);
    expect(hybrid.version).toBe('v1');
    // freezer too: `docker pause` on cgroup v1.
    expect(hybrid.paths.sort()).toEqual(['cpu', 'cpuacct', 'freezer', 'memory', 'pids'].map((c) => `/sys/fs/cgroup/${c}/mini-docker-lab/${id}`));

    // Ubuntu 20.04 mounts cpu and cpuacct together: one directory serves both.
    const comounted = cgroups.managerFor(factsFrom('mountinfo-v1-comounted.txt'), id, 'lab-parent');
    expect(comounted.paths.sort()).toEqual(['cpu,cpuacct', 'memory', 'pids'].map((c) => `/sys/fs/cgroup/${c}/lab-parent/${id}`));
    expect(comounted.joinConfig().procs.sort()).toEqual(comounted.paths.map((dir) => `${dir}/cgroup.procs`).sort());
  }, { requires: ['layout.active is \'v2\'', 'memory, cpu, pids, cpuacct and freezer'] });

  it('managerFor refuses a machine without the pids controller, with the doctor’s fix', () => {
    const noPids = factsFrom('mountinfo-v1-comounted.txt', (text) => text.split('\n').filter((line) => !line.includes(' - cgroup cgroup rw,pids')).join('\n'));
    expect(() => cgroups.managerFor(noPids, newId())).toThrow(manager.CgroupSetupError);
    expect(() => cgroups.managerFor(noPids, newId())).toThrow(/pids controller is not usable.*To fix: .*mount -t cgroup -o pids cgroup \/sys\/fs\/cgroup\/pids/);
  });

  /** A v2 hierarchy: the root offers the controllers; the lab's parent exists (the kernel would fill in its files). */
  function fakeV2(subtreeControl = ''): string {
    const root = fakeRoot();
    writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    writeFileSync(path.join(root, 'cgroup.subtree_control'), subtreeControl);
    mkdirSync(path.join(root, 'mini-docker-lab'));
    writeFileSync(path.join(root, 'mini-docker-lab', 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    writeFileSync(path.join(root, 'mini-docker-lab', 'cgroup.subtree_control'), '');
    return root;
  }

  graded('v2.enable', 'enableControllers writes only the missing controllers into cgroup.subtree_control, in one write', () => {
    const root = fakeV2('memory io\n');
    v2.enableControllers(root, ['cpu', 'memory', 'pids']);
    expect(read(path.join(root, 'cgroup.subtree_control'))).toBe('+cpu +pids');

    writeFileSync(path.join(root, 'cgroup.subtree_control'), 'cpu io memory pids\n');
    v2.enableControllers(root, ['cpu', 'memory', 'pids']);
    expect(read(path.join(root, 'cgroup.subtree_control'))).toBe('cpu io memory pids'); // nothing to do: untouched
  }, { requires: ['cgroup.subtree_control', '+cpu +memory +pids', 'not yet'] });

  it('explains the "no internal processes" rule when the kernel answers EBUSY', () => {
    const root = fakeV2();
    writeFileSync(path.join(root, 'cgroup.procs'), '1\n57\n');
    const error = v2.explainSubtreeControlError(root, ['cpu'], Object.assign(new Error('EBUSY'), { code: 'EBUSY' }));
    expect(error.message).toMatch(/has processes in it \(2 in cgroup.procs\).*"no internal processes" rule/);
    expect(() => v2.enableControllers(root, ['cpu', 'nosuch'])).toThrow('the nosuch controller is not available');
  });

  graded('v2.apply', 'create + apply: controllers handed down, then memory.max, memory.swap.max 0, cpu.max, cpu.weight, pids.max', () => {
    const root = fakeV2();
    const id = newId();
    const cgroup = new v2.CgroupV2Manager(root, id);
    cgroup.create();
    expect(read(path.join(root, 'cgroup.subtree_control'))).toBe('+cpu +memory +pids');
    expect(read(path.join(root, 'mini-docker-lab', 'cgroup.subtree_control'))).toBe('+cpu +memory +pids');
    const dir = path.join(root, 'mini-docker-lab', id);
    expect(existsSync(dir)).toBe(true);
    writeFileSync(path.join(dir, 'memory.swap.max'), 'max\n'); // the kernel creates it with the cgroup

    const memory = randomInt(6, 2048);
    const shares = randomInt(2, 262_145);
    const pids = randomInt(2, 100_000);
    const warnings = cgroup.apply(limits.parseLimitFlags(['--memory', `${memory}m`, '--cpus', '0.5', '--cpu-shares', String(shares), '--pids-limit', String(pids)], 2));
    expect(warnings).toEqual([]);
    expect(read(path.join(dir, 'memory.max'))).toBe(String(memory * MiB));
    expect(read(path.join(dir, 'memory.swap.max'))).toBe('0');
    expect(read(path.join(dir, 'cpu.max'))).toBe('50000 100000');
    expect(read(path.join(dir, 'cpu.weight'))).toBe(String(expectedWeight(shares)));
    expect(read(path.join(dir, 'pids.max'))).toBe(String(pids));
    expect(() => cgroup.create()).toThrow('already exists');
  }, { requires: ['memory.max', 'memory.swap.max', 'cpu.max', 'cpu.weight', 'pids.max'] });

  graded('v2.apply', 'apply writes only what is asked: "max" for unlimited, a warning without swap accounting', () => {
    const root = fakeV2();
    const cgroup = new v2.CgroupV2Manager(root, newId());
    cgroup.create();
    const warnings = cgroup.apply(limits.parseLimitFlags(['--memory', '64m', '--pids-limit', '-1']));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('memory.swap.max');
    expect(read(path.join(cgroup.path, 'pids.max'))).toBe('max');
    expect(existsSync(path.join(cgroup.path, 'cpu.max'))).toBe(false);
    expect(existsSync(path.join(cgroup.path, 'cpu.weight'))).toBe(false);
  });

  graded('v2.stats', 'stats() reads memory.current, memory.events, cpu.stat, cpu.max, pids.* of a v2 cgroup', () => {
    const root = fakeRoot();
    const id = newId();
    const dir = path.join(root, 'mini-docker-lab', id);
    cpSync(path.join(FIXTURES, 'v2'), dir, { recursive: true });
    const [current, kills, usage, throttled, pids, refused] = [randomInt(1, 1e9), randomInt(1, 99), randomInt(1, 1e9), randomInt(1, 1e6), randomInt(1, 32), randomInt(1, 99)];
    writeFileSync(path.join(dir, 'memory.current'), `${current}\n`);
    writeFileSync(path.join(dir, 'memory.events'), read(path.join(dir, 'memory.events')).replace('oom_kill 1', `oom_kill ${kills}`));
    writeFileSync(path.join(dir, 'cpu.stat'), read(path.join(dir, 'cpu.stat')).replace('usage_usec 1184023', `usage_usec ${usage}`).replace('throttled_usec 1236532', `throttled_usec ${throttled}`));
    writeFileSync(path.join(dir, 'pids.current'), `${pids}\n`);
    writeFileSync(path.join(dir, 'pids.events'), `max ${refused}\n`);
    expect(new v2.CgroupV2Manager(root, id).stats()).toEqual({
      memory: { current, peak: 64 * MiB, limit: 64 * MiB, oomKills: kills },
      cpu: { usageUsec: usage, limitCpus: 0.5, nrPeriods: 26, nrThrottled: 25, throttledUsec: throttled },
      pids: { current: pids, limit: 32, refusedForks: refused },
    });
    // No limits: "max" everywhere.
    for (const [file, value] of [['memory.max', 'max'], ['cpu.max', 'max 100000'], ['pids.max', 'max']]) writeFileSync(path.join(dir, file!), `${value}\n`);
    const unlimited = new v2.CgroupV2Manager(root, id).stats();
    expect([unlimited.memory.limit, unlimited.cpu.limitCpus, unlimited.pids.limit]).toEqual([null, null, null]);
  }, { requires: ['memory.current', 'memory.events', 'cpu.stat', 'pids.current'] });

  graded('v2.kill', 'kill() writes "1" into cgroup.kill when the kernel has it', () => {
    const root = fakeRoot();
    const cgroup = new v2.CgroupV2Manager(root, newId());
    mkdirSync(cgroup.path, { recursive: true });
    writeFileSync(path.join(cgroup.path, 'cgroup.kill'), '');
    writeFileSync(path.join(cgroup.path, 'cgroup.procs'), '');
    cgroup.kill();
    expect(read(path.join(cgroup.path, 'cgroup.kill'))).toBe('1');
  }, { requires: ['cgroup.kill'] });

  graded('v2.kill', 'without cgroup.kill (Linux < 5.14), kill() sends SIGKILL to each PID in cgroup.procs', async () => {
    const root = fakeRoot();
    const cgroup = new v2.CgroupV2Manager(root, newId());
    mkdirSync(cgroup.path, { recursive: true });
    const sleeper = spawn('sleep', ['100'], { stdio: 'ignore' });
    const ended = new Promise<NodeJS.Signals | null>((resolve) => sleeper.on('exit', (_, signal) => resolve(signal)));
    try {
      writeFileSync(path.join(cgroup.path, 'cgroup.procs'), `${sleeper.pid}\n`);
      cgroup.kill();
      expect(await ended).toBe('SIGKILL');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  /** A v1 machine: one folder per controller hierarchy, as in mountinfo-v1-hybrid.txt. */
  function fakeV1(): { root: string; mounts: Required<import('../../lessons/04-cgroups/v1.js').V1Mounts> } {
    const root = fakeRoot();
    const mounts = {
      memory: path.join(root, 'memory'), cpu: path.join(root, 'cpu'), cpuacct: path.join(root, 'cpuacct'), pids: path.join(root, 'pids'), freezer: path.join(root, 'freezer'),
      devices: path.join(root, 'devices'),
    };
    for (const mount of Object.values(mounts)) mkdirSync(mount);
    return { root, mounts };
  }

  graded('v1.apply', 'create + apply: a directory per controller; memory.limit_in_bytes, memsw = the limit, cfs quota and period, shares, pids.max', () => {
    const { mounts } = fakeV1();
    const id = newId();
    const cgroup = new v1.CgroupV1Manager(mounts, id);
    cgroup.create();
    for (const controller of ['memory', 'cpu', 'cpuacct', 'pids'] as const) expect(existsSync(path.join(mounts[controller], 'mini-docker-lab', id)), controller).toBe(true);
    const memoryDir = path.join(mounts.memory, 'mini-docker-lab', id);
    writeFileSync(path.join(memoryDir, 'memory.memsw.limit_in_bytes'), '9223372036854771712\n'); // present with swap accounting

    const memory = randomInt(6, 2048);
    const hundredths = randomInt(1, 200);
    const shares = randomInt(2, 262_145);
    const pids = randomInt(2, 100_000);
    const flags = ['--memory', `${memory}m`, '--cpus', String(hundredths / 100), '--cpu-shares', String(shares), '--pids-limit', String(pids)];
    expect(cgroup.apply(limits.parseLimitFlags(flags, 2))).toEqual([]);
    const cpuDir = path.join(mounts.cpu, 'mini-docker-lab', id);
    expect(read(path.join(memoryDir, 'memory.limit_in_bytes'))).toBe(String(memory * MiB));
    expect(read(path.join(memoryDir, 'memory.memsw.limit_in_bytes'))).toBe(String(memory * MiB));
    expect(read(path.join(cpuDir, 'cpu.cfs_period_us'))).toBe('100000');
    expect(read(path.join(cpuDir, 'cpu.cfs_quota_us'))).toBe(String(hundredths * 1000));
    expect(read(path.join(cpuDir, 'cpu.shares'))).toBe(String(shares));
    expect(read(path.join(mounts.pids, 'mini-docker-lab', id, 'pids.max'))).toBe(String(pids));
  }, { requires: ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes', 'cpu.cfs_quota_us', 'cpu.shares', 'pids.max'] });

  graded('v1.apply', 'apply: unlimited swap is -1 in memsw; without swap accounting, a warning', () => {
    const { mounts } = fakeV1();
    const cgroup = new v1.CgroupV1Manager(mounts, newId());
    cgroup.create();
    expect(cgroup.apply(limits.parseLimitFlags(['--memory', '64m', '--memory-swap', '-1', '--pids-limit', '0']))).toEqual([
      expect.stringContaining('memory.memsw.limit_in_bytes is missing'),
    ]);
    expect(read(path.join(cgroup.dirs.pids, 'pids.max'))).toBe('max');
    writeFileSync(path.join(cgroup.dirs.memory, 'memory.memsw.limit_in_bytes'), '');
    expect(cgroup.apply(limits.parseLimitFlags(['--memory', '64m', '--memory-swap', '-1']))).toEqual([]);
    expect(read(path.join(cgroup.dirs.memory, 'memory.memsw.limit_in_bytes'))).toBe('-1');
  });

  graded('v1.stats', 'stats() reads the v1 files, nanoseconds turned into microseconds, "unlimited" into null', () => {
    const { root, mounts } = fakeV1();
    const id = newId();
    for (const controller of ['memory', 'cpu', 'cpuacct', 'pids']) cpSync(path.join(FIXTURES, 'v1', controller), path.join(root, controller, 'mini-docker-lab', id), { recursive: true });
    const dir = (controller: keyof typeof mounts) => path.join(mounts[controller], 'mini-docker-lab', id);
    const [usageNs, kills, throttledNs, current, refused] = [randomInt(1, 1e9) * 1000, randomInt(1, 99), randomInt(1, 1e6) * 1000, randomInt(1, 1e9), randomInt(1, 99)];
    writeFileSync(path.join(dir('cpuacct'), 'cpuacct.usage'), `${usageNs}\n`);
    writeFileSync(path.join(dir('memory'), 'memory.oom_control'), `oom_kill_disable 0\nunder_oom 0\noom_kill ${kills}\n`);
    writeFileSync(path.join(dir('memory'), 'memory.usage_in_bytes'), `${current}\n`);
    writeFileSync(path.join(dir('cpu'), 'cpu.stat'), `nr_periods 27\nnr_throttled 19\nthrottled_time ${throttledNs}\nnr_bursts 0\nburst_time 0\n`);
    writeFileSync(path.join(dir('pids'), 'pids.events'), `max ${refused}\n`);
    expect(new v1.CgroupV1Manager(mounts, id).stats()).toEqual({
      memory: { current, peak: 64 * MiB, limit: 64 * MiB, oomKills: kills },
      cpu: { usageUsec: usageNs / 1000, limitCpus: 0.5, nrPeriods: 27, nrThrottled: 19, throttledUsec: throttledNs / 1000 },
      pids: { current: 3, limit: 32, refusedForks: refused },
    });
    writeFileSync(path.join(dir('memory'), 'memory.limit_in_bytes'), '9223372036854771712\n');
    writeFileSync(path.join(dir('cpu'), 'cpu.cfs_quota_us'), '-1\n');
    writeFileSync(path.join(dir('pids'), 'pids.max'), 'max\n');
    const unlimited = new v1.CgroupV1Manager(mounts, id).stats();
    expect([unlimited.memory.limit, unlimited.cpu.limitCpus, unlimited.pids.limit]).toEqual([null, null, null]);
  }, { requires: ['memory.usage_in_bytes', 'cpuacct.usage', 'memory.oom_control'] });

  graded('cgroup.join', 'joinCgroup writes "0" (itself) into every cgroup.procs, then unshares the cgroup namespace', () => {
    const root = fakeRoot();
    const procs = ['memory', 'cpu', 'pids'].map((controller) => path.join(root, `${controller}.procs`));
    for (const file of procs) writeFileSync(file, '');
    const plain = new RecordingSyscalls();
    manager.joinCgroup(plain, { procs });
    for (const file of procs) expect(read(file)).toBe('0');
    expect(plain.calls).toMakeSyscalls([]);

    const privateView = new RecordingSyscalls();
    manager.joinCgroup(privateView, { procs: procs.slice(0, 1), namespace: true });
    expect(privateView.calls).toMakeSyscalls([{ call: 'unshare', args: [CLONE_NEWCGROUP] }]);
    expect(() => manager.joinCgroup(new RecordingSyscalls(), { procs: [path.join(root, 'no-such-dir', 'cgroup.procs')] })).toThrow();
  }, { requires: ['cgroup.procs', 'write `0`', 'cgroup namespace'] });

  it('never mounts cgroup2 outside a cgroup namespace: that would reset the host’s cgroup2 mount options', () => {
    const root = fakeRoot();
    writeFileSync(path.join(root, 'cgroup.procs'), '');
    const sys = new RecordingSyscalls();
    expect(() => manager.joinCgroup(sys, { procs: [path.join(root, 'cgroup.procs')], mountCgroupfs: true })).toThrow('mountCgroupfs needs namespace');
    expect(sys.argsOf('mount')).toEqual([]);
  });

  it('mounts the container its own cgroup2 read-only, and refuses where the mount would reach the host', () => {
    const line = (fields: string) => `33 22 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime ${fields}- cgroup2 cgroup2 rw,nsdelegate\n`;
    const flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    // The host's cgroup2 is mounted right there: the same file system twice on one mount point is EBUSY.
    const sys = new RecordingSyscalls();
    manager.mountOwnCgroupfs(sys, line(''));
    expect(sys.calls).toMakeSyscalls([
      { call: 'umount2', args: ['/sys/fs/cgroup', MNT_DETACH] },
      { call: 'mount', args: ['cgroup2', '/sys/fs/cgroup', 'cgroup2', flags, null] },
    ]);
    const nothingThere = new RecordingSyscalls();
    manager.mountOwnCgroupfs(nothingThere, '');
    expect(nothingThere.calls).toMakeSyscalls([{ call: 'mount', args: ['cgroup2', '/sys/fs/cgroup', 'cgroup2', flags, null] }]);
    const shared = new RecordingSyscalls();
    expect(() => manager.mountOwnCgroupfs(shared, line('shared:9 '))).toThrow('refusing to mount cgroup2');
    expect(shared.calls).toMakeSyscalls([]);
  });

  it('findStaleCgroups: only empty, container-named cgroups older than the grace period', () => {
    const root = fakeV2();
    const parent = path.join(root, 'mini-docker-lab');
    const make = (name: string, procs: string, ageMs: number) => {
      mkdirSync(path.join(parent, name));
      writeFileSync(path.join(parent, name, 'cgroup.procs'), procs);
      const when = new Date(Date.now() - ageMs);
      utimesSync(path.join(parent, name), when, when);
      return path.join(parent, name);
    };
    const leftover = make(newId(), '', 120_000);
    const shortLeftover = make(newId().slice(0, 12), '', 120_000); // minidocker's containers are named by their short ID
    make(newId(), '4242\n', 120_000); // a process still in it
    make(newId(), '', 1_000); // just made: its init may be about to join
    make('someone-elses-cgroup', '', 120_000); // not named by the lab
    make('0123456789abcdef', '', 120_000); // hex, but neither length the lab uses
    const facts = { ...factsFrom('mountinfo-v2.txt'), layout: { ...factsFrom('mountinfo-v2.txt').layout, v2Mount: root } };
    expect(cgroups.findStaleCgroups(facts).sort()).toEqual([leftover, shortLeftover].sort());
    expect(cgroups.findStaleCgroups(facts, { olderThanMs: 500 })).toHaveLength(3); // with a shorter grace, the young one too
  });
});

describe('lesson 04 · the TUI’s gauges', async () => {
  const { bar, braceJoin, cpuRate, gauge } = await import('../../lessons/04-cgroups/lesson.js');

  it('draws how full a limit is, and says when there is none', () => {
    expect(bar(0.5, 10)).toBe('[█████░░░░░]');
    expect(bar(2, 4)).toBe('[████]');
    expect(gauge(16 * MiB, 64 * MiB, (bytes) => `${bytes / MiB}M`)).toBe('[█████░░░░░░░░░░░░░░░] 16M of 64M');
    expect(gauge(3, null, String)).toBe('3 (no limit)');
  });

  it('measures CPU as CPU time over wall time, in a recent window', () => {
    // 1 s of wall time, 0.5 s of CPU time: half a CPU. The first sample is older than the window.
    expect(cpuRate([[0, 0], [5000, 100], [6000, 500_100]], 2500)).toEqual({ cpus: 0.5, overMs: 1000 });
    expect(cpuRate([[0, 0]])).toBeNull();
  });

  it('writes a container’s v1 directories as one brace expansion', () => {
    const id = newId();
    expect(braceJoin(['memory', 'cpu', 'pids'].map((c) => `/sys/fs/cgroup/${c}/mini-docker-lab/${id}`))).toBe(`/sys/fs/cgroup/{memory,cpu,pids}/mini-docker-lab/${id}`);
    expect(braceJoin([`/sys/fs/cgroup/mini-docker-lab/${id}`])).toBe(`/sys/fs/cgroup/mini-docker-lab/${id}`);
  });
});

// --- real containers --------------------------------------------------------------------------------

/** Real containers are slow to start under emulation (test/vm/ runs QEMU without KVM): be patient. */
const SLOW = 180_000;

/** Which manager this machine needs: the real-container checks grade that version's exercises. */
const version: 'v1' | 'v2' = (isRoot ? cgroups.readCgroupFacts().layout.active : null) ?? 'v2';

/** A cgroup file read straight from the directories, independent of the stats() under test. */
function rawFile(cgroup: CgroupManager, name: string): string {
  const dir = cgroup.paths.find((candidate) => existsSync(path.join(candidate, name)));
  if (!dir) throw new Error(`no ${name} in ${cgroup.paths.join(', ')}`);
  return read(path.join(dir, name));
}
const rawKeyed = (cgroup: CgroupManager, name: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(rawFile(cgroup, name))?.[1] ?? NaN);
const rawCpuUsageUsec = (cgroup: CgroupManager) =>
  version === 'v2' ? rawKeyed(cgroup, 'cpu.stat', 'usage_usec') : Number(rawFile(cgroup, 'cpuacct.usage')) / 1000;
const rawOomKills = (cgroup: CgroupManager) => rawKeyed(cgroup, version === 'v2' ? 'memory.events' : 'memory.oom_control', 'oom_kill');
const rawProcs = (cgroup: { paths: string[] }) => [...new Set(cgroup.paths.flatMap((dir) => read(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean).map(Number)))];

describeAsRoot(`lesson 04 · real containers, on this machine’s cgroup ${version}`, () => {
  const running: LimitedContainer[] = [];
  afterEach(async () => {
    const ending = running.splice(0);
    await Promise.all(ending.map((limited) => limited.destroy()));
    for (const limited of ending) for (const dir of limited.cgroup.paths) expect(existsSync(dir), `${dir} removed`).toBe(false);
  });

  const options = (extra: Partial<Omit<import('../../lessons/04-cgroups/cgroups.js').LimitOptions, 'registry'>> = {}) =>
    ({ registry, stdio: ['ignore', 'pipe', 'pipe'] as CreateOptions['stdio'], bundle: bundleUnderTest(), ...extra });

  /** Starts `args` with Docker-style flags, and collects its output as it comes. */
  async function run(flags: string[], args: string[], extra: Parameters<typeof options>[0] = {}) {
    const limited = await cgroups.startLimitedContainer(args, limits.parseLimitFlags(flags), options(extra));
    running.push(limited);
    const output = { stdout: '', stderr: '' };
    limited.container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
    limited.container.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
    return { limited, cgroup: limited.cgroup, output };
  }

  graded(`${version}.apply`, 'the limits land in the cgroup’s files, named after the container ID', async () => {
    const memory = randomInt(6, 512);
    const hundredths = randomInt(1, 200);
    const shares = randomInt(2, 262_145);
    const pids = randomInt(8, 4096);
    const { limited, cgroup } = await run(['--memory', `${memory}m`, '--cpus', String(hundredths / 100), '--cpu-shares', String(shares), '--pids-limit', String(pids)], ['sleep', '1000']);
    expect(cgroup.paths.every((dir) => dir.endsWith(`/mini-docker-lab/${limited.container.plan.id}`))).toBe(true);
    if (version === 'v2') {
      expect(rawFile(cgroup, 'memory.max')).toBe(String(memory * MiB));
      expect(rawFile(cgroup, 'memory.swap.max')).toBe('0');
      expect(rawFile(cgroup, 'cpu.max')).toBe(`${hundredths * 1000} 100000`);
      expect(rawFile(cgroup, 'cpu.weight')).toBe(String(expectedWeight(shares)));
    } else {
      expect(rawFile(cgroup, 'memory.limit_in_bytes')).toBe(String(memory * MiB));
      if (existsSync(path.join(cgroup.paths[0]!, 'memory.memsw.limit_in_bytes'))) expect(rawFile(cgroup, 'memory.memsw.limit_in_bytes')).toBe(String(memory * MiB));
      expect(rawFile(cgroup, 'cpu.cfs_quota_us')).toBe(String(hundredths * 1000));
      expect(rawFile(cgroup, 'cpu.cfs_period_us')).toBe('100000');
      expect(rawFile(cgroup, 'cpu.shares')).toBe(String(shares));
    }
    expect(rawFile(cgroup, 'pids.max')).toBe(String(pids));
  }, SLOW);

  graded(`${version}.apply`, 'memory: a workload that allocates past --memory 64m is OOM-killed (137), and oom_kill counts it', async () => {
    // dd allocates a 200 MiB buffer and fills it from /dev/zero: every page of it is touched and charged.
    const { cgroup, output } = await run(['--memory', '64m'], ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; echo "dd: $?"; exec sleep 1000']);
    await eventually(() => output.stdout.includes('dd: '), 60_000, 'dd to end');
    expect(output.stdout.trim()).toBe('dd: 137'); // 128 + SIGKILL: the OOM killer's signal
    expect(rawOomKills(cgroup)).toBe(1);
    expect(rawFile(cgroup, version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes')).toBe(String(64 * MiB));
  }, SLOW);

  graded(`${version}.stats`, 'memory: the OOM-killed container exits 137, and its final stats show the kill and the limit', async () => {
    const { limited } = await run(['--memory', '64m'], ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=200M', 'count=1']);
    const { status, stats } = await limited.ended;
    expect(status.exitCode).toBe(137);
    expect(stats.memory.oomKills).toBe(1);
    expect(stats.memory.limit).toBe(64 * MiB);
    for (const dir of limited.cgroup.paths) expect(existsSync(dir), `${dir} removed after the exit`).toBe(false);
  }, SLOW);

  graded(`${version}.apply`, 'cpu: a busy loop under --cpus 0.5 gets about half a CPU, and is throttled', async () => {
    const { cgroup } = await run(['--cpus', '0.5'], ['sh', '-c', 'while :; do :; done']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [usage0, time0] = [rawCpuUsageUsec(cgroup), performance.now()];
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const [usage1, time1] = [rawCpuUsageUsec(cgroup), performance.now()];
    const cpus = (usage1 - usage0) / ((time1 - time0) * 1000);
    // Unthrottled, the loop would take a whole CPU (1.0). The band is wide: the machine may be busy.
    expect(cpus).toBeGreaterThan(0.3);
    expect(cpus).toBeLessThan(0.7);
    expect(rawKeyed(cgroup, 'cpu.stat', 'nr_throttled')).toBeGreaterThan(0);
  }, SLOW);

  graded(`${version}.apply`, 'pids: a fork bomb stops at --pids-limit 32, the host can still start processes, and all of it is killed', async () => {
    const bomb = 'while :; do sleep 1000 & done'; // forks until fork() fails; then this shell gives up
    const { limited, cgroup, output } = await run(['--pids-limit', '32'], ['sh', '-c', `sh -c "${bomb}"; echo "fork refused"; exec sleep 1000`]);
    await eventually(() => output.stdout.includes('fork refused'), 60_000, 'the bomb to hit the limit');
    expect(output.stderr).toContain('Cannot fork');
    const members = rawProcs(cgroup);
    expect(members).toHaveLength(31); // PID 1 and 30 sleeps: the 32nd was the bomb's own shell, gone now
    expect(Number(rawFile(cgroup, 'pids.current'))).toBeLessThanOrEqual(32);
    expect(rawKeyed(cgroup, 'pids.events', 'max')).toBeGreaterThan(0);
    // The host is not affected: it starts twice the container's limit of processes at once.
    expect(execFileSync('sh', ['-c', 'for i in $(seq 64); do sleep 0.1 & done; wait; echo host ok'], { encoding: 'utf8' }).trim()).toBe('host ok');
    await limited.destroy();
    await eventually(() => members.every((pid) => !isRunning(pid)), 60_000, 'every process of the bomb gone');
  }, SLOW);

  graded(`${version}.stats`, 'stats() of a running container: its limits, its two processes, memory and CPU in use', async () => {
    const memory = randomInt(6, 512);
    const pids = randomInt(8, 4096);
    const { cgroup } = await run(['--memory', `${memory}m`, '--cpus', '0.25', '--pids-limit', String(pids)], ['sh', '-c', 'sleep 1000 & exec sleep 1000']);
    await eventually(() => rawProcs(cgroup).length === 2, 60_000, 'two processes');
    const stats = cgroup.stats();
    expect(stats.memory.limit).toBe(memory * MiB);
    expect(stats.memory.current).toBeGreaterThan(0);
    expect(stats.cpu.limitCpus).toBe(0.25);
    expect(stats.cpu.usageUsec).toBeGreaterThan(0);
    expect(stats.pids).toEqual({ current: 2, limit: pids, refusedForks: 0 });
    expect(stats.memory.oomKills).toBe(0);
  }, SLOW);

  graded('cgroup.join', 'at the ready barrier — before the command runs — init is already in the cgroup', async () => {
    const limited = await cgroups.createLimitedContainer(['sleep', '1000'], limits.parseLimitFlags(['--pids-limit', '64']), options());
    running.push(limited);
    expect(rawProcs(limited.cgroup)).toEqual([limited.container.pid]);
    expect(readFileSync(`/proc/${limited.container.pid}/cgroup`, 'utf8')).toContain(`/mini-docker-lab/${limited.id}`);
    await limited.container.start();
    expect(rawProcs(limited.cgroup)).toEqual([limited.container.pid]);
  }, SLOW);

  graded('cgroup.join', 'the command starts inside its cgroup: /proc/self/cgroup, read first thing, names it', async () => {
    const { limited, output } = await run(['--memory', '64m'], ['cat', '/proc/self/cgroup'], { cgroupns: 'host' });
    await limited.ended;
    const lines = output.stdout.trim().split('\n');
    const suffix = `/mini-docker-lab/${limited.container.plan.id}`;
    if (version === 'v2') expect(lines).toContain(`0::${suffix}`);
    else for (const controller of ['memory', 'cpu', 'pids']) expect(lines.some((line) => new RegExp(`^\\d+:([\\w,]*,)?${controller}(,[\\w,]*)?:${suffix}$`).test(line)), controller).toBe(true);
  }, SLOW);

  graded('cgroup.join', 'limits hold from the first instruction: under --pids-limit 1 the command’s first fork is refused', async () => {
    const { limited, output } = await run(['--pids-limit', '1'], ['sh', '-c', '(true) && echo forked']);
    const { status } = await limited.ended;
    expect(output.stdout).not.toContain('forked');
    expect(output.stderr).toContain('Cannot fork');
    expect(status.exitCode).toBe(2);
  }, SLOW);

  graded('cgroup.join', 'with a private cgroup namespace the container sees its cgroup as "/" while the host sees the full path', async () => {
    const memory = randomInt(6, 512);
    const script = version === 'v2' ? 'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max' : 'cat /proc/self/cgroup';
    const { limited, output } = await run(['--memory', `${memory}m`], ['sh', '-c', `${script}; exec sleep 1000`], { cgroupns: 'private' });
    await eventually(() => output.stdout.split('\n').length > (version === 'v2' ? 2 : 3), 60_000, 'the output');
    const lines = output.stdout.trim().split('\n');
    if (version === 'v2') {
      expect(lines[0]).toBe('0::/');
      expect(lines[1]).toBe(String(memory * MiB)); // /sys/fs/cgroup inside is the container's own cgroup
    } else {
      expect(lines.find((line) => /^\d+:memory:/.test(line))).toMatch(/:memory:\/$/);
    }
    expect(readFileSync(`/proc/${limited.container.pid}/cgroup`, 'utf8')).toContain(`/mini-docker-lab/${limited.container.plan.id}`);
  }, SLOW);

  it('removes the cgroup when the command ends by itself', async () => {
    const { limited } = await run(['--pids-limit', '8'], ['true']);
    expect((await limited.ended).status.exitCode).toBe(0);
    for (const dir of limited.cgroup.paths) expect(existsSync(dir), dir).toBe(false);
  }, SLOW);

  it('after kill -9 of the runtime the container dies and its empty cgroup stays; the next start removes it', async () => {
    // A separate runtime process starts a limited container, prints its PID and cgroup, and waits.
    const script = `
      const { startLimitedContainer } = await import(${JSON.stringify(pathToFileURL(lessonFile('04-cgroups', 'cgroups.ts')).href)});
      const { registry } = await import(${JSON.stringify(pathToFileURL(path.resolve('lessons/registry.ts')).href)});
      const limited = await startLimitedContainer(['sleep', '600'], { pids: { limit: 16 } }, { registry, stdio: 'ignore', bundle: ${JSON.stringify(bundleUnderTest())} });
      console.log(JSON.stringify({ pid: limited.container.pid, paths: limited.cgroup.paths }));
      setInterval(() => {}, 1000);`;
    const runtime = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let leftover: string[] = [];
    try {
      const line = await new Promise<string>((resolve, reject) => {
        runtime.stdout!.once('data', (chunk) => resolve(String(chunk)));
        runtime.once('exit', (code) => reject(new Error(`runtime exited with ${code}`)));
      });
      const { pid, paths } = JSON.parse(line) as { pid: number; paths: string[] };
      leftover = paths;
      expect(rawProcs({ paths })).toEqual([pid]);
      runtime.kill('SIGKILL');
      await eventually(() => !isRunning(pid), 60_000, 'the container to die with its runtime');
      await eventually(() => paths.every((dir) => read(path.join(dir, 'cgroup.procs')) === ''), 60_000, 'the cgroup to empty');
      expect(paths.every((dir) => existsSync(dir))).toBe(true); // left behind: nobody removed it
      const facts = cgroups.readCgroupFacts();
      expect(cgroups.findStaleCgroups(facts)).not.toContain(paths[0]); // too young: it might be another runtime's, being set up
      const longAgo = new Date(Date.now() - 5 * 60_000);
      for (const dir of paths) utimesSync(dir, longAgo, longAgo);
      expect(cgroups.findStaleCgroups(facts)).toEqual(expect.arrayContaining(paths));
      const { limited } = await run(['--pids-limit', '8'], ['sleep', '1000']); // the next start cleans up first
      for (const dir of paths) expect(existsSync(dir), `${dir} removed by the next start`).toBe(false);
      for (const dir of limited.cgroup.paths) expect(existsSync(dir), 'the new container keeps its own').toBe(true);
    } finally {
      runtime.kill('SIGKILL');
      for (const dir of leftover) if (existsSync(dir)) await manager.removeCgroupDir(dir).catch(() => {});
    }
  }, SLOW);
});
