/**
 * What lesson 08 adds to a container's life (see lessons/registry.ts): the user namespace of
 * config.json — linux.namespaces "user", linux.uidMappings, linux.gidMappings — made and mapped on the
 * host before init starts. runc's order: the user namespace first, mapped while nothing runs in it yet;
 * every other namespace is then made inside it and belongs to it. init enters it through nsenter
 * (src/container/namespaces.ts: initCommand), since no Node process can.
 */
import { ConfigError, namespacesOf, type OciConfig, type OciIdMapping } from '../../src/container/config.js';
import { defineFeature, type HeldNamespace } from '../../src/container/features.js';
import { holdUserNamespace, writeIdMaps } from './userns.js';

export const userFeature = defineFeature({
  name: 'lesson 08 (user namespace)',
  hostNamespaces: { user: newUserNamespace },
  plan(config) {
    checkMappings(config);
    return [];
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
