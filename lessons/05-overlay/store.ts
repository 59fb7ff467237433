/**
 * Lesson 05 — the image store: where images live between `docker pull` and `docker run`.
 *
 * In Docker's original architecture this was the Graph: it kept every image's layers and metadata
 * and recorded which image stood on which, while a graphdriver (aufs, devicemapper, later overlay2)
 * knew how to turn a stack of layers into a container's root file system. containerd splits the same
 * work into a content store (blobs by digest) and snapshotters. This store is a small Graph:
 *
 *   <state>/images/
 *     blobs/sha256/<hex>              manifests, configs and layer blobs: the exact bytes their digest names
 *     layers/<hex>/diff/              a layer (hex of its diff_id), extracted once, shared by all its users
 *     layers/<hex>/layer.json         the layer's record: diff_id, blob digests, size, tree digest, short link
 *     l/<short> → ../layers/<hex>/diff   Docker's short links, for long lowerdir options (overlay.ts)
 *     tags/<name>/<tag>               "name:tag" → the manifest's digest (the name URL-encoded: a/b → a%2Fb)
 *     tmp/<job>/                      an import in progress; renamed into place only when complete
 *     downloads/<hex>.partial-<pid>   a blob being pulled (registry.ts); kept when a pull breaks, to resume
 *
 * A layer's blob (compressed or not, as it came) is kept beside its extracted folder, as containerd's
 * content store does: `push` must send the very bytes the manifest names. (Docker keeps only the folder
 * plus "tar-split" metadata and compresses again on push, which is why its pushed digests can differ.)
 */
import {
  closeSync, copyFileSync, createReadStream, createWriteStream, existsSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync,
  readSync, realpathSync, renameSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ReadEntry } from 'tar';
import { nodeTar } from './node-tar.js';
import { labStateDir } from '../../src/container/state.js';
import { linuxSyscalls, type Syscalls } from '../../src/sys/index.js';
import { processIsAlive } from '../../src/sys/process.js';
import { CorruptArchiveError, entryPath, extractArchive, UnsafeArchiveError } from './layers.js';
import {
  DigestError, ImageFormatError, MEDIA_TYPES, canonicalJson, digestHex, digestOf, formatReference, hostPlatform, layerCompression,
  parseConfig, parseIndex, parseJson, parseManifest, parseReference, sha256Hex, verifyDigest,
  type Descriptor, type HistoryEntry, type ImageConfig, type ImageManifest,
} from './oci.js';
import { isOpaqueDir, isOverlayWhiteout } from './overlay.js';
import { fullName, parseImageName } from './image-names.js';

export interface ImageStore {
  /** The lab's state folder (LAB_STATE_DIR). */
  stateDir: string;
  /** <state>/images */
  root: string;
}

/** What layer.json records about a layer. */
export interface LayerRecord {
  diffId: string;
  /** Bytes of the uncompressed tar. */
  size: number;
  entries: number;
  /** A digest of the extracted folder (paths, types, modes, owners, contents): re-checked to prove a layer unchanged. */
  treeDigest: string;
  /** Its short name in l/. */
  link: string;
  /** The blobs (compressed or not) this layer has been imported from. */
  blobs: { digest: string; mediaType: string; size: number }[];
}

export interface StoredLayer extends LayerRecord {
  /** The layer's folder: what goes into lowerdir. */
  dir: string;
  /** The absolute path of its short link, <state>/images/l/<link>. */
  linkPath: string;
}

export interface StoredImage {
  /** "name:tag" it was found by, if any. */
  reference?: string;
  /** The manifest's digest: the image as OCI names it. */
  digest: string;
  /** The config's digest: Docker's image ID. */
  id: string;
  manifest: ImageManifest;
  config: ImageConfig;
  /** Bottom layer first, as the config lists them. */
  layers: StoredLayer[];
}

/** What an import reports while it works; the progress printer (progress.ts) shows it. */
export interface ProgressEvent {
  /** What the bytes belong to: "layer 2/3", "archive". */
  what: string;
  /** 'verify': hashing a blob before trusting it; 'extract': unpacking; 'present': the layer is already stored. */
  phase: 'verify' | 'extract' | 'present' | 'done';
  bytes: number;
  total: number;
  digest?: string;
}

export interface ImportOptions {
  /** Tag the imported image (a rootfs tarball needs one; archives may carry their own). */
  reference?: string;
  onProgress?: (event: ProgressEvent) => void;
  /** For the history entry of a rootfs import ("import busybox.tar"). */
  createdBy?: string;
}

export class ImageNotFoundError extends Error {
  override name = 'ImageNotFoundError';
}

/**
 * The store has no image by that name or digest at all — as opposed to one it has but cannot read (a
 * blob or layer missing or damaged): only this one is Docker's "Unable to find image … locally".
 */
export class UnknownImageError extends ImageNotFoundError {
  override name = 'UnknownImageError';
}

// --- the store's folders -------------------------------------------------------------------------------

/** The store under a state folder, created if needed. Imports abandoned by a killed process are removed. */
export function openImageStore(stateDir: string = labStateDir()): ImageStore {
  const root = path.join(stateDir, 'images');
  for (const dir of ['blobs/sha256', 'layers', 'l', 'tags', 'tmp', 'downloads']) mkdirSync(path.join(root, dir), { recursive: true });
  const store = { stateDir, root };
  removeAbandonedJobs(store);
  return store;
}

function removeAbandonedJobs(store: ImageStore): void {
  for (const name of readdirSync(path.join(store.root, 'tmp'))) {
    const pid = /^job-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || !processIsAlive(Number(pid))) rmSync(path.join(store.root, 'tmp', name), { recursive: true, force: true });
  }
}

/**
 * A name for a file or folder of this process's work in the store (an archive being loaded or saved):
 * a job's name, so that one a killed process leaves behind goes the next time the store is opened.
 */
export function scratchPath(store: ImageStore, what: string): string {
  return path.join(store.root, 'tmp', `job-${process.pid}-${what}-${randomBytes(6).toString('hex')}`);
}

export function blobPath(store: ImageStore, digest: string): string {
  return path.join(store.root, 'blobs', 'sha256', digestHex(digest));
}

/** Where blobs being downloaded wait until they are complete and verified (registry.ts). */
export function downloadsDir(store: ImageStore): string {
  return path.join(store.root, 'downloads');
}

export function layerPath(store: ImageStore, diffId: string): string {
  return path.join(store.root, 'layers', digestHex(diffId));
}

/** Writes a blob under its digest (a no-op when it is already there) and returns the digest. */
export function writeBlob(store: ImageStore, bytes: string | Buffer): string {
  const digest = digestOf(bytes);
  const file = blobPath(store, digest);
  if (!existsSync(file)) writeAtomically(file, bytes);
  return digest;
}

/** A blob's bytes, checked against its digest on every read: a store is only as good as its checks. */
export function readBlob(store: ImageStore, digest: string, what = `blob ${digest}`): Buffer {
  const file = blobPath(store, digest);
  if (!existsSync(file)) throw new ImageNotFoundError(`${what} is not in the store (${file})`);
  const bytes = readFileSync(file);
  verifyDigest(digest, sha256Hex(bytes), what);
  return bytes;
}

function writeAtomically(file: string, bytes: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, file); // rename(2) replaces atomically: readers see the old file or the new one
}

/** A layer of the store, or null when it has not been imported. */
export function readLayer(store: ImageStore, diffId: string): StoredLayer | null {
  const dir = layerPath(store, diffId);
  let record: LayerRecord;
  try {
    record = JSON.parse(readFileSync(path.join(dir, 'layer.json'), 'utf8')) as LayerRecord;
  } catch {
    return null;
  }
  return { ...record, dir: path.join(dir, 'diff'), linkPath: path.join(store.root, 'l', record.link) };
}

/**
 * A layer's short name for l/: 26 characters from its digest. Docker picks random ones; derived ones
 * need no bookkeeping and are the same on every machine.
 */
export function shortLink(diffId: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = Buffer.from(digestHex(diffId), 'hex');
  let bits = '';
  for (const byte of bytes.subarray(0, 17)) bits += byte.toString(2).padStart(8, '0');
  return Array.from({ length: 26 }, (_, index) => alphabet[parseInt(bits.slice(index * 5, index * 5 + 5), 2)]).join('');
}

// --- tags ------------------------------------------------------------------------------------------------

function tagFile(store: ImageStore, reference: string): string {
  const { name, tag } = parseReference(reference); // validated: no "..", no "/" in a tag
  return path.join(store.root, 'tags', encodeURIComponent(name), tag);
}

/** Points `reference` at a manifest (replacing what it pointed at, as `docker tag` does). */
export function tagImage(store: ImageStore, manifestDigest: string, reference: string): void {
  digestHex(manifestDigest);
  writeAtomically(tagFile(store, reference), `${manifestDigest}\n`);
}

/** Every tag: "name:tag" → manifest digest. */
export function listTags(store: ImageStore): Map<string, string> {
  const tags = new Map<string, string>();
  const root = path.join(store.root, 'tags');
  for (const encoded of readdirSync(root)) {
    for (const tag of readdirSync(path.join(root, encoded))) {
      if (tag.includes('.tmp-')) continue;
      tags.set(`${decodeURIComponent(encoded)}:${tag}`, readFileSync(path.join(root, encoded, tag), 'utf8').trim());
    }
  }
  return tags;
}

/** An image by "name[:tag]" or by manifest digest, with its documents read and checked. */
export function getImage(store: ImageStore, reference: string): StoredImage {
  let digest: string;
  let name: string | undefined;
  if (reference.startsWith('sha256:')) {
    digest = reference;
    if (!existsSync(blobPath(store, digest))) throw new UnknownImageError(`no image ${digest} in ${store.root}`);
  } else {
    name = formatReference(parseReference(reference));
    const file = tagFile(store, name);
    if (!existsSync(file)) throw new UnknownImageError(`no image ${name} in ${store.root} (import one, or build it first)`);
    digest = readFileSync(file, 'utf8').trim();
  }
  const manifest = parseManifest(readBlob(store, digest, `manifest of ${name ?? digest}`), `manifest of ${name ?? digest}`);
  const config = parseConfig(readBlob(store, manifest.config.digest, `config of ${name ?? digest}`), `config of ${name ?? digest}`);
  const layers = config.rootfs.diff_ids.map((diffId, index) => {
    const layer = readLayer(store, diffId);
    if (!layer) throw new ImageNotFoundError(`layer ${index + 1} of ${name ?? digest} (${diffId}) is missing from the store`);
    return layer;
  });
  return { reference: name, digest, id: manifest.config.digest, manifest, config, layers };
}

export function listImages(store: ImageStore): StoredImage[] {
  const images: StoredImage[] = [];
  for (const reference of [...listTags(store).keys()].sort()) {
    try {
      images.push(getImage(store, reference));
    } catch {
      // A tag whose image is damaged or half-removed: not listed (getImage says why when asked).
    }
  }
  return images;
}

// --- checking a layer ----------------------------------------------------------------------------------

/**
 * A digest of an extracted layer folder: one line per entry (path, type, mode, owner, time, and the
 * content's SHA-256, a link's target, a device's number, a folder's opacity), sorted. Taken when the
 * layer is extracted; recomputed later, it proves the layer was not changed by anything — containers
 * included, which only ever write to their own upper folder.
 */
export function treeDigest(dir: string, sys: Syscalls = linuxSyscalls()): string {
  const lines: string[] = [];
  const contents = new Map<string, string>(); // hard links (BusyBox's applets can be) are hashed once
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const full = path.join(dir, relPath);
      const stats = lstatSync(full);
      const head = `${JSON.stringify(relPath)} ${(stats.mode & 0o170000).toString(8)} ${(stats.mode & 0o7777).toString(8)} ${stats.uid}:${stats.gid}`;
      if (stats.isDirectory()) {
        lines.push(`${head} ${isOpaqueDir(sys, full) ? 'opaque' : ''}`);
        walk(relPath);
      } else if (stats.isSymbolicLink()) {
        lines.push(`${head} ${Math.floor(stats.mtimeMs / 1000)} -> ${JSON.stringify(readlinkSync(full))}`);
      } else if (stats.isFile()) {
        const inode = `${stats.dev}:${stats.ino}`;
        if (!contents.has(inode)) contents.set(inode, hashFileSync(full));
        lines.push(`${head} ${Math.floor(stats.mtimeMs / 1000)} ${stats.size} ${contents.get(inode)}`);
      } else {
        lines.push(`${head} rdev ${stats.rdev}${isOverlayWhiteout(stats) ? ' whiteout' : ''}`);
      }
    }
  };
  walk('');
  return digestOf(lines.join('\n'));
}

function hashFileSync(file: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(1 << 20);
  const fd = openSync(file, 'r');
  try {
    for (let read = readSync(fd, buffer); read > 0; read = readSync(fd, buffer)) hash.update(buffer.subarray(0, read));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Re-checks a layer against the tree digest recorded when it was extracted. */
export function verifyLayer(layer: StoredLayer, sys: Syscalls = linuxSyscalls()): { ok: boolean; expected: string; actual: string } {
  const actual = treeDigest(layer.dir, sys);
  return { ok: actual === layer.treeDigest, expected: layer.treeDigest, actual };
}

// --- an import: staged in tmp/, moved into place only when everything checked out ------------------------

interface StagedLayer {
  diffId: string;
  /** tmp/<job>/<n>: holds diff/ and layer.json, renamed to layers/<hex> on commit. */
  dir: string;
}

/**
 * One import (or commit). Layers are extracted into the job's folder next to the store (same file
 * system, so the final rename(2) is atomic); blobs and tags are written only in commit(), after every
 * digest was checked. abort() — or a crash, cleaned up by the next openImageStore — leaves nothing.
 */
export class ImportJob {
  readonly dir: string;
  private readonly staged: StagedLayer[] = [];
  private readonly blobs: (string | Buffer)[] = [];
  /** Layer blobs as files: [file, digest], renamed into blobs/ on commit. */
  private readonly blobFiles: [string, string][] = [];
  private readonly tags: [string, string][] = [];
  private count = 0;

  constructor(readonly store: ImageStore) {
    this.dir = path.join(store.root, 'tmp', `job-${process.pid}-${randomBytes(6).toString('hex')}`);
    mkdirSync(this.dir);
  }

  /** A fresh folder inside the job, for an outer archive to be unpacked into. */
  scratch(name: string): string {
    const dir = path.join(this.dir, name);
    mkdirSync(dir);
    return dir;
  }

  /** Is this layer already in the store (or staged by this job)? Then it is not extracted again. */
  has(diffId: string): boolean {
    return readLayer(this.store, diffId) !== null || this.staged.some((layer) => layer.diffId === diffId);
  }

  /**
   * Extracts one layer from `source` into the job, computing its diff_id and checking it against
   * `expectedDiffId` when the image config named it. Returns the diff_id and the blob's digest.
   */
  async stageLayer(
    source: Readable,
    options: {
      what: string; mediaType: string; expectedDiffId?: string; onBytes?: (bytes: number) => void;
      /** The file `source` reads, when it is already a verified blob (a pull): moved into blobs/ on commit instead of copied. */
      blobFile?: string;
    },
  ): Promise<{ diffId: string; blob: Descriptor }> {
    const dir = path.join(this.dir, String(this.count++));
    mkdirSync(path.join(dir, 'diff'), { recursive: true });
    // The blob is kept (for push): written beside the extraction as it streams, unless it is a file already.
    const blobFile = options.blobFile ?? path.join(dir, 'blob');
    const input = options.blobFile ? { stream: source, written: Promise.resolve(), stop: () => {} } : teeToFile(source, blobFile);
    let result;
    try {
      result = await extractArchive(input.stream, path.join(dir, 'diff'), {
        what: options.what,
        compression: layerCompression(options.mediaType),
        whiteouts: true,
        onBytes: options.onBytes,
      });
      await input.written;
    } catch (error) {
      input.stop();
      throw error;
    }
    const diffId = `sha256:${result.tarHex}`;
    if (options.expectedDiffId) verifyDigest(options.expectedDiffId, result.tarHex, `${options.what} (its diff_id)`);
    const blob = { mediaType: options.mediaType, digest: `sha256:${result.blobHex}`, size: result.blobBytes };
    this.blobFiles.push([blobFile, blob.digest]);
    const record: LayerRecord = {
      diffId,
      size: result.tarBytes,
      entries: result.entries,
      treeDigest: treeDigest(path.join(dir, 'diff')),
      link: shortLink(diffId),
      blobs: [blob],
    };
    writeFileSync(path.join(dir, 'layer.json'), `${JSON.stringify(record, null, 2)}\n`);
    this.staged.push({ diffId, dir });
    return { diffId, blob };
  }

  /** Queues a blob (manifest, config) for commit; returns its digest. */
  addBlob(bytes: string | Buffer): string {
    this.blobs.push(bytes);
    return digestOf(bytes);
  }

  addTag(reference: string, manifestDigest: string): void {
    this.tags.push([formatReference(parseReference(reference)), manifestDigest]);
  }

  /** Moves the layers into place, then writes the blobs, then the tags: a tag never names a half image. */
  commit(): void {
    try {
      // Layer blobs first: some are files inside the staged layer folders, which move next.
      for (const [file, digest] of this.blobFiles) {
        if (existsSync(blobPath(this.store, digest))) rmSync(file, { force: true });
        else renameSync(file, blobPath(this.store, digest));
      }
      for (const layer of this.staged) {
        const final = layerPath(this.store, layer.diffId);
        if (existsSync(path.join(final, 'layer.json'))) continue; // another import got here first: keep theirs
        try {
          renameSync(layer.dir, final);
        } catch (error) {
          // Another import renamed the same layer into place between our check and our rename.
          if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '') || !existsSync(path.join(final, 'layer.json'))) throw error;
          continue;
        }
        const record = readLayer(this.store, layer.diffId)!;
        try {
          symlinkSync(`../layers/${digestHex(layer.diffId)}/diff`, record.linkPath);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // a link left by a removed layer of the same digest
        }
      }
      for (const bytes of this.blobs) writeBlob(this.store, bytes);
      for (const [reference, digest] of this.tags) tagImage(this.store, digest, reference);
    } finally {
      this.abort();
    }
  }

  /** Removes the job's folder and whatever is still staged in it. */
  abort(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `work` in a job: committed when it returns, removed when it throws. */
export async function inJob<T>(store: ImageStore, work: (job: ImportJob) => Promise<T>): Promise<T> {
  const job = new ImportJob(store);
  try {
    const result = await work(job);
    job.commit();
    return result;
  } catch (error) {
    job.abort();
    throw error;
  }
}

/** A copy of `source` that also writes every byte to `file`; `written` settles when the file is complete. */
function teeToFile(source: Readable, file: string): { stream: Readable; written: Promise<void>; stop: () => void } {
  const sink = createWriteStream(file);
  const written = new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
  });
  written.catch(() => {}); // awaited by the caller when it gets that far; an extraction error comes first otherwise
  const copy = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (sink.write(chunk)) done(null, chunk);
      else sink.once('drain', () => done(null, chunk));
    },
    flush(done) {
      sink.end(() => done());
    },
  });
  source.on('error', (error) => copy.destroy(error));
  copy.on('error', () => sink.destroy());
  return { stream: source.pipe(copy), written, stop: () => sink.destroy() };
}

// --- making an image from layers -------------------------------------------------------------------------

/** The config and manifest of a new image: the parent's layers (if any) plus `added`, with a history entry each. */
export function composeImage(
  parent: StoredImage | null,
  added: { diffId: string; blob: Descriptor }[],
  options: { createdBy: string; comment?: string; env?: string[]; cmd?: string[]; labels?: Record<string, string>; created?: string },
): { config: ImageConfig; manifest: ImageManifest } {
  const created = options.created ?? new Date().toISOString();
  const base: ImageConfig = parent?.config ?? { ...hostPlatform(), rootfs: { type: 'layers', diff_ids: [] }, history: [] };
  const history: HistoryEntry[] = added.map(() => ({ created, created_by: options.createdBy, ...(options.comment ? { comment: options.comment } : {}) }));
  const runConfig = { ...base.config };
  if (options.env) runConfig.Env = options.env;
  if (options.cmd) runConfig.Cmd = options.cmd;
  if (options.labels) runConfig.Labels = { ...runConfig.Labels, ...options.labels };
  const config: ImageConfig = {
    ...base,
    created,
    config: runConfig,
    rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, ...added.map((layer) => layer.diffId)] },
    history: [...(base.history ?? []), ...history],
  };
  const configBytes = canonicalJson(config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: digestOf(configBytes), size: Buffer.byteLength(configBytes) },
    layers: [...(parent?.manifest.layers ?? []), ...added.map((layer) => layer.blob)],
  };
  return { config, manifest };
}

/**
 * A new image = `parent` + one layer read from `source` (a tar stream): what `docker commit` and each
 * step of `docker build` make, and what `docker import` makes from nothing (parent null).
 */
export async function addImage(
  store: ImageStore,
  parent: StoredImage | null,
  source: Readable,
  options: {
    reference?: string;
    createdBy: string;
    comment?: string;
    mediaType?: string;
    env?: string[];
    cmd?: string[];
    labels?: Record<string, string>;
    onBytes?: (bytes: number) => void;
  },
): Promise<StoredImage> {
  const digest = await inJob(store, async (job) => {
    const layer = await job.stageLayer(source, { what: `new layer (${options.createdBy})`, mediaType: options.mediaType ?? MEDIA_TYPES.layer, onBytes: options.onBytes });
    const { config, manifest } = composeImage(parent, [layer], options);
    job.addBlob(canonicalJson(config));
    const manifestDigest = job.addBlob(canonicalJson(manifest));
    if (options.reference) job.addTag(options.reference, manifestDigest);
    return manifestDigest;
  });
  return getImage(store, options.reference ?? digest);
}

// --- importing ---------------------------------------------------------------------------------------------

/** The first bytes of a file: how a tar, a gzip and a zstd stream tell themselves apart. */
function magicCompression(file: string): 'none' | 'gzip' | 'zstd' {
  const head = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

const LAYER_MEDIA_TYPE = { none: MEDIA_TYPES.layer, gzip: MEDIA_TYPES.layerGzip, zstd: MEDIA_TYPES.layerZstd } as const;

export type ImageFormat = 'rootfs' | 'oci-layout' | 'docker-archive';

/**
 * What kind of image file this is: an OCI image layout (index.json and oci-layout, as a folder or a
 * tar), a `docker save` archive (manifest.json listing Config and Layers), or else a root file system
 * tarball (`docker export`, one layer).
 */
export async function detectFormat(file: string): Promise<ImageFormat> {
  if (statSync(file).isDirectory()) {
    if (existsSync(path.join(file, 'oci-layout'))) return 'oci-layout';
    if (existsSync(path.join(file, 'manifest.json'))) return 'docker-archive';
    throw new ImageFormatError(`${file} is a folder but neither an OCI image layout (oci-layout) nor an unpacked docker save (manifest.json)`);
  }
  const names = await topLevelNames(file);
  if (names.has('oci-layout') && names.has('index.json')) return 'oci-layout';
  // A docker-save archive has manifest.json at the top, next to blobs/ (Docker 25+) or <hex>/ folders and <hex>.json configs.
  const hasImageParts = [...names].some((name) => name === 'blobs' || /^[a-f0-9]{64}(\.json)?$/.test(name));
  if (names.has('manifest.json') && hasImageParts) return 'docker-archive';
  return 'rootfs';
}

/** The names at the top of a tar (first path component of each entry), without extracting anything. */
async function topLevelNames(file: string): Promise<Set<string>> {
  const names = new Set<string>();
  const parser = new (nodeTar().Parser)();
  parser.on('entry', (entry: ReadEntry) => {
    const first = entry.path.split('/').filter((part) => part !== '' && part !== '.')[0];
    if (first) names.add(first);
    entry.resume();
  });
  const done = new Promise<void>((resolve) => {
    parser.on('end', () => resolve());
    parser.on('error', () => resolve()); // a damaged archive: the real import will say what is wrong
  });
  const source = createReadStream(file);
  const input = magicCompression(file) === 'gzip' ? source.pipe(createGunzip()).on('error', () => parser.end()) : source;
  input.on('data', (chunk: Buffer) => parser.write(chunk));
  input.on('end', () => parser.end());
  source.on('error', () => parser.end());
  await done;
  return names;
}

/** Imports any of the three formats; returns the images it stored (an archive may hold several). */
export async function importImage(store: ImageStore, file: string, options: ImportOptions = {}): Promise<StoredImage[]> {
  const format = await detectFormat(file);
  if (format === 'rootfs') {
    if (!options.reference) throw new ImageFormatError(`${file} is a root file system tarball: give the image a name (name:tag)`);
    return [await importRootfsTarball(store, file, { ...options, reference: options.reference })];
  }
  return format === 'oci-layout' ? importOciLayout(store, file, options) : importDockerArchive(store, file, options);
}

/**
 * `docker import`: a root file system tarball (what `docker export` writes) becomes a one-layer image.
 * Nothing in the file names its digest, so there is nothing to verify against: the digests are computed.
 */
export async function importRootfsTarball(store: ImageStore, file: string, options: ImportOptions & { reference: string }): Promise<StoredImage> {
  const total = statSync(file).size;
  const what = `${path.basename(file)} (1 layer)`;
  const mediaType = LAYER_MEDIA_TYPE[magicCompression(file)];
  const image = await addImage(store, null, createReadStream(file), {
    reference: options.reference,
    createdBy: options.createdBy ?? `import ${path.basename(file)}`,
    mediaType,
    env: [`PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`],
    onBytes: (bytes) => options.onProgress?.({ what, phase: 'extract', bytes, total }),
  });
  options.onProgress?.({ what, phase: 'done', bytes: total, total, digest: image.layers[0]?.diffId });
  return image;
}

/** A file inside an unpacked archive or a layout folder, by a name that came from a JSON document. */
function insidePath(root: string, name: string): string {
  const file = entryPath(root, name); // no absolute names, no ".."
  const real = realpathSync(file); // symbolic links are allowed only while they stay inside
  if (real !== root && !real.startsWith(`${realpathSync(root)}/`)) throw new UnsafeArchiveError(`"${name}" resolves outside the archive`);
  return real;
}

/** Hashes a file, reporting progress: a blob is verified before a single byte of it is parsed. */
async function hashFile(file: string, onBytes: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onBytes(bytes);
  }
  return hash.digest('hex');
}

/** A folder to read from: the layout folder itself, or a tar of one unpacked (safely) into the job. */
async function unpackIfArchive(job: ImportJob, file: string, options: ImportOptions): Promise<string> {
  if (statSync(file).isDirectory()) return realpathSync(file);
  const dir = job.scratch('archive');
  const total = statSync(file).size;
  await extractArchive(createReadStream(file), dir, {
    what: path.basename(file),
    compression: magicCompression(file),
    whiteouts: false,
    onBytes: (bytes) => options.onProgress?.({ what: 'archive', phase: 'extract', bytes, total }),
  });
  options.onProgress?.({ what: 'archive', phase: 'done', bytes: total, total });
  return realpathSync(dir);
}

/** One layer whose blob and diff_id are known in advance: verify the blob, then extract it, then check the diff_id. */
async function stageKnownLayer(
  job: ImportJob,
  file: string,
  layer: { descriptor?: Descriptor; diffId: string; what: string },
  options: ImportOptions,
): Promise<Descriptor> {
  const total = statSync(file).size;
  const report = (phase: ProgressEvent['phase'], bytes: number) => options.onProgress?.({ what: layer.what, phase, bytes, total, digest: layer.diffId });
  if (job.has(layer.diffId)) {
    report('present', total);
    return layer.descriptor ?? { mediaType: MEDIA_TYPES.layer, digest: layer.diffId, size: total };
  }
  if (layer.descriptor && layer.descriptor.size !== total) {
    throw new DigestError(`${layer.what}: the blob has ${total} bytes, the manifest says ${layer.descriptor.size}`);
  }
  const blobHex = await hashFile(file, (bytes) => report('verify', bytes));
  if (layer.descriptor) verifyDigest(layer.descriptor.digest, blobHex, layer.what);
  const compression = layer.descriptor ? layerCompression(layer.descriptor.mediaType) : magicCompression(file);
  // docker save's layers are plain tars: the blob's digest must already be the diff_id.
  if (!layer.descriptor && compression === 'none') verifyDigest(layer.diffId, blobHex, `${layer.what} (its diff_id)`);
  const { blob } = await job.stageLayer(createReadStream(file), {
    what: layer.what,
    mediaType: layer.descriptor?.mediaType ?? LAYER_MEDIA_TYPE[compression],
    expectedDiffId: layer.diffId,
    onBytes: (bytes) => report('extract', bytes),
  });
  report('done', total);
  return blob;
}

/** The manifests an OCI layout's index.json points at (an image index is followed to this platform's manifest). */
function layoutManifests(root: string, what: string): { descriptor: Descriptor; bytes: Buffer }[] {
  const index = parseIndex(readFileSync(insidePath(root, 'index.json')), `${what}: index.json`);
  const found: { descriptor: Descriptor; bytes: Buffer }[] = [];
  const visit = (descriptor: Descriptor, depth: number): void => {
    const bytes = readFileSync(insidePath(root, `blobs/sha256/${digestHex(descriptor.digest)}`));
    verifyDigest(descriptor.digest, sha256Hex(bytes), `${what}: ${descriptor.mediaType}`);
    if (descriptor.mediaType === MEDIA_TYPES.index || descriptor.mediaType === MEDIA_TYPES.dockerManifestList) {
      if (depth > 4) throw new ImageFormatError(`${what}: image indexes nested too deep`);
      const platform = hostPlatform();
      const nested = parseIndex(bytes, `${what}: index ${descriptor.digest}`);
      const candidates = nested.manifests.filter((entry) => !entry.platform || (entry.platform.architecture === platform.architecture && entry.platform.os === platform.os));
      if (candidates.length === 0) throw new ImageFormatError(`${what}: no manifest for ${platform.os}/${platform.architecture}`);
      visit({ ...candidates[0]!, annotations: { ...descriptor.annotations, ...candidates[0]!.annotations } }, depth + 1);
    } else if (descriptor.mediaType === MEDIA_TYPES.manifest || descriptor.mediaType === MEDIA_TYPES.dockerManifest) {
      found.push({ descriptor, bytes });
    } else {
      throw new ImageFormatError(`${what}: unsupported manifest media type ${descriptor.mediaType}`);
    }
  };
  for (const descriptor of index.manifests) visit(descriptor, 0);
  return found;
}

/** The tag an OCI layout gives a manifest: containerd's full name, or a ref.name that is a full reference. */
function layoutReference(descriptor: Descriptor): string | undefined {
  const annotations = descriptor.annotations ?? {};
  const full = annotations['io.containerd.image.name'] ?? annotations['org.opencontainers.image.ref.name'];
  return full?.includes(':') ? full.replace(/^docker\.io\/(library\/)?/, '') : undefined;
}

/** An OCI image layout, as a folder or a tar (`skopeo copy … oci:dir`, `docker buildx … -o type=oci`). */
export async function importOciLayout(store: ImageStore, file: string, options: ImportOptions = {}): Promise<StoredImage[]> {
  const what = path.basename(file);
  const digests = await inJob(store, async (job) => {
    const root = await unpackIfArchive(job, file, options);
    const manifests = layoutManifests(root, what);
    if (manifests.length === 0) throw new ImageFormatError(`${what}: index.json lists no image`);
    if (options.reference && manifests.length > 1) throw new ImageFormatError(`${what} holds ${manifests.length} images: it cannot be given one name`);
    const stored: string[] = []; // a tag, or the manifest's digest for an untagged image
    for (const { descriptor, bytes } of manifests) {
      const manifest = parseManifest(bytes, `${what}: manifest`);
      const configBytes = readFileSync(insidePath(root, `blobs/sha256/${digestHex(manifest.config.digest)}`));
      verifyDigest(manifest.config.digest, sha256Hex(configBytes), `${what}: config`);
      const config = parseConfig(configBytes, `${what}: config`);
      if (config.rootfs.diff_ids.length !== manifest.layers.length) {
        throw new ImageFormatError(`${what}: the manifest lists ${manifest.layers.length} layers, the config ${config.rootfs.diff_ids.length}`);
      }
      for (const [index, layer] of manifest.layers.entries()) {
        const blob = insidePath(root, `blobs/sha256/${digestHex(layer.digest)}`);
        await stageKnownLayer(job, blob, { descriptor: layer, diffId: config.rootfs.diff_ids[index]!, what: `layer ${index + 1}/${manifest.layers.length}` }, options);
      }
      job.addBlob(configBytes);
      const manifestDigest = job.addBlob(bytes);
      const reference = options.reference ?? layoutReference(descriptor);
      if (reference) job.addTag(reference, manifestDigest);
      stored.push(reference ?? manifestDigest);
    }
    return stored;
  });
  return digests.map((found) => getImage(store, found));
}

/** One image of a `docker save` archive's manifest.json. */
interface DockerArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** `docker load`: a `docker save` archive (or the folder it unpacks to). */
export async function importDockerArchive(store: ImageStore, file: string, options: ImportOptions = {}): Promise<StoredImage[]> {
  const what = path.basename(file);
  const results = await inJob(store, async (job) => {
    const root = await unpackIfArchive(job, file, options);
    const entries = parseJson(readFileSync(insidePath(root, 'manifest.json')), `${what}: manifest.json`);
    if (!Array.isArray(entries) || entries.length === 0) throw new ImageFormatError(`${what}: manifest.json is not a list of images`);
    if (options.reference && entries.length > 1) throw new ImageFormatError(`${what} holds ${entries.length} images: it cannot be given one name`);
    const stored: { digest: string; tags: string[] }[] = [];
    for (const [number, raw] of entries.entries()) {
      const entry = raw as DockerArchiveEntry;
      if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) throw new ImageFormatError(`${what}: manifest.json entry ${number + 1} has no Config or Layers`);
      const configBytes = readFileSync(insidePath(root, entry.Config));
      const configHex = sha256Hex(configBytes);
      // The config's file name is its digest ("<hex>.json", or "blobs/sha256/<hex>" since Docker 25).
      const named = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config)?.[1];
      if (named) verifyDigest(`sha256:${named}`, configHex, `${what}: ${entry.Config}`);
      const config = parseConfig(configBytes, `${what}: ${entry.Config}`);
      if (config.rootfs.diff_ids.length !== entry.Layers.length) {
        throw new ImageFormatError(`${what}: manifest.json lists ${entry.Layers.length} layers, the config ${config.rootfs.diff_ids.length}`);
      }
      const descriptors: Descriptor[] = [];
      for (const [index, layerName] of entry.Layers.entries()) {
        if (typeof layerName !== 'string') throw new ImageFormatError(`${what}: a layer name is not a string`);
        const layerFile = insidePath(root, layerName);
        descriptors.push(await stageKnownLayer(job, layerFile, { diffId: config.rootfs.diff_ids[index]!, what: `layer ${index + 1}/${entry.Layers.length}` }, options));
      }
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config: { mediaType: MEDIA_TYPES.config, digest: `sha256:${configHex}`, size: configBytes.length },
        layers: descriptors,
      };
      job.addBlob(configBytes); // the bytes as Docker wrote them: the image ID stays Docker's
      const manifestDigest = job.addBlob(canonicalJson(manifest));
      const tags = options.reference ? [options.reference] : (entry.RepoTags ?? []).map((tag) => tag.replace(/^docker\.io\/(library\/)?/, ''));
      for (const tag of tags) job.addTag(tag, manifestDigest);
      stored.push({ digest: manifestDigest, tags });
    }
    return stored;
  });
  return results.map(({ digest, tags }) => getImage(store, tags[0] ?? digest));
}

// --- saving ---------------------------------------------------------------------------------------------

/** One image to save, and the names it goes by in the archive ("busybox:latest"); none: by digest only. */
export interface SavedImage {
  image: StoredImage;
  names: string[];
}

/**
 * `docker save`: images as one tar that `docker load`, `podman load` and the OCI tools all read — an OCI
 * image layout (oci-layout, index.json, blobs/sha256/…) with Docker's manifest.json beside it naming the
 * same blobs, as Docker 25+ writes it. Every blob is the store's own bytes, so every digest — the image
 * ID too — comes out as it went in. Reads the store only. `open` gives the archive's destination once
 * every blob has been found: a missing one is an error before a single byte is written.
 */
export async function saveImages(store: ImageStore, saved: SavedImage[], open: () => Writable): Promise<void> {
  // A folder of the archive's layout, its blobs hard links into the store (the same file system).
  const dir = scratchPath(store, 'save');
  mkdirSync(dir);
  try {
    mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    const addBlob = (digest: string, what: string) => {
      const source = blobPath(store, digest);
      if (!existsSync(source)) throw new ImageFormatError(`${what} has no blob in the store (imported before blobs were kept): import the image again`);
      const target = path.join(dir, 'blobs', 'sha256', digestHex(digest));
      if (existsSync(target)) return;
      try {
        linkSync(source, target);
      } catch {
        copyFileSync(source, target); // another file system: a copy does as well
      }
    };
    const index: Descriptor[] = [];
    const dockerManifest: DockerArchiveEntry[] = [];
    for (const { image, names } of saved) {
      const what = names[0] ?? image.digest;
      addBlob(image.digest, `the manifest of ${what}`);
      addBlob(image.manifest.config.digest, `the config of ${what}`);
      image.manifest.layers.forEach((layer, number) => addBlob(layer.digest, `layer ${number + 1} of ${what}`));
      const descriptor: Descriptor = { mediaType: image.manifest.mediaType ?? MEDIA_TYPES.manifest, digest: image.digest, size: statSync(blobPath(store, image.digest)).size };
      // One index entry per name (containerd's full name, and the tag as the OCI annotation has it).
      if (names.length === 0) index.push(descriptor);
      for (const name of names) {
        const parsed = parseImageName(name);
        index.push({ ...descriptor, annotations: { 'io.containerd.image.name': fullName(parsed), 'org.opencontainers.image.ref.name': parsed.tag ?? 'latest' } });
      }
      dockerManifest.push({
        Config: `blobs/sha256/${digestHex(image.manifest.config.digest)}`,
        RepoTags: names,
        Layers: image.manifest.layers.map((layer) => `blobs/sha256/${digestHex(layer.digest)}`),
      });
    }
    writeFileSync(path.join(dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
    writeFileSync(path.join(dir, 'index.json'), `${JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: index })}\n`);
    writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(dockerManifest)}\n`);
    // portable: no owner names or device numbers of this machine in the headers; noMtime keeps it reproducible.
    await pipeline(nodeTar().create({ cwd: dir, portable: true, noMtime: true }, ['oci-layout', 'index.json', 'manifest.json', 'blobs']), open());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- removing -------------------------------------------------------------------------------------------

/** Layers that containers of this state folder stand on (their `lower` file lists the diff_ids). */
function layersInUse(store: ImageStore): Set<string> {
  const used = new Set<string>();
  const containers = path.join(store.stateDir, 'containers');
  if (!existsSync(containers)) return used;
  for (const id of readdirSync(containers)) {
    try {
      for (const diffId of readFileSync(path.join(containers, id, 'lower'), 'utf8').split('\n')) if (diffId) used.add(diffId);
    } catch {
      // not a lesson 05 container: it has its own copy of an image, no layers
    }
  }
  return used;
}

/**
 * `docker rmi` followed by `docker image prune`: removes the tag, then every blob and layer that no
 * tagged image and no container uses any more — this image's, and those of untagged images such as a
 * build's intermediate steps. Returns the diff_ids of the removed layers.
 */
export function removeImage(store: ImageStore, reference: string): string[] {
  getImage(store, reference); // exists (or ImageNotFoundError)
  const file = tagFile(store, reference);
  rmSync(file, { force: true });
  try {
    rmdirSync(path.dirname(file)); // the name's last tag: its folder goes too (rmdir(2) fails on a folder that is not empty)
  } catch {
    // other tags of the same name remain
  }
  return pruneStore(store);
}

/** Mark and sweep: what tagged images and containers reach is kept, the rest is removed. */
export function pruneStore(store: ImageStore): string[] {
  const keepBlobs = new Set<string>();
  const keepLayers = layersInUse(store);
  for (const image of listImages(store)) {
    keepBlobs.add(image.digest).add(image.id);
    for (const blob of image.manifest.layers) keepBlobs.add(blob.digest);
    for (const layer of image.layers) keepLayers.add(layer.diffId);
  }
  // Downloads of pulls that are over (their process is gone): nothing will resume them now.
  for (const name of readdirSync(downloadsDir(store))) {
    const pid = /-(\d+)$/.exec(name)?.[1];
    if (pid === undefined || !processIsAlive(Number(pid))) rmSync(path.join(downloadsDir(store), name), { force: true });
  }
  for (const hex of readdirSync(path.join(store.root, 'blobs', 'sha256'))) {
    if (!keepBlobs.has(`sha256:${hex}`)) rmSync(path.join(store.root, 'blobs', 'sha256', hex), { force: true });
  }
  const removed: string[] = [];
  for (const layer of storedLayers(store)) {
    if (keepLayers.has(layer.diffId)) continue;
    rmSync(layer.linkPath, { force: true });
    rmSync(layerPath(store, layer.diffId), { recursive: true, force: true });
    removed.push(layer.diffId);
  }
  return removed;
}

/** Every layer folder's name and size, for the lesson's host pane. */
export function storedLayers(store: ImageStore): StoredLayer[] {
  return readdirSync(path.join(store.root, 'layers'))
    .map((hex) => readLayer(store, `sha256:${hex}`))
    .filter((layer): layer is StoredLayer => layer !== null);
}

export { CorruptArchiveError, DigestError, ImageFormatError, UnsafeArchiveError };
