import { closeSync, openSync } from 'node:fs';
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, type Syscalls } from '../sys/index.js';
import type { FeatureRegistry } from './features.js';
import type { ContainerPlan, NamespaceKind } from './plan.js';

/** The clone/unshare/setns flag for each namespace kind. */
const FLAGS: Record<NamespaceKind, number> = {
  uts: CLONE_NEWUTS,
  ipc: CLONE_NEWIPC,
  pid: CLONE_NEWPID,
  mnt: CLONE_NEWNS,
  net: CLONE_NEWNET,
  cgroup: CLONE_NEWCGROUP,
};

export function namespaceFlag(kind: NamespaceKind): number {
  return FLAGS[kind];
}

export const NAMESPACE_KINDS = Object.keys(FLAGS) as NamespaceKind[];

/** How `exec` enters a running container: join every namespace it has, by its /proc path. */
export function joinAll(pid: number, kinds: readonly NamespaceKind[]): { kind: NamespaceKind; path: string }[] {
  return kinds.map((kind) => ({ kind, path: `/proc/${pid}/ns/${kind}` }));
}

/**
 * Create or join the plan's PID namespace for the caller's next child — a PID namespace applies only to
 * children: unshare(CLONE_NEWPID) and setns(CLONE_NEWPID) never move the caller. Done by the monitor
 * just before it starts init, or by the runtime itself when it starts init directly.
 */
export function enterPidNamespace(sys: Syscalls, plan: Pick<ContainerPlan, 'namespaces' | 'join'>, registry: FeatureRegistry): void {
  const join = plan.join.find((entry) => entry.kind === 'pid');
  if (join) {
    const fd = openSync(join.path, 'r');
    try {
      sys.setns(fd, CLONE_NEWPID);
    } finally {
      closeSync(fd);
    }
  } else if (plan.namespaces.includes('pid')) {
    registry.namespaceCreator('pid')(sys);
  }
}

/** Does the plan put init in a PID namespace other than its parent's? */
export function needsPidNamespace(plan: Pick<ContainerPlan, 'namespaces' | 'join'>): boolean {
  return plan.namespaces.includes('pid') || plan.join.some((entry) => entry.kind === 'pid');
}
