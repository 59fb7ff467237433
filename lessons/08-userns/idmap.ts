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
 * Three system calls of the new mount API make one, and none has a glibc wrapper in older distros:
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
import { createRequire } from 'node:module';
import { SyscallError } from '../../src/sys/index.js';
import { program, runProgram } from './container.js';

// koffi is a CommonJS native addon; createRequire keeps this file a plain ES module.
const require = createRequire(import.meta.url);

/** The new mount API's system call numbers: the same on every architecture (they came after 5.1's unified table). */
const SYS_open_tree = 428;
const SYS_move_mount = 429;
const SYS_mount_setattr = 442;

const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x00000004;
export const MOUNT_ATTR_IDMAP = 0x00100000;
/** struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; }: its first version, 32 bytes. */
const MOUNT_ATTR_SIZE_VER0 = 32;
/** ioctl(2) on a /proc/PID/ns/* file: the user namespace that owns it (ioctl_ns(2); _IO(0xb7, 0x1)). */
const NS_GET_USERNS = 0xb701;

type Koffi = typeof import('koffi');

let bound: { koffi: Koffi; syscall: (...args: unknown[]) => number | bigint; ioctl: (...args: unknown[]) => number; strerror: (errno: number) => string } | undefined;

function libc() {
  if (!bound) {
    const koffi = require('koffi') as Koffi;
    const lib = koffi.load('libc.so.6');
    bound = {
      koffi,
      syscall: lib.func('long syscall(long number, ...)') as never,
      ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)') as never,
      strerror: lib.func('const char *strerror(int errnum)') as never,
    };
  }
  return bound;
}

function check(result: number | bigint, call: string, args: unknown[]): number {
  if (Number(result) >= 0) return Number(result);
  const { koffi, strerror } = libc();
  const errno = koffi.errno();
  throw new SyscallError(call, args, errno, strerror(errno));
}

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
export function idmappedTree(folder: string, usernsPath: string): number {
  const { syscall } = libc();
  const tree = check(syscall(SYS_open_tree, 'int', AT_FDCWD, 'const char *', folder, 'unsigned int', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), 'open_tree', [folder, 'OPEN_TREE_CLONE']);
  const userns = openSync(usernsPath, 'r');
  try {
    const attr = Buffer.alloc(MOUNT_ATTR_SIZE_VER0);
    attr.writeBigUInt64LE(BigInt(MOUNT_ATTR_IDMAP), 0); // attr_set
    attr.writeBigUInt64LE(BigInt(userns), 24); // userns_fd
    const args = ['int', tree, 'const char *', '', 'unsigned int', AT_EMPTY_PATH, 'void *', attr, 'size_t', MOUNT_ATTR_SIZE_VER0];
    check(syscall(SYS_mount_setattr, ...args), 'mount_setattr', [tree, '', 'AT_EMPTY_PATH', `{attr_set=MOUNT_ATTR_IDMAP, userns_fd=${usernsPath}}`]);
    return tree;
  } catch (error) {
    closeSync(tree);
    throw error;
  } finally {
    closeSync(userns);
  }
}

/** Attaches a detached tree at `target`, in the CALLER's mount namespace: move_mount(2). */
export function attachTree(tree: number, target: string): void {
  const { syscall } = libc();
  check(syscall(SYS_move_mount, 'int', tree, 'const char *', '', 'int', AT_FDCWD, 'const char *', target, 'unsigned int', MOVE_MOUNT_F_EMPTY_PATH), 'move_mount', [tree, '', 'AT_FDCWD', target, 'MOVE_MOUNT_F_EMPTY_PATH']);
}

/** The user namespace that owns a namespace, e.g. "user:[4026531837]": ioctl(NS_GET_USERNS) on /proc/PID/ns/KIND. */
export function ownerOfNamespace(nsPath: string): string {
  const { ioctl } = libc();
  const ns = openSync(nsPath, 'r');
  try {
    const owner = check(ioctl(ns, NS_GET_USERNS, 'int', 0), 'ioctl', [nsPath, 'NS_GET_USERNS']);
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
