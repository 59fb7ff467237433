/**
 * The host side of lesson 05: containers whose "/" is an overlayfs mount of their image's layers, and
 * what Docker builds on that — `docker diff`, `docker commit`, `docker build`.
 *
 * A container's folder (lesson 03's <state>/containers/<id>/, same owner file and cleanup) no longer
 * holds a copy of the image, only what Docker's overlay2 driver keeps for it:
 *
 *   upper/     the container's layer: everything it writes (Docker: overlay2/<id>/diff)
 *   work/      overlayfs's work folder, same file system as upper/ (Docker: overlay2/<id>/work)
 *   rootfs/    the mount point of the merged view (Docker: overlay2/<id>/merged) — empty on the host:
 *              the mount is made in the container's mount namespace only
 *   lower      the diff_ids of the image's layers, bottom first (Docker: overlay2/<id>/lower, as l/ links)
 *   hostname, hosts, resolv.conf, owner   as in lesson 03
 *
 * Starting a container therefore costs the same for a 2 MB image and a 2 GB one: three empty folders
 * and one mount(2).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BundleTarget } from '../../src/build/bundle.js';
import type { OciConfig } from '../../src/container/config.js';
import type { FeatureRegistry } from '../../src/container/features.js';
import { DEFAULT_PATH } from '../../src/container/plan.js';
import { linuxSyscalls } from '../../src/sys/index.js';
import { newContainerId } from '../../src/container/id.js';
import { OVERLAY_ANNOTATION } from './feature.js';
import { defaultHostname } from '../01-uts/uts.js';
import { withRootfs, writeEtcFiles } from '../03-mount/containers.js';
import { claimContainerDir, labConfig, removeStaleContainerDirs, startLabContainer, type LabContainer, type LabContainerOptions } from '../03-mount/folders.js';
import { busyboxImage } from '../03-mount/image.js';
import type { BindFile } from '../03-mount/mount.js';
import { packLayer } from './layers.js';
import { diffContainer, type Change, type OverlayMount } from './overlay.js';
import { addImage, getImage, type ImageStore, type StoredImage } from './store.js';

export interface OverlayContainerDir {
  id: string;
  /** <state>/containers/<id> */
  path: string;
  upper: string;
  work: string;
  /** The merged view's mount point (inside the container's mount namespace only). */
  rootfs: string;
  files: BindFile[];
  image: StoredImage;
}

/** The folder of a new container: its (empty) layer, overlayfs's work folder, a mount point, the /etc files. */
export function prepareOverlayContainerDir(id: string, image: StoredImage, hostname: string, store: ImageStore): OverlayContainerDir {
  removeStaleContainerDirs(store.stateDir);
  const dir = claimContainerDir(id, store.stateDir);
  const [upper, work, rootfs] = ['upper', 'work', 'rootfs'].map((name) => path.join(dir, name)) as [string, string, string];
  for (const folder of [upper, work, rootfs]) mkdirSync(folder, { mode: 0o755 });
  // The image's layers can only be removed (removeImage) while no container stands on them.
  writeFileSync(path.join(dir, 'lower'), `${image.layers.map((layer) => layer.diffId).join('\n')}\n`);
  return { id, path: dir, upper, work, rootfs, files: writeEtcFiles(dir, hostname), image };
}

/** What the `overlay` step mounts for this container: absolute paths, and the l/ links if those are too long. */
export function overlayMountFor(dir: OverlayContainerDir, store: ImageStore): OverlayMount {
  const relative = (file: string) => path.relative(store.stateDir, file);
  return {
    target: dir.rootfs,
    lowerdirs: dir.image.layers.map((layer) => layer.dir),
    upperdir: dir.upper,
    workdir: dir.work,
    short: {
      home: store.stateDir,
      lowerdirs: dir.image.layers.map((layer) => relative(layer.linkPath)),
      upperdir: relative(dir.upper),
      workdir: relative(dir.work),
    },
  };
}

/**
 * Lesson 05's part of a config.json: the merged view as the root, the layers in the overlay annotation
 * (feature.ts: the overlay step mounts them first, then lesson 03's rootfs step pivots into the view),
 * and the image's environment.
 */
export function withOverlay(config: OciConfig, dir: OverlayContainerDir, store: ImageStore): OciConfig {
  const overlaid = withRootfs(config, dir, { mode: 'pivot_root' });
  return {
    ...overlaid,
    process: { ...overlaid.process, env: dir.image.config.config?.Env ?? [`PATH=${DEFAULT_PATH}`] },
    annotations: { ...overlaid.annotations, [OVERLAY_ANNOTATION]: JSON.stringify(overlayMountFor(dir, store)) },
  };
}

export interface OverlayContainer extends LabContainer {
  dir: OverlayContainerDir;
  hostname: string;
  /** From "prepare the folder" to "the command runs", in ms. */
  startMs: number;
}

export interface StartOptions extends Omit<LabContainerOptions, 'dir' | 'stateDir'> {
  store: ImageStore;
  image: StoredImage;
  args: string[];
}

/** Prepares the container's folder over the image's layers, then starts the container its config.json describes. */
export async function startOverlayContainer(options: StartOptions): Promise<OverlayContainer> {
  const { store, image, args, ...labOptions } = options;
  const started = performance.now();
  const id = newContainerId();
  const dir = prepareOverlayContainerDir(id, image, defaultHostname(id), store);
  const config = withOverlay(labConfig(id, args), dir, store);
  const container = await startLabContainer(id, config, { ...labOptions, dir: dir.path, stateDir: store.stateDir });
  return { ...container, dir, hostname: config.hostname!, startMs: performance.now() - started };
}

/** `docker diff`: the container's changes, from its upper folder and its image's layers. */
export function containerDiff(dir: OverlayContainerDir): Change[] {
  return diffContainer(linuxSyscalls(), dir.upper, dir.image.layers.map((layer) => layer.dir));
}

/** `docker diff`'s output: "A /path" lines. */
export function formatChanges(changes: readonly Change[]): string {
  return changes.map((change) => `${change.kind} ${change.path}`).join('\n');
}

/**
 * `docker commit`: the container's upper folder, packed as an OCI layer tar (whiteouts become .wh.
 * files), becomes the new top layer of a new image: the parent's layers plus this one. (Docker pauses
 * a running container first; commit a stopped one here, or one that is not writing.)
 */
export async function commitContainer(
  store: ImageStore,
  dir: OverlayContainerDir,
  options: { reference?: string; createdBy: string; comment?: string; cmd?: string[] },
): Promise<StoredImage> {
  const { stream } = packLayer(dir.upper);
  return addImage(store, dir.image, stream, { reference: options.reference, createdBy: options.createdBy, comment: options.comment, cmd: options.cmd });
}

/** A container that ran a command to its end: its exit code, output, and folder (removed by cleanup()). */
async function runToEnd(options: StartOptions): Promise<{ exitCode: number; output: string; run: OverlayContainer }> {
  const run = await startOverlayContainer({ ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  run.container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  run.container.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const { exitCode } = await run.container.wait();
  return { exitCode, output, run };
}

/**
 * `docker build` with RUN steps only: each step runs `sh -c STEP` in a container of the previous
 * step's image, and the container's upper folder — exactly what the step changed — is committed as
 * the next layer. The last image gets `reference`; the ones between are kept untagged, by digest.
 */
export async function buildImage(
  store: ImageStore,
  base: StoredImage,
  steps: readonly string[],
  reference: string,
  options: { registry: FeatureRegistry; bundle?: BundleTarget; onStep?: (index: number, step: string, image: StoredImage) => void },
): Promise<StoredImage> {
  let image = base;
  for (const [index, step] of steps.entries()) {
    const { exitCode, output, run } = await runToEnd({ store, image, args: ['sh', '-c', step], registry: options.registry, bundle: options.bundle });
    try {
      if (exitCode !== 0) throw new Error(`build step ${index + 1} (RUN ${step}) failed with exit code ${exitCode}: ${output.trim().split('\n').at(-1) ?? ''}`);
      const last = index === steps.length - 1;
      image = await commitContainer(store, run.dir, { reference: last ? reference : undefined, createdBy: `/bin/sh -c ${step}` });
    } finally {
      await run.destroy();
    }
    options.onStep?.(index, step, image);
  }
  return image;
}

// --- the default image and a large one ------------------------------------------------------------------

export const DEFAULT_IMAGE = 'busybox:latest';
/** Which lesson 03 busybox folder the store's busybox:latest was made from. */
const SOURCE_LABEL = 'lab.mini-docker.source';

/**
 * The lab's default image as a one-layer image of the store, made from lesson 03's busybox folder
 * (built first if needed) the way `docker import` makes one: the folder, packed as a tar, is the layer.
 */
export async function defaultImage(store: ImageStore): Promise<{ image: StoredImage; imported: boolean }> {
  const { image: folder } = busyboxImage({ stateDir: store.stateDir });
  try {
    const existing = getImage(store, DEFAULT_IMAGE);
    if (existing.config.config?.Labels?.[SOURCE_LABEL] === folder.id) return { image: existing, imported: false };
  } catch {
    // not imported yet, or damaged: import it (again)
  }
  const { stream } = packLayer(folder.rootfs, { whiteouts: false });
  const image = await addImage(store, null, stream, {
    reference: DEFAULT_IMAGE,
    createdBy: `import of lesson 03's busybox folder (BusyBox ${folder.busybox.version})`,
    env: [`PATH=${DEFAULT_PATH}`],
    cmd: ['sh'],
    labels: { [SOURCE_LABEL]: folder.id },
  });
  return { image, imported: true };
}

/** The default image plus one layer holding a file of `megabytes` MB of random bytes, built (once) by a RUN step. */
export async function largeImage(
  store: ImageStore,
  base: StoredImage,
  megabytes: number,
  options: { registry: FeatureRegistry; bundle?: BundleTarget },
): Promise<{ image: StoredImage; built: boolean }> {
  const reference = `lab05/large:${megabytes}mb`;
  try {
    const existing = getImage(store, reference);
    if (existing.layers[0]?.diffId === base.layers[0]?.diffId) return { image: existing, built: false };
  } catch {
    // build it below
  }
  const step = `dd if=/dev/urandom of=/large.bin bs=1M count=${megabytes} 2>/dev/null`;
  return { image: await buildImage(store, base, [step], reference, options), built: true };
}

/**
 * How long a container of each image takes to start (folder prepared → command running; the command
 * is `true`), `runs` times, the images taken in turn so that a busy machine slows them alike, after one
 * unmeasured warm-up start. And, for comparison, how long lesson 03's way — copying the image — takes.
 */
export async function measureStart(
  store: ImageStore,
  images: readonly StoredImage[],
  runs: number,
  options: { registry: FeatureRegistry; bundle?: BundleTarget },
): Promise<{ image: StoredImage; startMs: number[]; copyMs: number }[]> {
  const results = images.map((image) => ({ image, startMs: [] as number[], copyMs: 0 }));
  for (let run = -1; run < runs; run++) {
    for (const result of results) {
      const started = await startOverlayContainer({ store, image: result.image, args: ['true'], ...options });
      if (run >= 0) result.startMs.push(started.startMs);
      await started.container.wait();
      await started.destroy();
    }
  }
  for (const result of results) {
    const scratch = mkdtempSync(path.join(store.root, 'tmp', `job-${process.pid}-copy-`));
    try {
      const copyStarted = performance.now();
      for (const [index, layer] of result.image.layers.entries()) execFileSync('cp', ['-a', `${layer.dir}/.`, path.join(scratch, String(index))]);
      execFileSync('sync', ['-f', scratch]); // a copy is paid for when it reaches the disk, not when cp returns
      result.copyMs = performance.now() - copyStarted;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return results;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
