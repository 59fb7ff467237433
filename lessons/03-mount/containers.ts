/**
 * The host side of lesson 03: every container gets a folder of its own in the lab's state folder, as
 * Docker gives each one /var/lib/docker/containers/<id>/.
 *
 *   <state>/containers/<id>/rootfs/        its own copy of the image: the container's "/"
 *   <state>/containers/<id>/hostname       generated here and bind-mounted over the copy's /etc/hostname,
 *   <state>/containers/<id>/hosts          /etc/hosts and /etc/resolv.conf, as Docker does (docker inspect
 *   <state>/containers/<id>/resolv.conf    shows them as HostnamePath, HostsPath, ResolvConfPath)
 *   <state>/containers/<id>/owner          "PID STARTTIME" of the runtime process that made the folder
 *
 * Copying the whole image for every container is the cost overlayfs removes in lesson 05. The mounts a
 * container makes live in its mount namespace and vanish with it, whatever kills it; a folder is not a
 * mount and stays. Whoever starts a container removes its folder when it goes; a runtime killed with
 * SIGKILL cannot, so every start first removes the folders whose owner is gone.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseMountinfo as parseMountinfoForCleanup } from '../../src/sys/mountinfo.js';
import { captureInContainer, startContainer, type Container, type CreateOptions, type StartOptions } from '../../src/container/runtime.js';
import type { BundleTarget } from '../../src/build/bundle.js';
import { makePlan, type ContainerPlan, type StepCall } from '../../src/container/plan.js';
import { labStateDir } from '../../src/container/state.js';
import { MNT_DETACH, linuxSyscalls } from '../../src/sys/index.js';
import { processIdentity, processIsAlive, sharesOurRoot } from '../../src/sys/process.js';
import { newContainerId } from '../../src/container/id.js';
import { mountFeature } from './feature.js';
import { defaultHostname } from '../01-uts/uts.js';
import { utsFeature } from '../01-uts/feature.js';
import type { Image } from './image.js';
import type { BindFile, RootMode } from './mount.js';

export interface ContainerDir {
  id: string;
  /** <state>/containers/<id> */
  path: string;
  /** Its copy of the image. */
  rootfs: string;
  /** The generated /etc files, to bind-mount over the copy's. */
  files: BindFile[];
}

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
 * The folder of a new container: a fresh copy of the image, and the /etc files Docker would generate.
 * The container has no network namespace yet (lesson 06), so, as with `docker run --network host`,
 * its resolv.conf is the host's.
 */
export function prepareContainerDir(id: string, image: Image, hostname: string, stateDir = labStateDir()): ContainerDir {
  removeStaleContainerDirs(stateDir);
  const dir = claimContainerDir(id, stateDir);
  const rootfs = path.join(dir, 'rootfs');
  // cp -a keeps what an image is made of: symbolic links as links, modes, owners, times.
  execFileSync('cp', ['-a', image.rootfs, rootfs]);
  return { id, path: dir, rootfs, files: writeEtcFiles(dir, hostname) };
}

/**
 * The files Docker generates for every container and bind-mounts over the image's: /etc/hostname,
 * /etc/hosts (the container's own name resolves) and /etc/resolv.conf (the host's, until lesson 06).
 * They are written into the container's folder and listed as bind mounts for the `rootfs` step.
 */
export function writeEtcFiles(dir: string, hostname: string): BindFile[] {
  const generated: [string, string][] = [
    ['hostname', `${hostname}\n`],
    ['hosts', `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`],
    ['resolv.conf', existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : ''],
  ];
  for (const [name, text] of generated) writeFileSync(path.join(dir, name), text);
  return generated.map(([name]) => ({ source: path.join(dir, name), destination: `/etc/${name}` }));
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
  const mounts = parseMountinfoForCleanup(readFileSync('/proc/self/mountinfo', 'utf8'));
  return mounts.map((mount) => mount.mountPoint).filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** Removes the folders whose owner process is gone (killed with SIGKILL, the machine rebooted ...). Returns them. */
export function removeStaleContainerDirs(stateDir = labStateDir()): string[] {
  const root = containersDir(stateDir);
  if (!existsSync(root)) return [];
  const removed: string[] = [];
  for (const id of readdirSync(root)) {
    const dir = path.join(root, id);
    let owner: string;
    try {
      owner = readFileSync(path.join(dir, 'owner'), 'utf8');
    } catch {
      continue; // no owner file yet: being created this very moment, or not ours; leave it
    }
    if (processIsAlive(owner)) continue;
    removeContainerDir(dir);
    removed.push(dir);
  }
  return removed;
}

// --- starting lesson 03's containers ---------------------------------------------------------------

export interface RootfsContainerOptions {
  mode: RootMode;
  args: string[];
  readonly?: boolean;
  /** Run the chroot escape (mount.ts: escapeChroot) in init, right before the command. */
  escape?: boolean;
  /** Steps a later lesson adds once the root file system is in place (lesson 07: what root may do). */
  steps?: StepCall[];
  image: Image;
  bundle?: BundleTarget;
  stateDir?: string;
  stdio?: CreateOptions['stdio'];
  /** Runs while init waits, its PID known: where a later lesson puts it into a cgroup from outside. */
  beforeStart?: StartOptions['beforeStart'];
}

/** A running container with a root file system of its own, and the folder that holds it. */
export interface RootfsContainer {
  container: Container;
  dir: ContainerDir;
  mode: RootMode;
  hostname: string;
  /** How long copying the image took, in ms. */
  copyMs: number;
  /** Kills the container, waits for it, removes its folder. */
  destroy(): Promise<void>;
}

/** The plan: lessons 01–02's namespaces, and the root file system instead of lesson 02's bare /proc. */
export function rootfsContainerPlan(dir: ContainerDir, hostname: string, options: Omit<RootfsContainerOptions, 'image'>): ContainerPlan {
  return makePlan({
    id: dir.id,
    namespaces: ['pid', 'ipc', 'mnt', 'uts'],
    steps: [
      utsFeature.step('hostname', { hostname }),
      // It mounts /proc inside the new root itself, so there is no lesson 02 `mountProc` step here.
      mountFeature.step('rootfs', { rootfs: dir.rootfs, mode: options.mode, readonly: options.readonly ?? false, files: dir.files }),
      ...(options.escape ? [mountFeature.step('chrootEscape', {})] : []),
      ...(options.steps ?? []),
    ],
    process: { args: options.args },
  });
}

export async function startRootfsContainer(options: RootfsContainerOptions): Promise<RootfsContainer> {
  const id = newContainerId();
  const hostname = defaultHostname(id);
  const copyStarted = performance.now();
  const dir = prepareContainerDir(id, options.image, hostname, options.stateDir);
  const copyMs = performance.now() - copyStarted;
  let container: Container;
  try {
    container = await startContainer(rootfsContainerPlan(dir, hostname, options), { stdio: options.stdio ?? 'ignore', bundle: options.bundle, beforeStart: options.beforeStart });
  } catch (error) {
    removeContainerDir(dir.path);
    throw error;
  }
  return {
    container,
    dir,
    mode: options.mode,
    hostname,
    copyMs,
    async destroy() {
      await container.destroy();
      removeContainerDir(dir.path);
    },
  };
}

/**
 * Runs a shell script inside the container, like `docker exec`. Joining a mount namespace alone puts a
 * process at the namespace's root mount: after pivot_root that IS the image, but a chroot()ed
 * container's namespace still has the host's "/" there. So exec also takes the container's root
 * directory, /proc/PID/root seen from outside, as `nsenter --root` does (src/container/runtime.ts).
 */
export async function runInside(target: Pick<RootfsContainer, 'container'>, script: string, bundle?: BundleTarget) {
  // Scripts write inside the container; where its "/" is still the host's, they would write on the host.
  if (sharesOurRoot(target.container.pid)) throw new Error(`the container's "/" is the host's: its root file system was not set up (check the rootfs step)`);
  return captureInContainer(target.container.pid, ['sh', '-c', script], bundle);
}
