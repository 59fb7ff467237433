/**
 * The host side of lesson 03: every container gets a folder of its own (folders.ts), and in it
 *
 *   <state>/containers/<id>/rootfs/        its own copy of the image: the container's "/"
 *   <state>/containers/<id>/hostname       generated here and bind-mounted over the copy's /etc/hostname,
 *   <state>/containers/<id>/hosts          /etc/hosts and /etc/resolv.conf, as Docker does (docker inspect
 *   <state>/containers/<id>/resolv.conf    shows them as HostnamePath, HostsPath, ResolvConfPath)
 *   <state>/containers/<id>/config.json    the bundle: what the container is built from (folders.ts)
 *
 * Copying the whole image for every container is the cost overlayfs removes in lesson 05. The mounts a
 * container makes live in its mount namespace and vanish with it, whatever kills it; a folder is not a
 * mount and stays, until whoever started the container removes it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { captureInContainer } from '../../src/container/runtime.js';
import type { BundleTarget } from '../../src/build/bundle.js';
import type { OciConfig } from '../../src/container/config.js';
import { inUserNamespace } from '../../src/sys/process.js';
import { makePlan, type ContainerPlan } from '../../src/container/plan.js';
import { labStateDir } from '../../src/container/state.js';
import { sharesOurRoot } from '../../src/sys/process.js';
import { newContainerId } from '../../src/container/id.js';
import { mountFeature, ROOTFS_ANNOTATION, type LessonRootfs } from './feature.js';
import { claimContainerDir, labConfig, removeStaleContainerDirs, startLabContainer, type LabContainer, type LabContainerOptions, type MoreConfig } from './folders.js';
import { defaultHostname } from '../01-uts/uts.js';
import { utsFeature } from '../01-uts/feature.js';
import type { Image } from './image.js';
import type { BindFile, RootMode } from './mount.js';

export { claimContainerDir, containersDir, hostMountPointsUnder, removeContainerDir, removeStaleContainerDirs } from './folders.js';

export interface ContainerDir {
  id: string;
  /** <state>/containers/<id> */
  path: string;
  /** Its copy of the image. */
  rootfs: string;
  /** The generated /etc files, to bind-mount over the copy's. */
  files: BindFile[];
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

// --- starting lesson 03's containers ---------------------------------------------------------------

export interface RootfsOptions {
  mode: RootMode;
  readonly?: boolean;
  /** Run the chroot escape (mount.ts: escapeChroot) in init, right before the command. */
  escape?: boolean;
}

/** Lesson 03's part of a config.json: the container's copy of the image as its root, set up the lesson's way. */
export function withRootfs(config: OciConfig, dir: ContainerDir, options: RootfsOptions): OciConfig {
  const lesson: LessonRootfs = { mode: options.mode, files: dir.files, ...(options.escape ? { escape: true } : {}) };
  return {
    ...config,
    root: { path: dir.rootfs, readonly: options.readonly ?? false },
    annotations: { ...config.annotations, [ROOTFS_ANNOTATION]: JSON.stringify(lesson) },
  };
}

/** The same as a plan built by hand, for a demo that needs init's steps only (lessons 01–03's). */
export function rootfsContainerPlan(dir: ContainerDir, hostname: string, options: RootfsOptions & { args: string[] }): ContainerPlan {
  return makePlan({
    id: dir.id,
    namespaces: ['pid', 'ipc', 'mnt', 'uts', ...(inUserNamespace() ? ['net' as const] : [])], // as LAB_NAMESPACES (folders.ts)
    steps: [
      utsFeature.step('hostname', { hostname }),
      // It mounts /proc inside the new root itself, so there is no lesson 02 `mountProc` step here.
      mountFeature.step('rootfs', { rootfs: dir.rootfs, mode: options.mode, readonly: options.readonly ?? false, files: dir.files }),
      ...(options.escape ? [mountFeature.step('chrootEscape', {})] : []),
    ],
    process: { args: options.args },
  });
}

export interface RootfsContainerOptions extends RootfsOptions, Omit<LabContainerOptions, 'dir'> {
  args: string[];
  image: Image;
  /** More of config.json: what a later lesson asks of the container (lesson 07: process.capabilities ...). */
  config?: MoreConfig;
}

/** A running container with a root file system of its own, and the folder that holds it. */
export interface RootfsContainer extends LabContainer {
  dir: ContainerDir;
  mode: RootMode;
  hostname: string;
  /** How long copying the image took, in ms. */
  copyMs: number;
}

/** Copies the image into the container's folder, then starts the container its config.json describes. */
export async function startRootfsContainer(options: RootfsContainerOptions): Promise<RootfsContainer> {
  const { args, image, mode, readonly, escape, config: more, ...startOptions } = options;
  const id = newContainerId();
  const copyStarted = performance.now();
  const dir = prepareContainerDir(id, image, defaultHostname(id), options.stateDir);
  const copyMs = performance.now() - copyStarted;
  const config = withRootfs(labConfig(id, args, more), dir, { mode, readonly, escape });
  const started = await startLabContainer(id, config, { ...startOptions, dir: dir.path });
  return { ...started, dir, mode, hostname: config.hostname!, copyMs };
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
