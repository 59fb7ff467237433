/**
 * `oci features` says only what the runtime does: every action, operator and architecture it lists is
 * one the seccomp code takes, every mount option one the rootfs step parses, every namespace one a
 * config.json may ask for.
 */
import { describe, expect, it } from 'vitest';
import { OCI_NAMESPACES, STEP_NAMESPACES } from '../../src/container/config.js';
import { parseMountOptions } from '../../lessons/03-mount/oci-rootfs.js';
import { actionValue } from '../../lessons/07-security/seccomp.js';
import { runtimeFeatures } from '../../src/final/oci/features.js';

describe('oci features', () => {
  const features = runtimeFeatures();

  it('lists seccomp actions the filter code accepts, and not SCMP_ACT_NOTIFY, which it refuses', () => {
    for (const action of features.linux.seccomp.actions) expect(() => actionValue(action, undefined, 'test')).not.toThrow();
    expect(features.linux.seccomp.actions).not.toContain('SCMP_ACT_NOTIFY');
    expect(features.linux.seccomp.archs).toContain('SCMP_ARCH_X86_64');
  });

  it('lists mount options that become flags or propagation changes, never data for the file system', () => {
    for (const word of features.mountOptions) expect(parseMountOptions([word]).data, word).toBe('');
  });

  it('lists the namespaces config.json may ask for, and the hooks that run', () => {
    expect(features.linux.namespaces.sort()).toEqual([...Object.keys(OCI_NAMESPACES), ...STEP_NAMESPACES].sort());
    expect(features.linux.namespaces).toContain('user'); // lesson 08
    expect(features.hooks).toEqual(['prestart', 'createRuntime', 'poststart', 'poststop']);
    expect(features.linux.cgroup.systemd).toBe(false);
  });
});
