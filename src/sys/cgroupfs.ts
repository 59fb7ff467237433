/**
 * Which cgroup layout does this machine have, and are the controllers of lesson 4 usable?
 *
 * Three layouts exist (see "Documentation/admin-guide/cgroup-v2.rst" and systemd's "cgroup
 * hierarchy" docs):
 *
 *   v2      one unified hierarchy: /sys/fs/cgroup is itself a cgroup2 mount (`stat -f` says cgroup2fs).
 *           Ubuntu ≥ 21.10 and Debian ≥ 11 boot like this.
 *   hybrid  /sys/fs/cgroup is a tmpfs with one cgroup (v1) mount per controller (cpu, memory, pids, ...)
 *           plus a cgroup2 mount at /sys/fs/cgroup/unified that systemd uses only to track services.
 *           The controllers live on v1, so the lab must use v1.
 *   v1      the same without the unified mount.
 *
 * Everything here is pure: it works on the text of /proc/self/mountinfo, /proc/cgroups and friends.
 * The doctor (src/course/doctor/cgroups.ts) and lesson 04's managers both read the machine through it.
 */
import type { MountInfo } from './mountinfo.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';

// --- layout --------------------------------------------------------------------------------------

/** Controller names a cgroup v1 mount can carry in its super options (the rest are "rw", "name=systemd", ...). */
export const V1_CONTROLLER_NAMES: readonly string[] = [
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio',
  'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
];

/** The controllers lesson 4 limits: CPU time, memory, number of processes. */
export const LAB_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;
export type LabController = (typeof LAB_CONTROLLERS)[number];

export type CgroupKind = 'v2' | 'hybrid' | 'v1' | 'none';

export interface CgroupLayout {
  kind: CgroupKind;
  /** Where the lab creates its cgroups: v2 on a unified host, v1 on hybrid and v1 hosts. */
  active: 'v2' | 'v1' | null;
  /** Mount point of the cgroup2 hierarchy, if one is mounted. */
  v2Mount: string | null;
  /** v1 controller → its mount point, e.g. { memory: "/sys/fs/cgroup/memory" }. */
  v1Mounts: Record<string, string>;
  /** systemd mounts the tmpfs at /sys/fs/cgroup read-only: mkdir for a new v1 mount needs a remount first. */
  tmpfsReadOnly: boolean;
}

/**
 * @param mounts parsed /proc/self/mountinfo
 * @param rootFsType `stat -f -c %T /sys/fs/cgroup` ("cgroup2fs", "tmpfs"), null if unknown
 */
export function detectCgroupLayout(mounts: MountInfo[], rootFsType: string | null): CgroupLayout {
  const atRoot = mounts.filter((m) => m.mountPoint === CGROUP_ROOT).at(-1); // the last mount on a path hides the others
  const v2Mounts = mounts.filter((m) => m.fsType === 'cgroup2');
  const v2Mount =
    v2Mounts.find((m) => m.mountPoint === CGROUP_ROOT)?.mountPoint ??
    v2Mounts[0]?.mountPoint ??
    (rootFsType === 'cgroup2fs' ? CGROUP_ROOT : null);

  const v1Mounts: Record<string, string> = {};
  for (const mount of mounts.filter((m) => m.fsType === 'cgroup')) {
    for (const option of mount.superOptions) {
      if (V1_CONTROLLER_NAMES.includes(option) && !(option in v1Mounts)) v1Mounts[option] = mount.mountPoint;
    }
  }
  const tmpfsReadOnly = atRoot?.fsType === 'tmpfs' && atRoot.mountOptions.includes('ro');

  const unified = rootFsType === 'cgroup2fs' || atRoot?.fsType === 'cgroup2';
  let kind: CgroupKind;
  if (unified) kind = 'v2';
  else if (Object.keys(v1Mounts).length > 0) kind = v2Mount ? 'hybrid' : 'v1';
  else if (v2Mount) kind = 'v2'; // cgroup2 mounted somewhere unusual, no v1 controllers: still unified
  else kind = 'none';

  const active = kind === 'none' ? null : kind === 'v2' ? 'v2' : 'v1';
  return { kind, active, v2Mount, v1Mounts, tmpfsReadOnly };
}

// --- other cgroup files --------------------------------------------------------------------------

/** A row of /proc/cgroups: what the kernel itself offers, wherever it is mounted. */
export interface KernelController {
  /** v1 hierarchy id; 0 = not on any v1 hierarchy (unused, or on cgroup2). */
  hierarchy: number;
  /** 0 when switched off at boot (cgroup_disable=memory). */
  enabled: boolean;
}

/** "#subsys_name\thierarchy\tnum_cgroups\tenabled" then one row per controller compiled into the kernel. */
export function parseProcCgroups(text: string): Map<string, KernelController> {
  const controllers = new Map<string, KernelController>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const [name, hierarchy, , enabled] = line.trim().split(/\s+/);
    if (name && hierarchy !== undefined && enabled !== undefined) {
      controllers.set(name, { hierarchy: Number(hierarchy), enabled: enabled === '1' });
    }
  }
  return controllers;
}

/** The space-separated lists of cgroup.controllers and cgroup.subtree_control. */
export function parseControllerList(text: string | null): string[] | null {
  return text === null ? null : text.split(/\s+/).filter((name) => name !== '');
}

/** Our own v2 cgroup from /proc/self/cgroup ("0::/user.slice/..."); null on a v1-only host. */
export function ownV2Cgroup(procSelfCgroup: string): string | null {
  const line = procSelfCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? null : line.slice(3);
}

/** Values of a kernel parameter, e.g. cgroup_disable=memory,pids → ["memory", "pids"]. */
export function bootParameterValues(cmdline: string, key: string): string[] {
  return cmdline
    .split(/\s+/)
    .filter((word) => word.startsWith(`${key}=`))
    .flatMap((word) => word.slice(key.length + 1).split(','));
}

/** Everything the cgroup checks look at, read once. */
export interface CgroupFacts {
  layout: CgroupLayout;
  /** `cgroup.controllers` of the cgroup2 root (also on hybrid hosts), null if unreadable. */
  v2Controllers: string[] | null;
  /** `cgroup.subtree_control` of the cgroup2 root. */
  v2SubtreeControl: string[] | null;
  /** /proc/cgroups, null if unreadable. */
  kernel: Map<string, KernelController> | null;
  /** /proc/cmdline. */
  cmdline: string;
}

export function describeLayout(facts: CgroupFacts): string {
  const { layout } = facts;
  const wanted = ['cpu', 'cpuacct', 'memory', 'pids'];
  const mounted = wanted.filter((name) => name in layout.v1Mounts);
  const notMounted = wanted.filter((name) => !(name in layout.v1Mounts));
  const v1 = `v1 ${mounted.join(', ') || 'nothing'} mounted${notMounted.length ? ` (no ${notMounted.join(', ')})` : ''}`;
  const v2List = facts.v2Controllers?.length ? facts.v2Controllers.join(' ') : 'none';
  switch (layout.kind) {
    case 'v2':
      return `v2, unified: cgroup2 at ${layout.v2Mount} (controllers: ${v2List})`;
    case 'hybrid':
      return `v1 hybrid: ${v1}; cgroup2 at ${layout.v2Mount} (controllers: ${v2List})`;
    case 'v1':
      return `v1: ${v1}, no cgroup2`;
    case 'none':
      return 'no cgroup file system is mounted';
  }
}
