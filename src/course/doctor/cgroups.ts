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
 */
import { bootParameterFix, STOCK_KERNEL_FIX, type Outcome } from './outcome.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';

// --- /proc/self/mountinfo ------------------------------------------------------------------------

/** One line of /proc/self/mountinfo, see proc_pid_mountinfo(5). */
export interface MountInfo {
  mountId: number;
  parentId: number;
  /** "major:minor" of the device. */
  device: string;
  /** The directory of the file system that is mounted here ("/" unless it is a bind mount). */
  root: string;
  mountPoint: string;
  /** Per-mount options: "rw", "nosuid", ... */
  mountOptions: string[];
  /** "shared:1", "master:2", ... (propagation, lesson 3). */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options. For a cgroup v1 mount they name its controllers: "rw,cpu,cpuacct". */
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal: "\040" is a space. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
 *   ↑id ↑parent ↑dev ↑root ↑mount point ↑options ↑optional fields, ended by "-", then type source super-options
 */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const separator = fields.indexOf('-', 6);
    if (separator < 0 || fields.length < separator + 4) continue; // not a mountinfo line
    mounts.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      device: fields[2]!,
      root: unescapeOctal(fields[3]!),
      mountPoint: unescapeOctal(fields[4]!),
      mountOptions: fields[5]!.split(','),
      optionalFields: fields.slice(6, separator),
      fsType: fields[separator + 1]!,
      source: unescapeOctal(fields[separator + 2]!),
      superOptions: fields[separator + 3]!.split(','),
    });
  }
  return mounts;
}

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

// --- verdicts ------------------------------------------------------------------------------------

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

/** The kernel config option behind each controller, for "your kernel lacks it". */
const KCONFIG: Record<LabController, string> = {
  cpu: 'CONFIG_CGROUP_SCHED',
  memory: 'CONFIG_MEMCG',
  pids: 'CONFIG_CGROUP_PIDS',
};

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

/** Is the controller usable where the lab will create its cgroups, and if not, what is the real fix? */
export function controllerOutcome(name: LabController, facts: CgroupFacts): Outcome {
  const { layout } = facts;
  if (layout.active === null) {
    return { ok: false, found: 'no cgroup file system mounted', fix: `run \`sudo mount -t cgroup2 none ${CGROUP_ROOT}\`` };
  }
  if (layout.active === 'v2') {
    const root = layout.v2Mount ?? CGROUP_ROOT;
    const enableCommand = `\`echo +${name} | sudo tee ${root}/cgroup.subtree_control\``;
    // A v2 controller is usable in a child cgroup only once its parent lists it in cgroup.subtree_control
    // ("top-down constraint", cgroup-v2.rst). The root may enable anything in its cgroup.controllers.
    if (facts.v2SubtreeControl?.includes(name)) {
      return { ok: true, found: `v2, enabled in ${root}/cgroup.subtree_control` };
    }
    if (facts.v2Controllers?.includes(name)) {
      return {
        ok: true,
        found: `v2, available but not yet enabled for child cgroups`,
        hint: `enable it with ${enableCommand}`,
      };
    }
    return { ok: false, found: `v2, not in ${root}/cgroup.controllers`, fix: missingControllerFix(name, facts) ?? `run ${enableCommand} on the host (inside a container, the host must delegate it)` };
  }

  const mountPoint = layout.v1Mounts[name];
  if (mountPoint) return { ok: true, found: `v1, mounted at ${mountPoint}` };
  const kernel = facts.kernel?.get(name);
  const fix = missingControllerFix(name, facts);
  if (fix) return { ok: false, found: 'v1, not mounted', fix };
  if (kernel && kernel.hierarchy === 0 && facts.v2Controllers?.includes(name)) {
    // Hybrid hosts may hand a controller to the cgroup2 side. It cannot sit on both at once.
    return {
      ok: false,
      found: `v1, not mounted: it is attached to cgroup2 at ${layout.v2Mount}`,
      fix: `switch the host to cgroup v2 (the course's default): ${bootParameterFix({ add: 'systemd.unified_cgroup_hierarchy=1' })}`,
    };
  }
  const target = `${CGROUP_ROOT}/${name}`;
  const remount = layout.tmpfsReadOnly ? `sudo mount -o remount,rw ${CGROUP_ROOT} && ` : '';
  return {
    ok: false,
    found: 'v1, not mounted',
    fix: `run \`${remount}sudo mkdir -p ${target} && sudo mount -t cgroup -o ${name} cgroup ${target}\``,
  };
}

/** Fixes that hold for v1 and v2 alike: the kernel lacks the controller, or the boot command line hid it. */
function missingControllerFix(name: LabController, facts: CgroupFacts): string | null {
  const kernel = facts.kernel?.get(name);
  if (facts.kernel && !kernel) return `your kernel was built without it (${KCONFIG[name]}): ${STOCK_KERNEL_FIX}`;
  if (bootParameterValues(facts.cmdline, 'cgroup_disable').includes(name)) {
    return bootParameterFix({ remove: `cgroup_disable=${name}` });
  }
  if (kernel && !kernel.enabled) return bootParameterFix({ add: `cgroup_enable=${name}` });
  // cgroup_no_v1=all (or =memory,...) keeps controllers off v1 so that only cgroup2 can use them.
  const noV1 = bootParameterValues(facts.cmdline, 'cgroup_no_v1');
  if (facts.layout.active === 'v1' && (noV1.includes('all') || noV1.includes(name))) {
    return bootParameterFix({ remove: `cgroup_no_v1=${noV1.join(',')}` });
  }
  return null;
}
