/**
 * What lesson 08 adds to a container's life (see lessons/registry.ts): the user namespace of
 * config.json — linux.namespaces "user", linux.uidMappings, linux.gidMappings — made and mapped on the
 * host before init starts. runc's order: the user namespace first, mapped while nothing runs in it yet;
 * every other namespace is then made inside it and belongs to it. init enters it through nsenter
 * (src/container/namespaces.ts: initCommand), since no Node process can.
 *
 * And, for a container of lesson 05's images, its root file system: the overlay mounted by the host
 * over idmapped layers (layers.ts), since the container's root may neither read the image's owners
 * nor mount it itself.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, namespacesOf, rootPath, type OciConfig, type OciIdMapping } from '../../src/container/config.js';
import { defineFeature, type HeldNamespace } from '../../src/container/features.js';
import { linuxSyscalls } from '../../src/sys/index.js';
import { overlayOf } from '../05-overlay/feature.js';
import { mappedRoot, mountIdmappedOverlay, unmountIdmappedOverlay } from './layers.js';
import { holdUserNamespace, writeIdMaps } from './userns.js';

export const userFeature = defineFeature({
  name: 'lesson 08 (user namespace)',
  hostNamespaces: { user: newUserNamespace },
  plan(config) {
    checkMappings(config);
    return [];
  },
  prepare(config, context) {
    if (!context.userNamespace) return;
    const root = mappedRoot(config, context.userNamespace);
    if (root && config.root) checkReachable(rootPath(context.bundle, config), root.uid);
    const overlay = overlayOf(config);
    if (!overlay) return;
    if (!root) throw new ConfigError(`the user namespace ${context.userNamespace} maps no root (ID 0), or its maps cannot be read: the image's layers cannot be given to the container's root`);
    mountIdmappedOverlay(linuxSyscalls(), overlay, context.userNamespace, root);
  },
  release(config) {
    // By the words of config.json only: a namespace joined by path may be gone by now.
    const overlay = overlayOf(config);
    if (overlay && (config.linux?.namespaces ?? []).some(({ type }) => type === 'user')) unmountIdmappedOverlay(linuxSyscalls(), overlay);
  },
});

/** A new user namespace, held by a process of its own, with config.json's mappings written. */
async function newUserNamespace(config: OciConfig): Promise<HeldNamespace> {
  const holder = await holdUserNamespace(false);
  try {
    writeIdMaps(holder.pid, config.linux?.uidMappings ?? [], config.linux?.gidMappings ?? []);
  } catch (error) {
    holder.end();
    throw new Error(`mapping the user namespace: ${(error as Error).message}`, { cause: error });
  }
  return { path: `/proc/${holder.pid}/ns/user`, letGo: holder.end };
}

/**
 * init enters the root file system as the container's root: no one on the host, who must be able to
 * search every folder above it (the "x" of others). A private folder on the way (mkdtemp's 0700, a home
 * folder) would fail deep in init's mount with EACCES; say it now, with the fix.
 */
function checkReachable(root: string, hostUid: number): void {
  for (let dir = path.dirname(root); ; dir = path.dirname(dir)) {
    const { mode, uid } = statSync(dir);
    if (!(mode & 0o001) && uid !== hostUid) {
      throw new ConfigError(`root.path ${root}: the container's root (host uid ${hostUid}) may not enter ${dir} (mode ${(mode & 0o777).toString(8)}): let others search it (chmod o+x), or keep containers elsewhere`);
    }
    if (path.dirname(dir) === dir) return;
  }
}

/** runc's rules: a new user namespace needs both mappings; mappings need a new user namespace to map. */
function checkMappings(config: OciConfig): void {
  const { create } = namespacesOf(config);
  const uid = config.linux?.uidMappings ?? [];
  const gid = config.linux?.gidMappings ?? [];
  if (create.includes('user') && (!uid.length || !gid.length)) throw new ConfigError('a new user namespace needs linux.uidMappings and linux.gidMappings');
  if (!create.includes('user') && (uid.length || gid.length)) throw new ConfigError('linux.uidMappings and gidMappings map a new user namespace: add {"type": "user"} (no path) to linux.namespaces');
  for (const mapping of [...uid, ...gid]) checkMapping(mapping);
}

function checkMapping(mapping: OciIdMapping): void {
  const whole = [mapping.containerID, mapping.hostID, mapping.size].every((value) => Number.isInteger(value) && value >= 0 && value < 2 ** 32);
  if (!whole || mapping.size === 0) throw new ConfigError(`linux.uidMappings/gidMappings: ${JSON.stringify(mapping)} is not a mapping (containerID, hostID, size: whole numbers, size above 0)`);
}
