/**
 * What lesson 04 adds to a container's life (see lessons/registry.ts), driven by config.json's
 * `linux.resources` — passed straight to the cgroup manager, as crun does — and `linux.cgroupsPath`:
 *
 *   plan     init's first step: join the cgroup (and, on v2, take a cgroup namespace of its own)
 *   prepare  the host makes the cgroup and writes the limits, before init starts
 *   release  the cgroup goes when the container has gone (runc's delete)
 *
 * A container without limits and without a cgroupsPath gets no cgroup of its own.
 */
import { existsSync } from 'node:fs';
import { asksForNothing, ConfigError, hasOwnNamespace, namespacesOf, type OciConfig } from '../../src/container/config.js';
import { defineFeature } from '../../src/container/features.js';
import { managerFor, readCgroupFacts, removeStaleCgroups } from './cgroups.js';
import type { Resources } from './limits.js';
import { joinCgroup, LAB_PARENT, writeCgroupFile, type CgroupManager } from './manager.js';

/** What of linux.resources this lesson writes; `devices` is lesson 07's (the device cgroup). */
const HONOURED: Record<string, readonly string[]> = { memory: ['limit', 'swap'], cpu: ['shares', 'quota', 'period'], pids: ['limit'] };
const ELSEWHERE = ['devices'];

/**
 * linux.resources, as this lesson limits it (limits.ts: Resources is that block, trimmed), checked:
 * a limit this runtime cannot write is refused in one line naming it — a container must never run
 * with less of a limit than its config.json asks for. Engines send empty blocks ("blockIO": {}, "cpu":
 * {"cpus": ""}): those ask for nothing and pass.
 */
export function resourcesOf(config: OciConfig): Resources {
  const given = (config.linux?.resources ?? {}) as Record<string, unknown>;
  const resources: Record<string, Record<string, number>> = {};
  for (const [block, value] of Object.entries(given)) {
    if (ELSEWHERE.includes(block) || asksForNothing(value)) continue;
    const known = HONOURED[block];
    if (!known) throw new ConfigError(`linux.resources.${block}: not supported by this runtime (it limits ${Object.keys(HONOURED).join(', ')})`);
    for (const [key, setting] of Object.entries(value as Record<string, unknown>)) {
      if (asksForNothing(setting)) continue;
      if (!known.includes(key)) throw new ConfigError(`linux.resources.${block}.${key}: not supported by this runtime (of ${block} it limits ${known.join(', ')})`);
      if (!Number.isInteger(setting)) throw new ConfigError(`linux.resources.${block}.${key} must be a whole number, got ${JSON.stringify(setting)}`);
      (resources[block] ??= {})[key] = setting as number;
    }
  }
  return withRuncDefaults(resources);
}

/**
 * runc's reading of the numbers: 0 means "not set" (and -1 "unlimited", the kernel's default for a new
 * cgroup) for a memory limit, a CPU quota and shares; pids.limit 0 is not set, below 0 unlimited ("max").
 * A memory limit without swap leaves swap unlimited, as runc does by writing nothing: -1 to the managers.
 */
function withRuncDefaults(resources: Record<string, Record<string, number>>): Resources {
  const { memory, cpu, pids } = resources;
  if (memory) {
    if (!(memory.limit! > 0)) {
      if (memory.swap! > 0) throw new ConfigError('linux.resources.memory.swap needs memory.limit too (it counts memory plus swap)');
      delete resources.memory;
    } else memory.swap ??= -1;
  }
  if (cpu) {
    if (!(cpu.quota! > 0)) {
      delete cpu.quota;
      delete cpu.period;
    }
    if (!(cpu.shares! > 0)) delete cpu.shares;
    if (!Object.keys(cpu).length) delete resources.cpu;
  }
  if (pids) {
    if (pids.limit === 0) delete resources.pids;
    else if (pids.limit! < 0) pids.limit = -1;
  }
  return resources as Resources;
}

/** Where a container's cgroup is: `name` in the folder `parent`, both relative to each hierarchy's root. */
export interface CgroupPlace {
  parent: string;
  name: string;
}

/**
 * Where the container's cgroup goes (runtime-spec config-linux.md "Cgroups Path"): an absolute
 * linux.cgroupsPath is taken from each hierarchy's root, as an engine asks (podman's cgroupfs driver:
 * /libpod_parent/libpod-<ID>); a relative one, or none, under the lab's parent /mini-docker-lab, named
 * after the container's ID. The stale-cgroup sweep looks only there: a cgroup elsewhere is released by
 * delete, as with runc.
 */
export function cgroupPlaceOf(config: OciConfig, id: string): CgroupPlace | null {
  const wanted = config.linux?.cgroupsPath;
  // Any block that asks for something — lesson 07's devices too: on v2 its program is attached to this cgroup.
  const hasLimits = Object.values(config.linux?.resources ?? {}).some((value) => !asksForNothing(value));
  if (!wanted) return hasLimits ? { parent: LAB_PARENT, name: id } : null;
  if (/^[^/]*:[^/]*:[^/]*$/.test(wanted)) {
    throw new ConfigError(`linux.cgroupsPath "${wanted}" is a systemd slice:prefix:name: this runtime writes cgroupfs itself; give a path, e.g. /machine/${id}`);
  }
  const segments = wanted.split('/').filter(Boolean);
  if (!segments.length || !segments.every((segment) => /^[A-Za-z0-9_@:-][A-Za-z0-9_.@:-]*$/.test(segment))) {
    throw new ConfigError(`linux.cgroupsPath "${wanted}": a cgroup path is folder names of letters, digits and _ . @ : - joined by /`);
  }
  const name = segments.pop()!;
  const parent = wanted.startsWith('/') ? segments.join('/') : [LAB_PARENT, ...segments].join('/');
  return { parent, name };
}

/** The manager of the container's cgroup, or null when it has none. */
export function cgroupOfConfig(config: OciConfig, id: string): CgroupManager | null {
  const place = cgroupPlaceOf(config, id);
  return place ? managerFor(readCgroupFacts(), place.name, place.parent) : null;
}

export const cgroupFeature = defineFeature({
  name: 'lesson 04 (cgroups)',
  steps: { cgroup: joinCgroup },
  // The cgroup namespace: made by the join step, once init is in its cgroup (that cgroup is then its "/").
  stepNamespaces: ['cgroup'],
  plan(config, context, step) {
    resourcesOf(config); // a limit no manager writes is refused now, before anything is made (not at release)
    const cgroup = cgroupOfConfig(config, context.id);
    const wanted = config.linux?.namespaces?.find(({ type }) => type === 'cgroup');
    if (wanted?.path) throw new ConfigError('linux.namespaces: joining a cgroup namespace by path is not supported; leave out "path" for a new one');
    const namespace = wanted !== undefined;
    // On v2 a cgroup2 mount shows the namespace's root. A container with a root of its own lists that
    // mount in config.mounts; one on the host's files (a lesson's) gets it here, in its own mount namespace.
    const mountCgroupfs = namespace && !config.root && cgroup?.version === 'v2' && namespacesOf(config).create.includes('mnt');
    // In a user namespace init is no one on the host and may not move itself: the host moves it (attach).
    const joinedByHost = hasOwnNamespace(config, 'user') ? { procs: [], joinIfPresent: [] } : {};
    if (cgroup) return [step('cgroup', { ...cgroup.joinConfig({ namespace, ...(mountCgroupfs ? { mountCgroupfs } : {}) }), ...joinedByHost })];
    // No cgroup of its own: the namespace's root is then the cgroup the runtime started init in.
    return namespace ? [step('cgroup', { procs: [], namespace })] : [];
  },
  async prepare(config, context) {
    const facts = readCgroupFacts();
    const place = cgroupPlaceOf(config, context.id);
    if (!place) return;
    await removeStaleCgroups(facts); // left by runtimes killed with SIGKILL
    const cgroup = managerFor(facts, place.name, place.parent);
    cgroup.create();
    for (const warning of cgroup.apply(resourcesOf(config))) context.warn(warning);
  },
  attach(config, context) {
    const join = cgroupOfConfig(config, context.id)?.joinConfig({ namespace: false });
    for (const file of [...(join?.procs ?? []), ...(join?.joinIfPresent ?? []).filter((present) => existsSync(present))]) writeCgroupFile(file, String(context.pid));
  },
  async release(config, context) {
    await cgroupOfConfig(config, context.id)?.destroy();
  },
});
