/**
 * config.json for the final runtime: the core reads it (src/container/config.ts) and the lessons'
 * features turn it into a container (lessons/registry.ts); here is what `runc spec` would write, the
 * base every minidocker container's config.json starts from, and the runtime's one-line error.
 */
import { readFileSync } from 'node:fs';
import { asksForNothing, OCI_VERSION, type OciConfig } from '../../container/config.js';
import { MASKED_PATHS, READONLY_PATHS, RUNC_SPEC_CAPABILITIES } from '../../../lessons/07-security/defaults.js';
import { DENY_ALL_DEVICES } from '../../../lessons/07-security/devices.js';

export { OCI_VERSION, type OciConfig };

/** An error the CLI prints as one line and exits 1 with, having changed nothing. */
export class OciError extends Error {
  override name = 'OciError';
}

/**
 * A config.json like `runc spec` writes (terminal off, as for a detached container; no cgroup mount):
 * three capabilities, no_new_privs, a file limit, the masked and read-only /proc paths.
 */
export function defaultConfig(args: string[] = ['sh']): OciConfig {
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: [...RUNC_SPEC_CAPABILITIES], effective: [...RUNC_SPEC_CAPABILITIES], permitted: [...RUNC_SPEC_CAPABILITIES] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
      // The device cgroup refuses every device; the runtime lets /dev's default nodes through (runc spec's default).
      resources: { devices: [{ ...DENY_ALL_DEVICES }] },
    },
  };
}

/**
 * The fields of config.json's `linux` object this runtime applies, and who applies them. Any other one
 * that asks for something is refused in one line, never ignored: a container must not run with less
 * than its config.json says (uidMappings, personality, timeOffsets, intelRdt … are not applied).
 */
export const APPLIED_LINUX_FIELDS: Readonly<Record<string, string>> = {
  namespaces: 'the core, with the namespaces each lesson makes',
  rootfsPropagation: 'lesson 03',
  mountLabel: 'lesson 03, where SELinux is off: a label means nothing there (runc ignores it too)',
  resources: 'lesson 04',
  cgroupsPath: 'lesson 04',
  devices: 'lesson 07',
  seccomp: 'lesson 07',
  maskedPaths: 'lesson 07',
  readonlyPaths: 'lesson 07',
  sysctl: 'lesson 07',
  uidMappings: 'lesson 08',
  gidMappings: 'lesson 08',
};

/** Refuses a `linux` field this runtime does not apply; one left empty ([], {}, null), as engines write them, asks for nothing. */
export function checkLinuxFields(config: OciConfig, selinuxEnforcing: () => boolean = selinuxEnforces): void {
  for (const [field, value] of Object.entries(config.linux ?? {})) {
    if (asksForNothing(value)) continue;
    if (!(field in APPLIED_LINUX_FIELDS)) throw new OciError(`linux.${field}: not supported by this runtime`);
    if (field === 'mountLabel' && selinuxEnforcing()) throw new OciError('linux.mountLabel: this runtime does not apply SELinux labels, and SELinux enforces them here');
  }
}

/** Is SELinux on and enforcing (selinuxfs says 1)? */
function selinuxEnforces(): boolean {
  try {
    return readFileSync('/sys/fs/selinux/enforce', 'utf8').trim() === '1';
  } catch {
    return false; // no SELinux here
  }
}
