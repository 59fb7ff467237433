/**
 * What the runtime asks the container's init to do: a plain JSON document, sent over a pipe.
 *
 * It is what config.json becomes once the runtime has read it (see src/final/oci/spec.ts): which
 * namespaces to create or join, which setup steps to run, which command to exec. The steps are named;
 * the lessons define them (features.ts) — init itself never changes when a lesson adds one.
 */

/** The namespace kinds, named as their files in /proc/PID/ns/. */
export type NamespaceKind = 'uts' | 'ipc' | 'pid' | 'mnt' | 'net' | 'cgroup' | 'user';

/** One setup step for init: its name (a lesson's, see lessons/registry.ts) and its config, plain JSON. */
export interface StepCall {
  step: string;
  config: unknown;
}

export interface ProcessSpec {
  /** argv of the user command; args[0] is looked up in the PATH of `env` when it has no slash. */
  args: string[];
  /** "KEY=value" strings: the command's whole environment (nothing is inherited from Node). */
  env: string[];
  cwd: string;
}

export interface ContainerPlan {
  /** The container ID: 64 hex digits, like Docker's. */
  id: string;
  /** Namespaces to create. */
  namespaces: NamespaceKind[];
  /** Namespaces to join instead of creating: how `exec` enters a running container (setns(2)). */
  join: { kind: NamespaceKind; path: string }[];
  /**
   * With a joined mount namespace: the container's root directory to take, "/proc/PID/root" of a process
   * in it (nsenter --root). setns(2) puts a process at the namespace's root MOUNT, which is the container's
   * "/" only when its runtime pivoted at the namespace's top — not for a chroot()ed container, nor for
   * one whose runtime itself ran in a chroot: there, the namespace's root mount is the host's "/".
   */
  root?: string;
  /** Setup steps init runs inside the new namespaces, in order, before exec. */
  steps: StepCall[];
  process: ProcessSpec;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A plan with Docker's defaults filled in, so callers state only what differs. */
export function makePlan(
  partial: Partial<Omit<ContainerPlan, 'process'>> & { id: string; process: Partial<ProcessSpec> & { args: string[] } },
): ContainerPlan {
  const { args, env = [`PATH=${DEFAULT_PATH}`], cwd = '/' } = partial.process;
  return { namespaces: [], join: [], steps: [], ...partial, process: { args, env, cwd } };
}
