/**
 * Masked and read-only paths: /proc and /sys are the kernel's own interfaces, and a new PID or mount
 * namespace hides only part of them. The OCI config lists what to cover (runc's default spec):
 *
 *   linux.maskedPaths    made empty: /proc/kcore (the host's memory), /proc/keys, /proc/timer_list ...
 *                        a file gets /dev/null bound over it, a folder an empty read-only tmpfs;
 *   linux.readonlyPaths  bound onto themselves read-only: /proc/sys, /proc/sysrq-trigger, /proc/irq ...
 *                        a write then fails with EROFS before the kernel even looks at it.
 *
 * Init does this in the container's own mount namespace, after its root file system is in place
 * (runc: maskPath and readonlyPath in rootfs_linux.go). Paths the kernel does not have are skipped.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, type Syscalls } from '../../src/sys/index.js';

function kindOf(target: string): 'file' | 'folder' | 'missing' {
  try {
    return statSync(target).isDirectory() ? 'folder' : 'file';
  } catch {
    return 'missing'; // e.g. /proc/timer_stats, gone since Linux 4.11: nothing to hide
  }
}

/**
 * A mount made where mounts are shared would appear on the host too: /dev/null over the HOST's
 * /proc/kcore. The mount step before this one makes every mount of the container private; if it did
 * not (a plan without it, an unfinished exercise), nothing is mounted.
 */
export function refuseSharedMounts(): void {
  const shared = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).find((mount) => mount.optionalFields.some((field) => field.startsWith('shared:')));
  if (shared) throw new Error(`${shared.mountPoint} is a shared mount: masking /proc here would change the host's too (the root file system step makes the container's mounts private first)`);
}

/** Init's step: every masked path made empty, every read-only path bound read-only, in the container. */
export function protectPaths(sys: Syscalls, config: { masked: string[]; readonly: string[] }): void {
  // EXERCISE(paths.protect): Mask each of config.masked (a file: bind /dev/null over it; a folder: mount an empty tmpfs with MS_RDONLY; missing: skip) and make each of config.readonly read-only (bind it onto itself with MS_BIND | MS_REC, then remount it with MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC; missing: skip).
  // HINT: kindOf(path) says 'file', 'folder' or 'missing'. A bind mount of /dev/null makes a file read as empty; a folder needs a file system of its own: tmpfs, source "tmpfs", no data.
  // HINT: A bind mount's flags cannot be set when it is made: the second mount call, with MS_REMOUNT | MS_BIND on the same path, makes it read-only. Keep nosuid, nodev and noexec, which /proc has already.
  // HINT: man 2 mount ("Creating a bind mount", "Remounting an existing mount"); runc: maskPath and readonlyPath in libcontainer/rootfs_linux.go.
  for (const target of config.masked) {
    const kind = kindOf(target);
    if (kind === 'file') sys.mount('/dev/null', target, null, MS_BIND, null);
    // An empty tmpfs, read-only: the folder's entries disappear and nothing can be made in it.
    else if (kind === 'folder') sys.mount('tmpfs', target, 'tmpfs', MS_RDONLY, null);
  }
  for (const target of config.readonly) {
    if (kindOf(target) === 'missing') continue;
    // A bind mount's flags change only with a second call: MS_REMOUNT|MS_BIND on the new mount point.
    // nosuid, nodev and noexec are what /proc and /sys carry already; a remount that dropped them would be refused.
    sys.mount(target, target, null, MS_BIND | MS_REC, null);
    sys.mount(target, target, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
  }
  // END EXERCISE
}
