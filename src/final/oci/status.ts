/**
 * A container's lifecycle (runtime-spec runtime.md "Lifecycle"), as runc keeps it in
 * libcontainer/state_linux.go and youki in container/state.rs:
 *
 *   created ──start──▶ running ──(the command ends)──▶ stopped ──delete──▶ (gone)
 *      └──────────(killed before start)───────────────────▲
 *
 * Every command that changes a container asks checkOperation first: a refused command changes nothing.
 * runc names one more status, "paused" (cgroup freezer); this runtime has no pause yet.
 */
import { OciError } from './spec.js';

export type ContainerStatus = 'created' | 'running' | 'stopped';

/** Where each status may go next. A stopped container goes nowhere: it can only be deleted. */
export const TRANSITIONS: Readonly<Record<ContainerStatus, readonly ContainerStatus[]>> = {
  created: ['running', 'stopped'],
  running: ['stopped'],
  stopped: [],
};

/** The status a record moves to, checked against TRANSITIONS (a refusal here is a bug in the runtime). */
export function transition(from: ContainerStatus, to: ContainerStatus): ContainerStatus {
  if (!TRANSITIONS[from].includes(to)) throw new OciError(`a ${from} container cannot become ${to}`);
  return to;
}

interface Rule {
  /** The statuses the operation may be done in. */
  allowed: readonly ContainerStatus[];
  /** The one line that refuses it, in the wording of the tool it imitates (runc's, or Docker's). */
  refusal: (name: string, status: ContainerStatus) => string;
}

const ANY: readonly ContainerStatus[] = ['created', 'running', 'stopped'];

/** What each operation may be done in: the OCI runtime's (runtime.md "Operations") and Docker's on top. */
export const OPERATIONS = {
  start: { allowed: ['created'], refusal: (_name, status) => `cannot start a container that is ${status}` },
  // runtime.md: kill is for a created or running container.
  kill: { allowed: ['created', 'running'], refusal: (name) => `container "${name}" is not running` },
  // runc ps and events: a stopped container has no processes to list, no cgroup to look at.
  ps: { allowed: ['created', 'running'], refusal: (name) => `container "${name}" is not running` },
  events: { allowed: ['created', 'running'], refusal: (name) => `container "${name}" is not running` },
  delete: { allowed: ['stopped'], refusal: (name, status) => `cannot delete container "${name}" that is not stopped: ${status}` },
  // runc delete --force: kills it first, in any status.
  'delete --force': { allowed: ANY, refusal: () => '' },
  // runc exec: into a created or running container (libcontainer refuses only a stopped one).
  'oci exec': { allowed: ['created', 'running'], refusal: () => 'cannot exec in a stopped container' },
  // docker exec, docker rm, docker run --network container:NAME.
  exec: { allowed: ['running'], refusal: (name) => `container ${name} is not running` },
  rm: { allowed: ['stopped'], refusal: (name, status) => `You cannot remove a ${status} container ${name}. Stop the container before attempting removal or force remove` },
  'join network': { allowed: ['running'], refusal: (name) => `cannot join network of a non running container: ${name}: start it first` },
} satisfies Record<string, Rule>;

export type Operation = keyof typeof OPERATIONS;

/**
 * Throws the operation's one-line OciError unless a container in `status` allows it. `name` is how the
 * message names the container; null status: the runtime has no record of it (yet), refused as created.
 */
export function checkOperation(operation: Operation, name: string, status: ContainerStatus | null): void {
  const rule: Rule = OPERATIONS[operation];
  const current = status ?? 'created';
  if (!rule.allowed.includes(current)) throw new OciError(rule.refusal(name, current));
}
