/**
 * Where the lessons plug into init. Each lesson contributes the function that creates its namespace
 * and the setup steps that run inside it; init itself only walks these tables.
 */
import type { Syscalls } from '../sys/index.js';
import { newUtsNamespace, setUpUts } from '../../lessons/01-uts/uts.js';
import { mountProc, newIpcNamespace, newMountNamespace, newPidNamespace } from '../../lessons/02-pid/pid.js';
import { escapeChroot, makeSharedMount, mountInNewNamespace, setUpRootfs } from '../../lessons/03-mount/mount.js';
import { joinCgroup } from '../../lessons/04-cgroups/manager.js';
import { mountOverlay } from '../../lessons/05-overlay/overlay.js';
import { newNetNamespace } from '../../lessons/06-network/netns.js';
import { setUpOciRootfs } from '../final/oci/rootfs.js';
import type { NamespaceKind } from './plan.js';

/** How init leaves the host's namespace of each kind. The PID kind is special: see monitor.ts. */
export const namespaceCreators: Partial<Record<NamespaceKind, (sys: Syscalls) => void>> = {
  uts: newUtsNamespace,
  pid: newPidNamespace,
  ipc: newIpcNamespace,
  mnt: newMountNamespace,
  net: newNetNamespace, // lesson 06: the runtime wires the network from outside, see lessons/06-network/network.ts
};

/** The setup steps a plan can ask for, by name. */
export const setupSteps = {
  hostname: setUpUts,
  mountProc: (sys: Syscalls, _config: Record<string, never>) => mountProc(sys),
  // Lesson 03: the container's own root file system (it mounts its own /proc: no mountProc with it).
  rootfs: setUpRootfs,
  chrootEscape: (sys: Syscalls, _config: Record<string, never>) => escapeChroot(sys),
  // Lesson 03's propagation demonstration: a throwaway "host" with a shared mount, and a namespace under it.
  sharedMount: (sys: Syscalls, config: { target: string }) => makeSharedMount(sys, config.target),
  mountInNewNamespace,
  // Lesson 04: init moves itself into the container's cgroup (first of all steps), see joinCgroup.
  cgroup: joinCgroup,
  // Lesson 05: the image's layers and the container's own layer, merged by overlayfs (before `rootfs`).
  overlay: mountOverlay,
  // The final runtime: lesson 03's rootfs with the mounts an OCI config.json lists, in its order.
  ociRootfs: setUpOciRootfs,
} satisfies Record<string, (sys: Syscalls, config: never) => void>;

type Steps = typeof setupSteps;
/** One entry of ContainerPlan.steps: a step name with the config its function takes. */
export type StepCall = { [Name in keyof Steps]: { step: Name; config: Parameters<Steps[Name]>[1] } }[keyof Steps];

export function runStep(sys: Syscalls, call: StepCall): void {
  const step = setupSteps[call.step] as (sys: Syscalls, config: unknown) => void;
  if (!step) throw new Error(`init: unknown setup step "${call.step}"`);
  step(sys, call.config);
}
