import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { SYS_pivot_root, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK } from './constants.js';
import { SyscallError } from './errors.js';
import type { Syscalls } from './syscalls.js';

// koffi is a CommonJS native addon; createRequire keeps this file a plain ES module.
const require = createRequire(import.meta.url);
type Koffi = typeof import('koffi');

/**
 * The real system calls: glibc's wrappers, bound with koffi. Every wrapper returns -1 and sets errno
 * on failure; koffi.errno() must be read right after the call, before anything else can touch it.
 */
export class LinuxSyscalls implements Syscalls {
  private readonly koffi: Koffi = require('koffi');
  private readonly libc: ReturnType<Koffi['load']> = this.koffi.load('libc.so.6');
  private readonly fns = {
    unshare: this.libc.func('int unshare(int flags)'),
    setns: this.libc.func('int setns(int fd, int nstype)'),
    sethostname: this.libc.func('int sethostname(const char *name, size_t len)'),
    setdomainname: this.libc.func('int setdomainname(const char *name, size_t len)'),
    mount: this.libc.func(
      'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
    ),
    umount2: this.libc.func('int umount2(const char *target, int flags)'),
    syscall: this.libc.func('long syscall(long number, ...)'),
    chroot: this.libc.func('int chroot(const char *path)'),
    chdir: this.libc.func('int chdir(const char *path)'),
    fchdir: this.libc.func('int fchdir(int fd)'),
    mknod: this.libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)'),
    lsetxattr: this.libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)'),
    lgetxattr: this.libc.func('intptr_t lgetxattr(const char *path, const char *name, _Out_ uint8_t *value, size_t size)'),
    umask: this.libc.func('uint32_t umask(uint32_t mask)'),
    execve: this.libc.func('int execve(const char *path, const char **argv, const char **envp)'),
    prctl: this.libc.func('int prctl(int option, ...)'),
    fcntl: this.libc.func('int fcntl(int fd, int cmd, ...)'),
    closeRange: this.libc.func('int close_range(unsigned int first, unsigned int last, int flags)'),
    signal: this.libc.func('void *signal(int sig, void *handler)'),
    sigprocmask: this.libc.func('int sigprocmask(int how, const uint8_t *set, uint8_t *oldset)'),
    getpid: this.libc.func('int getpid()'),
    getppid: this.libc.func('int getppid()'),
    flock: this.libc.func('int flock(int fd, int operation)'),
    open: this.libc.func('int open(const char *path, int flags, ...)'),
    close: this.libc.func('int close(int fd)'),
    dup2: this.libc.func('int dup2(int oldfd, int newfd)'),
    setsid: this.libc.func('int setsid()'),
    getpgrp: this.libc.func('int getpgrp()'),
    getsid: this.libc.func('int getsid(int pid)'),
    // Variadic, like open and fcntl: each call says what its third argument is ('int' or 'void *').
    ioctl: this.libc.func('int ioctl(int fd, unsigned long request, ...)'),
    strerror: this.libc.func('const char *strerror(int errnum)'),
  };

  /** Turns glibc's "-1 and errno" into a SyscallError that says which call failed and how. */
  private check(result: number | bigint, call: string, args: unknown[]): number {
    if (Number(result) !== -1) return Number(result);
    const errno = this.koffi.errno();
    throw new SyscallError(call, args, errno, this.fns.strerror(errno) as string);
  }

  unshare(flags: number): void {
    this.check(this.fns.unshare(flags), 'unshare', [flags]);
  }
  setns(fd: number, nstype: number): void {
    this.check(this.fns.setns(fd, nstype), 'setns', [fd, nstype]);
  }
  sethostname(name: string): void {
    this.check(this.fns.sethostname(name, Buffer.byteLength(name)), 'sethostname', [name]);
  }
  setdomainname(name: string): void {
    this.check(this.fns.setdomainname(name, Buffer.byteLength(name)), 'setdomainname', [name]);
  }
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
    this.check(this.fns.mount(source, target, fstype, flags, data), 'mount', [source, target, fstype, flags, data]);
  }
  umount2(target: string, flags: number): void {
    this.check(this.fns.umount2(target, flags), 'umount2', [target, flags]);
  }
  pivotRoot(newRoot: string, putOld: string): void {
    const number = SYS_pivot_root[process.arch];
    if (number === undefined) throw new Error(`pivot_root: no syscall number known for ${process.arch}`);
    this.check(this.fns.syscall(number, 'const char *', newRoot, 'const char *', putOld), 'pivot_root', [newRoot, putOld]);
  }
  chroot(path: string): void {
    this.check(this.fns.chroot(path), 'chroot', [path]);
  }
  chdir(path: string): void {
    this.check(this.fns.chdir(path), 'chdir', [path]);
  }
  fchdir(fd: number): void {
    this.check(this.fns.fchdir(fd), 'fchdir', [fd]);
  }
  mknod(path: string, mode: number, dev: number): void {
    this.check(this.fns.mknod(path, mode, dev), 'mknod', [path, mode, dev]);
  }
  lsetxattr(path: string, name: string, value: string): void {
    const bytes = Buffer.from(value);
    this.check(this.fns.lsetxattr(path, name, bytes, bytes.length, 0), 'lsetxattr', [path, name, value]);
  }
  lgetxattr(path: string, name: string): string | null {
    const buffer = Buffer.alloc(4096); // overlayfs's attributes are a few bytes; 4 KiB is plenty
    const length = Number(this.fns.lgetxattr(path, name, buffer, buffer.length));
    if (length === -1 && this.koffi.errno() === osConstants.errno.ENODATA) return null;
    this.check(length, 'lgetxattr', [path, name]);
    return buffer.subarray(0, length).toString();
  }
  umask(mask: number): number {
    return this.fns.umask(mask) as number; // umask(2) always succeeds
  }
  execve(path: string, argv: readonly string[], envp: readonly string[]): never {
    // Both arrays are NULL-terminated in C.
    this.fns.execve(path, [...argv, null], [...envp, null]);
    this.check(-1, 'execve', [path, argv]);
    throw new Error('unreachable: execve returned without an error');
  }
  prctl(option: number, arg: number): void {
    this.check(this.fns.prctl(option, 'unsigned long', arg, 'unsigned long', 0, 'unsigned long', 0, 'unsigned long', 0), 'prctl', [option, arg]);
  }
  fcntl(fd: number, cmd: number, arg: number): number {
    return this.check(this.fns.fcntl(fd, cmd, 'int', arg), 'fcntl', [fd, cmd, arg]);
  }
  closeRange(first: number, last: number, flags: number): void {
    this.check(this.fns.closeRange(first, last >>> 0, flags), 'close_range', [first, last, flags]);
  }
  resetSignal(signal: number): void {
    this.fns.signal(signal, null); // SIG_DFL is the null handler; SIGKILL/SIGSTOP just fail, harmlessly
  }
  unblockAllSignals(): void {
    const emptySet = new Uint8Array(128); // sizeof(sigset_t) in glibc
    this.check(this.fns.sigprocmask(SIG_SETMASK, emptySet, null), 'sigprocmask', [SIG_SETMASK]);
  }
  getpid(): number {
    return this.fns.getpid() as number;
  }
  getppid(): number {
    return this.fns.getppid() as number;
  }
  flock(fd: number, operation: number): void {
    this.check(this.fns.flock(fd, operation), 'flock', [fd, operation]);
  }
  open(path: string, flags: number, mode = 0): number {
    return this.check(this.fns.open(path, flags, 'uint32_t', mode), 'open', [path, flags]);
  }
  close(fd: number): void {
    this.check(this.fns.close(fd), 'close', [fd]);
  }
  dup2(oldFd: number, newFd: number): void {
    this.check(this.fns.dup2(oldFd, newFd), 'dup2', [oldFd, newFd]);
  }
  setsid(): number {
    return this.check(this.fns.setsid(), 'setsid', []);
  }
  getsid(pid: number): number {
    return this.check(this.fns.getsid(pid), 'getsid', [pid]);
  }
  getpgrp(): number {
    return this.fns.getpgrp() as number; // getpgrp(2) always succeeds
  }
  setSignalBlocked(signal: number, blocked: boolean): void {
    // sigset_t is a bit array, signal n at bit n-1, in the machine's byte order (little-endian on
    // x86_64 and arm64, where the byte of bit b is b >> 3).
    const set = new Uint8Array(128); // sizeof(sigset_t) in glibc
    set[(signal - 1) >> 3] = 1 << ((signal - 1) & 7);
    const how = blocked ? SIG_BLOCK : SIG_UNBLOCK;
    this.check(this.fns.sigprocmask(how, set, null), 'sigprocmask', [how, signal]);
  }
  ioctlInt(fd: number, request: number, value: number): number {
    return this.check(this.fns.ioctl(fd, request, 'int', value), 'ioctl', [fd, request, value]);
  }
  ioctlPtr(fd: number, request: number, buffer: Uint8Array): number {
    // koffi passes a typed array's own memory as the pointer: what the kernel writes lands in `buffer`.
    return this.check(this.fns.ioctl(fd, request, 'void *', buffer), 'ioctl', [fd, request]);
  }
}
