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
import { ConfigError, type OciConfig } from '../../src/container/config.js';
import { defineFeature } from '../../src/container/features.js';
import { managerFor, readCgroupFacts, removeStaleCgroups } from './cgroups.js';
import type { Resources } from './limits.js';
import { joinCgroup, LAB_PARENT, type CgroupManager } from './manager.js';

/** linux.resources, as this lesson limits it (limits.ts: Resources is that block, trimmed). */
export function resourcesOf(config: OciConfig): Resources {
  const resources = { ...(config.linux?.resources ?? {}) } as Resources;
  // config.json may leave memory.swap out (only minidocker's flags always set it): then swap is not limited,
  // the kernel's default — what runc does by writing nothing. -1 says the same to the managers.
  if (resources.memory && resources.memory.swap === undefined) resources.memory = { ...resources.memory, swap: -1 };
  return resources;
}

/**
 * The cgroup's name under the lab's parent: linux.cgroupsPath, or the container's ID. The runtime keeps
 * every cgroup it makes under /mini-docker-lab, so that its stale-cgroup sweep and a student's `ls` find
 * them all: other paths are refused rather than silently moved.
 */
export function cgroupNameOf(config: OciConfig, id: string): string | null {
  const wanted = config.linux?.cgroupsPath;
  const hasLimits = Object.values(resourcesOf(config)).some((value) => value !== undefined);
  if (!wanted) return hasLimits ? id : null;
  const name = wanted.startsWith(`/${LAB_PARENT}/`) ? wanted.slice(LAB_PARENT.length + 2) : wanted;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new ConfigError(`linux.cgroupsPath "${wanted}": this runtime keeps its cgroups under /${LAB_PARENT}: use NAME or /${LAB_PARENT}/NAME`);
  }
  return name;
}

/** The manager of the container's cgroup, or null when it has none. */
export function cgroupOfConfig(config: OciConfig, id: string): CgroupManager | null {
  const name = cgroupNameOf(config, id);
  return name ? managerFor(readCgroupFacts(), name) : null;
}

export const cgroupFeature = defineFeature({
  name: 'lesson 04 (cgroups)',
  steps: { cgroup: joinCgroup },
  // The cgroup namespace: made by the join step, once init is in its cgroup (that cgroup is then its "/").
  stepNamespaces: ['cgroup'],
  plan(config, context, step) {
    const cgroup = cgroupOfConfig(config, context.id);
    const wanted = config.linux?.namespaces?.find(({ type }) => type === 'cgroup');
    if (wanted?.path) throw new ConfigError('linux.namespaces: joining a cgroup namespace by path is not supported; leave out "path" for a new one');
    const namespace = wanted !== undefined;
    if (cgroup) return [step('cgroup', cgroup.joinConfig({ namespace }))];
    // No cgroup of its own: the namespace's root is then the cgroup the runtime started init in.
    return namespace ? [step('cgroup', { procs: [], namespace })] : [];
  },
  async prepare(config, context) {
    const facts = readCgroupFacts();
    const name = cgroupNameOf(config, context.id);
    if (!name) return;
    await removeStaleCgroups(facts); // left by runtimes killed with SIGKILL
    const cgroup = managerFor(facts, name);
    cgroup.create();
    for (const warning of cgroup.apply(resourcesOf(config))) context.warn(warning);
  },
  async release(config, context) {
    await cgroupOfConfig(config, context.id)?.destroy();
  },
});
