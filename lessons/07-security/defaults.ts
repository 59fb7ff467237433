/**
 * What engines give a container unless told otherwise: the lists every runtime of the field agrees on
 * (runc's `runc spec`, Docker's and podman's defaults), in one place for the lesson, `oci spec` and
 * minidocker.
 */
import type { DockerProfile } from './seccomp.js';

/**
 * Docker's 14 (moby's oci/caps/defaults.go): enough to install packages, change file owners, bind
 * port 80 and run a server as another user — not enough to set the clock (SYS_TIME), mount (SYS_ADMIN),
 * load modules (SYS_MODULE), configure the network (NET_ADMIN) or trace other processes (SYS_PTRACE).
 */
export const DOCKER_DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** What `runc spec` writes: fewer still, for a config meant to be edited by hand. */
export const RUNC_SPEC_CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** /proc and /sys entries made empty: they show the host (its memory, keys, timers, firmware, hardware). */
export const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

/** /proc entries made read-only: writing them changes the host (sysctls, the magic SysRq key, IRQs). */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** clone(2)'s flags that make new namespaces (linux/sched.h). */
const CLONE_NEW_FLAGS = {
  CLONE_NEWNS: 0x00020000, CLONE_NEWCGROUP: 0x02000000, CLONE_NEWUTS: 0x04000000, CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000, CLONE_NEWPID: 0x20000000, CLONE_NEWNET: 0x40000000, CLONE_NEWTIME: 0x00000080,
};

const ENOSYS = 38;

/**
 * The seccomp profile minidocker gives a container: the calls Docker's default profile refuses to a
 * container without extra capabilities return EPERM; everything else is allowed.
 *
 * Docker's own default.json is written the other way round — an allow-list of about 350 calls, with
 * everything else refused — which also stops calls added to the kernel later. The course writes the
 * deny-list because it can be read in one screen and says exactly what is refused and why; the
 * loader (seccomp.ts) takes Docker's file unchanged (`--security-opt seccomp=default.json`).
 */
export function defaultSeccompProfile(): DockerProfile {
  // Refused unless the container was given the capability that makes the call legitimate (Docker's
  // `excludes.caps`: `--cap-add SYS_ADMIN` allows mount, as in Docker). resolveProfile applies that.
  const refuse = (names: string[], unlessCapability?: string[]) => ({
    names, action: 'SCMP_ACT_ERRNO', errnoRet: 1, ...(unlessCapability ? { excludes: { caps: unlessCapability } } : {}),
  });
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
    syscalls: [
      // The file system tree and namespaces: a container stays in the ones it was given.
      refuse(['mount', 'umount', 'umount2', 'pivot_root', 'unshare', 'setns', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
        'move_mount', 'open_tree', 'mount_setattr', 'quotactl', 'quotactl_fd', 'lookup_dcookie', 'fanotify_init'], ['CAP_SYS_ADMIN']),
      // A file handle opens any file of the file system, outside the container's root too (the "shocker" escape).
      refuse(['open_by_handle_at', 'name_to_handle_at'], ['CAP_DAC_READ_SEARCH']),
      // The machine itself: rebooting, a new kernel, kernel modules, swap, process accounting, quotas.
      refuse(['reboot', 'kexec_load', 'kexec_file_load'], ['CAP_SYS_BOOT']),
      refuse(['init_module', 'finit_module', 'delete_module'], ['CAP_SYS_MODULE']),
      refuse(['acct'], ['CAP_SYS_PACCT']),
      refuse(['swapon', 'swapoff', 'create_module', 'nfsservctl', 'get_kernel_syms', 'query_module', 'uselib', '_sysctl', 'sysfs', 'ustat']),
      // The clock is not namespaced: setting it changes it for the whole machine.
      refuse(['settimeofday', 'stime', 'clock_settime', 'clock_adjtime'], ['CAP_SYS_TIME']),
      // The kernel's keyring is not namespaced either, and has had many bugs.
      refuse(['keyctl', 'add_key', 'request_key']),
      // Looking into other processes and the kernel: BPF, performance counters, the kernel log. (ptrace
      // is refused by Docker only before Linux 4.8, whose tracers could step around seccomp; a PID
      // namespace already keeps other containers' processes out of reach.)
      refuse(['process_vm_readv', 'process_vm_writev', 'kcmp'], ['CAP_SYS_PTRACE']),
      refuse(['bpf', 'perf_event_open', 'userfaultfd'], ['CAP_SYS_ADMIN']),
      refuse(['syslog'], ['CAP_SYSLOG']),
      // Hardware and memory placement.
      refuse(['iopl', 'ioperm'], ['CAP_SYS_RAWIO']),
      refuse(['vm86', 'vm86old']),
      refuse(['move_pages', 'mbind', 'set_mempolicy', 'get_mempolicy', 'migrate_pages'], ['CAP_SYS_NICE']),
      // clone with a CLONE_NEW* flag is unshare by another name: one rule per flag, each matching when
      // (flags & FLAG) == FLAG (SCMP_CMP_MASKED_EQ: value is the mask, valueTwo what must remain).
      // clone3 passes its flags in memory that seccomp cannot read, so it says "not implemented" and
      // the C library falls back to clone.
      ...Object.values(CLONE_NEW_FLAGS).map((flag) => ({
        names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
        excludes: { caps: ['CAP_SYS_ADMIN'] },
      })),
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    ],
  };
}
