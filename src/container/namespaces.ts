import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS } from '../sys/index.js';
import type { NamespaceKind } from './plan.js';

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
