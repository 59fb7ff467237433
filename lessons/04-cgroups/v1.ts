/**
 * Lesson 04 — the cgroup v1 manager: one hierarchy PER CONTROLLER, one directory in each.
 *
 * cgroup v1 (2008) mounts each controller as a file system of its own: /sys/fs/cgroup/memory,
 * /sys/fs/cgroup/cpu (often co-mounted with cpuacct as "cpu,cpuacct"), /sys/fs/cgroup/pids ... Each
 * is a separate tree, so a container gets one directory in each tree, and its process has to be
 * written into the cgroup.procs of every one. There is no subtree_control and no "no internal
 * processes" rule: a controller works in every directory of its tree. runc's libcontainer/cgroups/fs
 * is the equivalent (a "subsystem" per controller, each with its own path).
 *
 * The files (Documentation/admin-guide/cgroup-v1/):
 *   memory.limit_in_bytes          the memory limit
 *   memory.memsw.limit_in_bytes    memory + swap (only with swap accounting): = the limit means no swap
 *   memory.usage_in_bytes, memory.max_usage_in_bytes, memory.failcnt (times the limit was hit)
 *   memory.oom_control             oom_kill_disable, under_oom, oom_kill (a count, Linux 4.13+)
 *   cpu.cfs_quota_us / cpu.cfs_period_us   "50000" of "100000" = half a CPU; quota -1 = unlimited
 *   cpu.shares                     weight under contention, default 1024
 *   cpu.stat                       nr_periods, nr_throttled, throttled_time (ns)
 *   cpuacct.usage                  CPU time used, in nanoseconds
 *   pids.max, pids.current, pids.events
 *   freezer.state                  THAWED, FREEZING or FROZEN: `docker pause` (cgroup-v1/freezer-subsystem.rst)
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Resources } from './limits.js';
import {
  CgroupSetupError, LAB_PARENT, killAll, makeChildCgroup, parseFlatKeyed, parseProcs, readCgroupFile, readNumber, removeCgroupDir, removeParentIfEmpty, writeCgroupFile,
  type CgroupJoinConfig, type CgroupManager, type CgroupStats,
} from './manager.js';

/** Where each controller's hierarchy is mounted. cpu and cpuacct may share one mount point. */
export interface V1Mounts {
  memory: string;
  cpu: string;
  pids: string;
  /** CPU usage accounting; without it the usage reads as 0. */
  cpuacct?: string;
  /** The freezer, for pause; without it a container cannot be paused. */
  freezer?: string;
  /** The devices controller: lesson 07 makes the container's folder there, for its device rules. */
  devices?: string;
}

/**
 * v1 reports "no limit" as the largest page-aligned counter: 9223372036854771712 on 4 KiB pages
 * (PAGE_COUNTER_MAX × PAGE_SIZE). Anything this large is not a real limit.
 */
const V1_UNLIMITED = 2 ** 62;

export class CgroupV1Manager implements CgroupManager {
  readonly version = 'v1' as const;
  /** The container's directory in each controller's hierarchy, e.g. memory → /sys/fs/cgroup/memory/mini-docker-lab/<ID>. */
  readonly dirs: { memory: string; cpu: string; pids: string; cpuacct: string | null; freezer: string | null };

  constructor(
    readonly mounts: V1Mounts,
    readonly name: string,
    readonly parent: string = LAB_PARENT,
  ) {
    const dir = (mount: string) => path.join(mount, parent, name);
    this.dirs = {
      memory: dir(mounts.memory), cpu: dir(mounts.cpu), pids: dir(mounts.pids),
      cpuacct: mounts.cpuacct ? dir(mounts.cpuacct) : null, freezer: mounts.freezer ? dir(mounts.freezer) : null,
    };
  }

  /** Each directory once: co-mounted controllers ("cpu,cpuacct") share one. */
  get paths(): string[] {
    return [...new Set([this.dirs.memory, this.dirs.cpu, this.dirs.cpuacct, this.dirs.pids, this.dirs.freezer].filter((dir) => dir !== null))];
  }

  create(): void {
    for (const dir of this.paths) {
      makeChildCgroup(
        dir,
        () => mkdirSync(path.dirname(dir), { recursive: true }),
        () => new CgroupSetupError(`a cgroup for container ${this.name} already exists: ${dir}`),
      );
    }
  }

  apply(resources: Resources): string[] {
    const warnings: string[] = [];
    const { memory, cpu, pids } = resources;
    // EXERCISE(v1.apply): Write the resources into the cgroup v1 files, each in its controller's directory: memory.limit_in_bytes and memory.memsw.limit_in_bytes, cpu.cfs_period_us and cpu.cfs_quota_us, cpu.shares, pids.max.
    // HINT: Each controller has its own directory: path.join(this.dirs.memory, 'memory.limit_in_bytes'), path.join(this.dirs.cpu, 'cpu.cfs_quota_us') ... and writeCgroupFile(file, value) writes one.
    // HINT: memory.memsw.limit_in_bytes takes memory PLUS swap — exactly resources.memory.swap (-1 = unlimited) — and must be written after the memory limit (the kernel wants memsw ≥ limit at all times); without swap accounting it is missing: push a warning. Write cpu.cfs_period_us before cpu.cfs_quota_us; pids.max takes the number, or "max" for -1.
    // HINT: The kernel's Documentation/admin-guide/cgroup-v1/memory.rst (memsw), scheduler/sched-bwc.rst (cfs_quota_us) and cgroup-v1/pids.rst.
    if (memory) {
      writeCgroupFile(path.join(this.dirs.memory, 'memory.limit_in_bytes'), memory.limit);
      const memsw = path.join(this.dirs.memory, 'memory.memsw.limit_in_bytes');
      if (existsSync(memsw)) writeCgroupFile(memsw, memory.swap);
      else warnings.push('memory.memsw.limit_in_bytes is missing (no swap accounting): swap is not limited, and it can hide the memory limit');
    }
    if (cpu?.quota !== undefined) {
      writeCgroupFile(path.join(this.dirs.cpu, 'cpu.cfs_period_us'), cpu.period ?? 100_000);
      writeCgroupFile(path.join(this.dirs.cpu, 'cpu.cfs_quota_us'), cpu.quota);
    }
    if (cpu?.shares !== undefined) writeCgroupFile(path.join(this.dirs.cpu, 'cpu.shares'), cpu.shares);
    if (pids) writeCgroupFile(path.join(this.dirs.pids, 'pids.max'), pids.limit === -1 ? 'max' : pids.limit);
    // END EXERCISE
    return warnings;
  }

  update(resources: Resources): string[] {
    // v1 wants memory.memsw.limit_in_bytes ≥ memory.limit_in_bytes at every moment (memory.rst): raising
    // the limit past the old memsw would be refused. memsw is lifted first; apply() then writes both in order.
    const memsw = path.join(this.dirs.memory, 'memory.memsw.limit_in_bytes');
    if (resources.memory && existsSync(memsw)) writeCgroupFile(memsw, -1);
    return this.apply(resources);
  }

  joinConfig(options: { namespace?: boolean; mountCgroupfs?: boolean } = {}): CgroupJoinConfig {
    const devices = this.mounts.devices ? [path.join(this.mounts.devices, this.parent, this.name, 'cgroup.procs')] : [];
    return { procs: this.paths.map((dir) => path.join(dir, 'cgroup.procs')), ...(devices.length ? { joinIfPresent: devices } : {}), ...options };
  }

  stats(): CgroupStats {
    // EXERCISE(v1.stats): Read usage and limits from the v1 files: memory.usage_in_bytes, memory.max_usage_in_bytes, memory.limit_in_bytes, memory.oom_control, cpuacct.usage, cpu.cfs_quota_us, cpu.cfs_period_us, cpu.stat, pids.current, pids.max, pids.events.
    // HINT: v1 counts CPU time in NANOseconds (cpuacct.usage, cpu.stat's throttled_time): divide by 1000 for µs. Without a cpuacct directory (this.dirs.cpuacct null) the usage is 0.
    // HINT: "No limit" reads as a huge number in memory.limit_in_bytes (≥ V1_UNLIMITED) and as -1 in cpu.cfs_quota_us: both mean null; pids.max says "max". The OOM kill count is the oom_kill line of memory.oom_control.
    // HINT: The kernel's Documentation/admin-guide/cgroup-v1/memory.rst and cpuacct.rst, and scheduler/sched-bwc.rst for cpu.stat.
    const memoryFile = (name: string) => path.join(this.dirs.memory, name);
    const cpuFile = (name: string) => path.join(this.dirs.cpu, name);
    const pidsFile = (name: string) => path.join(this.dirs.pids, name);
    const limit = readNumber(memoryFile('memory.limit_in_bytes'));
    const quota = readNumber(cpuFile('cpu.cfs_quota_us')) ?? -1;
    const period = readNumber(cpuFile('cpu.cfs_period_us')) ?? 100_000;
    const cpuStat = parseFlatKeyed(readCgroupFile(cpuFile('cpu.stat')));
    const usageNs = this.dirs.cpuacct ? (readNumber(path.join(this.dirs.cpuacct, 'cpuacct.usage')) ?? 0) : 0;
    return {
      memory: {
        current: readNumber(memoryFile('memory.usage_in_bytes')) ?? 0,
        peak: readNumber(memoryFile('memory.max_usage_in_bytes')),
        limit: limit === null || limit >= V1_UNLIMITED ? null : limit,
        oomKills: parseFlatKeyed(readCgroupFile(memoryFile('memory.oom_control'))).get('oom_kill') ?? 0,
      },
      cpu: {
        usageUsec: Math.round(usageNs / 1000),
        limitCpus: quota < 0 ? null : quota / period,
        nrPeriods: cpuStat.get('nr_periods') ?? 0,
        nrThrottled: cpuStat.get('nr_throttled') ?? 0,
        throttledUsec: Math.round((cpuStat.get('throttled_time') ?? 0) / 1000),
      },
      pids: {
        current: readNumber(pidsFile('pids.current')) ?? 0,
        limit: readNumber(pidsFile('pids.max')),
        refusedForks: parseFlatKeyed(readCgroupFile(pidsFile('pids.events'))).get('max') ?? 0,
      },
    };
    // END EXERCISE
  }

  pids(): number[] {
    const all = this.paths.flatMap((dir) => parseProcs(readCgroupFile(path.join(dir, 'cgroup.procs'))));
    return [...new Set(all)].sort((a, b) => a - b);
  }

  files(): { limits: string[]; usage: string[] } {
    const { memory, cpu, pids, cpuacct } = this.dirs;
    return {
      limits: [
        path.join(memory, 'memory.limit_in_bytes'), path.join(memory, 'memory.memsw.limit_in_bytes'),
        path.join(cpu, 'cpu.cfs_quota_us'), path.join(cpu, 'cpu.cfs_period_us'), path.join(cpu, 'cpu.shares'),
        path.join(pids, 'pids.max'),
      ],
      usage: [
        path.join(memory, 'memory.usage_in_bytes'), path.join(memory, 'memory.max_usage_in_bytes'), path.join(memory, 'memory.failcnt'),
        path.join(memory, 'memory.oom_control'),
        ...(cpuacct ? [path.join(cpuacct, 'cpuacct.usage')] : []), path.join(cpu, 'cpu.stat'),
        path.join(pids, 'pids.current'), path.join(pids, 'pids.events'),
      ],
    };
  }

  /**
   * v1 has no cgroup.kill: read the PIDs, signal each. A process may fork between the two, so
   * destroy() repeats this until the directories can go (runc freezes the cgroup first instead,
   * with the freezer controller, so nothing can fork while it kills). A frozen process acts on its
   * SIGKILL only once thawed (v1's freezer holds signals too), so a paused container is thawed after.
   */
  kill(): void {
    killAll(this.pids());
    if (this.isFrozen()) writeCgroupFile(this.freezerState(), 'THAWED');
  }

  /**
   * cgroup v1 freezes with a controller of its own, in a hierarchy of its own: FROZEN written to
   * freezer.state asks, the kernel answers FREEZING until every task has stopped, then FROZEN. A task
   * that is busy in the kernel can keep it FREEZING: runc writes FROZEN again until it holds, and so
   * does this loop.
   */
  async setFrozen(frozen: boolean): Promise<void> {
    const file = this.freezerState();
    const wanted = frozen ? 'FROZEN' : 'THAWED';
    const deadline = Date.now() + 5000;
    for (;;) {
      writeCgroupFile(file, wanted);
      if (readCgroupFile(file) === wanted) return;
      if (Date.now() > deadline) {
        if (frozen) writeCgroupFile(file, 'THAWED'); // half frozen helps nobody
        throw new CgroupSetupError(`cgroup ${path.dirname(file)} did not ${frozen ? 'freeze' : 'thaw'} within 5 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  isFrozen(): boolean {
    if (!this.dirs.freezer || !existsSync(this.dirs.freezer)) return false;
    return (readCgroupFile(this.freezerState()) ?? 'THAWED') !== 'THAWED';
  }

  private freezerState(): string {
    if (!this.dirs.freezer) throw new CgroupSetupError('pausing needs the freezer controller, and no cgroup v1 hierarchy has it mounted here: mount it (mount -t cgroup -o freezer freezer /sys/fs/cgroup/freezer)');
    return path.join(this.dirs.freezer, 'freezer.state');
  }

  async destroy(): Promise<void> {
    const remaining = this.paths.filter((dir) => existsSync(dir));
    if (remaining.length === 0) return;
    this.kill();
    for (const dir of remaining) {
      await removeCgroupDir(dir, { beforeRetry: () => this.kill() });
      removeParentIfEmpty(dir);
    }
  }
}
