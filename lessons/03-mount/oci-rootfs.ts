/**
 * init: the `ociRootfs` setup step — this lesson's root file system, but with the mounts config.json
 * lists, in its order, instead of lesson 03's fixed set. runc does this in libcontainer/rootfs_linux.go
 * (prepareRoot → mountToRootfs for each mount → createDevices → setupDevSymlinks → pivotRoot →
 * finalizeRootfs); the building blocks are this lesson's own functions (mount.ts).
 *
 * Like every step it runs in the container's init, on its main thread, synchronously (see init.ts).
 */
import { closeSync, existsSync, mkdirSync, openSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import {
  MS_BIND, MS_NOATIME, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SHARED, MS_SLAVE,
  MS_STRICTATIME, MS_UNBINDABLE, type Syscalls,
} from '../../src/sys/index.js';
import type { OciMount } from '../../src/container/config.js';
import { mountCgroups } from './cgroup-mount.js';
import { bindDeviceNodes, bindMount, createDeviceNodes, makeMountsPrivate, moveIntoRootfs, pathInsideRootfs, pivotIntoRootfs } from './mount.js';

export type { OciMount };

export interface OciRootfsConfig {
  /** root.path, absolute. */
  rootfs: string;
  /** root.readonly */
  readonly: boolean;
  /** In config.json's order; Docker's generated /etc/hostname, hosts and resolv.conf are bind mounts among them. */
  mounts: OciMount[];
  /** linux.rootfsPropagation: what the container's "/" becomes once it is the root (private if absent). */
  propagation?: string;
  /** runc's --no-pivot: MS_MOVE + chroot instead of pivot_root (mount.ts: moveIntoRootfs). */
  noPivot?: boolean;
  /** The container has a cgroup namespace of its own: a cgroup mount is then a new one (cgroup-mount.ts). */
  cgroupNamespace?: boolean;
  /** In a user namespace of its own mknod(2) is refused: bind the host's device nodes instead (runc does). */
  bindDevices?: boolean;
}

/** mount(8)'s option words that are flags of mount(2); the rest goes to the file system as data. */
const FLAGS: Record<string, { set?: number; clear?: number }> = {
  ro: { set: MS_RDONLY }, rw: { clear: MS_RDONLY },
  nosuid: { set: MS_NOSUID }, suid: { clear: MS_NOSUID },
  nodev: { set: MS_NODEV }, dev: { clear: MS_NODEV },
  noexec: { set: MS_NOEXEC }, exec: { clear: MS_NOEXEC },
  noatime: { set: MS_NOATIME }, strictatime: { set: MS_STRICTATIME },
  relatime: {}, // the kernel's default already
  bind: { set: MS_BIND }, rbind: { set: MS_BIND | MS_REC },
};
const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE, rprivate: MS_PRIVATE | MS_REC, slave: MS_SLAVE, rslave: MS_SLAVE | MS_REC,
  shared: MS_SHARED, rshared: MS_SHARED | MS_REC,
  unbindable: MS_UNBINDABLE, runbindable: MS_UNBINDABLE | MS_REC,
};

/** Every option word a config.json mount may use: the flags, the propagation changes (`oci features`). */
export function mountOptionWords(): string[] {
  return [...Object.keys(FLAGS), ...Object.keys(PROPAGATION)];
}

/** linux.rootfsPropagation's word → mount(2)'s flags, or undefined for one mount(8) does not know. */
export function rootfsPropagationFlags(word: string): number | undefined {
  return PROPAGATION[word];
}

/** Options → mount(2)'s flags and data, as runc's parseMountOptions does. */
export function parseMountOptions(options: readonly string[] = []): { flags: number; data: string; propagation: number[] } {
  let flags = 0;
  const data: string[] = [];
  const propagation: number[] = [];
  for (const option of options) {
    const flag = FLAGS[option];
    if (flag) flags = (flags | (flag.set ?? 0)) & ~(flag.clear ?? 0);
    else if (PROPAGATION[option] !== undefined) propagation.push(PROPAGATION[option]!);
    else data.push(option);
  }
  return { flags, data: data.join(','), propagation };
}

export function setUpOciRootfs(sys: Syscalls, config: OciRootfsConfig): void {
  const { rootfs } = config;
  // runc's prepareRoot: nothing we mount may reach the host; the rootfs must be a mount point for pivot_root.
  makeMountsPrivate(sys);
  bindMount(sys, rootfs, rootfs);
  let devIsTmpfs = false;
  for (const mount of config.mounts) {
    try {
      mountOne(sys, rootfs, mount, config.cgroupNamespace ?? false);
    } catch (error) {
      // Which entry of config.json's "mounts" failed; the cause says how (the call and its errno).
      throw new Error(`mount ${mount.destination}`, { cause: error });
    }
    if (mount.destination.replace(/\/+$/, '') === '/dev' && mount.type === 'tmpfs') devIsTmpfs = true;
  }
  // runc's createDevices + setupDevSymlinks: only into a /dev of our own, never into the image's folder.
  if (devIsTmpfs) {
    const dev = path.join(rootfs, 'dev');
    if (config.bindDevices) bindDeviceNodes(sys, dev);
    else createDeviceNodes(sys, dev);
    const links: [string, string][] = [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']];
    if (existsSync(path.join(dev, 'pts'))) links.push(['ptmx', 'pts/ptmx']);
    for (const [name, target] of links) if (!existsSync(path.join(dev, name))) symlinkSync(target, path.join(dev, name));
  }
  if (config.noPivot) moveIntoRootfs(sys, rootfs);
  else pivotIntoRootfs(sys, rootfs);
  // linux.rootfsPropagation, on "/" once it is the container's root — never before, while "/" could still
  // be a mount the host shares (runc applies it here too, for that reason).
  if (config.propagation) sys.mount(null, '/', null, PROPAGATION[config.propagation]!);
  // runc's finalizeRootfs: read-only last, everything above wrote into the rootfs.
  if (config.readonly) sys.mount(null, '/', null, MS_BIND | MS_REMOUNT | MS_RDONLY);
}

function mountOne(sys: Syscalls, rootfs: string, mount: OciMount, cgroupNamespace: boolean): void {
  const target = pathInsideRootfs(rootfs, mount.destination);
  const { flags, data, propagation } = parseMountOptions(mount.options);
  if (mount.type === 'cgroup' || mount.type === 'cgroup2') return mountCgroups(sys, target, flags, cgroupNamespace);
  const isBind = mount.type === 'bind' || (flags & MS_BIND) !== 0;
  if (isBind) {
    const source = mount.source ?? '';
    // A bind mount needs something of the same kind to cover: a folder for a folder, a file for a file.
    if (statSync(source).isDirectory()) mkdirSync(target, { recursive: true });
    else {
      mkdirSync(path.dirname(target), { recursive: true });
      if (!existsSync(target)) closeSync(openSync(target, 'a'));
    }
    sys.mount(source, target, null, MS_BIND | (flags & MS_REC));
    // A bind mount ignores every other flag on creation: ro, nosuid ... take a remount (as runc does).
    const rest = flags & ~(MS_BIND | MS_REC);
    if (rest) sys.mount(null, target, null, MS_BIND | MS_REMOUNT | rest);
  } else {
    mkdirSync(target, { recursive: true });
    sys.mount(mount.source ?? mount.type ?? 'none', target, mount.type ?? null, flags, data || undefined);
  }
  for (const change of propagation) sys.mount(null, target, null, change);
}
