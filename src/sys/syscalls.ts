/**
 * The system calls the course needs, as one typed interface.
 *
 * Lesson code never talks to koffi directly: it receives a `Syscalls` and calls methods that either
 * succeed or throw a SyscallError naming the call, its arguments and the errno. Two implementations:
 *   - LinuxSyscalls (linux.ts): the real thing, libc through koffi;
 *   - RecordingSyscalls (recording.ts): a test double that records every call, so logic such as
 *     "which flags does init pass to unshare?" is unit-tested without root. (youki does the same with
 *     its `Syscall` trait and `TestHelperSyscall`.)
 */
export interface Syscalls {
  /** unshare(2): give the calling THREAD new namespaces. In Node only the main thread's JS runs, so
   * synchronous code after this call sees them; libuv's thread pool does not. */
  unshare(flags: number): void;
  /** setns(2): join the namespace that `fd` (an open /proc/PID/ns/* file) refers to. */
  setns(fd: number, nstype: number): void;
  sethostname(name: string): void;
  setdomainname(name: string): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  umount2(target: string, flags: number): void;
  /** pivot_root(2) has no glibc wrapper; it goes through syscall(2). */
  pivotRoot(newRoot: string, putOld: string): void;
  /**
   * open_tree(2) with OPEN_TREE_CLONE: a copy of the mount at `path`, attached nowhere yet, as a
   * descriptor (close-on-exec). The first of the new mount API's calls (Linux 5.2); no glibc wrapper.
   */
  openTreeClone(path: string): number;
  /**
   * mount_setattr(2) with MOUNT_ATTR_IDMAP (Linux 5.12): the detached mount `treeFd` shows its files'
   * owners through the mapping of the user namespace `usernsFd` (an open /proc/PID/ns/user).
   */
  idmapTree(treeFd: number, usernsFd: number): void;
  /** move_mount(2) with MOVE_MOUNT_F_EMPTY_PATH: attaches the detached mount `treeFd` at `target`, in the caller's mount namespace. */
  moveMount(treeFd: number, target: string): void;
  chroot(path: string): void;
  chdir(path: string): void;
  /** fchdir(2): into the folder an open file descriptor names — also one of another mount namespace. */
  fchdir(fd: number): void;
  mknod(path: string, mode: number, dev: number): void;
  /** lsetxattr(2): sets an extended attribute of the path itself (a symbolic link is not followed). */
  lsetxattr(path: string, name: string, value: string): void;
  /** lgetxattr(2): an extended attribute's value, or null when the file has none of that name (ENODATA). */
  lgetxattr(path: string, name: string): string | null;
  /** umask(2): sets the file mode creation mask and returns the old one. It masks mknod's mode too. */
  umask(mask: number): number;
  /** execve(2): replaces the whole process, every thread of Node with it. Returns only by throwing. */
  execve(path: string, argv: readonly string[], envp: readonly string[]): never;
  /** prctl(2); PR_CAP_AMBIENT takes a third argument (the sub-operation's capability). */
  prctl(option: number, arg: number, arg3?: number): void;
  /**
   * capset(2), version 3: the calling thread's effective, permitted and inheritable capability sets,
   * each a 64-bit mask (bit N = capability N, as in /proc/self/status). The bounding and ambient sets
   * are changed with prctl instead.
   */
  capset(sets: { effective: bigint; permitted: bigint; inheritable: bigint }): void;
  /** prlimit(2) on the caller: a resource limit's soft and hard values (null = unlimited, RLIM_INFINITY). */
  setrlimit(resource: number, soft: number | null, hard: number | null): void;
  /** setgroups(2): the supplementary group IDs. */
  setgroups(gids: readonly number[]): void;
  /** setresgid(2) with real = effective = saved = gid. glibc applies it to every thread of the process. */
  setgid(gid: number): void;
  /** setresuid(2) with real = effective = saved = uid. glibc applies it to every thread of the process. */
  setuid(uid: number): void;
  /**
   * Installs a seccomp filter on the calling thread, compiled by libseccomp (seccomp_init, _arch_add,
   * _rule_add_array, _load): what runc and crun use. Unknown syscall names are skipped, as runc does:
   * a profile lists calls of many kernels. Returns the names skipped.
   */
  seccompLoad(filter: SeccompFilter): string[];
  /** The BPF program libseccomp makes for a filter, as text (seccomp_export_pfc): for the lesson to show. */
  seccompExport(filter: SeccompFilter): string;
  fcntl(fd: number, cmd: number, arg: number): number;
  /** close_range(2), Linux 5.11+. */
  closeRange(first: number, last: number, flags: number): void;
  /** signal(sig, SIG_DFL): ignored signals stay ignored across execve, so they must be reset first. */
  resetSignal(signal: number): void;
  /** sigprocmask(SIG_SETMASK, {}): the signal mask, too, survives execve. */
  unblockAllSignals(): void;
  getpid(): number;
  getppid(): number;
  /**
   * Connects to the unix socket at `socketPath` and sends it the open file `fd` (an SCM_RIGHTS message,
   * sendmsg(2) and unix(7)), with `name` as the message's bytes — runc's --console-socket handshake:
   * the receiver gets its own descriptor of the same open file. Node's sockets cannot carry descriptors.
   */
  sendFileDescriptor(socketPath: string, fd: number, name: string): void;
  /**
   * A unix stream socket bound to `socketPath` and listening (socket, bind, listen: unix(7)); the
   * descriptor is closed on exec. Unlike Node's net.Server it stays usable after pivot_root, and
   * acceptConnection() waits on it synchronously.
   */
  listenUnix(socketPath: string): number;
  /** socket(2): a new socket's descriptor, which the caller owns and must close(). */
  socket(domain: number, type: number, protocol: number): number;
  /** accept4(2), blocking, closed on exec: the next connection to a listening socket. */
  acceptConnection(fd: number): number;
  /**
   * waitpid(2): collects a child's (or, for a subreaper, an adopted orphan's) exit. `status` is the raw
   * wait status (WIFEXITED, WEXITSTATUS ... decode it); with WNOHANG, pid 0 means "still running".
   */
  waitpid(pid: number, options: number): { pid: number; status: number };
  /** flock(2): take (LOCK_EX, LOCK_SH) or drop (LOCK_UN) an advisory lock on an open file. Blocks until granted. */
  flock(fd: number, operation: number): void;
  /**
   * open(2), the raw call: exactly the flags given (libuv's openSync adds O_CLOEXEC on its own), and a
   * descriptor number the caller owns and must close().
   */
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): void;
  /** dup2(2): makes `newFd` a copy of `oldFd` (closing what newFd was), without close-on-exec. */
  dup2(oldFd: number, newFd: number): void;
  /**
   * setsid(2): a new session and process group, both led by the caller, with no controlling terminal.
   * Returns the new session ID. Fails with EPERM when the caller already leads a process group.
   */
  setsid(): number;
  /** getsid(2): the session ID of process `pid` (0: the caller). */
  getsid(pid: number): number;
  /** getpgrp(2): the caller's process group ID. */
  getpgrp(): number;
  /**
   * sigprocmask(2) with SIG_BLOCK or SIG_UNBLOCK for one signal: a blocked signal waits, pending,
   * until it is unblocked. Only the calling thread's mask changes.
   */
  setSignalBlocked(signal: number, blocked: boolean): void;
  /** ioctl(2) with an int argument passed by value (TIOCSCTTY). Returns ioctl's non-negative result. */
  ioctlInt(fd: number, request: number, value: number): number;
  /**
   * bpf(BPF_PROG_LOAD): hands a program (8-byte eBPF instructions) to the kernel's verifier and returns
   * a descriptor of the loaded program. A program the verifier refuses fails with its log in the message.
   */
  bpfLoadProgram(program: { type: number; instructions: Uint8Array; license: string; name: string }): number;
  /** bpf(BPF_PROG_ATTACH): runs the program `programFd` at hook `attachType` of `targetFd` (an open cgroup folder). */
  bpfAttachProgram(targetFd: number, programFd: number, attachType: number, flags: number): void;
  /** ioctl(2) with a pointer argument: the kernel reads from and/or writes into `buffer` (TIOCGPTN, TIOCSWINSZ ...). */
  ioctlPtr(fd: number, request: number, buffer: Uint8Array): number;
}

/** A seccomp filter in libseccomp's terms: actions and operators as numbers; call names stay names, libseccomp knows their numbers per architecture. */
export interface SeccompFilter {
  /** SCMP_ACT_* value for every call no rule matches. */
  defaultAction: number;
  /** libseccomp's architecture names ("x86_64", "x86", "x32", "aarch64" ...) besides the native one. */
  architectures: string[];
  /** Whether libseccomp itself sets no_new_privs before loading (SCMP_FLTATR_CTL_NNP). */
  setNoNewPrivs: boolean;
  /** SCMP_FLTATR_CTL_* attributes to switch on ("log", "ssb", "tsync"). */
  attributes: string[];
  rules: SeccompRule[];
}

export interface SeccompRule {
  syscall: string;
  action: number;
  /** Argument comparisons, all of which must hold: SCMP_CMP_* op, values as bigint (64-bit). */
  args: { index: number; op: number; value: bigint; valueTwo: bigint }[];
}

/** One recorded call: its name and arguments, e.g. { call: 'unshare', args: [0x4000000] }. */
export interface SyscallRecord {
  call: keyof Syscalls;
  args: unknown[];
}
