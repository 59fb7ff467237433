/**
 * init: config.json's `cgroup` mount — what the container sees at /sys/fs/cgroup. Docker lists one in
 * every container's config ({"type": "cgroup", "destination": "/sys/fs/cgroup", "options": ["ro", …]});
 * runc fills it in libcontainer/rootfs_linux.go (mountCgroupV1, mountCgroupV2), and so does this file.
 *
 * Which cgroups it shows depends on the cgroup namespace (lesson 04 makes it before this step runs):
 *   - in a cgroup namespace of its own, a NEW mount of the cgroup file system has the namespace's root
 *     as its root: the container's own cgroup, and nothing above it;
 *   - in the host's, a new mount would show the whole machine — and on cgroup v2 it would even re-apply
 *     its mount options to the host's hierarchy (the kernel's apply_cgroup_root_flags). So the
 *     container's own cgroup folder is bind-mounted instead: the same view, from the host's tree.
 * cgroup v2 has one tree, so one mount. cgroup v1 has one per controller: a tmpfs at the destination,
 * and in it a folder per hierarchy (memory, cpu, pids, name=systemd …), each one mounted the same way.
 *
 * Like every step it runs in the container's init, synchronously, before pivot_root: the host's
 * mounts are still in sight, in this mount namespace only.
 */
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { MS_BIND, MS_RDONLY, MS_REMOUNT, type Syscalls } from '../../src/sys/index.js';
import { parseMountinfo, type MountInfo } from '../../src/sys/mountinfo.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** What /proc/self/cgroup and /proc/self/mountinfo say now; a test passes its own. */
export interface CgroupView {
  mountinfo: string;
  /** /proc/self/cgroup: "ID:CONTROLLERS:PATH" per hierarchy ("0::PATH" for cgroup v2). */
  selfCgroup: string;
}

function currentView(): CgroupView {
  return { mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'), selfCgroup: readFileSync('/proc/self/cgroup', 'utf8') };
}

/**
 * Mounts the container's cgroups at `target` (inside the rootfs). `flags`: the entry's mount(2) flags
 * (ro, nosuid, noexec, nodev); `ownNamespace`: the container has a cgroup namespace of its own.
 */
export function mountCgroups(sys: Syscalls, target: string, flags: number, ownNamespace: boolean, view: CgroupView = currentView()): void {
  const mounts = parseMountinfo(view.mountinfo);
  const atRoot = mounts.filter((mount) => mount.mountPoint === CGROUP_ROOT).at(-1);
  if (!atRoot) throw new Error(`no cgroup file system is mounted at ${CGROUP_ROOT} on the host`);
  mkdirSync(target, { recursive: true });
  if (atRoot.fsType === 'cgroup2') {
    mountHierarchy(sys, atRoot, target, flags, ownNamespace, view.selfCgroup);
    return;
  }
  // cgroup v1 (or hybrid): a tmpfs to hold a folder per hierarchy, read-only only once they are in it.
  sys.mount('tmpfs', target, 'tmpfs', flags & ~MS_RDONLY, 'mode=755');
  for (const hierarchy of mounts.filter((mount) => path.dirname(mount.mountPoint) === CGROUP_ROOT && (mount.fsType === 'cgroup' || mount.fsType === 'cgroup2'))) {
    const name = path.basename(hierarchy.mountPoint);
    const folder = path.join(target, name);
    mkdirSync(folder);
    mountHierarchy(sys, hierarchy, folder, flags, ownNamespace, view.selfCgroup);
    // Co-mounted controllers ("cpu,cpuacct") are found by each name too, as on the host (runc does the same).
    if (name.includes(',')) for (const controller of name.split(',')) symlinkSync(name, path.join(target, controller));
  }
  if (flags & MS_RDONLY) sys.mount(null, target, null, MS_REMOUNT | flags);
}

/** One hierarchy at `target`: a new mount in a cgroup namespace of our own, else a bind of our own cgroup. */
function mountHierarchy(sys: Syscalls, hierarchy: MountInfo, target: string, flags: number, ownNamespace: boolean, selfCgroup: string): void {
  if (ownNamespace) {
    // v1 finds the existing hierarchy by its controllers (or name=): the same options as the host's mount.
    const data = hierarchy.fsType === 'cgroup' ? hierarchyKeys(hierarchy).join(',') : undefined;
    sys.mount(hierarchy.fsType, target, hierarchy.fsType, flags, data);
    return;
  }
  const own = ownCgroupPath(hierarchy, selfCgroup);
  sys.mount(path.join(hierarchy.mountPoint, own), target, null, MS_BIND);
  // A bind mount takes no other flag at creation: read-only and the rest need a remount (as in oci-rootfs.ts).
  if (flags) sys.mount(null, target, null, MS_BIND | MS_REMOUNT | flags);
}

/** What names a v1 hierarchy: its controllers and its name= (the superblock's other options are settings). */
function hierarchyKeys(hierarchy: MountInfo): string[] {
  const settings = new Set(['rw', 'ro', 'xattr', 'noprefix', 'clone_children', 'cpuset_v2_mode', 'favordynmods']);
  return hierarchy.superOptions.filter((option) => !settings.has(option) && !option.startsWith('release_agent='));
}

/** This process's cgroup in a hierarchy, from /proc/self/cgroup: the line whose controllers match. */
export function ownCgroupPath(hierarchy: MountInfo, selfCgroup: string): string {
  const keys = hierarchy.fsType === 'cgroup2' ? '' : [...hierarchyKeys(hierarchy)].sort().join(',');
  for (const line of selfCgroup.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match && match[1]!.split(',').filter(Boolean).sort().join(',') === keys) return match[2]!;
  }
  throw new Error(`this process is in no cgroup of the ${hierarchy.mountPoint} hierarchy (/proc/self/cgroup has no "${keys}" line)`);
}
