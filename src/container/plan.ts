/**
 * What the runtime asks the container's init to do: a plain JSON document, sent over a pipe.
 *
 * It plays the part of the OCI runtime spec's config.json, trimmed to what the lessons need so far.
 * Each lesson adds a mechanism by adding a namespace kind or a setup step here — never by changing how
 * init works.
 */
import type { StepCall } from './steps.js';

/** The namespace kinds, named as their files in /proc/PID/ns/. */
export type NamespaceKind = 'uts' | 'ipc' | 'pid' | 'mnt' | 'net' | 'cgroup';

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
