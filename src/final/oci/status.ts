/**
 * A container's lifecycle (runtime-spec runtime.md "Lifecycle"), as runc keeps it in
 * libcontainer/state_linux.go and youki in container/state.rs:
 *
 *   created ──start──▶ running ──(the command ends)──▶ stopped ──delete──▶ (gone)
 *      └──────────(killed before start)───────────────────▲
 *                   pause │ ▲ resume                      │
 *                         ▼ │                             │
 *                        paused ───(killed)───────────────┘
 *
 * "paused" is runc's status beyond the spec's: every process frozen by the cgroup freezer.
 * Every command that changes a container asks checkOperation first: a refused command changes nothing.
 */
import { OciError } from './spec.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'stopped';

/** Where each status may go next. A stopped container goes nowhere: it can only be deleted. */
export const TRANSITIONS: Readonly<Record<ContainerStatus, readonly ContainerStatus[]>> = {
  created: ['running', 'stopped'],
  running: ['paused', 'stopped'],
  // A frozen container can still be killed: v2's freezer lets SIGKILL through, v1's once thawed (runtime.ts).
  paused: ['running', 'stopped'],
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

const ANY: readonly ContainerStatus[] = ['created', 'running', 'paused', 'stopped'];

/** What each operation may be done in: the OCI runtime's (runtime.md "Operations") and Docker's on top. */
export const OPERATIONS = {
  start: { allowed: ['created'], refusal: (_name, status) => `cannot start a container that is ${status}` },
  // runtime.md: kill is for a created or running container; runc's paused one too.
  kill: { allowed: ['created', 'running', 'paused'], refusal: (name) => `container "${name}" is not running` },
  // runc ps and events: a stopped container has no processes to list, no cgroup to look at.
  ps: { allowed: ['created', 'running', 'paused'], refusal: (name) => `container "${name}" is not running` },
  events: { allowed: ['created', 'running', 'paused'], refusal: (name) => `container "${name}" is not running` },
  // runc update: the limits of a container that still has processes.
  update: { allowed: ['created', 'running', 'paused'], refusal: (name, status) => `container "${name}" is ${status}: there is nothing left to update` },
  // runc pause and resume.
  pause: { allowed: ['running'], refusal: (name, status) => `container "${name}" is ${status}: only a running container can be paused` },
  resume: { allowed: ['paused'], refusal: (name, status) => `container "${name}" is ${status}, not paused` },
  delete: { allowed: ['stopped'], refusal: (name, status) => `cannot delete container "${name}" that is not stopped: ${status}` },
  // runc delete --force: kills it first, in any status.
  'delete --force': { allowed: ANY, refusal: () => '' },
  // runc exec: into a created or running container (libcontainer refuses only a stopped one).
  'oci exec': { allowed: ['created', 'running'], refusal: (_name, status) => `cannot exec in a ${status} container` },
  // docker exec, docker rm, docker run --network container:NAME.
  exec: { allowed: ['running'], refusal: (name, status) => (status === 'paused' ? `Container ${name} is paused, unpause the container before exec` : `container ${name} is not running`) },
  'docker pause': { allowed: ['running'], refusal: (name, status) => (status === 'paused' ? `Container ${name} is already paused` : `Container ${name} is not running`) },
  'docker unpause': { allowed: ['paused'], refusal: (name) => `Container ${name} is not paused` },
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
