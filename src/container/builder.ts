/**
 * One way to build a container: from its config.json, through the features of a registry.
 *
 *   config.json ──plan──▶ ContainerPlan ──▶ monitor ──▶ init ──▶ the kernel
 *                  │
 *                  └ each feature, in the registry's order: the steps it asks init to run; then on the
 *                    host, prepare (before init starts) and connect (while init waits at "ready")
 *
 * and when the container is gone — or could not be created — release, in reverse order. It is the
 * sequence of runc's `create` (cgroup made, then the container's init, then the network wired by a
 * createRuntime hook in a docker-like engine) and of its `delete`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, namespacesOf, STEP_NAMESPACES, type OciConfig } from './config.js';
import type { FeatureRegistry, HeldNamespace, HostContext } from './features.js';
import { makePlan, type ContainerPlan, type StepCall } from './plan.js';
import { createContainer, type Container, type CreateOptions } from './runtime.js';

/** config.json → the plan init follows: its namespaces, and each feature's steps in the registry's order. */
export function planFromConfig(config: OciConfig, registry: FeatureRegistry, context: HostContext): ContainerPlan {
  for (const { type } of config.linux?.namespaces ?? []) {
    if (STEP_NAMESPACES.includes(type) && !registry.makesInStep(type)) throw new ConfigError(`the ${type} namespace is not supported (no lesson makes one yet)`);
  }
  const { create, join } = namespacesOf(config);
  if (create.includes('user') && !registry.hostNamespaceMaker('user')) throw new ConfigError('the user namespace is not supported (no lesson makes one yet)');
  const steps: StepCall[] = registry.features.flatMap((feature) => feature.plan?.(config, context, feature.step) ?? []);
  return makePlan({
    id: context.id,
    namespaces: create,
    join,
    steps,
    process: { args: config.process.args, env: config.process.env ?? [], cwd: config.process.cwd },
  });
}

export interface BuildOptions extends Omit<CreateOptions, 'direct'> {
  registry: FeatureRegistry;
  context: HostContext;
  /** Start init as this process's child, no monitor (CreateOptions.direct, with this registry). */
  direct?: boolean;
}

/**
 * Creates the container config.json describes: namespaces made, steps run, host side wired; its
 * command waits for start(). On any failure everything made so far is given back before the error is
 * passed on.
 */
export async function createFromConfig(config: OciConfig, options: BuildOptions): Promise<Container> {
  const { registry, context, direct, ...createOptions } = options;
  let plan = planFromConfig(config, registry, context);
  let container: Container | undefined;
  let held: HeldNamespace | undefined;
  try {
    // runc's order: the user namespace first, mapped while nothing runs in it yet; init makes the
    // others inside it, so that they belong to it. The features' host work may need it (idmapped layers).
    if (plan.namespaces.includes('user')) {
      held = await registry.hostNamespaceMaker('user')!(config, context);
      plan = { ...plan, namespaces: plan.namespaces.filter((kind) => kind !== 'user'), join: [{ kind: 'user', path: held.path }, ...plan.join] };
    }
    const userNamespace = plan.join.find(({ kind }) => kind === 'user')?.path;
    for (const feature of registry.features) await feature.prepare?.(config, { ...context, ...(userNamespace ? { userNamespace } : {}) });
    const attach = async (pid: number) => {
      for (const feature of registry.features) await feature.attach?.(config, { ...context, pid });
    };
    container = await createContainer(plan, { ...createOptions, attach, ...(direct ? { direct: { registry } } : {}) });
    held?.letGo(); // init is in it now, and keeps it
    for (const feature of registry.features) await feature.connect?.(config, { ...context, pid: container.pid });
    return container;
  } catch (error) {
    held?.letGo();
    await container?.destroy();
    createOptions.early?.discard(); // started for a container that never came to be
    await releaseFeatures(config, registry, context).catch(() => {}); // the first error is the one to report
    throw error;
  }
}

/**
 * Gives back what the features made on the host for a container (its cgroup, its network), in reverse
 * order. Every feature is asked even when an earlier one fails; the first failure is then thrown.
 * A file in the container's runtime folder records that it is done.
 */
export async function releaseFeatures(config: OciConfig, registry: FeatureRegistry, context: HostContext): Promise<void> {
  // Once all went well, later calls (every `ps -a` that finds the container stopped) have nothing to do.
  const done = path.join(context.runtimeDir, 'released');
  if (existsSync(done)) return;
  let firstError: unknown;
  for (const feature of [...registry.features].reverse()) {
    try {
      await feature.release?.(config, context);
    } catch (error) {
      firstError ??= new Error(`${feature.name}: releasing: ${(error as Error).message}`, { cause: error });
    }
  }
  if (firstError) throw firstError;
  if (existsSync(context.runtimeDir)) writeFileSync(done, '');
}

/** A container this process built and owns for its whole life (a lesson's demo, a test). */
export interface BuiltContainer {
  container: Container;
  /** Its config.json: what it was built from, and what release() gives back by. */
  config: OciConfig;
  context: HostContext;
  /** Kills the container if it still runs, waits for it, then releases what its features made. Safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * createFromConfig, for a caller that owns the container for its whole life (a lesson's demo, a test):
 * the command waits for container.start(); destroy() gives everything back.
 */
export async function buildFromConfig(config: OciConfig, options: BuildOptions): Promise<BuiltContainer> {
  const container = await createFromConfig(config, options);
  let destroyed: Promise<void> | undefined;
  return {
    container,
    config,
    context: options.context,
    destroy: () =>
      (destroyed ??= (async () => {
        await container.destroy();
        await releaseFeatures(config, options.registry, options.context);
      })()),
  };
}
