/**
 * Every container of the lab has a folder of its own in the lab's state folder, as Docker gives each one
 * /var/lib/docker/containers/<id>/: its bundle (config.json), and whatever its lesson keeps there (lesson
 * 03's copy of the image, lesson 05's layer). The folder records the runtime process that made it
 * ("owner"); whoever starts a container removes its folder when it goes, and a runtime killed with
 * SIGKILL cannot — so every start first removes the folders whose owner is gone.
 *
 * Starting a container that needs more than init's own steps — a cgroup, a network, a security profile:
 * the one way this project builds one. The lesson writes what it wants into the config.json in the
 * container's folder, and the lessons' features (lessons/registry.ts, handed in by the caller) build it
 * from that file — the same path `npm run oci create` and minidocker take:
 *
 *   const id = newContainerId();
 *   const config = labConfig(id, ['sleep', 'infinity'], { linux: { resources: { pids: { limit: 64 } } } });
 *   const started = await startLabContainer(id, config, { registry, stdio: 'ignore' });
 *   ...
 *   await started.destroy(); // the container, then its cgroup, then its folder
 *
 * Demos that show init's own steps one at a time (lessons 01–03) build their plans by hand instead.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildFromConfig, type BuiltContainer } from '../../src/container/builder.js';
import { OCI_VERSION, type OciConfig } from '../../src/container/config.js';
import type { FeatureRegistry, HostContext } from '../../src/container/features.js';
import type { CreateOptions } from '../../src/container/runtime.js';
import { DEFAULT_PATH } from '../../src/container/plan.js';
import { labStateDir } from '../../src/container/state.js';
import { defaultHostname } from '../01-uts/uts.js';
import { parseMountinfo } from '../../src/sys/mountinfo.js';
import { MNT_DETACH, linuxSyscalls } from '../../src/sys/index.js';
import { inUserNamespace, processIdentity, processIsAlive } from '../../src/sys/process.js';

export function containersDir(stateDir = labStateDir()): string {
  return path.join(stateDir, 'containers');
}

/** Makes <state>/containers/<id>/ and records this process as its owner. */
export function claimContainerDir(id: string, stateDir = labStateDir()): string {
  const dir = path.join(containersDir(stateDir), id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'owner'), `${processIdentity(process.pid)}\n`);
  return dir;
}

/**
 * Removes a container's folder. Normally nothing is mounted in it on the host: the container's mounts
 * were in its own namespace. If some did leak (a mount namespace that was not private, on a host
 * whose "/" is shared), they are unmounted first: a recursive delete would otherwise walk into them.
 */
export function removeContainerDir(dir: string): void {
  const leaked = hostMountPointsUnder(dir).sort((a, b) => b.length - a.length); // the deepest first
  for (const mountPoint of leaked) linuxSyscalls().umount2(mountPoint, MNT_DETACH);
  rmSync(dir, { recursive: true, force: true });
}

/** Mount points of this process's mount namespace (the host's, for the runtime) at or below `dir`. */
export function hostMountPointsUnder(dir: string): string[] {
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  return mounts.map((mount) => mount.mountPoint).filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** Removes the folders whose owner process is gone (killed with SIGKILL, the machine rebooted ...). Returns them. */
export function removeStaleContainerDirs(stateDir = labStateDir()): string[] {
  const removed: string[] = [];
  for (const { dir, owner } of containerOwners(stateDir)) {
    if (processIsAlive(owner)) continue;
    removeContainerDir(dir);
    removed.push(dir);
  }
  return removed;
}

/** The PIDs of the owners that still run: the runtimes and monitors of the containers alive now. */
export function livingOwners(stateDir = labStateDir()): number[] {
  return containerOwners(stateDir).filter(({ owner }) => processIsAlive(owner)).map(({ owner }) => Number(owner.split(' ')[0]));
}

/** Each container folder with its owner's identity (processIdentity); one without an owner file is being made, or not ours. */
function containerOwners(stateDir: string): { dir: string; owner: string }[] {
  const root = containersDir(stateDir);
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((id) => {
    const dir = path.join(root, id);
    try {
      return [{ dir, owner: readFileSync(path.join(dir, 'owner'), 'utf8').trim() }];
    } catch {
      return [];
    }
  });
}

// --- a container built from the config.json in its folder ------------------------------------------

/**
 * The namespaces of lessons 01–02's containers, as config.json names them. Run without root (in the
 * user's own user namespace), a network namespace too: the kernel mounts a sysfs only for a root that
 * owns the network namespace it shows (runc rootless binds the host's /sys instead).
 */
export const LAB_NAMESPACES = ['pid', 'ipc', 'mount', 'uts', ...(inUserNamespace() ? ['network'] : [])];

/** Fields to add to a lesson's config.json; `linux` and `process` are merged into the defaults. */
export type MoreConfig = Omit<Partial<OciConfig>, 'process'> & { process?: Partial<OciConfig['process']>; namespaces?: string[] };

/**
 * A config.json for a lesson's container: its command, lessons 01–02's namespaces and a host name made
 * from its ID; `more` adds or replaces fields (a root, linux.resources, an annotation ...).
 */
export function labConfig(id: string, args: string[], more: MoreConfig = {}): OciConfig {
  const { namespaces = LAB_NAMESPACES, linux, process: processMore, ...rest } = more;
  return {
    ociVersion: OCI_VERSION,
    process: { args, env: [`PATH=${DEFAULT_PATH}`], cwd: '/', ...processMore },
    hostname: defaultHostname(id),
    ...rest,
    linux: { namespaces: namespaces.map((type) => ({ type })), ...linux },
  };
}

export interface LabContainerOptions extends Omit<CreateOptions, 'direct'> {
  /** The lessons' features (lessons/registry.ts): a lesson gets them from its LessonContext. */
  registry: FeatureRegistry;
  /**
   * The container's folder (<state>/containers/<id>: its config.json goes there), when the lesson made it
   * already — lesson 03 with its copy of the image. It is removed with the container.
   */
  dir?: string;
  /** The lab's state folder (default: LAB_STATE_DIR or the lab's own). */
  stateDir?: string;
  /** Where "WARNING: ..." lines go (default: stderr). */
  warn?: (message: string) => void;
  /** Told each command a feature runs on the host (HostContext.onCommand). */
  onCommand?: HostContext['onCommand'];
}

/** A lesson's running container, as buildFromConfig built it; its folder is context.bundle. */
export interface LabContainer extends BuiltContainer {
  id: string;
}

/**
 * Writes config.json into the container's folder and builds the container from it: init waits, wired,
 * for container.start() (runc's `create`). destroy() ends it, releases what its features made, and
 * removes its folder.
 */
export async function createLabContainer(id: string, config: OciConfig, options: LabContainerOptions): Promise<LabContainer> {
  const { registry, dir: given, stateDir = labStateDir(), warn, onCommand, ...createOptions } = options;
  if (!given) removeStaleContainerDirs(stateDir); // left by a runtime killed with SIGKILL (prepareContainerDir does it too)
  const dir = given ?? claimContainerDir(id, stateDir);
  try {
    writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    const context: HostContext = {
      id,
      bundle: dir,
      stateDir,
      runtimeDir: dir,
      warn: warn ?? ((message: string) => process.stderr.write(`WARNING: ${message}\n`)),
      ...(onCommand ? { onCommand } : {}),
    };
    const built = await buildFromConfig(config, { registry, context, stdio: 'ignore', ...createOptions });
    let destroyed: Promise<void> | undefined;
    return {
      ...built,
      id,
      destroy: () =>
        (destroyed ??= (async () => {
          try {
            await built.destroy();
          } finally {
            removeContainerDir(dir);
          }
        })()),
    };
  } catch (error) {
    removeContainerDir(dir);
    throw error;
  }
}

/** createLabContainer, then start: the command runs now. */
export async function startLabContainer(id: string, config: OciConfig, options: LabContainerOptions): Promise<LabContainer> {
  const created = await createLabContainer(id, config, options);
  try {
    await created.container.start();
  } catch (error) {
    await created.destroy().catch(() => {}); // the start's error is the one to report
    throw error;
  }
  return created;
}
