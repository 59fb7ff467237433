/**
 * An image's layers for a container in a user namespace of its own (minidocker --userns=auto).
 *
 * The layers belong to the host's root, which the container's user namespace does not map: its root
 * would see every file of the image as nobody's, and could not write its own /etc. And lesson 05's init
 * step cannot mount the overlay in there either: overlayfs keeps whiteouts and opaque folders in
 * trusted.* attributes, which only the host's root may read. So the host mounts the merged view itself,
 * as Docker's overlay2 driver does, over idmapped copies of the layers (idmap.ts): through them the
 * host's 0 reads as the container's root. The container's own layer (upper, work) is chowned to that
 * root, so what it writes lands there as its ID on the host. The layers on disk are never changed:
 * every container shares them, whatever its mapping (runc ≥ 1.2 and crun do the same for engines).
 */
import { chownSync, closeSync, existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import type { OciConfig } from '../../src/container/config.js';
import { MNT_DETACH, type Syscalls } from '../../src/sys/index.js';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import { mountOverlay, type OverlayMount } from '../05-overlay/overlay.js';
import { attachTree, explainIdmapFailure, idmappedTree } from './idmap.js';
import { hostIdOf, parseIdMap } from './userns.js';

/** Where the idmapped copy of lower layer `index` is attached: beside the container's own layer. */
function idmappedLayerDir(overlay: OverlayMount, index: number): string {
  return path.join(path.dirname(overlay.upperdir), 'idmapped', String(index));
}

/**
 * The host IDs of the container's root: what its own layer is chowned to. From config.json's mappings
 * for a new user namespace; for one joined by a /proc/PID/ns/user path, from that process's maps.
 * Undefined when they map no root, or cannot be read (a namespace file bound elsewhere).
 */
export function mappedRoot(config: OciConfig, usernsPath: string): { uid: number; gid: number } | undefined {
  const joined = /^\/proc\/(\d+)\/ns\/user$/.exec(usernsPath)?.[1];
  const [uidMappings, gidMappings] = config.linux?.uidMappings?.length
    ? [config.linux.uidMappings, config.linux.gidMappings ?? []]
    : joined
      ? [parseIdMap(readFileSync(`/proc/${joined}/uid_map`, 'utf8')), parseIdMap(readFileSync(`/proc/${joined}/gid_map`, 'utf8'))]
      : [[], []];
  const uid = hostIdOf(uidMappings, 0);
  const gid = hostIdOf(gidMappings, 0);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** Mounts `overlay` on the host, its lower layers idmapped through the user namespace at `usernsPath`. */
export function mountIdmappedOverlay(sys: Syscalls, overlay: OverlayMount, usernsPath: string, root: { uid: number; gid: number }): void {
  chownSync(overlay.upperdir, root.uid, root.gid);
  chownSync(overlay.workdir, root.uid, root.gid);
  const lowerdirs = overlay.lowerdirs.map((dir, index) => {
    const target = idmappedLayerDir(overlay, index);
    mkdirSync(target, { recursive: true });
    try {
      const tree = idmappedTree(dir, usernsPath, sys);
      try {
        attachTree(tree, target, sys);
      } finally {
        closeSync(tree);
      }
    } catch (error) {
      throw new Error(`idmapping layer ${dir}: ${explainIdmapFailure(error)}`, { cause: error });
    }
    return target;
  });
  const short = overlay.short && { ...overlay.short, lowerdirs: lowerdirs.map((dir) => path.relative(overlay.short!.home, dir)) };
  try {
    mountOverlay(sys, { ...overlay, lowerdirs, ...(short ? { short } : {}) });
  } catch (error) {
    // EINVAL here, with the layers idmapped: overlayfs takes idmapped layers from Linux 5.19 on.
    throw new Error('mounting the overlay over idmapped layers (Linux 5.19 or later)', { cause: error });
  }
}

/** Unmounts what mountIdmappedOverlay mounted, whatever part of it is there; safe to call again. */
export function unmountIdmappedOverlay(sys: Syscalls, overlay: OverlayMount): void {
  const mounted = new Set(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((mount) => mount.mountPoint));
  if (mounted.has(overlay.target)) sys.umount2(overlay.target, MNT_DETACH);
  overlay.lowerdirs.forEach((_, index) => {
    const dir = idmappedLayerDir(overlay, index);
    if (mounted.has(dir)) sys.umount2(dir, MNT_DETACH);
    // rmdir, never a recursive remove: were the unmount to have failed, that would delete the image's files.
    if (existsSync(dir)) rmdirSync(dir);
  });
  const idmapped = path.dirname(idmappedLayerDir(overlay, 0));
  if (existsSync(idmapped)) rmdirSync(idmapped);
}
