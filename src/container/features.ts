/**
 * How the lessons plug into the start path without the core knowing any of them.
 *
 * A Feature is what one lesson adds to a container's life, all of it driven by config.json:
 *
 *   inside  (in init)     the namespaces it knows how to create, and the setup steps init can run in the
 *                         new container (set the host name, mount the root file system, join a cgroup);
 *   outside (on the host) which of its steps a config.json asks for (plan), what the host must make
 *                         before init starts (prepare: the cgroup), what it wires while init waits
 *                         (connect: the network), and how all of that is given back (release).
 *
 * The lessons list their features in one place, lessons/registry.ts; its order is the order in which
 * init runs their steps. The program every container starts as (lessons/program.ts) hands that
 * registry to the core's monitor and init; builder.ts runs the outside half.
 *
 * runc has the same split inside one program: libcontainer's init walks a fixed sequence, and each
 * part of config.json has its function (setupRootfs, setupNetwork, ...). youki makes the parts
 * pluggable behind traits; this is the TypeScript version of that idea.
 */
import type { Syscalls } from '../sys/index.js';
import type { OciConfig } from './config.js';
import type { NamespaceKind, StepCall } from './plan.js';

/**
 * A setup step: runs in the container's init, inside its new namespaces, on init's main thread and
 * synchronously (see init.ts). Its config travels as JSON, so it holds plain data only.
 */
export type SetupStep = (sys: Syscalls, config: any) => void;

export interface FeatureDefinition<Steps extends Record<string, SetupStep>> {
  /** Who adds it, for messages: "lesson 03 (mount)". */
  name: string;
  /** The namespace kinds this feature creates, each with its unshare(2) (the PID kind: in the monitor). */
  namespaces?: Partial<Record<NamespaceKind, (sys: Syscalls) => void>>;
  /**
   * Namespace kinds this feature makes on the host before init starts, for init to join: the user
   * namespace (lesson 08), which no Node process can create or enter, and which must be mapped from
   * outside before anything runs in it.
   */
  hostNamespaces?: Partial<Record<NamespaceKind, HostNamespaceMaker>>;
  /** config.json namespace types its own steps create, at their moment (config.ts: STEP_NAMESPACES). */
  stepNamespaces?: readonly string[];
  /** The setup steps, by the name a plan uses. */
  steps?: Steps;
  /**
   * Which of its steps this config.json asks for, in order (it may read the machine, it changes
   * nothing); `step` makes each entry, its config checked against the step's type.
   */
  plan?(config: OciConfig, context: HostContext, step: StepBuilder<Steps>): StepCall[];
  /** Before init starts: make on the host what init will use (lesson 04 creates the cgroup it joins). */
  prepare?(config: OciConfig, context: HostContext): void | Promise<void>;
  /**
   * Init has started in a user namespace and waits before its first step, its host PID known: put it
   * where it may not go itself, being no one on the host (lesson 04: its cgroup). Only then.
   */
  attach?(config: OciConfig, context: HostContext & { pid: number }): void | Promise<void>;
  /** Init waits at "ready", its PID known: wire it from outside (lesson 06: veth, address, NAT). */
  connect?(config: OciConfig, context: HostContext & { pid: number }): void | Promise<void>;
  /**
   * Give back what prepare and connect made, once the container has gone or could not be created.
   * Must be safe to call again, and after a prepare that failed half-way or never ran.
   */
  release?(config: OciConfig, context: HostContext): void | Promise<void>;
}

/** Makes a namespace on the host (FeatureDefinition.hostNamespaces). */
export type HostNamespaceMaker = (config: OciConfig, context: HostContext) => Promise<HeldNamespace>;

/** A namespace a feature made on the host, kept by a process of its own until init is in it. */
export interface HeldNamespace {
  /** What init joins instead of making one: a /proc/PID/ns/* path of the holder. */
  path: string;
  /** Ends the holder: once init is in the namespace (which then lives on through it), or has failed to. */
  letGo(): void;
}

/** What the outside hooks of a feature are told about the container. */
export interface HostContext {
  /** The container's ID, as the runtime knows it. */
  id: string;
  /** Its bundle: config.json's folder. */
  bundle: string;
  /** The lab's state folder (LAB_STATE_DIR): where lessons keep what outlives a command (leases, images). */
  stateDir: string;
  /** The runtime's folder for this container: a hook keeps here what it must remember until release. */
  runtimeDir: string;
  /** Says something the user should know but that does not stop the container ("WARNING: ..."). */
  warn(message: string): void;
  /** Told each command a feature runs on the host, for a caller that shows them (a lesson's pane). */
  onCommand?(record: { command: string; exitCode: number }): void;
  /** prepare only: the container's user namespace (a /proc/PID/ns/user path), when it has one of its own. */
  userNamespace?: string;
  /** runc's --no-pivot: the root file system is entered without pivot_root (for a "/" that cannot be unmounted). */
  noPivot?: boolean;
}

/** Makes a plan entry for one of a feature's steps, its config checked against the step's type. */
export type StepBuilder<Steps extends Record<string, SetupStep>> = <Name extends keyof Steps & string>(name: Name, config: Parameters<Steps[Name]>[1]) => StepCall;

export interface Feature<Steps extends Record<string, SetupStep> = Record<string, SetupStep>> extends FeatureDefinition<Steps> {
  /** A plan entry for one of this feature's steps (for code that builds a plan by hand, like a lesson's demo). */
  step: StepBuilder<Steps>;
}

export function defineFeature<Steps extends Record<string, SetupStep> = Record<never, SetupStep>>(definition: FeatureDefinition<Steps>): Feature<Steps> {
  return { ...definition, step: (name, config) => ({ step: name, config }) };
}

/**
 * A feature whatever its steps are: the registry holds features of different step types side by side
 * (each one's own typing was checked where it was defined, by defineFeature).
 */
export type AnyFeature = Feature<any>;

/** The features of one program, checked once: every step name and namespace kind belongs to exactly one. */
export class FeatureRegistry {
  private readonly steps = new Map<string, { run: SetupStep; feature: string }>();
  private readonly creators = new Map<NamespaceKind, (sys: Syscalls) => void>();
  private readonly hostMakers = new Map<NamespaceKind, HostNamespaceMaker>();

  constructor(readonly features: readonly AnyFeature[]) {
    for (const feature of features) {
      for (const [name, run] of Object.entries<SetupStep>(feature.steps ?? {})) {
        const owner = this.steps.get(name);
        if (owner) throw new Error(`setup step "${name}" is added twice: by ${owner.feature} and by ${feature.name}`);
        this.steps.set(name, { run, feature: feature.name });
      }
      for (const [kind, create] of Object.entries(feature.namespaces ?? {}) as [NamespaceKind, (sys: Syscalls) => void][]) {
        if (this.creators.has(kind)) throw new Error(`the ${kind} namespace is created by two features (the second: ${feature.name})`);
        this.creators.set(kind, create);
      }
      for (const [kind, make] of Object.entries(feature.hostNamespaces ?? {}) as [NamespaceKind, HostNamespaceMaker][]) {
        if (this.creators.has(kind) || this.hostMakers.has(kind)) throw new Error(`the ${kind} namespace is created by two features (the second: ${feature.name})`);
        this.hostMakers.set(kind, make);
      }
    }
  }

  /** Does a feature's step create namespaces of this config.json type ("cgroup")? */
  makesInStep(type: string): boolean {
    return this.features.some((feature) => feature.stepNamespaces?.includes(type));
  }

  /** The maker of a namespace kind that is made on the host (hostNamespaces), if a lesson adds one. */
  hostNamespaceMaker(kind: NamespaceKind): HostNamespaceMaker | undefined {
    return this.hostMakers.get(kind);
  }

  /** unshare(2) for a namespace kind, as a lesson wrote it. */
  namespaceCreator(kind: NamespaceKind): (sys: Syscalls) => void {
    const create = this.creators.get(kind);
    if (!create) throw new Error(`no lesson creates a "${kind}" namespace yet`);
    return create;
  }

  /** Runs one step of a plan; a failure says which step of which lesson it was. */
  runStep(sys: Syscalls, call: StepCall): void {
    const step = this.steps.get(call.step);
    if (!step) throw new Error(`unknown setup step "${call.step}"`);
    try {
      step.run(sys, call.config);
    } catch (error) {
      throw new Error(`step "${call.step}" (${step.feature}): ${(error as Error).message}`, { cause: error });
    }
  }
}
