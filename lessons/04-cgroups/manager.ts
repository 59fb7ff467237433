/**
 * Lesson 04 — what every cgroup manager does, whichever cgroup version it speaks.
 *
 * A cgroup is a directory in a cgroup file system; its files are the knobs (limits) and gauges
 * (usage) of the kernel's controllers, and `cgroup.procs` lists the processes in it. runc has one
 * manager per version behind one interface (libcontainer/cgroups: `fs` for v1, `fs2` for v2; youki
 * the same), and so does this lab: v1.ts and v2.ts implement CgroupManager, cgroups.ts picks one.
 *
 * This file also holds the setup step init runs to JOIN the cgroup (see joinCgroup): it is bundled
 * into init, so it stays small and synchronous.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLONE_NEWCGROUP, MNT_DETACH, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, type Syscalls } from '../../src/sys/index.js';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import type { Resources } from './limits.js';

/**
 * The lab's parent cgroup: every container's cgroup is a child of it, named after the container ID,
 * as Docker's cgroupfs driver makes /sys/fs/cgroup/docker/<ID> (v2) or /sys/fs/cgroup/memory/docker/<ID> (v1).
 */
export const LAB_PARENT = 'mini-docker-lab';

/** A machine on which the lab cannot make its cgroups; the message ends with what to do about it. */
export class CgroupSetupError extends Error {
  override name = 'CgroupSetupError';
}

/** What a cgroup has used, read from its files. Byte and microsecond counts; null = no limit. */
export interface CgroupStats {
  memory: {
    /** Bytes charged to the cgroup now: its processes' memory, page cache included. */
    current: number;
    /** The most it ever used (v2 memory.peak, Linux 5.19+; v1 memory.max_usage_in_bytes), null if unknown. */
    peak: number | null;
    limit: number | null;
    /** How many processes the OOM killer killed in this cgroup. */
    oomKills: number;
  };
  cpu: {
    /** CPU time the cgroup's processes used, in total, on all CPUs. */
    usageUsec: number;
    /** The quota as a number of CPUs (0.5), null if unlimited. */
    limitCpus: number | null;
    /** Periods (of cpu.cfs_period_us) in which the cgroup ran, and how many of them ran out of quota. */
    nrPeriods: number;
    nrThrottled: number;
    /** Time the cgroup's processes were runnable but held back because the quota was used up. */
    throttledUsec: number;
  };
  pids: {
    current: number;
    limit: number | null;
    /** fork()/clone() calls refused because pids.max was reached (pids.events "max"). */
    refusedForks: number;
  };
}

/** The config of init's `cgroup` setup step: plain data, it travels to init in the plan. */
export interface CgroupJoinConfig {
  /** The cgroup.procs file of each directory to join: one on v2, one per controller hierarchy on v1. */
  procs: string[];
  /**
   * cgroup.procs files of folders another feature may have made by the time init runs, joined when
   * they are there: v1's devices folder, which lesson 07 makes for device rules. Joined here, before the
   * cgroup namespace, it is part of the namespace's root as runc's are (its path reads "/", not "/..").
   */
  joinIfPresent?: string[];
  /** Then unshare(CLONE_NEWCGROUP), so the container sees its own cgroup as "/" (Docker's default on v2). */
  namespace?: boolean;
  /**
   * Then mount a cgroup2 file system read-only at /sys/fs/cgroup: inside the cgroup namespace it shows
   * the container's own cgroup as its root, as Docker's /sys/fs/cgroup does. cgroup v2 only; needs
   * `namespace`, and a mount namespace of the container's own (else it would cover the host's).
   */
  mountCgroupfs?: boolean;
}

/** One cgroup, on one cgroup version. Created by the runtime, joined by init, removed after exit. */
export interface CgroupManager {
  readonly version: 'v1' | 'v2';
  /** Its name under its parent: the container ID, as Docker names them (or config.json's cgroupsPath's last part). */
  readonly name: string;
  /** The folder it is in, relative to each hierarchy's root: the lab's parent, mini-docker-lab, unless cgroupsPath says otherwise. */
  readonly parent: string;
  /** Its directories: one on v2; on v1 one per controller hierarchy (memory, cpu, cpuacct, pids). */
  readonly paths: string[];
  /** Makes the directories (and the lab's parent cgroup, enabling controllers where v2 needs it). */
  create(): void;
  /** Writes the limits into the cgroup's files. Returns warnings for limits the machine cannot enforce. */
  apply(resources: Resources): string[];
  /**
   * Changes the limits of a cgroup that is in use (`docker update`, `runc update`): apply(), in an order
   * the kernel accepts whatever the old limits were.
   */
  update(resources: Resources): string[];
  /** What init's `cgroup` step needs to move the container's first process in, before exec. */
  joinConfig(options?: { namespace?: boolean; mountCgroupfs?: boolean }): CgroupJoinConfig;
  /** Reads usage and limits. */
  stats(): CgroupStats;
  /** The PIDs in the cgroup, as the host numbers them. */
  pids(): number[];
  /** The files worth watching, by purpose: for the lesson's HOST pane and for `cat` by hand. */
  files(): { limits: string[]; usage: string[] };
  /** SIGKILLs every process in the cgroup. */
  kill(): void;
  /**
   * `docker pause` / `docker unpause`: freezes every process of the cgroup where it stands, or thaws
   * them — the freezer (cgroup v2's cgroup.freeze). Resolves once the kernel reports it done.
   */
  setFrozen(frozen: boolean): Promise<void>;
  /** Is the cgroup frozen? (false when it does not exist) */
  isFrozen(): boolean;
  /** kill(), then removes the directories once the processes are really gone. Safe to call twice. */
  destroy(): Promise<void>;
}

// --- the join step (runs in init) -----------------------------------------------------------------

/**
 * init's `cgroup` step, run first, before anything else of the container is set up: init moves itself
 * into the container's cgroup, so the command it execs later starts there, limited from its first
 * instruction (and every child it forks is born inside too: a new process starts in its parent's
 * cgroup). runc does the same before it lets `runc init` exec: the parent writes the child's PID into
 * cgroup.procs, then the child creates its cgroup namespace.
 */
export function joinCgroup(sys: Syscalls, config: CgroupJoinConfig): void {
  for (const file of config.joinIfPresent ?? []) if (existsSync(file)) writeCgroupFile(file, '0');
  // EXERCISE(cgroup.join): Move the calling process into every cgroup of config.procs; then, if config.namespace asks for it, into a new cgroup namespace.
  // HINT: Writing a PID into a cgroup.procs file moves that whole process (all its threads). The kernel reads "0" as "the writer itself" — handy inside a new PID namespace, where our own PID would be 1.
  // HINT: Write into each of config.procs, then, only if config.namespace asks for it, unshare the cgroup namespace. The order matters: the new namespace's root is the cgroup you are in when you create it.
  // HINT: man 7 cgroups ("Creating cgroups and moving processes") and man 7 cgroup_namespaces.
  for (const file of config.procs) writeCgroupFile(file, '0');
  if (config.namespace) sys.unshare(CLONE_NEWCGROUP);
  // END EXERCISE
  if (config.mountCgroupfs) {
    // Mounted from the host's cgroup namespace, cgroup2 would re-apply its mount options to the whole
    // hierarchy (the kernel's apply_cgroup_root_flags): no options = nsdelegate and memory_recursiveprot
    // switched off for the entire machine. Inside a new cgroup namespace the kernel leaves them alone.
    if (!config.namespace) throw new Error('mountCgroupfs needs namespace: a cgroup2 mount outside a cgroup namespace would change the host\'s cgroup2 options');
    mountOwnCgroupfs(sys);
  }
}

/**
 * Docker shows a container its own cgroup at /sys/fs/cgroup: a cgroup2 file system mounted inside a
 * cgroup namespace has the namespace's root as its root. Read-only, as Docker mounts it for
 * containers that are not --privileged. The mount must stay in the container: if /sys/fs/cgroup is a
 * shared mount here, it would propagate to the host's /sys/fs/cgroup (lesson 03), so refuse.
 */
export function mountOwnCgroupfs(sys: Syscalls, mountinfo: string = readFileSync('/proc/self/mountinfo', 'utf8'), target = '/sys/fs/cgroup'): void {
  const current = parseMountinfo(mountinfo).filter((mount) => mount.mountPoint === target).at(-1);
  if (current?.optionalFields.some((field) => field.startsWith('shared:'))) {
    throw new Error(
      `refusing to mount cgroup2 on ${target}: it is a shared mount here, so the host would get the mount too. ` +
        'The container needs a mount namespace with private propagation first (the "mnt" namespace of lesson 02 makes one)',
    );
  }
  // Docker's container has a /sys of its own to mount on. This one shares the host's root, where
  // /sys/fs/cgroup already IS the cgroup2 mount, and the kernel refuses the same file system twice on
  // one mount point (EBUSY). So detach the host's mount first — in this private mount namespace only.
  if (current) sys.umount2(target, MNT_DETACH);
  sys.mount('cgroup2', target, 'cgroup2', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
}

// --- reading and writing cgroup files --------------------------------------------------------------

/** A cgroup file's content without the trailing newline, or null if the file is not there. */
export function readCgroupFile(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** A number from a single-value file; "max" (v2) and absent files are null. */
export function readNumber(file: string): number | null {
  const text = readCgroupFile(file);
  if (text === null || text === 'max') return null;
  return Number(text);
}

/**
 * "key value" lines, the format of memory.events, cpu.stat, pids.events, memory.oom_control and
 * memory.stat ("flat keyed" in cgroup-v2.rst) → a Map. Missing keys read as 0 in the stats.
 */
export function parseFlatKeyed(text: string | null): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) values.set(key, Number(value));
  }
  return values;
}

/** The PIDs in a cgroup.procs text, one per line. */
export function parseProcs(text: string | null): number[] {
  return (text ?? '').split('\n').filter((line) => line.trim() !== '').map(Number);
}

/**
 * Writes one value into a cgroup file. The kernel answers a bad value with an errno, not a message,
 * so the error names the file and the value to make "EINVAL" mean something.
 */
export function writeCgroupFile(file: string, value: string | number): void {
  try {
    writeFileSync(file, String(value));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw Object.assign(new Error(`cannot write "${value}" to ${file}: ${code}${WRITE_ERRORS[code] ? ` (${WRITE_ERRORS[code]})` : ''}`), { code });
  }
}

const WRITE_ERRORS: Record<string, string> = {
  EACCES: 'the lab must run as root',
  EPERM: 'the lab must run as root, with a cgroup file system it may write to',
  EROFS: 'the cgroup file system is mounted read-only here: inside a container? run the lab on the host or a VM',
  EINVAL: 'the kernel refuses this value here',
  EBUSY: 'the cgroup is in use in a way that forbids this change',
  ENOENT: 'no such file: is the controller enabled for this cgroup?',
};

/** SIGKILL each PID; ones that are already gone are fine. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}

/**
 * rmdir of a cgroup: the only way to delete one (its files cannot be deleted; rm -r fails). The kernel
 * answers EBUSY while a process is still in it — also one that was killed but is not yet reaped by its
 * parent — so retry for a while. A directory that is already gone is fine.
 */
export async function removeCgroupDir(dir: string, options: { timeoutMs?: number; beforeRetry?: () => void } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) {
        throw new Error(`cannot remove the cgroup ${dir}: ${code}${code === 'EBUSY' ? ` — processes are still in it: ${readCgroupFile(`${dir}/cgroup.procs`)?.split('\n').join(' ')}` : ''}`);
      }
      try {
        options.beforeRetry?.();
      } catch {
        // e.g. the directory went away meanwhile: the next rmdir says so
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/**
 * The lab's parent cgroup goes with its last container, so the lab leaves nothing behind — and so do the
 * folders between them that a relative cgroupsPath ("group/web") made. rmdir fails (ENOTEMPTY/EBUSY)
 * while another container's cgroup is still in one, which is exactly when it must stay. Any other parent
 * (an engine's /libpod_parent, a systemd slice) is not the lab's to remove; runc leaves it too.
 */
export function removeParentIfEmpty(dir: string): void {
  const segments = dir.split(path.sep);
  const labParent = segments.lastIndexOf(LAB_PARENT);
  if (labParent < 0) return;
  for (let end = segments.length - 1; end > labParent; end--) {
    try {
      rmdirSync(segments.slice(0, end).join(path.sep));
    } catch {
      return; // still in use by another container, or gone already
    }
  }
}

/**
 * mkdir of a container's cgroup under the lab's parent, which `makeParent` (re)creates first. A
 * container that ends at this very moment may remove the then-empty parent (removeParentIfEmpty)
 * between the two: the child's mkdir then says ENOENT, and trying again is the whole fix.
 */
export function makeChildCgroup(dir: string, makeParent: () => void, exists: () => Error): void {
  for (let attempt = 1; ; attempt++) {
    makeParent();
    try {
      mkdirSync(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw exists();
      if (code !== 'ENOENT' || attempt === 3) throw error;
    }
  }
}

/** Bytes as the lesson prints them: "64.0 MiB". */
export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
