/**
 * What lesson 07 adds to a container's life (see lessons/registry.ts): what its root may DO. Lessons
 * 01–06 decide what a container sees; these steps, run by init after everything else and right before
 * exec, take away the powers that reach past the namespaces — all of it read from config.json:
 *
 *   linux.maskedPaths, linux.readonlyPaths   /proc and /sys made empty or read-only     (paths.ts)
 *   process.oomScoreAdj, process.rlimits      the OOM killer's preference, resource limits (process.ts)
 *   process.user                              who the command runs as                   (process.ts)
 *   process.capabilities                      the five capability sets                  (capabilities.ts)
 *   process.noNewPrivileges                   execve can add nothing                    (process.ts)
 *   linux.seccomp                             the system call filter                    (seccomp.ts)
 *   linux.devices                             device nodes made in the container's /dev (devices.ts)
 *   linux.sysctl                              kernel settings of its own namespaces     (sysctl.ts)
 *
 * and one thing the host does before init is let go: linux.resources.devices, the device cgroup's
 * rules, written into the container's cgroup (a v2 eBPF program, or v1's devices files) — devices.ts.
 *
 * The order is runc's (standard_init_linux.go): seccomp goes last, right before exec, so that nothing
 * init still has to do is filtered — unless no_new_privs is off: then installing a filter needs
 * CAP_SYS_ADMIN, so it goes before the capabilities are dropped.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ConfigError, hasOwnNamespace, type OciConfig, type OciUser } from '../../src/container/config.js';
import { linuxSyscalls, type Syscalls } from '../../src/sys/index.js';
import { defineFeature } from '../../src/container/features.js';
import type { StepCall } from '../../src/container/plan.js';
import { cgroupOfConfig } from '../04-cgroups/feature.js';
import {
  ALWAYS_ALLOWED_DEVICES, applyDeviceRules, checkDevices, effectiveRules, createDevices, deviceCgroupOf, joinDeviceCgroup, removeDeviceCgroup, type DeviceCgroup, type DeviceRule,
} from './devices.js';
import { applyCapabilities, capabilitySets, dropBoundingSet, lastCapability, type CapabilityStepConfig } from './capabilities.js';
import { protectPaths, refuseSharedMounts } from './paths.js';
import { becomeUser, checkUser, resourceLimits, setNoNewPrivileges, setOomScoreAdj, setResourceLimits } from './process.js';
import { loadSeccomp, seccompFilter, seccompStepConfig } from './seccomp.js';
import { checkSysctl, setSysctls } from './sysctl.js';

export const securityFeature = defineFeature({
  name: 'lesson 07 (security)',
  steps: {
    devices: createDevices,
    sysctl: setSysctls,
    protectPaths: (sys: Syscalls, config: { masked: string[]; readonly: string[]; sharedRoot?: boolean }) => {
      // linux.rootfsPropagation may ask for a shared "/": the rootfs step made it shared only once every
      // mount of the container was private and "/" its own, so that peer group is the container's alone.
      if (!config.sharedRoot) refuseSharedMounts();
      protectPaths(sys, config);
    },
    oomScoreAdj: setOomScoreAdj,
    rlimits: setResourceLimits,
    user: (sys: Syscalls, config: { user: OciUser; keepCapabilities: boolean }) => becomeUser(sys, config.user, config.keepCapabilities),
    boundingSet: dropBoundingSet,
    capabilities: applyCapabilities,
    noNewPrivileges: (sys: Syscalls, _config: Record<string, never>) => setNoNewPrivileges(sys),
    seccomp: loadSeccomp,
  },
  plan(config, _context, step) {
    const { process: spec, linux = {} } = config;
    const steps: StepCall[] = [];

    if (linux.devices?.length) steps.push(step('devices', { devices: checkDevices(linux.devices) }));
    effectiveRules(deviceRulesOf(config) ?? []); // a bad rule is refused before anything is made
    // Before protectPaths: /proc/sys is still writable, in the container's own namespaces only.
    const sysctl = checkSysctl(config);
    if (Object.keys(sysctl).length) steps.push(step('sysctl', { values: sysctl }));
    const masked = linux.maskedPaths ?? [];
    const readonly = linux.readonlyPaths ?? [];
    if (masked.length || readonly.length) {
      // These mounts must land in the container's own mount namespace, never in the host's.
      if (!hasOwnNamespace(config, 'mnt')) throw new ConfigError("linux.maskedPaths and linux.readonlyPaths need a mount namespace of the container's own");
      const sharedRoot = /shared$/.test(linux.rootfsPropagation ?? '');
      steps.push(step('protectPaths', { masked, readonly, ...(sharedRoot ? { sharedRoot } : {}) }));
    }
    if (spec.oomScoreAdj !== undefined) {
      if (!(Number.isInteger(spec.oomScoreAdj) && spec.oomScoreAdj >= -1000 && spec.oomScoreAdj <= 1000)) throw new ConfigError('process.oomScoreAdj must be a whole number from -1000 to 1000');
      steps.push(step('oomScoreAdj', { score: spec.oomScoreAdj }));
    }
    if (spec.rlimits?.length) steps.push(step('rlimits', { limits: resourceLimits(spec.rlimits) }));

    const noNewPrivileges = spec.noNewPrivileges === true;
    const seccomp = linux.seccomp && step('seccomp', seccompStepConfig(seccompFilter(linux.seccomp, {
      noNewPrivileges,
      capabilities: spec.capabilities?.bounding,
      kernel: release(),
    })) as never);
    if (seccomp && !noNewPrivileges) steps.push(seccomp); // needs CAP_SYS_ADMIN: before the drop

    const capabilities = spec.capabilities && capabilityStepConfig(spec.capabilities);
    if (capabilities) steps.push(step('boundingSet', capabilities));
    if (spec.user) steps.push(step('user', { user: checkUser(spec.user), keepCapabilities: capabilities !== undefined }));
    if (capabilities) steps.push(step('capabilities', capabilities));
    if (noNewPrivileges) steps.push(step('noNewPrivileges', {}));
    if (seccomp && noNewPrivileges) steps.push(seccomp); // last: nothing after it but exec
    return steps;
  },
  async prepare(config, context) {
    const target = deviceCgroupOfConfig(config, context.id);
    if (target) await applyDeviceRules(linuxSyscalls(), target, deviceRulesOf(config)!);
  },
  connect(config, context) {
    const target = deviceCgroupOfConfig(config, context.id);
    if (target) joinDeviceCgroup(target, context.pid);
  },
  async release(config, context) {
    let target: DeviceCgroup | null;
    try {
      target = deviceCgroupOfConfig(config, context.id);
    } catch {
      return; // no usable cgroups here: prepare made nothing (and said why)
    }
    if (target) await removeDeviceCgroup(target);
  },
});

/**
 * linux.resources.devices, then the default nodes every container may use (runc appends the same),
 * or null when config.json has no device rules: then the container's devices are its parent's.
 */
export function deviceRulesOf(config: OciConfig): DeviceRule[] | null {
  const rules = (config.linux?.resources as { devices?: DeviceRule[] } | undefined)?.devices;
  if (rules !== undefined && !Array.isArray(rules)) throw new ConfigError('linux.resources.devices must be a list of rules');
  return rules?.length ? [...rules, ...ALWAYS_ALLOWED_DEVICES] : null;
}

/** Where the container's device rules live, or null when it has none (lesson 04 made its cgroup: rules are limits). */
export function deviceCgroupOfConfig(config: OciConfig, id: string): DeviceCgroup | null {
  if (!deviceRulesOf(config)) return null;
  const cgroup = cgroupOfConfig(config, id);
  return cgroup && deviceCgroupOf(cgroup);
}

/** process.capabilities as init's capability steps take them. */
function capabilityStepConfig(capabilities: NonNullable<OciConfig['process']['capabilities']>): CapabilityStepConfig {
  const last = lastCapability(() => readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  // A capability this kernel does not know, or that the runtime itself was not given (its bounding
  // set, which init inherits), cannot be granted: capset would refuse the whole call. Left out, as runc does.
  const known = ((1n << BigInt(last + 1)) - 1n) & ourBoundingSet();
  const hex = (mask: bigint) => `0x${(mask & known).toString(16)}`;
  const sets = capabilitySets(capabilities);
  return {
    sets: { bounding: hex(sets.bounding), effective: hex(sets.effective), permitted: hex(sets.permitted), inheritable: hex(sets.inheritable), ambient: hex(sets.ambient) },
    last,
  };
}

/**
 * The steps a process started later in a running container (`exec`) must take too: it joins the
 * container's namespaces, but its powers come from the runtime that starts it — so the container's
 * limits, user, capabilities, no_new_privs and seccomp filter are applied to it again (docker exec and
 * runc exec do the same). /proc's masks are already in the mount namespace it joins.
 */
export function execSteps(config: OciConfig): StepCall[] {
  const context = { id: 'exec', bundle: '', stateDir: '', runtimeDir: '', warn: () => {} };
  const withoutMounts: OciConfig = { ...config, linux: { ...config.linux, maskedPaths: [], readonlyPaths: [], devices: [], sysctl: {} } };
  return (securityFeature.plan?.(withoutMounts, context, securityFeature.step) ?? []).filter(({ step }) => step !== 'oomScoreAdj');
}

/** The runtime's own bounding set: the most any process it starts can have. */
function ourBoundingSet(): bigint {
  const line = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return line ? BigInt(`0x${line[1]}`) : -1n;
}
