/**
 * What lesson 03 adds to a container's life (see lessons/registry.ts): a root file system of its own —
 * the lesson's fixed set of mounts (rootfs), or the mounts config.json lists, in its order (ociRootfs)
 * — and the two demonstrations of the lesson (the chroot escape, mount propagation).
 *
 * config.json has no field for the lesson's own way (chroot or pivot_root, the /etc files bound in, the
 * escape): a lesson's demo asks for it in the annotation below. Without any root, a lesson's container
 * sees the host's files, as in lessons 01–02.
 */
import { ConfigError, hasOwnNamespace, rootPath, type OciConfig } from '../../src/container/config.js';
import { inUserNamespace } from '../../src/sys/process.js';
import { defineFeature } from '../../src/container/features.js';
import type { Syscalls } from '../../src/sys/index.js';
import { escapeChroot, makeSharedMount, mountInNewNamespace, setUpRootfs, type BindFile, type RootMode } from './mount.js';
import { rootfsPropagationFlags, setUpOciRootfs } from './oci-rootfs.js';

/** config.json annotation: the lesson's own root file system set-up (JSON LessonRootfs) instead of config.mounts. */
export const ROOTFS_ANNOTATION = 'lab.mini-docker.rootfs';

export interface LessonRootfs {
  mode: RootMode;
  /** The generated /etc files to bind over the image's (containers.ts: writeEtcFiles). */
  files: BindFile[];
  /** Run the chroot escape (mount.ts: escapeChroot) right before the command. */
  escape?: boolean;
}

export function lessonRootfsOf(config: OciConfig): LessonRootfs | null {
  const text = config.annotations?.[ROOTFS_ANNOTATION];
  return text ? (JSON.parse(text) as LessonRootfs) : null;
}

/**
 * mknod(2) needs CAP_MKNOD over the machine's first user namespace: a container's root in a user
 * namespace of its own — or a rootless runtime's — may not make device nodes, and binds the host's instead (runc does too).
 */
function mayNotMakeDevices(config: OciConfig): boolean {
  return hasOwnNamespace(config, 'user') || inUserNamespace();
}

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
    if (!config.root) return [];
    const lesson = lessonRootfsOf(config);
    if (lesson) {
      if (!hasOwnNamespace(config, 'mnt')) throw new ConfigError("config.json: a root file system needs a mount namespace of the container's own");
      const rootfs = step('rootfs', {
        rootfs: rootPath(context.bundle, config), mode: lesson.mode, readonly: config.root.readonly ?? false, files: lesson.files,
        ...(mayNotMakeDevices(config) ? { bindDevices: true } : {}),
      });
      return lesson.escape ? [rootfs, step('chrootEscape', {})] : [rootfs];
    }
    // A mount namespace of the container's own: a new one, or another's joined by path (runc pivots in
    // that one too). Never the runtime's own: pivot_root there would move the host's root.
    if (hasOwnNamespace(config, 'mnt')) {
      const propagation = config.linux?.rootfsPropagation;
      if (propagation !== undefined && rootfsPropagationFlags(propagation) === undefined) {
        throw new ConfigError(`linux.rootfsPropagation "${propagation}": use shared, slave, private or unbindable (r… for the whole tree)`);
      }
      // A cgroup mount shows a new mount of the cgroup file system in a cgroup namespace of the
      // container's own (lesson 04 makes it first), else its own cgroup from the host's (cgroup-mount.ts).
      const cgroupNamespace = (config.linux?.namespaces ?? []).some(({ type }) => type === 'cgroup');
      return [step('ociRootfs', {
        rootfs: rootPath(context.bundle, config), readonly: config.root.readonly ?? false, mounts: config.mounts ?? [],
        ...(propagation ? { propagation } : {}), ...(context.noPivot ? { noPivot: true } : {}), ...(cgroupNamespace ? { cgroupNamespace } : {}),
        ...(mayNotMakeDevices(config) ? { bindDevices: true } : {}),
      })];
    }
    throw new ConfigError("config.json: a mount namespace of the container's own is required (this runtime pivots into root.path)");
  },
});
