/**
 * Flag values from the kernel's uapi headers (x86_64 and arm64 agree on all of these).
 * Named exactly as in C so that man pages and runc's source read the same.
 */

// clone(2) / unshare(2) / setns(2): one flag per namespace type.
export const CLONE_NEWNS = 0x00020000; // mount namespace (the first one, 2002: hence the vague name)
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
// unshare(CLONE_FS) gives the calling thread its own root/cwd/umask, which setns(CLONE_NEWNS) demands.
export const CLONE_FS = 0x00000200;

// mount(2) flags.
export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_REMOUNT = 0x20;
export const MS_NOATIME = 0x400;
export const MS_BIND = 0x1000;
export const MS_MOVE = 0x2000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 0x40000;
export const MS_SLAVE = 0x80000;
export const MS_SHARED = 0x100000;
export const MS_UNBINDABLE = 0x20000;
export const MS_STRICTATIME = 0x1000000;

// umount2(2) flags.
export const MNT_FORCE = 0x1;
export const MNT_DETACH = 0x2;

// mknod(2) file types (the high bits of st_mode, <sys/stat.h>).
export const S_IFCHR = 0o020000; // character device: /dev/null, /dev/tty ...
export const S_IFBLK = 0o060000; // block device: a disk, /dev/sda
export const S_IFIFO = 0o010000; // named pipe

// prctl(2) options.
export const PR_SET_PDEATHSIG = 1;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_SET_CHILD_SUBREAPER = 36; // orphaned descendants become our children, not PID 1's (conmon, containerd-shim)
export const PR_SET_KEEPCAPS = 8; // keep the permitted capabilities across a change from UID 0 to another
export const PR_CAPBSET_DROP = 24; // remove one capability from the bounding set, for good
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

// fcntl(2).
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const O_NONBLOCK = 0o4000;

// F_DUPFD_CLOEXEC: a second descriptor for the same open file, closed on exec like every fd Node opens.
export const F_DUPFD_CLOEXEC = 1030;

// open(2) flags (<asm-generic/fcntl.h>; x86_64 and arm64 agree).
export const O_RDONLY = 0o0;
export const O_RDWR = 0o2;
// Fails unless the path is a folder: a cgroup's folder is what a cgroup program is attached to.
export const O_DIRECTORY = 0o200000;
// Opening a terminal must not make it our controlling terminal by accident: a session leader without
// one acquires the first tty it opens. The console's owner says so explicitly, with TIOCSCTTY.
export const O_NOCTTY = 0o400;
// The descriptor must not leak into programs this process starts (libc's open does not add it, libuv's does).
export const O_CLOEXEC = 0o2000000;

// close_range(2) (Linux 5.11+): mark instead of close, so the exec itself does the closing.
export const CLOSE_RANGE_CLOEXEC = 1 << 2;

// sigprocmask(2).
export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
export const SIG_SETMASK = 2;

// flock(2): an advisory lock on an open file, released by the kernel when the file is closed or the
// holder dies (even by SIGKILL), so no lock is ever left behind by a crashed process.
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_UN = 8;

// socket(2): an IPv4 datagram socket, closed on exec — the handle netdevice(7)'s interface ioctls take.
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
// netdevice(7): read / set an interface's flags through a struct ifreq (<linux/sockios.h>, <net/if.h>).
// struct ifreq is 40 bytes on 64-bit Linux: ifr_name (IFNAMSIZ = 16 bytes), then a union whose
// ifr_flags is a short at offset 16.
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;
export const IFREQ_SIZE = 40;
export const IFNAMSIZ = 16;

// Terminal ioctl(2) requests (<asm-generic/ioctls.h>, tty_ioctl(4), pty(7)); x86_64 and arm64 agree.
// TIOCGPTN: the number N of a pseudo-terminal master, whose slave is /dev/pts/N of the same devpts.
// _IOR('T', 0x30, unsigned int): the argument is a pointer the kernel writes the number to.
export const TIOCGPTN = 0x80045430;
// TIOCSPTLCK: lock (*arg != 0) or unlock (*arg == 0) the slave. A new pty starts locked, so that
// nobody opens the slave before its master is set up; glibc's unlockpt(3) is this call with 0.
export const TIOCSPTLCK = 0x40045431;
// TIOCSCTTY: make this terminal the calling session leader's controlling terminal. The argument is a
// plain int: 1 would steal it from another session (root only); 0 fails if another session has it.
export const TIOCSCTTY = 0x540e;
// TIOCGWINSZ / TIOCSWINSZ: read / set the window size (struct winsize). Setting it on the master
// sends SIGWINCH to the slave's foreground process group: how a resized window reaches `vi`.
export const TIOCGWINSZ = 0x5413;
// TIOCGPGRP / TIOCSPGRP: read / set the terminal's foreground process group (tcgetpgrp(3),
// tcsetpgrp(3)): the group its keyboard signals (Ctrl-C) go to and that may read and configure it.
export const TIOCGPGRP = 0x540f;
export const TIOCSPGRP = 0x5410;
export const TIOCSWINSZ = 0x5414;
// TCGETS / TCSETS: read / set a terminal's settings, struct termios (tcgetattr(3), tcsetattr(3) with
// TCSANOW). The kernel's struct: c_iflag, c_oflag, c_cflag, c_lflag (32 bits each), c_line, c_cc[19].
export const TCGETS = 0x5401;
export const TCSETS = 0x5402;
export const TERMIOS_SIZE = 36;
export const TERMIOS_OFLAG_OFFSET = 4;
// c_oflag's OPOST: process output at all (ONLCR's "\n" → "\r\n" among it). termios(3).
export const OPOST = 0o1;

/** Syscall numbers for calls glibc has no wrapper for. */
export const SYS_pivot_root: Record<string, number> = { x64: 155, arm64: 41 };
// The new mount API (Linux 5.2, mount_setattr 5.12): numbers from the unified table, the same on every architecture.
export const SYS_open_tree = 428;
export const SYS_move_mount = 429;
export const SYS_mount_setattr = 442;
export const AT_FDCWD = -100;
export const AT_EMPTY_PATH = 0x1000;
export const OPEN_TREE_CLONE = 1;
export const OPEN_TREE_CLOEXEC = 0o2000000;
export const MOVE_MOUNT_F_EMPTY_PATH = 0x00000004;
export const MOUNT_ATTR_IDMAP = 0x00100000;
export const SYS_bpf: Record<string, number> = { x64: 321, arm64: 280 };

// bpf(2) (include/uapi/linux/bpf.h): the commands, and what a cgroup v2 device program is.
export const BPF_PROG_LOAD = 5;
export const BPF_PROG_ATTACH = 8;
/** A program the kernel runs on every mknod and open of a device node by a process of the cgroup. */
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
/** Where such a program is attached: a cgroup's device hook. */
export const BPF_CGROUP_DEVICE = 6;
/** Programs of a cgroup and of its ancestors all run, and all must allow (runc attaches this way). */
export const BPF_F_ALLOW_MULTI = 2;

// waitpid(2).
export const WNOHANG = 1;
