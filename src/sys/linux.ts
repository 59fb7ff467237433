import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import {
  AT_EMPTY_PATH, AT_FDCWD, BPF_PROG_ATTACH, BPF_PROG_LOAD, MOUNT_ATTR_IDMAP, MOVE_MOUNT_F_EMPTY_PATH, OPEN_TREE_CLOEXEC, OPEN_TREE_CLONE, SYS_bpf, SYS_mount_setattr,
  SYS_move_mount, SYS_open_tree, SYS_pivot_root, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK,
} from './constants.js';
import { SyscallError } from './errors.js';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SeccompFilter, Syscalls } from './syscalls.js';
import { shortSocketPath } from './socket-path.js';

// koffi is a CommonJS native addon; createRequire keeps this file a plain ES module.
const require = createRequire(import.meta.url);
type Koffi = typeof import('koffi');

/** capset(2)'s header version for 64-bit capability sets (linux/capability.h). */
const _LINUX_CAPABILITY_VERSION_3 = 0x20080522;
/** rlim_t's "no limit". */
const RLIM_INFINITY = 0xffffffffffffffffn;
/** socket(2)'s family and type for a unix stream socket, closed on exec. */
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
/** What seccomp_syscall_resolve_name returns for a name libseccomp does not know. */
const NR_SCMP_ERROR = -1;

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
    capset: this.libc.func('int capset(const uint8_t *header, const uint8_t *data)'),
    prlimit: this.libc.func('int prlimit(int pid, int resource, const uint8_t *newLimit, uint8_t *oldLimit)'),
    setgroups: this.libc.func('int setgroups(size_t size, const uint32_t *list)'),
    setresgid: this.libc.func('int setresgid(uint32_t rgid, uint32_t egid, uint32_t sgid)'),
    setresuid: this.libc.func('int setresuid(uint32_t ruid, uint32_t euid, uint32_t suid)'),
    socket: this.libc.func('int socket(int domain, int type, int protocol)'),
    connect: this.libc.func('int connect(int fd, const uint8_t *address, uint32_t length)'),
    sendmsg: this.libc.func('intptr_t sendmsg(int fd, const void *message, int flags)'),
    bind: this.libc.func('int bind(int fd, const uint8_t *address, uint32_t length)'),
    listen: this.libc.func('int listen(int fd, int backlog)'),
    accept4: this.libc.func('int accept4(int fd, void *address, void *length, int flags)'),
    waitpid: this.libc.func('int waitpid(int pid, _Out_ int *status, int options)'),
  };
  /** struct iovec and struct msghdr (sys/uio.h, sys/socket.h), for sendmsg(2). */
  private readonly iovec = this.koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
  private readonly msghdr = this.koffi.struct({
    msg_name: 'void *', msg_namelen: 'uint32_t', msg_iov: 'void *', msg_iovlen: 'size_t',
    msg_control: 'void *', msg_controllen: 'size_t', msg_flags: 'int',
  });
  /**
   * libseccomp, opened now: the container's init builds its filter after pivot_root, when the host's
   * /usr/lib is out of reach (the image need not have libseccomp). A machine without it fails only
   * when a filter is asked for.
   */
  private readonly seccompLib = this.loadSeccomp();

  /**
   * union bpf_attr as BPF_PROG_LOAD reads it, up to expected_attach_type: its u64 fields hold
   * pointers, which koffi fills in from the buffers given. The kernel zero-fills what a short attr omits.
   */
  private readonly bpfProgLoadAttr = this.koffi.struct({
    prog_type: 'uint32', insn_cnt: 'uint32', insns: 'void *', license: 'const char *',
    log_level: 'uint32', log_size: 'uint32', log_buf: 'void *', kern_version: 'uint32', prog_flags: 'uint32',
    prog_name: this.koffi.array('char', 16), prog_ifindex: 'uint32', expected_attach_type: 'uint32',
  });

  /**
   * struct sockaddr_un for `socketPath` (unix(7)): sa_family_t (2 bytes), then the path, NUL-terminated,
   * in 108 bytes — a long path through its folder's descriptor (socket-path.ts), held until release().
   */
  private unixAddress(socketPath: string): { address: Buffer; length: number; release: () => void } {
    const short = shortSocketPath(socketPath);
    const pathBytes = Buffer.from(short.path);
    const address = Buffer.alloc(110);
    address.writeUInt16LE(AF_UNIX, 0);
    pathBytes.copy(address, 2);
    return { address, length: 2 + pathBytes.length + 1, release: short.release };
  }

  sendFileDescriptor(socketPath: string, fd: number, name: string): void {
    const socket = this.check(this.fns.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 'socket', [AF_UNIX, SOCK_STREAM]);
    // The message lives in memory koffi holds still for the call: the kernel follows its pointers.
    const data = this.koffi.alloc('uint8_t', Math.max(1, Buffer.byteLength(name)));
    const iov = this.koffi.alloc(this.iovec, 1);
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then one int: CMSG_SPACE(4) = 24 bytes.
    const control = Buffer.alloc(24);
    control.writeBigUInt64LE(20n, 0); // CMSG_LEN(sizeof(int))
    control.writeInt32LE(1, 8); // SOL_SOCKET
    control.writeInt32LE(1, 12); // SCM_RIGHTS
    control.writeInt32LE(fd, 16);
    const controlMemory = this.koffi.alloc('uint8_t', control.length);
    try {
      const { address, length, release } = this.unixAddress(socketPath);
      try {
        this.check(this.fns.connect(socket, address, length), 'connect', [socketPath]);
      } finally {
        release();
      }
      const bytes = [...Buffer.from(name)];
      this.koffi.encode(data, this.koffi.array('uint8_t', Math.max(1, bytes.length)), bytes.length ? bytes : [0]);
      this.koffi.encode(iov, this.iovec, { iov_base: data, iov_len: bytes.length });
      this.koffi.encode(controlMemory, this.koffi.array('uint8_t', control.length), [...control]);
      const message = { msg_name: null, msg_namelen: 0, msg_iov: iov, msg_iovlen: 1, msg_control: controlMemory, msg_controllen: control.length, msg_flags: 0 };
      this.check(this.fns.sendmsg(socket, this.koffi.as(message, this.koffi.pointer(this.msghdr)), 0), 'sendmsg', [socketPath, fd]);
    } finally {
      this.fns.close(socket);
      this.koffi.free(data);
      this.koffi.free(iov);
      this.koffi.free(controlMemory);
    }
  }

  listenUnix(socketPath: string): number {
    const socket = this.check(this.fns.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 'socket', [AF_UNIX, SOCK_STREAM]);
    let release = () => {};
    try {
      const address = this.unixAddress(socketPath);
      release = address.release;
      this.check(this.fns.bind(socket, address.address, address.length), 'bind', [socketPath]);
      this.check(this.fns.listen(socket, 1), 'listen', [socketPath]);
    } catch (error) {
      this.fns.close(socket);
      throw error;
    } finally {
      release();
    }
    return socket;
  }
  acceptConnection(fd: number): number {
    for (;;) {
      const connection = Number(this.fns.accept4(fd, null, null, SOCK_CLOEXEC));
      // A signal with a handler (Node installs some) interrupts the wait: wait again.
      if (connection === -1 && this.koffi.errno() === osConstants.errno.EINTR) continue;
      return this.check(connection, 'accept4', [fd]);
    }
  }
  waitpid(pid: number, options: number): { pid: number; status: number } {
    const status = [0];
    const found = this.check(this.fns.waitpid(pid, status, options), 'waitpid', [pid, options]);
    return { pid: found, status: status[0]! };
  }

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
  openTreeClone(path: string): number {
    return this.check(Number(this.fns.syscall(SYS_open_tree, 'int', AT_FDCWD, 'const char *', path, 'unsigned int', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)), 'open_tree', [path, 'OPEN_TREE_CLONE']);
  }
  idmapTree(treeFd: number, usernsFd: number): void {
    // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; }: its first version, 32 bytes.
    const attr = Buffer.alloc(32);
    attr.writeBigUInt64LE(BigInt(MOUNT_ATTR_IDMAP), 0);
    attr.writeBigUInt64LE(BigInt(usernsFd), 24);
    const result = Number(this.fns.syscall(SYS_mount_setattr, 'int', treeFd, 'const char *', '', 'unsigned int', AT_EMPTY_PATH, 'void *', attr, 'size_t', attr.length));
    this.check(result, 'mount_setattr', [treeFd, 'MOUNT_ATTR_IDMAP', usernsFd]);
  }
  moveMount(treeFd: number, target: string): void {
    const result = Number(this.fns.syscall(SYS_move_mount, 'int', treeFd, 'const char *', '', 'int', AT_FDCWD, 'const char *', target, 'unsigned int', MOVE_MOUNT_F_EMPTY_PATH));
    this.check(result, 'move_mount', [treeFd, target]);
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
  prctl(option: number, arg: number, arg3 = 0): void {
    this.check(this.fns.prctl(option, 'unsigned long', arg, 'unsigned long', arg3, 'unsigned long', 0, 'unsigned long', 0), 'prctl', [option, arg, arg3]);
  }
  capset(sets: { effective: bigint; permitted: bigint; inheritable: bigint }): void {
    // struct __user_cap_header_struct { u32 version; int pid } and, for version 3, two
    // struct __user_cap_data_struct { u32 effective, permitted, inheritable }: capabilities 0-31, then 32-63.
    const header = Buffer.alloc(8);
    header.writeUInt32LE(_LINUX_CAPABILITY_VERSION_3, 0); // pid 0: the calling thread
    const data = Buffer.alloc(24);
    [sets.effective, sets.permitted, sets.inheritable].forEach((mask, i) => {
      data.writeUInt32LE(Number(mask & 0xffffffffn), i * 4);
      data.writeUInt32LE(Number((mask >> 32n) & 0xffffffffn), 12 + i * 4);
    });
    this.check(this.fns.capset(header, data), 'capset', [sets]);
  }
  setrlimit(resource: number, soft: number | null, hard: number | null): void {
    const limit = Buffer.alloc(16); // struct rlimit { rlim_t rlim_cur, rlim_max }: two u64
    limit.writeBigUInt64LE(soft === null ? RLIM_INFINITY : BigInt(soft), 0);
    limit.writeBigUInt64LE(hard === null ? RLIM_INFINITY : BigInt(hard), 8);
    this.check(this.fns.prlimit(0, resource, limit, null), 'prlimit', [resource, soft, hard]);
  }
  setgroups(gids: readonly number[]): void {
    this.check(this.fns.setgroups(gids.length, Uint32Array.from(gids)), 'setgroups', [gids]);
  }
  setgid(gid: number): void {
    this.check(this.fns.setresgid(gid, gid, gid), 'setresgid', [gid]);
  }
  setuid(uid: number): void {
    this.check(this.fns.setresuid(uid, uid, uid), 'setresuid', [uid]);
  }
  seccompLoad(filter: SeccompFilter): string[] {
    const { context, skipped } = this.buildSeccomp(filter);
    const lib = this.seccompLibrary();
    try {
      const result = lib.load(context) as number;
      if (result < 0) this.failNegative(result, 'seccomp_load', []);
    } finally {
      lib.release(context);
    }
    return skipped;
  }
  seccompExport(filter: SeccompFilter): string {
    const { context } = this.buildSeccomp(filter);
    const lib = this.seccompLibrary();
    const dir = mkdtempSync(path.join(tmpdir(), 'lab-seccomp-'));
    try {
      const fd = openSync(path.join(dir, 'filter.pfc'), 'w');
      try {
        const result = lib.exportPfc(context, fd) as number;
        if (result < 0) this.failNegative(result, 'seccomp_export_pfc', []);
      } finally {
        closeSync(fd);
      }
      return readFileSync(path.join(dir, 'filter.pfc'), 'utf8');
    } finally {
      lib.release(context);
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private loadSeccomp() {
    let lib: ReturnType<Koffi['load']>;
    try {
      lib = this.koffi.load('libseccomp.so.2');
    } catch (error) {
      return { missing: error as Error };
    }
    return {
      init: lib.func('void *seccomp_init(uint32_t defaultAction)'),
      release: lib.func('void seccomp_release(void *context)'),
      archResolve: lib.func('uint32_t seccomp_arch_resolve_name(const char *name)'),
      archAdd: lib.func('int seccomp_arch_add(void *context, uint32_t arch)'),
      syscallResolve: lib.func('int seccomp_syscall_resolve_name(const char *name)'),
      ruleAdd: lib.func('int seccomp_rule_add_array(void *context, uint32_t action, int syscall, unsigned int count, const uint8_t *args)'),
      attrSet: lib.func('int seccomp_attr_set(void *context, int attribute, uint32_t value)'),
      load: lib.func('int seccomp_load(void *context)'),
      exportPfc: lib.func('int seccomp_export_pfc(void *context, int fd)'),
    };
  }

  private seccompLibrary() {
    const lib = this.seccompLib;
    if ('missing' in lib) throw new Error('seccomp needs libseccomp (the libseccomp2 package), which this machine does not have', { cause: lib.missing });
    return lib;
  }

  /** libseccomp returns -errno rather than -1 and errno. */
  private failNegative(result: number, call: string, args: unknown[]): never {
    throw new SyscallError(call, args, -result, this.fns.strerror(-result) as string);
  }

  /** The filter as a libseccomp context (the caller releases it), and the syscall names it did not know. */
  private buildSeccomp(filter: SeccompFilter): { context: unknown; skipped: string[] } {
    const lib = this.seccompLibrary();
    const context = lib.init(filter.defaultAction);
    if (!context) throw new Error('seccomp_init failed: the default action is not one libseccomp knows');
    const skipped: string[] = [];
    try {
      // seccomp_init sets SCMP_FLTATR_CTL_NNP: libseccomp would set no_new_privs itself. The OCI
      // config decides that (process.noNewPrivileges); without it, loading needs CAP_SYS_ADMIN (runc does the same).
      const attributes = { nnp: 3, tsync: 4, log: 6, ssb: 7 } as const;
      const setAttribute = (name: keyof typeof attributes, value: number) => {
        const result = lib.attrSet(context, attributes[name], value) as number;
        if (result < 0) this.failNegative(result, 'seccomp_attr_set', [name, value]);
      };
      setAttribute('nnp', filter.setNoNewPrivs ? 1 : 0);
      for (const name of filter.attributes) setAttribute(name as keyof typeof attributes, 1);
      for (const name of filter.architectures) {
        const arch = lib.archResolve(name) as number;
        if (arch === 0) throw new Error(`seccomp: libseccomp does not know the architecture "${name}"`);
        const result = lib.archAdd(context, arch) as number;
        if (result < 0 && result !== -osConstants.errno.EEXIST) this.failNegative(result, 'seccomp_arch_add', [name]);
      }
      for (const rule of filter.rules) {
        const number = lib.syscallResolve(rule.syscall) as number;
        if (number === NR_SCMP_ERROR) {
          skipped.push(rule.syscall);
          continue;
        }
        // struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op; scmp_datum_t datum_a, datum_b }: 24 bytes.
        const args = Buffer.alloc(24 * Math.max(rule.args.length, 1));
        rule.args.forEach((arg, i) => {
          args.writeUInt32LE(arg.index, i * 24);
          args.writeUInt32LE(arg.op, i * 24 + 4);
          args.writeBigUInt64LE(BigInt.asUintN(64, arg.value), i * 24 + 8);
          args.writeBigUInt64LE(BigInt.asUintN(64, arg.valueTwo), i * 24 + 16);
        });
        const result = lib.ruleAdd(context, rule.action, number, rule.args.length, args) as number;
        if (result < 0) this.failNegative(result, 'seccomp_rule_add', [rule.syscall]);
      }
      return { context, skipped };
    } catch (error) {
      lib.release(context);
      throw error;
    }
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
  socket(domain: number, type: number, protocol: number): number {
    return this.check(this.fns.socket(domain, type, protocol), 'socket', [domain, type, protocol]);
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
  bpfLoadProgram(program: { type: number; instructions: Uint8Array; license: string; name: string }): number {
    const log = Buffer.alloc(64 * 1024); // the verifier's explanation, should it refuse the program
    const attr = {
      prog_type: program.type, insn_cnt: program.instructions.length / 8, insns: program.instructions, license: program.license,
      log_level: 1, log_size: log.length, log_buf: log, kern_version: 0, prog_flags: 0,
      prog_name: program.name.slice(0, 15), prog_ifindex: 0, expected_attach_type: 0,
    };
    const fd = Number(this.fns.syscall(this.bpfNumber(), 'int', BPF_PROG_LOAD, this.koffi.pointer(this.bpfProgLoadAttr), attr, 'unsigned int', this.koffi.sizeof(this.bpfProgLoadAttr)));
    if (fd === -1) {
      const errno = this.koffi.errno();
      const verifier = log.toString('utf8', 0, Math.max(0, log.indexOf(0))).trim().split('\n').slice(-3).join(' / ');
      throw new SyscallError('bpf(BPF_PROG_LOAD)', [program.name], errno, `${this.fns.strerror(errno) as string}${verifier ? ` (verifier: ${verifier})` : ''}`);
    }
    return fd;
  }
  bpfAttachProgram(targetFd: number, programFd: number, attachType: number, flags: number): void {
    const attr = Buffer.alloc(20); // { target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd }: five u32
    [targetFd, programFd, attachType, flags].forEach((value, i) => attr.writeUInt32LE(value, i * 4));
    this.check(this.fns.syscall(this.bpfNumber(), 'int', BPF_PROG_ATTACH, 'void *', attr, 'unsigned int', attr.length), 'bpf(BPF_PROG_ATTACH)', [targetFd, programFd, attachType, flags]);
  }
  private bpfNumber(): number {
    const number = SYS_bpf[process.arch];
    if (number === undefined) throw new Error(`bpf: no syscall number known for ${process.arch}`);
    return number;
  }
  ioctlPtr(fd: number, request: number, buffer: Uint8Array): number {
    // koffi passes a typed array's own memory as the pointer: what the kernel writes lands in `buffer`.
    return this.check(this.fns.ioctl(fd, request, 'void *', buffer), 'ioctl', [fd, request]);
  }
}
