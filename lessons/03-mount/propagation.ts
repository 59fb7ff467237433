/**
 * The propagation demonstration, made safe. On a systemd host "/" is a SHARED mount: a mount made
 * under it from a mount namespace that was copied from the host's shows up on the host too, unless
 * the new namespace made its mounts private first. Showing that on the real host would mean letting a
 * mount leak into it (and on a machine whose "/" is private, as some are, nothing would leak at all).
 * So the demonstration brings its own host:
 *
 *   fake host   a process in a throwaway mount namespace (private towards the real host), in which a
 *               folder is bound onto itself and made shared: the part of a systemd host that matters
 *   container   a process that joins the fake host's namespace, then does what a runtime does first:
 *               unshare(CLONE_NEWNS), MS_PRIVATE or not, and mounts a tmpfs under the shared folder
 *
 * Then we look at the fake host's mount table. Every mount involved lives in those two namespaces and
 * vanishes with their processes — even if the runtime is killed with SIGKILL (they die with it).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BundleTarget } from '../../src/build/bundle.js';
import { makePlan } from '../../src/container/plan.js';
import { startContainer, type Container } from '../../src/container/runtime.js';
import { newContainerId } from '../../src/container/id.js';
import { mountFeature } from './feature.js';
import { claimContainerDir, removeContainerDir, removeStaleContainerDirs } from './containers.js';
import { parseMountinfo, type MountEntry } from './mount.js';

export interface PropagationDemo {
  /** The folder that is a shared mount in the fake host: <state>/containers/<id>/shared */
  shared: string;
  /** Where the container mounts its tmpfs: <shared>/inner */
  target: string;
  fakeHost: Container;
  container: Container;
  /** The mounts at or under `shared`, as a process's mount namespace shows them (its /proc/PID/mountinfo). */
  mountsSeenBy(pid: number | 'self'): MountEntry[];
  /** Did the container's mount reach the fake host? */
  leaked(): boolean;
  /** Kills both processes (their namespaces and every mount in them go too) and removes the folder. */
  close(): Promise<void>;
}

export async function demonstratePropagation(options: { makePrivate: boolean; bundle?: BundleTarget; stateDir?: string }): Promise<PropagationDemo> {
  removeStaleContainerDirs(options.stateDir);
  const dir = claimContainerDir(newContainerId(), options.stateDir);
  const shared = path.join(dir, 'shared');
  const target = path.join(shared, 'inner');
  mkdirSync(target, { recursive: true });

  const started: Container[] = [];
  const close = async () => {
    for (const process of started.reverse()) await process.destroy();
    removeContainerDir(dir);
  };
  try {
    // The fake host: a mount namespace of its own (lesson 02's creator makes it private towards the real
    // host), with one shared mount in it.
    const fakeHost = await startContainer(
      makePlan({ id: newContainerId(), namespaces: ['mnt'], steps: [mountFeature.step('sharedMount', { target: shared })], process: { args: ['sleep', 'infinity'] } }),
      { stdio: 'ignore', bundle: options.bundle },
    );
    started.push(fakeHost);
    // The container: joins the fake host's namespace, so that its own new one is copied from it.
    const container = await startContainer(
      makePlan({
        id: newContainerId(),
        join: [{ kind: 'mnt', path: `/proc/${fakeHost.pid}/ns/mnt` }],
        steps: [mountFeature.step('mountInNewNamespace', { target, makePrivate: options.makePrivate })],
        process: { args: ['sleep', 'infinity'] },
      }),
      { stdio: 'ignore', bundle: options.bundle },
    );
    started.push(container);

    const mountsSeenBy = (pid: number | 'self') =>
      parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).filter(
        (entry) => entry.mountPoint === shared || entry.mountPoint.startsWith(`${shared}/`),
      );
    return {
      shared,
      target,
      fakeHost,
      container,
      mountsSeenBy,
      leaked: () => mountsSeenBy(fakeHost.pid).some((entry) => entry.mountPoint === target),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
