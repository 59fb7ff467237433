/**
 * `oci features` (runtime-spec features.md, `runc features`): what this runtime implements, as JSON, so
 * that an engine can ask instead of finding out by failing. Each list is read from the code that does
 * the work, so it cannot claim what is not there.
 */
import { OCI_NAMESPACES, STEP_NAMESPACES } from '../../container/config.js';
import { mountOptionWords } from '../../../lessons/03-mount/oci-rootfs.js';
import { CAPABILITIES } from '../../../lessons/07-security/capabilities.js';
import { ARCHITECTURES, FILTER_FLAGS, OPERATORS, SECCOMP_ACTIONS } from '../../../lessons/07-security/seccomp.js';
import { RUNTIME_HOOKS } from './hooks.js';

export function runtimeFeatures() {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: '1.0.2',
    hooks: [...RUNTIME_HOOKS],
    mountOptions: mountOptionWords(),
    linux: {
      namespaces: [...Object.keys(OCI_NAMESPACES), ...STEP_NAMESPACES],
      capabilities: [...CAPABILITIES],
      // cgroupfs written directly, on either version; no systemd driver.
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        actions: [...SECCOMP_ACTIONS],
        operators: Object.keys(OPERATORS),
        archs: Object.keys(ARCHITECTURES),
        supportedFlags: Object.keys(FILTER_FLAGS),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
  };
}
