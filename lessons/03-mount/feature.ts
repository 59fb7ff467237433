/**
 * What lesson 03 adds to a container's life (see lessons/registry.ts): a root file system of its own —
 * the lesson's fixed set of mounts (rootfs), or the mounts config.json lists, in its order (ociRootfs)
 * — and the two demonstrations of the lesson (the chroot escape, mount propagation).
 */
import { ConfigError, hasOwnNamespace, rootPath } from '../../src/container/config.js';
import { defineFeature } from '../../src/container/features.js';
import type { Syscalls } from '../../src/sys/index.js';
import { escapeChroot, makeSharedMount, mountInNewNamespace, setUpRootfs } from './mount.js';
import { rootfsPropagationFlags, setUpOciRootfs } from './oci-rootfs.js';

export const mountFeature = defineFeature({
  name: 'lesson 03 (mount)',
  steps: {
    // It mounts its own /proc inside the new root: no lesson 02 mountProc step with it.
    rootfs: setUpRootfs,
    ociRootfs: setUpOciRootfs,
    chrootEscape: (sys: Syscalls, _config: Record<string, never>) => escapeChroot(sys),
    // The propagation demonstration: a throwaway "host" with a shared mount, and a namespace under it.
    sharedMount: (sys: Syscalls, config: { target: string }) => makeSharedMount(sys, config.target),
    mountInNewNamespace,
  },
  plan(config, context, step) {
    // A mount namespace of the container's own: a new one, or another's joined by path (runc pivots in
    // that one too). Never the runtime's own: pivot_root there would move the host's root.
    if (hasOwnNamespace(config, 'mnt')) {
      const propagation = config.linux?.rootfsPropagation;
      if (propagation !== undefined && rootfsPropagationFlags(propagation) === undefined) {
        throw new ConfigError(`linux.rootfsPropagation "${propagation}": use shared, slave, private or unbindable (r… for the whole tree)`);
      }
      // cgroup mounts need a cgroup namespace set up for them, which this runtime does not do yet: say so.
      const mounts = (config.mounts ?? []).filter((mount) => {
        const cgroup = mount.type === 'cgroup' || mount.type === 'cgroup2';
        if (cgroup) context.warn(`cgroup mount at ${mount.destination} not supported yet, skipped`);
        return !cgroup;
      });
      return [step('ociRootfs', { rootfs: rootPath(context.bundle, config), readonly: config.root.readonly ?? false, mounts, ...(propagation ? { propagation } : {}) })];
    }
    throw new ConfigError("config.json: a mount namespace of the container's own is required (this runtime pivots into root.path)");
  },
});
