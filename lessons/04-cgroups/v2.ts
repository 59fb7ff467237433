/**
 * Lesson 04 — the cgroup v2 manager: one hierarchy, one directory per container.
 *
 * On cgroup v2 (Ubuntu ≥ 21.10, Debian ≥ 11) /sys/fs/cgroup is a single tree. Every controller is
 * available everywhere in it, but only where the parent has switched it on for its children: each
 * cgroup's `cgroup.subtree_control` lists the controllers its children get, and a child can only list
 * what its parent handed down (the "top-down constraint" of Documentation/admin-guide/cgroup-v2.rst).
 * So the lab makes a parent, /sys/fs/cgroup/mini-docker-lab, enables cpu, memory and pids in the
 * root's and the parent's subtree_control, and gives each container a child named after its ID —
 * runc's libcontainer/cgroups/fs2 does the same for Docker's cgroupfs driver.
 *
 * The files (cgroup-v2.rst, "Controllers"):
 *   memory.max          the hard limit; over it the kernel reclaims, then OOM-kills
 *   memory.swap.max     swap the cgroup may use on top; 0 = none
 *   cpu.max             "QUOTA PERIOD" in µs: "50000 100000" = half a CPU; "max 100000" = unlimited
 *   cpu.weight          share under contention, 1–10000, default 100
 *   pids.max            the most tasks (processes + threads)
 *   memory.current, memory.peak, memory.events (oom_kill), cpu.stat, pids.current, pids.events: usage
 *   cgroup.kill         (Linux 5.14+) write "1" and every process in the cgroup gets SIGKILL
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { LAB_CONTROLLERS, parseControllerList } from '../../src/sys/cgroupfs.js';
import { sharesToWeight, swapForCgroupV2, type Resources } from './limits.js';
import {
  CgroupSetupError, LAB_PARENT, killAll, makeChildCgroup, parseFlatKeyed, parseProcs, readCgroupFile, readNumber, removeCgroupDir, removeParentIfEmpty, writeCgroupFile,
  type CgroupJoinConfig, type CgroupManager, type CgroupStats,
} from './manager.js';

export class CgroupV2Manager implements CgroupManager {
  readonly version = 'v2' as const;
  /** The container's cgroup: <mount>/<parent>/<name>, by default <mount>/mini-docker-lab/<ID>. */
  readonly path: string;

  constructor(
    /** Where the cgroup2 hierarchy is mounted: /sys/fs/cgroup. */
    readonly mount: string,
    readonly name: string,
    readonly parent: string = LAB_PARENT,
  ) {
    this.path = path.join(mount, parent, name);
  }

  get paths(): string[] {
    return [this.path];
  }

  private file(name: string): string {
    return path.join(this.path, name);
  }

  create(): void {
    // Controllers flow downwards: the root hands them to the lab's parent, the parent to each container
    // (and each folder of a deeper parent, from an engine's cgroupsPath, to the next).
    enableControllers(this.mount, LAB_CONTROLLERS);
    makeChildCgroup(
      this.path,
      () => {
        let dir = this.mount;
        for (const folder of this.parent.split('/').filter(Boolean)) {
          dir = path.join(dir, folder);
          mkdirSync(dir, { recursive: true });
          enableControllers(dir, LAB_CONTROLLERS);
        }
      },
      () => new CgroupSetupError(`a cgroup for container ${this.name} already exists: ${this.path}`),
    );
  }

  apply(resources: Resources): string[] {
    const warnings: string[] = [];
    // EXERCISE(v2.apply): Write the resources into the cgroup v2 files memory.max, memory.swap.max, cpu.max, cpu.weight and pids.max — only those that are set.
    // HINT: this.file(name) is the path of a file of this cgroup, and writeCgroupFile(path, value) writes it. Only what is set in `resources` is written; -1 (unlimited) is written as "max".
    // HINT: memory.swap.max takes the swap alone: swapForCgroupV2(resources.memory); without swap accounting the file is missing, then push a warning instead. cpu.max is one line "QUOTA PERIOD"; cpu.weight comes from sharesToWeight.
    // HINT: The kernel's Documentation/admin-guide/cgroup-v2.rst: the memory.max, memory.swap.max, cpu.max, cpu.weight and pids.max entries.
    const { memory, cpu, pids } = resources;
    if (memory) {
      writeCgroupFile(this.file('memory.max'), memory.limit);
      const swap = swapForCgroupV2(memory);
      if (existsSync(this.file('memory.swap.max'))) writeCgroupFile(this.file('memory.swap.max'), swap === -1 ? 'max' : swap);
      else warnings.push('memory.swap.max is missing (no swap accounting): swap is not limited, and it can hide the memory limit');
    }
    if (cpu?.quota !== undefined) writeCgroupFile(this.file('cpu.max'), `${cpu.quota} ${cpu.period ?? 100_000}`);
    if (cpu?.shares !== undefined) writeCgroupFile(this.file('cpu.weight'), sharesToWeight(cpu.shares));
    if (pids) writeCgroupFile(this.file('pids.max'), pids.limit === -1 ? 'max' : pids.limit);
    // END EXERCISE
    return warnings;
  }

  update(resources: Resources): string[] {
    return this.apply(resources); // v2's files are independent of each other: any order works
  }

  joinConfig(options: { namespace?: boolean; mountCgroupfs?: boolean } = {}): CgroupJoinConfig {
    return { procs: [this.file('cgroup.procs')], ...options };
  }

  stats(): CgroupStats {
    // EXERCISE(v2.stats): Read the cgroup's usage and limits: memory.current, memory.peak, memory.max, memory.events, cpu.stat, cpu.max, pids.current, pids.max, pids.events.
    // HINT: Single numbers: readNumber(this.file('memory.current')) — it gives null for "max" and for a missing file. "key value" files: parseFlatKeyed(readCgroupFile(...)).get(key).
    // HINT: cpu.stat has usage_usec, nr_periods, nr_throttled, throttled_usec; memory.events has oom_kill; pids.events has max (refused forks). Missing keys count as 0. cpu.max is "QUOTA PERIOD" or "max PERIOD": limitCpus is quota / period, or null for "max".
    // HINT: The kernel's Documentation/admin-guide/cgroup-v2.rst, "Memory Interface Files", "CPU Interface Files" and "PID Interface Files".
    const memoryEvents = parseFlatKeyed(readCgroupFile(this.file('memory.events')));
    const cpuStat = parseFlatKeyed(readCgroupFile(this.file('cpu.stat')));
    const pidsEvents = parseFlatKeyed(readCgroupFile(this.file('pids.events')));
    const [quota = 'max', period = '100000'] = (readCgroupFile(this.file('cpu.max')) ?? 'max').split(/\s+/);
    return {
      memory: {
        current: readNumber(this.file('memory.current')) ?? 0,
        peak: readNumber(this.file('memory.peak')),
        limit: readNumber(this.file('memory.max')),
        oomKills: memoryEvents.get('oom_kill') ?? 0,
      },
      cpu: {
        usageUsec: cpuStat.get('usage_usec') ?? 0,
        limitCpus: quota === 'max' ? null : Number(quota) / Number(period),
        nrPeriods: cpuStat.get('nr_periods') ?? 0,
        nrThrottled: cpuStat.get('nr_throttled') ?? 0,
        throttledUsec: cpuStat.get('throttled_usec') ?? 0,
      },
      pids: {
        current: readNumber(this.file('pids.current')) ?? 0,
        limit: readNumber(this.file('pids.max')),
        refusedForks: pidsEvents.get('max') ?? 0,
      },
    };
    // END EXERCISE
  }

  pids(): number[] {
    return parseProcs(readCgroupFile(this.file('cgroup.procs')));
  }

  files(): { limits: string[]; usage: string[] } {
    return {
      limits: ['memory.max', 'memory.swap.max', 'cpu.max', 'cpu.weight', 'pids.max'].map((name) => this.file(name)),
      usage: ['memory.current', 'memory.peak', 'memory.events', 'cpu.stat', 'pids.current', 'pids.events'].map((name) => this.file(name)),
    };
  }

  kill(): void {
    // EXERCISE(v2.kill): Kill every process in the cgroup: with cgroup.kill where the kernel has it (5.14+), else one SIGKILL per PID of cgroup.procs.
    // HINT: Newer kernels kill a whole cgroup with one write; older ones need one signal per process.
    // HINT: existsSync(this.file('cgroup.kill')) tells which kernel you have; writing 1 there kills everything, processes forked meanwhile included. Otherwise SIGKILL each PID of this.pids() (killAll does).
    // HINT: The kernel's Documentation/admin-guide/cgroup-v2.rst, cgroup.kill (Linux 5.14).
    if (existsSync(this.file('cgroup.kill'))) writeCgroupFile(this.file('cgroup.kill'), 1);
    else killAll(this.pids());
    // END EXERCISE
  }

  async setFrozen(frozen: boolean): Promise<void> {
    // Writing cgroup.freeze asks; the kernel freezes each task at its next safe point and says so in
    // cgroup.events ("frozen 1"), as runc waits for it (cgroup-v2.rst, "cgroup.freeze").
    writeCgroupFile(this.file('cgroup.freeze'), frozen ? 1 : 0);
    const deadline = Date.now() + 5000;
    while (this.isFrozen() !== frozen) {
      if (Date.now() > deadline) throw new CgroupSetupError(`cgroup ${this.path} did not ${frozen ? 'freeze' : 'thaw'} within 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  isFrozen(): boolean {
    if (!existsSync(this.path)) return false;
    return parseFlatKeyed(readCgroupFile(this.file('cgroup.events'))).get('frozen') === 1;
  }

  async destroy(): Promise<void> {
    if (!existsSync(this.path)) return;
    try {
      this.kill();
    } catch (error) {
      if (!existsSync(this.path)) return; // removed meanwhile by another destroy()
      throw error;
    }
    // Without cgroup.kill, a process may fork between reading cgroup.procs and the kill: kill again.
    await removeCgroupDir(this.path, { beforeRetry: () => this.kill() });
    removeParentIfEmpty(this.path);
  }
}

/**
 * Makes `wanted` controllers available to the children of `dir` by writing "+cpu +memory ..." into its
 * cgroup.subtree_control. Only the missing ones are written; the kernel takes the list all or nothing.
 */
export function enableControllers(dir: string, wanted: readonly string[]): void {
  const available = parseControllerList(readCgroupFile(path.join(dir, 'cgroup.controllers'))) ?? [];
  const unavailable = wanted.filter((name) => !available.includes(name));
  if (unavailable.length > 0) {
    throw new CgroupSetupError(
      `the ${unavailable.join(', ')} controller${unavailable.length > 1 ? 's are' : ' is'} not available in ${dir} (not in its cgroup.controllers): ` +
        'the cgroup above it has not delegated it. Run `npm run doctor` for the fix',
    );
  }
  // EXERCISE(v2.enable): Enable the wanted controllers for the children of dir: write the ones not yet in its cgroup.subtree_control, as "+cpu +memory +pids".
  // HINT: cgroup.subtree_control lists the controllers the children of dir may use; only the missing ones need writing.
  // HINT: Read the list (parseControllerList), work out what is missing, and if anything is, write it in ONE write as "+cpu +memory"; when that write fails, throw what explainSubtreeControlError makes of the error (it also wants the folder and the missing list).
  // HINT: The kernel's Documentation/admin-guide/cgroup-v2.rst, "Enabling and Disabling" and "No Internal Process Constraint".
  const subtreeControl = path.join(dir, 'cgroup.subtree_control');
  const enabled = parseControllerList(readCgroupFile(subtreeControl)) ?? [];
  const missing = wanted.filter((name) => !enabled.includes(name));
  if (missing.length === 0) return;
  try {
    writeCgroupFile(subtreeControl, missing.map((name) => `+${name}`).join(' '));
  } catch (error) {
    throw explainSubtreeControlError(dir, missing, error);
  }
  // END EXERCISE
}

/**
 * Why the kernel refused to enable controllers, in words. The usual reason on unusual machines is the
 * "no internal processes" rule (cgroup-v2.rst): a cgroup other than the root may either contain
 * processes or distribute controllers to children, never both. Inside a container (docker-in-docker,
 * a CI runner) /sys/fs/cgroup is the container's own cgroup — and its processes sit right in it.
 */
export function explainSubtreeControlError(dir: string, controllers: readonly string[], error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const pids = parseProcs(readCgroupFile(path.join(dir, 'cgroup.procs')));
  if (code === 'EBUSY' && pids.length > 0) {
    return new CgroupSetupError(
      `cannot enable ${controllers.join(', ')} in ${dir}/cgroup.subtree_control: ${dir} has processes in it (${pids.length} in cgroup.procs), ` +
        'and cgroup v2 lets a cgroup either hold processes or hand controllers to child cgroups, not both (the "no internal processes" rule). ' +
        'This happens inside a container. Move those processes into a child cgroup first, as docker-in-docker does: ' +
        `\`mkdir -p ${dir}/init && for p in $(cat ${dir}/cgroup.procs); do echo $p > ${dir}/init/cgroup.procs; done\` — or run the lab on a VM`,
    );
  }
  if (code === 'EINVAL' && controllers.includes('cpu')) {
    return new CgroupSetupError(
      `cannot enable cpu in ${dir}/cgroup.subtree_control (EINVAL): cgroup v2 refuses the cpu controller while a realtime process sits outside the root cgroup. ` +
        'Find it with `ps -eLo pid,cls,comm | grep -v TS` and move it to the root cgroup, or run the lab on a VM',
    );
  }
  return new CgroupSetupError(`cannot enable ${controllers.join(', ')} in ${dir}/cgroup.subtree_control: ${(error as Error).message}`);
}
