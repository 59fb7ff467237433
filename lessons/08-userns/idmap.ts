/**
 * Idmapped mounts (Linux 5.12): a view of a folder whose files' owners are shifted through a user
 * namespace's mapping, while the files on disk stay as they are.
 *
 * An image's files belong to the host's root (0). In a user namespace mapped "0 100000 65536", host
 * ID 0 is not mapped at all: the container would see them as nobody (65534) and could not write its
 * own /etc. Copying and chowning every layer to 100000 works, but costs a copy per mapping (that is
 * what Docker's userns-remap does). An idmapped mount does it at no cost: through the mount, host 0
 * reads as 100000 — the container's root — and a file the container's root creates is written as 0.
 *
 * Three system calls of the new mount API make one (src/sys: none has a glibc wrapper in older distros):
 *
 *   open_tree(AT_FDCWD, folder, OPEN_TREE_CLONE)       a copy of the folder's mount, attached nowhere
 *   mount_setattr(tree, "", AT_EMPTY_PATH, {attr_set: MOUNT_ATTR_IDMAP, userns_fd})
 *                                                      the copy takes the user namespace's mapping
 *   move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)
 *                                                      and is attached at target, in the caller's mount namespace
 *
 * Setting the mapping needs CAP_SYS_ADMIN over the file system's own user namespace (the host's, for a
 * disk): a container cannot idmap its image itself; the runtime does it for it (runc ≥ 1.2, crun).
 */
import { closeSync, openSync, readlinkSync } from 'node:fs';
import { linuxSyscalls, SyscallError, type Syscalls } from '../../src/sys/index.js';
import { program, runProgram } from './container.js';

/** ioctl(2) on a /proc/PID/ns/* file: the user namespace that owns it (ioctl_ns(2); _IO(0xb7, 0x1)). */
const NS_GET_USERNS = 0xb701;

/** What a failed step of an idmapped mount means on this machine, in one line. */
export function explainIdmapFailure(error: unknown): string {
  const code = (error as SyscallError).code;
  const call = (error as SyscallError).call;
  if (code === 'ENOSYS') return `${call}: this kernel has no new mount API (open_tree and move_mount need Linux 5.2, mount_setattr 5.12)`;
  if (code === 'EINVAL' && call === 'mount_setattr') return 'mount_setattr: this file system cannot be idmapped on this kernel (ext4, xfs, btrfs from 5.12–5.15; tmpfs from 6.3)';
  if (code === 'EPERM') return `${call}: EPERM — an idmapped mount needs CAP_SYS_ADMIN over the file system's user namespace (root on the host)`;
  return (error as Error).message;
}

/**
 * A detached copy of `folder`'s mount whose owners are seen through the user namespace at
 * `usernsPath` (/proc/PID/ns/user): open_tree, then mount_setattr. The descriptor is the caller's to
 * close; while open, `/proc/self/fd/N/…` reads the folder through the mapping without mounting it anywhere.
 */
export function idmappedTree(folder: string, usernsPath: string, sys: Syscalls = linuxSyscalls()): number {
  const tree = sys.openTreeClone(folder);
  const userns = openSync(usernsPath, 'r');
  try {
    sys.idmapTree(tree, userns);
    return tree;
  } catch (error) {
    closeSync(tree);
    throw error;
  } finally {
    closeSync(userns);
  }
}

/** Attaches a detached tree at `target`, in the CALLER's mount namespace: move_mount(2). */
export function attachTree(tree: number, target: string, sys: Syscalls = linuxSyscalls()): void {
  sys.moveMount(tree, target);
}

/** The user namespace that owns a namespace, e.g. "user:[4026531837]": ioctl(NS_GET_USERNS) on /proc/PID/ns/KIND. */
export function ownerOfNamespace(nsPath: string, sys: Syscalls = linuxSyscalls()): string {
  const ns = openSync(nsPath, 'r');
  try {
    const owner = sys.ioctlInt(ns, NS_GET_USERNS, 0);
    try {
      return readlinkSync(`/proc/self/fd/${owner}`);
    } finally {
      closeSync(owner);
    }
  } catch (error) {
    // EPERM: the owner is an ancestor of our own user namespace, which a process may not open.
    if ((error as SyscallError).code === 'EPERM') return '(above ours)';
    throw error;
  } finally {
    closeSync(ns);
  }
}

/**
 * Binds `source` at `target` through the mapping of the user namespace at `usernsPath`, in the mount
 * namespace of process `pid` — never in ours. move_mount attaches in the CALLER's mount namespace, and
 * Node cannot join another one (setns demands a single-threaded caller), so a small program does it:
 * nsenter joins the container's mount namespace (and only that: it stays the host's root, whose power
 * the idmapping needs) and executes bind-idmapped.ts there.
 */
export async function bindIdmappedInto(pid: number, usernsPath: string, source: string, target: string): Promise<void> {
  const script = new URL('./bind-idmapped.ts', import.meta.url).pathname;
  const tsx = import.meta.resolve('tsx');
  const { status, stderr } = await runProgram([program('nsenter'), `--mount=/proc/${pid}/ns/mnt`, '--', process.execPath, '--import', tsx, script, usernsPath, source, target]);
  if (status !== 0) throw new Error(stderr.trim().split('\n').at(-1) || `bind-idmapped.ts failed (exit ${status})`);
}
