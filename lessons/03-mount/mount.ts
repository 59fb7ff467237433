/**
 * Lesson 03 — the mount namespace: a root file system of its own.
 *
 * A mount namespace is a copy of the mount table. chroot(2) already gave a process a different "/",
 * but one mount table is shared by the whole machine; with a namespace of its own a container can
 * mount, unmount and swap its root without the host seeing any of it. The functions here run in the
 * container's init (on its main thread, synchronously), in a mount namespace lesson 02 already made:
 * they build the container's "/" the way runc does in libcontainer/rootfs_linux.go:
 *
 *   makeMountsPrivate        nothing mounted from now on may propagate to the host (prepareRoot)
 *   bindMount(rootfs)        the rootfs becomes a mount point of its own (prepareRoot)
 *   mountKernelFilesystems   /proc, /sys read-only, a tmpfs /dev (mountToRootfs)
 *   createDeviceNodes        null, zero, full, random, urandom, tty (createDevices)
 *   pivotIntoRootfs          the rootfs becomes "/", the host's "/" is detached (pivotRoot)
 *
 * The synchronous node:fs calls below are safe for the same reason the system calls are: they run on
 * the main thread, which is the one in the new namespace. Asynchronous ones would run on libuv's
 * threads, which still see the host's mounts.
 */
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import {
  CLONE_NEWNS, MNT_DETACH, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT,
  MS_SHARED, MS_STRICTATIME, S_IFCHR, type Syscalls,
} from '../../src/sys/index.js';

export type RootMode = 'pivot_root' | 'chroot';

/** A file the runtime generated on the host, to appear at `destination` inside the container. */
export interface BindFile {
  source: string;
  destination: string;
}

/** The `rootfs` setup step's config: what runc reads from config.json's root and mounts. */
export interface RootfsConfig {
  /** The host folder that becomes the container's "/" (its own copy of the image). */
  rootfs: string;
  /** pivot_root(2), as runc does; or chroot(2), to see what it leaves open. */
  mode: RootMode;
  /** `docker run --read-only`: the root file system is mounted read-only (/dev, /proc ... are not). */
  readonly?: boolean;
  /** Docker's /etc/hostname, /etc/hosts, /etc/resolv.conf: generated on the host, bind-mounted in. */
  files?: BindFile[];
  /** In a user namespace of its own mknod(2) is refused: bind the host's device nodes instead (runc does). */
  bindDevices?: boolean;
}

/**
 * The whole sequence, run by init as the plan's `rootfs` step. The order is the point: everything is
 * mounted inside the rootfs while the host's "/" is still the root, then the root is switched.
 */
export function setUpRootfs(sys: Syscalls, config: RootfsConfig): void {
  const { rootfs } = config;
  const dev = path.join(rootfs, 'dev');
  // 1. runc's prepareRoot: stop propagation, then make the rootfs a mount point (pivot_root demands one).
  makeMountsPrivate(sys);
  bindMount(sys, rootfs, rootfs);
  // 2. runc's mountToRootfs, for the mounts every Docker container gets.
  for (const dir of ['proc', 'sys', 'dev']) mkdirSync(pathInsideRootfs(rootfs, dir), { recursive: true });
  mountKernelFilesystems(sys, rootfs);
  mountTerminalsAndSharedMemory(sys, dev);
  if (config.bindDevices) bindDeviceNodes(sys, dev);
  else createDeviceNodes(sys, dev);
  linkStandardDevices(dev);
  for (const file of config.files ?? []) bindFile(sys, rootfs, file);
  // 3. The switch. From here on "/" is the rootfs.
  if (config.mode === 'pivot_root') pivotIntoRootfs(sys, rootfs);
  else chrootIntoRootfs(sys, rootfs);
  // 4. runc's finalizeRootfs: read-only last, because everything above writes into the rootfs.
  if (config.readonly) sys.mount(null, '/', null, MS_BIND | MS_REMOUNT | MS_RDONLY);
}

/**
 * On a systemd machine every mount is "shared": a mount made under it in ANY mount namespace that
 * was copied from the host's appears on the host as well. A new mount namespace starts with the same
 * propagation as the old one, so the first thing a runtime does is change it, for "/" and everything
 * under it. (runc's default is MS_SLAVE: the host's new mounts still reach the container, nothing goes
 * back. Private cuts both directions.)
 */
export function makeMountsPrivate(sys: Syscalls): void {
  // EXERCISE(mount.private): Make "/" and every mount below it private (MS_REC | MS_PRIVATE), so that nothing mounted in this namespace propagates to the host.
  // HINT: Propagation is changed with mount(2) with no source, no file system type and no data: only a target and flags.
  // HINT: MS_PRIVATE changes one mount; MS_REC applies the change to every mount below the target too. The target is "/".
  // HINT: man 2 mount, "Changing the propagation type of an existing mount"; man 7 mount_namespaces, "Shared subtrees".
  sys.mount(null, '/', null, MS_REC | MS_PRIVATE);
  // END EXERCISE
}

/**
 * A bind mount makes a folder (or a file) appear at a second place: same files, no copy. Binding the
 * rootfs onto itself turns an ordinary folder into a mount point, which pivot_root(2) requires of its
 * new root; Docker's generated /etc files get into the container the same way.
 */
export function bindMount(sys: Syscalls, source: string, target: string): void {
  // EXERCISE(mount.bind): Bind-mount source onto target (MS_BIND | MS_REC), with every mount below source: a recursive bind, "rbind".
  // HINT: A bind mount is mount(2) with a flag that says "bind"; the file system type and the data are ignored (null).
  // HINT: MS_BIND makes the bind; MS_REC takes the mounts under the source along, like `mount --rbind`. Docker's spec says "rbind" for these.
  // HINT: man 2 mount, "Creating a bind mount"; man 8 mount, --rbind.
  sys.mount(source, target, null, MS_BIND | MS_REC);
  // END EXERCISE
}

/**
 * The kernel's own file systems, mounted inside the rootfs as Docker's default mounts list has them:
 *   /proc  a new proc: this container's processes (init is PID 1 of its PID namespace already)
 *   /sys   sysfs, READ-ONLY: a container may look at the kernel's devices and settings, not change them
 *   /dev   an empty tmpfs: the container gets only the device nodes we create, not the host's disks
 */
export function mountKernelFilesystems(sys: Syscalls, rootfs: string): void {
  // EXERCISE(mount.kernel-fs): Mount proc on rootfs/proc and sysfs on rootfs/sys (MS_NOSUID|MS_NODEV|MS_NOEXEC, sysfs also MS_RDONLY), and a tmpfs on rootfs/dev with MS_NOSUID|MS_STRICTATIME and the data "mode=755,size=65536k", as runc does.
  // HINT: Three mount(2) calls: (source, target, fstype, flags, data). The source of a virtual file system is only a label: 'proc', 'sysfs', 'tmpfs'.
  // HINT: The targets are inside the rootfs (path.join(rootfs, 'proc') ...); only the tmpfs takes data, the other two take none.
  // HINT: runc's default mounts (libcontainer/specconv/example.go) list these flags; man 2 mount explains MS_STRICTATIME, man 5 tmpfs the mode= and size= options.
  sys.mount('proc', path.join(rootfs, 'proc'), 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC);
  sys.mount('sysfs', path.join(rootfs, 'sys'), 'sysfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  sys.mount('tmpfs', path.join(rootfs, 'dev'), 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755,size=65536k');
  // END EXERCISE
}

/** /dev/pts: a devpts of the container's own, so its terminals are not the host's; /dev/shm for POSIX shared memory. */
function mountTerminalsAndSharedMemory(sys: Syscalls, dev: string): void {
  mkdirSync(path.join(dev, 'pts'), { recursive: true });
  sys.mount('devpts', path.join(dev, 'pts'), 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  mkdirSync(path.join(dev, 'shm'), { recursive: true });
  sys.mount('shm', path.join(dev, 'shm'), 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=65536k');
}

/** The device nodes every container gets (the OCI runtime spec's "default devices"), as character devices. */
export const DEFAULT_DEVICES: readonly { name: string; major: number; minor: number }[] = [
  { name: 'null', major: 1, minor: 3 },
  { name: 'zero', major: 1, minor: 5 },
  { name: 'full', major: 1, minor: 7 },
  { name: 'random', major: 1, minor: 8 },
  { name: 'urandom', major: 1, minor: 9 },
  { name: 'tty', major: 5, minor: 0 },
];

/** A device number as glibc's makedev(3) packs it: the kernel knows a device by (major, minor). */
export function makedev(major: number, minor: number): number {
  // Bits 0-7: the minor's low 8 bits; 8-19: the major's low 12; 20-43: the rest of the minor; 44-63: the rest of
  // the major. (Arithmetic, not << : JavaScript's shifts stop at 32 bits. Linux majors fit in 12 bits anyway.)
  return (minor & 0xff) + (major & 0xfff) * 2 ** 8 + Math.floor(minor / 0x100) * 2 ** 20 + Math.floor(major / 0x1000) * 2 ** 44;
}

/**
 * A device node is a special file: opening it reaches a driver, picked by the node's type and numbers,
 * not by its name. mknod(2) makes one anywhere; the numbers are what make /dev/null the null device.
 */
export function createDeviceNodes(sys: Syscalls, dev: string): void {
  // EXERCISE(mount.devices): Create each of DEFAULT_DEVICES in `dev` as a character device (S_IFCHR), mode 0666, with its major and minor number; set the umask to 0 while you do, and restore the old one after.
  // HINT: mknod(2) makes a device node from a path, a mode (the file type and the permissions together) and a device number.
  // HINT: The umask filters mknod's permissions like any new file's: set it to 0 first (sys.umask returns the old one), put the old one back after — in a finally, so an error cannot leave it at 0.
  // HINT: man 2 mknod, man 3 makedev (makedev is in this file), man 2 umask; runc does the same in libcontainer/rootfs_linux.go.
  const previousMask = sys.umask(0);
  try {
    for (const device of DEFAULT_DEVICES) {
      sys.mknod(path.join(dev, device.name), S_IFCHR | 0o666, makedev(device.major, device.minor));
    }
  } finally {
    sys.umask(previousMask);
  }
  // END EXERCISE
}

/**
 * The same devices, for a container in a user namespace of its own: the kernel lets only the initial
 * user namespace's CAP_MKNOD make device nodes (a node is a door to a driver, and a namespace's root is
 * no one on the host), so each is the host's own node bind-mounted onto an empty file — runc's
 * bindMountDeviceNode. Which devices the node reaches is still the device cgroup's decision.
 */
export function bindDeviceNodes(sys: Syscalls, dev: string): void {
  for (const device of DEFAULT_DEVICES) {
    const target = path.join(dev, device.name);
    closeSync(openSync(target, 'a', 0o666));
    sys.mount(`/dev/${device.name}`, target, null, MS_BIND);
  }
}

/** The links a program expects in /dev: its own open files (/dev/fd/N) and the pseudo-terminal multiplexer. */
function linkStandardDevices(dev: string): void {
  const links: [string, string][] = [
    ['fd', '/proc/self/fd'],
    ['stdin', '/proc/self/fd/0'],
    ['stdout', '/proc/self/fd/1'],
    ['stderr', '/proc/self/fd/2'],
    ['ptmx', 'pts/ptmx'], // the new devpts instance's own ptmx, not the host's
  ];
  for (const [name, target] of links) symlinkSync(target, path.join(dev, name));
}

/**
 * rootfs + a path of the image, for writing to while the HOST's "/" is still the root. A symbolic link
 * anywhere along the path would be followed on the host (an image's etc → /tmp/x makes "etc/hostname"
 * a host file), so every part that exists must be a real directory or file. runc resolves such paths
 * inside the rootfs with securejoin; refusing is the simpler safe answer, and images need no such links.
 */
export function pathInsideRootfs(rootfs: string, relative: string): string {
  let current = rootfs;
  for (const part of relative.split('/').filter((name) => name !== '' && name !== '.')) {
    if (part === '..') throw new Error(`rootfs: "${relative}" climbs out of the root file system`);
    current = path.join(current, part);
    if (existsSync(current) && lstatSync(current).isSymbolicLink()) {
      throw new Error(`rootfs: ${path.relative(rootfs, current)} is a symbolic link in the image; refusing to write through it`);
    }
  }
  return current;
}

/** Puts one generated host file over the image's copy (Docker's /etc/hostname, /etc/hosts, /etc/resolv.conf). */
function bindFile(sys: Syscalls, rootfs: string, file: BindFile): void {
  const target = pathInsideRootfs(rootfs, file.destination);
  // A bind mount needs something to cover: an empty file will do, as runc creates one.
  mkdirSync(path.dirname(target), { recursive: true });
  if (!existsSync(target)) closeSync(openSync(target, 'a'));
  bindMount(sys, file.source, target);
}

/**
 * pivot_root(new_root, put_old) swaps the namespace's root mount: new_root becomes "/", the old root
 * is moved to put_old, from where it can be unmounted — then nothing of the host's file system is left
 * in the namespace. With "." for both (runc's way, and pivot_root(2)'s manual's): the old root ends up
 * stacked on top of the new one at "/", and unmounting "." removes the top one, the old root.
 */
export function pivotIntoRootfs(sys: Syscalls, rootfs: string): void {
  // EXERCISE(mount.pivot): Make rootfs the namespace's root with pivot_root(".", ".") from inside it, detach the old root (umount2 with MNT_DETACH), and move to the new "/".
  // HINT: Four calls: go into the rootfs, pivot, get rid of the old root, go to the new "/".
  // HINT: With "." for both arguments the old root ends up stacked on "." after the pivot; it is busy (this very process uses it), so it can only be unmounted lazily.
  // HINT: man 2 pivot_root, the NOTES on pivot_root(".", "."); man 2 umount2 (MNT_DETACH); runc's pivotRoot in libcontainer/rootfs_linux.go.
  sys.chdir(rootfs);
  sys.pivotRoot('.', '.');
  sys.umount2('.', MNT_DETACH);
  sys.chdir('/');
  // END EXERCISE
}

/**
 * The old way: change this process's root directory, and nothing else. The namespace's mount table
 * still holds the host's whole tree above the rootfs; only path lookups stop at the new root. runc
 * falls back to a variant of this (MS_MOVE of the rootfs onto "/", then chroot) where pivot_root is
 * impossible: when "/" is a ramfs/initramfs, which can never be unmounted (Docker's DOCKER_RAMDISK).
 */
export function chrootIntoRootfs(sys: Syscalls, rootfs: string): void {
  sys.chroot(rootfs);
  sys.chdir('/');
}

/**
 * runc's --no-pivot (its msMoveRoot): for a "/" that pivot_root refuses — the initramfs, which can never
 * be unmounted (Docker's DOCKER_RAMDISK) — the rootfs is moved onto "/" with MS_MOVE and the process
 * chroots into it. First every other mount of the namespace is detached (all but the rootfs, what is
 * under it and its ancestors), so that the host's tree is not merely out of sight, as after a chroot,
 * but gone from the namespace.
 */
export function moveIntoRootfs(sys: Syscalls, rootfs: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): void {
  const keep = (point: string) => point === '/' || point === rootfs || point.startsWith(`${rootfs}/`) || rootfs.startsWith(`${point}/`);
  for (const { mountPoint } of parseMountinfo(mountinfo).reverse()) {
    if (keep(mountPoint)) continue;
    try {
      sys.umount2(mountPoint, MNT_DETACH);
    } catch {
      // gone already with a parent detached before it
    }
  }
  sys.chdir(rootfs);
  sys.mount(rootfs, '/', null, MS_MOVE);
  sys.chroot('.');
  sys.chdir('/');
}

/**
 * The classic chroot escape, as any process inside the container with CAP_SYS_CHROOT (root in a
 * default Docker container has it) could run it. Run by init as the `chrootEscape` step, right before
 * the command, because BusyBox has no tool that calls chroot(2) without chdir(2).
 *
 * It works because chroot() moves the root but not the working directory, and ".." stops only AT the
 * root: once the root is below the working directory, nothing stops the climb but the top of the
 * mount namespace. After chroot() that top is the host's "/"; after pivot_root() it is the rootfs,
 * because the old root is not in the namespace any more.
 */
export function escapeChroot(sys: Syscalls, climbs = 64): void {
  // 1. A root BELOW the working directory ("/" of the container): any folder will do, /tmp is always there.
  sys.chroot('/tmp');
  // 2. Climb. The kernel checks each ".." against the root, and the root is not on our way up.
  for (let step = 0; step < climbs; step++) sys.chdir('..');
  // 3. Wherever the climb ended becomes the root.
  sys.chroot('.');
}

/** One line of /proc/PID/mountinfo: a mount as the namespace of PID sees it. */
export interface MountEntry {
  id: number;
  parentId: number;
  /** The folder of the mounted file system that appears here: "/" for a whole one, a subfolder for a bind mount. */
  root: string;
  mountPoint: string;
  /** Per-mount options: "rw" or "ro", "nosuid", "relatime" ... */
  options: string[];
  /** The propagation tags: "shared:N" (peer group N), "master:N", "propagate_from:N", "unbindable"; none when private. */
  propagation: string[];
  fsType: string;
  source: string;
}

/** The kernel writes a space, tab, newline and backslash in paths as \040, \011, \012 and \134. */
export function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Parses /proc/PID/mountinfo (proc(5)). One line per mount:
 *
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime shared:1 master:2 - ext3 /dev/root rw,errors=continue
 *   id parent dev root mount-point options [optional fields...] - fstype source super-options
 *
 * The optional fields (zero or more) hold the propagation; a single "-" ends them.
 */
export function parseMountinfo(text: string): MountEntry[] {
  // EXERCISE(mount.mountinfo): Parse every non-empty line of a mountinfo text into a MountEntry (paths unescaped with unescapeMountinfo, the optional fields as its propagation); throw on a line without the " - " separator.
  // HINT: Split each line on spaces. Fields 0-5 are fixed; the optional fields run from index 6 up to a lone "-" field; the file system type and the source follow it.
  // HINT: Paths (root, mount point, source) are escaped, a space is \040: pass them through unescapeMountinfo. Options are comma-separated.
  // HINT: man 5 proc, /proc/[pid]/mountinfo: the fields numbered (1) to (11).
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 3) throw new Error(`not a mountinfo line: ${line}`);
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      root: unescapeMountinfo(fields[3]!),
      mountPoint: unescapeMountinfo(fields[4]!),
      options: fields[5]!.split(','),
      propagation: fields.slice(6, dash),
      fsType: fields[dash + 1]!,
      source: unescapeMountinfo(fields[dash + 2]!),
    });
  }
  return entries;
  // END EXERCISE
}

/** "shared:12", "master:3", "shared:4 master:1", or "private" (no tag at all). */
export function propagationOf(entry: MountEntry): string {
  return entry.propagation.length === 0 ? 'private' : entry.propagation.join(' ');
}

// --- the propagation demonstration (lesson step 2 and 3) ---------------------------------------------

/**
 * Demo step for the "fake host": bind a folder onto itself and make that mount shared, as every mount
 * is on a systemd host. It runs in a throwaway mount namespace, so the real host is never touched.
 */
export function makeSharedMount(sys: Syscalls, target: string): void {
  sys.mount(target, target, null, MS_BIND);
  sys.mount(null, target, null, MS_SHARED);
}

/**
 * Demo step for a "container" that joined the fake host's namespace: what a runtime does first —
 * unshare(CLONE_NEWNS), with or without making its mounts private — and then one mount under the
 * shared folder. Whether the fake host sees that mount is the whole question.
 */
export function mountInNewNamespace(sys: Syscalls, config: { target: string; makePrivate: boolean }): void {
  sys.unshare(CLONE_NEWNS);
  if (config.makePrivate) makeMountsPrivate(sys);
  sys.mount('lab-demo', config.target, 'tmpfs', MS_NOSUID | MS_NODEV, 'size=1m');
}
