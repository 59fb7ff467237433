/**
 * Lesson 04 — control groups: which manager this machine needs, and a container with limits.
 *
 * A cgroup ("control group") is a set of processes the kernel accounts and limits together: how much
 * memory they may use, how much CPU time they get, how many of them there may be. Docker gives every
 * container one, named after the container ID, and that is all `--memory` or `--cpus` ever were.
 *
 *   const container = await startLimitedContainer(['sleep', '60'], parseLimitFlags(['--memory', '64m']), { registry });
 *
 * does what `docker run --memory 64m` does (through containerd and runc): make the cgroup, write the
 * limits, have init join it before it execs the command, and remove it when the command has ended.
 */
import { readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  CGROUP_ROOT, LAB_CONTROLLERS, detectCgroupLayout, parseControllerList, parseProcCgroups, type CgroupFacts,
} from '../../src/sys/cgroupfs.js';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import { controllerOutcome } from '../../src/course/doctor/cgroups.js';
import type { OciConfig } from '../../src/container/config.js';
import { newContainerId } from '../../src/container/id.js';
import type { ExitStatus } from '../../src/container/runtime.js';
import { createLabContainer, labConfig, LAB_NAMESPACES, type LabContainer, type LabContainerOptions } from '../03-mount/folders.js';
import type { Resources } from './limits.js';
import { CgroupSetupError, LAB_PARENT, readCgroupFile, removeCgroupDir, type CgroupManager, type CgroupStats } from './manager.js';
import { CgroupV1Manager } from './v1.js';
import { CgroupV2Manager } from './v2.js';

// --- which cgroup version ------------------------------------------------------------------------

/** statfs(2) f_type of a cgroup2 file system (CGROUP2_SUPER_MAGIC in <linux/magic.h>): what `stat -f -c %T` calls cgroup2fs. */
const CGROUP2_SUPER_MAGIC = 0x63677270;

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The facts `npm run doctor` reads about cgroups — mount layout, the v2 root's controller lists,
 * /proc/cgroups, the kernel command line — read now, synchronously, and judged by the doctor's own
 * functions (src/course/doctor/cgroups.ts), so the lab and the doctor always agree.
 */
export function readCgroupFacts(): CgroupFacts {
  let rootFsType: string | null = null;
  try {
    rootFsType = statfsSync(CGROUP_ROOT).type === CGROUP2_SUPER_MAGIC ? 'cgroup2fs' : 'other';
  } catch {
    // no /sys/fs/cgroup at all: the mount table alone decides
  }
  const layout = detectCgroupLayout(parseMountinfo(readOrNull('/proc/self/mountinfo') ?? ''), rootFsType);
  const v2 = layout.v2Mount;
  const procCgroups = readOrNull('/proc/cgroups');
  return {
    layout,
    v2Controllers: v2 ? parseControllerList(readOrNull(`${v2}/cgroup.controllers`)) : null,
    v2SubtreeControl: v2 ? parseControllerList(readOrNull(`${v2}/cgroup.subtree_control`)) : null,
    kernel: procCgroups === null ? null : parseProcCgroups(procCgroups),
    cmdline: readOrNull('/proc/cmdline') ?? '',
  };
}

/**
 * The manager for a machine's cgroup layout, for the cgroup called `name`. Refuses, with the doctor's
 * fix, when a controller the lab needs is missing: the lab would otherwise start containers whose
 * limits silently do nothing.
 */
export function managerFor(facts: CgroupFacts, name: string, parent: string = LAB_PARENT): CgroupManager {
  const problems = LAB_CONTROLLERS.map((controller) => ({ controller, outcome: controllerOutcome(controller, facts) })).filter(({ outcome }) => !outcome.ok);
  if (problems.length > 0) {
    const [{ controller, outcome }] = problems as [(typeof problems)[number]];
    throw new CgroupSetupError(
      `the lab cannot limit containers here: the cgroup ${problems.map((p) => p.controller).join(', ')} controller${problems.length > 1 ? 's are' : ' is'} not usable ` +
        `(${controller}: ${outcome.found}). To fix: ${outcome.fix ?? 'run `npm run doctor`'}`,
    );
  }
  // EXERCISE(cgroup.detect): Return the manager for the layout: a CgroupV2Manager on the cgroup2 mount when layout.active is 'v2', else a CgroupV1Manager with the v1 mount points of memory, cpu, pids, cpuacct and freezer.
  // HINT: facts.layout.active says which layout the machine has: 'v2' on a unified machine, 'v1' on v1 and hybrid ones (a hybrid's cgroup2 mount has no controllers to offer).
  // HINT: The v2 manager needs the cgroup2 mount point; the v1 manager needs each controller's mount point, from facts.layout.v1Mounts (memory, cpu, pids, cpuacct, freezer for pause, and devices, where lesson 07 puts its device rules).
  // HINT: The managers' constructors in v1.ts and v2.ts; man 7 cgroups, "Cgroups version 1 and version 2".
  const { layout } = facts;
  if (layout.active === 'v2') return new CgroupV2Manager(layout.v2Mount!, name, parent);
  const mounts = layout.v1Mounts;
  return new CgroupV1Manager({ memory: mounts.memory!, cpu: mounts.cpu!, pids: mounts.pids!, cpuacct: mounts.cpuacct, freezer: mounts.freezer, devices: mounts.devices }, name, parent);
  // END EXERCISE
}

/** The manager for this machine: v2 on a unified host, v1 on a v1 or hybrid one. */
export function detectCgroupManager(name: string): CgroupManager {
  return managerFor(readCgroupFacts(), name);
}

// --- leftovers -----------------------------------------------------------------------------------

/**
 * The lab names a cgroup after its container: Docker's 64 hex digits, or minidocker's short ID (12: see
 * src/final/docker.ts). Nothing else under the parent is ours to remove.
 */
const CONTAINER_ID = /^(?:[0-9a-f]{12}|[0-9a-f]{64})$/;

/** The lab's parent cgroup in every hierarchy the layout uses: one on v2, one per controller mount on v1. */
export function labParentDirs(facts: CgroupFacts, parent: string = LAB_PARENT): string[] {
  const { layout } = facts;
  if (layout.active === 'v2') return layout.v2Mount ? [path.join(layout.v2Mount, parent)] : [];
  const mounts = ['memory', 'cpu', 'cpuacct', 'pids', 'freezer'].map((controller) => layout.v1Mounts[controller]).filter((mount) => mount !== undefined);
  return [...new Set(mounts)].map((mount) => path.join(mount, parent));
}

export interface StaleOptions {
  olderThanMs?: number;
  parent?: string;
  /** Look in these parent folders instead (lesson 07's folder in the v1 devices hierarchy). */
  parentDirs?: string[];
}

/**
 * The runtime removes a container's cgroup after the command ends, and on Ctrl-C. After `kill -9` of
 * the runtime nobody does: the container dies with it (PR_SET_PDEATHSIG), but an empty cgroup stays.
 * These are the lab's cgroups that no process is in any more — except ones younger than `olderThanMs`:
 * another runtime may have just made one and not yet moved its init in.
 */
export function findStaleCgroups(facts: CgroupFacts, options: StaleOptions = {}): string[] {
  const olderThanMs = options.olderThanMs ?? 60_000;
  const stale: string[] = [];
  for (const parentDir of options.parentDirs ?? labParentDirs(facts, options.parent)) {
    let names: string[];
    try {
      names = readdirSync(parentDir);
    } catch {
      continue; // no parent yet: nothing was ever left here
    }
    for (const name of names.filter((entry) => CONTAINER_ID.test(entry))) {
      const dir = path.join(parentDir, name);
      try {
        const info = statSync(dir);
        // A cgroup's mtime is set when it is made (kernfs): never later than its real age.
        if (!info.isDirectory() || Date.now() - info.mtimeMs < olderThanMs) continue;
        if (readCgroupFile(path.join(dir, 'cgroup.procs')) === '') stale.push(dir);
      } catch {
        // gone meanwhile, or unreadable: not ours to judge
      }
    }
  }
  return stale;
}

/** Removes what findStaleCgroups() finds; returns the directories it removed. Run before every start. */
export async function removeStaleCgroups(facts: CgroupFacts, options: StaleOptions = {}): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of findStaleCgroups(facts, options)) {
    try {
      await removeCgroupDir(dir, { timeoutMs: 0 }); // EBUSY: a process joined after all — leave it
      removed.push(dir);
    } catch {
      // in use again
    }
  }
  return removed;
}

// --- a container with limits ---------------------------------------------------------------------

export interface LimitOptions extends LabContainerOptions {
  /**
   * Docker's --cgroupns: "private" gives the container a cgroup namespace of its own, so it sees its
   * cgroup as "/" (Docker's default on cgroup v2); "host" shows it the host's tree (the default on v1).
   */
  cgroupns?: 'private' | 'host';
}

/** A running container, its cgroup, and how both end. */
export interface LimitedContainer extends LabContainer {
  cgroup: CgroupManager;
  /** Limits this machine cannot enforce (e.g. no swap accounting). */
  warnings: string[];
  /** The command ended: its exit status, and the cgroup's stats read just before the cgroup was removed. */
  ended: Promise<{ status: ExitStatus; stats: CgroupStats }>;
}

/**
 * A config.json asking for limits: linux.resources is the Resources block as it is, and a "cgroup"
 * namespace for --cgroupns private. The cgroup feature (feature.ts) then makes the cgroup, writes the
 * limits, and has init join it before anything else.
 */
export function limitedConfig(id: string, args: string[], resources: Resources, cgroupns: 'private' | 'host'): OciConfig {
  return labConfig(id, args, {
    namespaces: [...LAB_NAMESPACES, ...(cgroupns === 'private' ? ['cgroup'] : [])],
    // A cgroup even without limits: its usage is what the lesson shows.
    linux: { cgroupsPath: id, resources: resources as Record<string, unknown> },
  });
}

/**
 * Creates the container with its cgroup: the container's init has joined it when this resolves (so the
 * host already finds init's PID in the cgroup's cgroup.procs), and the command waits for start().
 */
export async function createLimitedContainer(args: string[], resources: Resources, options: LimitOptions): Promise<LimitedContainer> {
  const { cgroupns, ...labOptions } = options;
  const id = newContainerId();
  const cgroup = managerFor(readCgroupFacts(), id); // linux.cgroupsPath below: the feature makes it under this name
  const config = limitedConfig(id, args, resources, cgroupns ?? (cgroup.version === 'v2' ? 'private' : 'host'));
  const warnings: string[] = [];
  const created = await createLabContainer(id, config, { warn: (message) => warnings.push(message), ...labOptions });
  const ended = created.container.wait().then(async (status) => {
    try {
      return { status, stats: cgroup.stats() }; // the last look, before the cgroup is gone
    } finally {
      await created.destroy();
    }
  });
  ended.catch(() => {}); // observed by whoever awaits it; a failure here must not crash the runtime
  return { ...created, cgroup, warnings, ended };
}

/** create + start: the command runs now, inside its cgroup. */
export async function startLimitedContainer(args: string[], resources: Resources, options: LimitOptions): Promise<LimitedContainer> {
  const limited = await createLimitedContainer(args, resources, options);
  try {
    await limited.container.start();
  } catch (error) {
    await limited.destroy();
    throw error;
  }
  return limited;
}
