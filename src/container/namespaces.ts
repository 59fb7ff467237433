import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER, CLONE_NEWUTS, type Syscalls } from '../sys/index.js';
import { inUserNamespace } from '../sys/process.js';
import { findProgram } from '../sys/programs.js';
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
  user: CLONE_NEWUSER,
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
  } else if (plan.namespaces.includes('pid') && !userNamespaceOf(plan)) {
    registry.namespaceCreator('pid')(sys); // in a user namespace: made inside it (initCommand)
  }
}

/**
 * Does whoever starts init have to enter a PID namespace for it first? Not when a helper makes or
 * joins it (initIsAdopted), nor for a new one inside a user namespace: that one is made inside it
 * (initCommand), so that it belongs to it.
 */
export function needsPidNamespace(plan: Pick<ContainerPlan, 'namespaces' | 'join'>): boolean {
  if (initIsAdopted(plan)) return false;
  if (userNamespaceOf(plan) && !plan.join.some((entry) => entry.kind === 'pid')) return false;
  return plan.namespaces.includes('pid') || plan.join.some((entry) => entry.kind === 'pid');
}

/** The user namespace the plan puts init in (a /proc/PID/ns/user path), if not ours. */
export function userNamespaceOf(plan: Pick<ContainerPlan, 'join'>): string | undefined {
  return plan.join.find((entry) => entry.kind === 'user')?.path;
}

/**
 * Is init forked by a helper that then leaves (initCommand), so that whoever starts it adopts it — as a
 * child subreaper — instead of having it as its own child? For a new PID namespace in a user namespace;
 * and for any PID namespace when the runtime itself runs in a user namespace (rootless): a process may
 * step into a PID namespace for its next child, but stepping back into its own takes CAP_SYS_ADMIN over
 * the namespace that owns it (setns(2)) — the host's, which a rootless runtime's root does not have.
 */
export function initIsAdopted(plan: Pick<ContainerPlan, 'join' | 'namespaces'>): boolean {
  const joinsPid = plan.join.some((entry) => entry.kind === 'pid');
  if (userNamespaceOf(plan) !== undefined) return plan.namespaces.includes('pid') && !joinsPid;
  return (plan.namespaces.includes('pid') || joinsPid) && inUserNamespace();
}

/**
 * How init is started: `node ENTRY init` — behind util-linux helpers when the plan has a user namespace,
 * or the runtime runs in one (rootless).
 *
 * The kernel lets only a single-threaded process enter or create a user namespace (setns(2), unshare(2):
 * EINVAL otherwise), and Node always runs threads. runc meets the same rule with Go's threads: its C
 * part, nsexec, runs before the Go runtime starts. Here the single-threaded part is util-linux, each
 * program doing one thing and exec'ing the next, in one process:
 *
 *   nsenter --user=PATH   joins, becomes the namespace's root (uid and gid 0): what it execs keeps
 *                         every capability of that namespace (capabilities(7): exec as root)
 *   unshare --pid         a new PID namespace for its children, made inside the user namespace so that
 *                         it belongs to it (else the container could not mount a /proc for it)
 *   setsid --fork         forks init into it as PID 1 (in a session of its own) and exits at once:
 *                         init is orphaned, and the starter, a child subreaper, adopts it (initIsAdopted)
 *
 * A PID namespace that is joined (`exec`) is entered by the starter instead (needsPidNamespace) — but
 * by `nsenter --pid --no-fork` before setsid when the runtime is rootless (initIsAdopted), and a
 * rootless runtime's new one is made by `unshare --pid` with no user namespace to enter first.
 *
 * Node, the init bundle and the node_modules folder its native addon (koffi) comes from are opened
 * here, by the host's root, and used as /proc/self/fd/N: the namespace's root is no one on the host,
 * and may not search the folders they are in (a home folder, nvm's). A descriptor's magic link is
 * followed without that search (runc re-executes itself from /proc/self/exe for the same reason). The
 * --preserve-symlinks flags keep Node from resolving those paths back to the real ones; NODE_PATH
 * points its module search at the folder. The starter passes `fds` to the child as `firstFd`,
 * `firstFd + 1` …, adds `env` to its environment, then closes the descriptors.
 */
export function initCommand(plan: Pick<ContainerPlan, 'join' | 'namespaces'>, entry: string, firstFd: number): { file: string; args: string[]; fds: number[]; env: Record<string, string> } {
  const user = userNamespaceOf(plan);
  const adopted = initIsAdopted(plan);
  if (!user && !adopted) return { file: process.execPath, args: [entry, 'init'], fds: [], env: {} };
  const program = (name: string) => {
    const file = findProgram(name);
    if (!file) throw new Error(`a container in a user namespace is started through ${name}, which is missing: install util-linux`);
    return file;
  };
  // A PID namespace that is joined: nsenter --no-fork steps into it for setsid's child, as unshare does for a new one.
  const pidToJoin = plan.join.find((entry) => entry.kind === 'pid')?.path;
  const intoPidNamespace = pidToJoin ? [program('nsenter'), `--pid=${pidToJoin}`, '--no-fork', '--'] : [program('unshare'), '--pid', '--'];
  const forkIntoPidNamespace = adopted ? [...intoPidNamespace, program('setsid'), '--fork', '--'] : [];
  const intoUserNamespace = user ? [program('nsenter'), `--user=${user}`, '--'] : [];
  const addon = createRequire(entry).resolve('koffi');
  const modules = addon.slice(0, addon.lastIndexOf(`${path.sep}node_modules${path.sep}`) + '/node_modules'.length);
  const fds = [process.execPath, entry, modules].map((file) => openSync(file, 'r'));
  const [node, bundle, modulesFolder] = fds.map((_, index) => `/proc/self/fd/${firstFd + index}`);
  const [file, ...args] = [...intoUserNamespace, ...forkIntoPidNamespace, node!, '--preserve-symlinks', '--preserve-symlinks-main', bundle!, 'init'];
  return { file: file!, args, fds, env: { NODE_PATH: modulesFolder! } };
}
