/**
 * Lesson 05 — a layer is a tar archive; on disk it is a folder overlayfs can stack.
 *
 * Extracting: node-tar (the package npm itself uses) reads the archive — headers, PAX and GNU long names,
 * checksums. This file decides what each entry may do, because an image is input from strangers:
 *
 *   - an entry must land inside the layer folder: no absolute name, no "..", never through a symbolic
 *     link the archive made (a link to "/" followed by "link/etc/cron.d/x" would write the host's file);
 *   - hard links must point at a file of the same layer; relative symbolic links must not climb out of it
 *     (absolute ones are fine: the container resolves them against its own "/", Docker allows them too);
 *   - no device nodes: one with the numbers of /dev/sda would give a container the host's disk;
 *   - a truncated or corrupt archive is an error, not a shorter layer.
 *
 * Anything that breaks a rule is REFUSED, with a one-line error, never silently "fixed": an archive that
 * needs rewriting to be safe was made to be unsafe. The caller extracts into a temporary folder and
 * throws it away on error, so nothing half-written is ever used.
 *
 * OCI whiteouts (".wh.NAME", ".wh..wh..opq") are turned into overlayfs's form while extracting, as
 * Docker's overlay2 driver and containerd's overlayfs snapshotter do.
 *
 * Packing (for commit) goes the other way: the upper folder of a container becomes an OCI layer tar.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync, constants as fsConstants, fchmodSync, fchownSync, futimesSync, linkSync, lchownSync, lstatSync, lutimesSync, mkdirSync,
  openSync, readdirSync, realpathSync, rmSync, symlinkSync, unlinkSync, utimesSync, chmodSync, chownSync, writeSync, type Stats,
} from 'node:fs';
import path from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { ReadEntry, WriteEntry } from 'tar';
import { nodeTar } from './node-tar.js';
import { linuxSyscalls, S_IFCHR, type Syscalls } from '../../src/sys/index.js';
import { OPAQUE_WHITEOUT, opaqueXattr, WHITEOUT_PREFIX, upperToTarEntries } from './overlay.js';

/** An archive that tries to write where it must not: refused. */
export class UnsafeArchiveError extends Error {
  override name = 'UnsafeArchiveError';
}

/** An archive that is broken (truncated, bad checksum) or uses what this lab does not support. */
export class CorruptArchiveError extends Error {
  override name = 'CorruptArchiveError';
}

/**
 * Where an archive entry named `name` goes inside the layer folder `layerRoot`. The name comes from the
 * archive, so it is hostile until checked: "/etc/passwd" and "../../etc/passwd" both mean "outside".
 * "./" and "" parts are harmless ("./etc//passwd" is "etc/passwd"); "./" alone is the layer's root.
 */
export function entryPath(layerRoot: string, name: string): string {
  // EXERCISE(layer.safe-path): Return path.join(layerRoot, ...parts of name); throw an UnsafeArchiveError when name is empty, absolute (starts with "/"), contains a NUL byte, or has any ".." part — even one that would stay inside.
  // HINT: Split the name on "/" and drop the harmless parts: "" (from "//" or a trailing "/") and ".". What is left must not contain "..".
  // HINT: Refuse "a/../b" too: it stays inside, but an honest archive never needs it, and "refuse, do not fix" is the rule. Refuse before joining anything.
  // HINT: man 7 path_resolution; the "Unpacking strangers' archives" section of this lesson's README.
  if (name === '' || name.includes('\0')) throw new UnsafeArchiveError(`entry "${name}": an empty name or a NUL byte`);
  if (name.startsWith('/')) throw new UnsafeArchiveError(`entry "${name}": an absolute path (would be written outside the layer)`);
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw new UnsafeArchiveError(`entry "${name}": a ".." part (would climb out of the layer)`);
  return path.join(layerRoot, ...parts);
  // END EXERCISE
}

/**
 * An OCI whiteout entry, turned into what overlayfs understands. `dir` is the folder the entry is in
 * (inside the layer), `name` its file name, which starts with ".wh.":
 *   ".wh..wh..opq"  the folder is opaque: set the xattr trusted.overlay.opaque = "y" on `dir`
 *                   (user.overlay.opaque for a rootless runtime: opaqueXattr())
 *   ".wh.NAME"      NAME is deleted: create NAME in `dir` as a character device with device number 0/0
 * (aufs's own ".wh..wh.*" metadata and malformed names are filtered out before this is called.)
 */
export function convertWhiteout(sys: Syscalls, dir: string, name: string): void {
  // EXERCISE(layer.whiteout): If name is OPAQUE_WHITEOUT, set the opaque xattr to "y" on dir (opaqueXattr() names it: OPAQUE_XATTR on the host, USER_OPAQUE_XATTR in a user namespace); otherwise create the whiteout: a character device (S_IFCHR, permissions 0) with device number 0 at dir/NAME, NAME being name without the WHITEOUT_PREFIX.
  // HINT: sys.lsetxattr(path, attribute, value) and sys.mknod(path, mode, device) are the two system calls; makedev(0, 0) is just 0.
  // HINT: The mode of a whiteout is the file type alone, S_IFCHR: overlayfs creates them as c--------- (no permissions) too. Its name is the marker's without WHITEOUT_PREFIX.
  // HINT: The OCI image spec's layer.md, "Whiteouts"; the kernel's Documentation/filesystems/overlayfs.rst, "whiteouts and opaque directories".
  if (name === OPAQUE_WHITEOUT) {
    sys.lsetxattr(dir, opaqueXattr(), 'y');
    return;
  }
  sys.mknod(path.join(dir, name.slice(WHITEOUT_PREFIX.length)), S_IFCHR, 0);
  // END EXERCISE
}

export interface ExtractOptions {
  /** For messages: "layer 2/3 of busybox:latest". */
  what: string;
  /** How the bytes are compressed (the caller looked at the media type or the first bytes). */
  compression: 'none' | 'gzip' | 'zstd';
  /** Turn OCI whiteouts into overlayfs's form (true for image layers; false for outer archives such as `docker save`). */
  whiteouts: boolean;
  /** Called with the number of bytes read so far, for progress. */
  onBytes?: (bytes: number) => void;
  sys?: Syscalls;
}

export interface ExtractResult {
  /** SHA-256 (hex) of the bytes as read: the blob's digest. */
  blobHex: string;
  blobBytes: number;
  /** SHA-256 (hex) of the uncompressed tar: the layer's diff_id. */
  tarHex: string;
  tarBytes: number;
  entries: number;
}

/**
 * Extracts an archive into `root` (an existing, empty folder), checking every entry, while computing
 * both digests. Rejects with UnsafeArchiveError, CorruptArchiveError, or whatever the file system
 * said; the folder is then in an unspecified state and the caller removes it.
 */
export async function extractArchive(source: Readable, root: string, options: ExtractOptions): Promise<ExtractResult> {
  if (options.compression === 'zstd') {
    throw new CorruptArchiveError(`${options.what}: zstd-compressed layers need Node 22.15 or later; this lab supports gzip and plain tar`);
  }
  const writer = new ArchiveWriter(realpathSync(root), options);
  const blob = new Tap(options.onBytes);
  const tar = new Tap(); // not in the pipeline: the sink feeds it what node-tar gets
  const parser = new (nodeTar().Parser)({ strict: true });
  const parserEnded = new Promise<void>((resolve) => {
    parser.on('end', () => resolve());
    writer.onFailure = () => resolve();
  });
  parser.on('entry', (entry: ReadEntry) => writer.handle(entry));
  // node-tar skips entry types it does not know without a word; here they are refused.
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    writer.fail(new CorruptArchiveError(`${options.what}: entry "${entry.path}" has an unsupported type (${entry.header.type ?? '?'})`));
  });
  // strict: node-tar's warnings (bad checksum, truncated input, not a tar at all) are errors.
  parser.on('error', (error: Error) => writer.fail(new CorruptArchiveError(`${options.what}: ${error.message.replace(/^TAR_\w+: /, '')}`)));

  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!writer.failure) {
        const headWasShort = tar.head.length < 4;
        tar.record(chunk);
        if (headWasShort) checkNotCompressedTwice(tar.head, options.what, writer);
        try {
          parser.write(chunk);
        } catch (error) {
          writer.fail(error as Error);
        }
      }
      callback(writer.failure ?? null);
    },
    final(callback) {
      try {
        parser.end();
      } catch (error) {
        writer.fail(error as Error);
      }
      void parserEnded.then(() => {
        // A tar ends with two zero blocks. Without them, the archive was cut short — maybe exactly
        // between two entries, where node-tar cannot tell.
        if (!writer.failure && (tar.bytes % 512 !== 0 || !tar.endsWithZeroBlocks())) {
          writer.fail(new CorruptArchiveError(`${options.what}: truncated (the archive does not end with its end-of-archive marker)`));
        }
        callback(writer.failure ?? null);
      });
    },
  });

  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream)[] = [source, blob];
  if (options.compression === 'gzip') stages.push(createGunzip());
  stages.push(sink);
  try {
    await pipeline(stages);
  } catch (error) {
    throw writer.failure ?? asArchiveError(error as Error, options.what);
  }
  writer.finish();
  return { blobHex: blob.digest(), blobBytes: blob.bytes, tarHex: tar.digest(), tarBytes: tar.bytes, entries: writer.entries };
}

/** A gzip inside the gzip (or a tar.gz given as plain tar) would be unpacked by node-tar behind our back. */
function checkNotCompressedTwice(head: Buffer, what: string, writer: ArchiveWriter): void {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) writer.fail(new CorruptArchiveError(`${what}: compressed data where a tar was expected`));
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) writer.fail(new CorruptArchiveError(`${what}: zstd data where a tar was expected`));
}

function asArchiveError(error: Error, what: string): Error {
  // zlib says "unexpected end of file" for a truncated gzip, "incorrect header check" for garbage.
  if ((error as { code?: string }).code?.startsWith('Z_')) return new CorruptArchiveError(`${what}: bad gzip data (${error.message})`);
  return error;
}

/** Passes bytes on unchanged while hashing and counting them (and keeping the first and last ones). */
class Tap extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  head = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  record(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.head.length < 512) this.head = Buffer.concat([this.head, chunk]).subarray(0, 512);
    this.tail = Buffer.concat([this.tail, chunk]).subarray(-1024);
    this.onBytes?.(this.bytes);
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    this.record(chunk);
    callback(null, chunk);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
  endsWithZeroBlocks(): boolean {
    return this.tail.length === 1024 && this.tail.every((byte) => byte === 0);
  }
}

interface DirMetadata {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

/**
 * Writes the entries node-tar parses, one at a time, synchronously: each entry is complete on disk
 * before the next is looked at, so checks such as "is this parent a real folder?" see the truth.
 */
class ArchiveWriter {
  failure: Error | undefined;
  onFailure: (() => void) | undefined;
  entries = 0;
  /** Folder modes and times are set last: adding files to a folder changes its time. */
  private readonly dirs = new Map<string, DirMetadata>();
  private readonly sys: Syscalls;
  private readonly chown = process.getuid?.() === 0;

  constructor(private readonly root: string, private readonly options: ExtractOptions) {
    this.sys = options.sys ?? linuxSyscalls();
  }

  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.onFailure?.();
  }

  handle(entry: ReadEntry): void {
    if (this.failure) {
      entry.resume(); // drain and ignore: the archive is refused anyway
      return;
    }
    try {
      this.entries++;
      this.write(entry);
    } catch (error) {
      entry.resume();
      this.fail(error instanceof UnsafeArchiveError || error instanceof CorruptArchiveError ? this.prefixed(error) : (error as Error));
    }
  }

  private prefixed(error: Error): Error {
    error.message = `${this.options.what}: ${error.message}`;
    return error;
  }

  private write(entry: ReadEntry): void {
    const name = entry.path;
    const type = entry.type;
    if (type === 'CharacterDevice' || type === 'BlockDevice') {
      const kind = type === 'CharacterDevice' ? 'character' : 'block';
      throw new UnsafeArchiveError(`entry "${name}": a ${kind} device (${entry.header.devmaj}:${entry.header.devmin}); layers may not carry device nodes`);
    }
    if (!['File', 'OldFile', 'ContiguousFile', 'Directory', 'GNUDumpDir', 'SymbolicLink', 'Link'].includes(type)) {
      throw new CorruptArchiveError(`entry "${name}": unsupported entry type ${type}`);
    }
    const target = entryPath(this.root, name);
    const isDir = type === 'Directory' || type === 'GNUDumpDir';
    if (target === this.root) {
      if (!isDir) throw new UnsafeArchiveError(`entry "${name}": replaces the layer's root folder with a ${type}`);
      this.dirs.set(target, metadataOf(entry));
      entry.resume();
      return;
    }
    const parent = path.dirname(target);
    this.realFolders(parent, name, true);
    const base = path.basename(target);

    if (this.options.whiteouts && base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      this.whiteout(parent, base, name);
    } else if (isDir) {
      const existing = lstatOrNull(target);
      if (existing && !existing.isDirectory()) this.remove(target, existing);
      if (!existing || !existing.isDirectory()) mkdirSync(target, { mode: 0o700 });
      this.dirs.set(target, metadataOf(entry));
      entry.resume();
    } else if (type === 'SymbolicLink') {
      this.symlink(entry, target, name);
      entry.resume();
    } else if (type === 'Link') {
      this.hardlink(entry, target, name);
      entry.resume();
    } else {
      this.file(entry, target);
    }
    // Belt and braces: after the fact, the entry's folder must still resolve to where we meant.
    if (realpathSync(parent) !== parent) throw new UnsafeArchiveError(`entry "${name}": its folder resolves outside the layer`);
  }

  /**
   * Every folder from the root down to `dir` must be a real folder — not a symbolic link, which could
   * point anywhere on the host. Missing ones are created (archives may leave out parent folders).
   */
  private realFolders(dir: string, name: string, create: boolean): void {
    const rel = path.relative(this.root, dir);
    let current = this.root;
    for (const part of rel === '' ? [] : rel.split(path.sep)) {
      current = path.join(current, part);
      const stats = lstatOrNull(current);
      if (!stats) {
        if (!create) throw new CorruptArchiveError(`entry "${name}": folder ${path.relative(this.root, current)} does not exist in the layer`);
        mkdirSync(current, { mode: 0o755 });
      } else if (stats.isSymbolicLink()) {
        throw new UnsafeArchiveError(`entry "${name}": writes through the symbolic link ${path.relative(this.root, current)} (it could point outside the layer)`);
      } else if (!stats.isDirectory()) {
        throw new CorruptArchiveError(`entry "${name}": ${path.relative(this.root, current)} is not a folder`);
      }
    }
  }

  /** Later entries replace earlier ones of the same name (folders merge), as tar itself does. */
  private remove(target: string, stats: Stats): void {
    if (stats.isDirectory()) {
      rmSync(target, { recursive: true, force: true }); // rm -r never follows symbolic links
      for (const dir of this.dirs.keys()) if (dir === target || dir.startsWith(`${target}/`)) this.dirs.delete(dir);
    } else {
      unlinkSync(target);
    }
  }

  private whiteout(parent: string, base: string, name: string): void {
    // aufs kept its own bookkeeping in ".wh..wh.plnk" and the like; it means nothing here (Docker skips it too).
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`) && base !== OPAQUE_WHITEOUT) return;
    if (base !== OPAQUE_WHITEOUT) {
      const hidden = base.slice(WHITEOUT_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw new UnsafeArchiveError(`entry "${name}": a whiteout for "${hidden}"`);
      const existing = lstatOrNull(path.join(parent, hidden));
      if (existing) this.remove(path.join(parent, hidden), existing);
    }
    convertWhiteout(this.sys, parent, base);
  }

  private symlink(entry: ReadEntry, target: string, name: string): void {
    const linkpath = entry.linkpath ?? '';
    if (linkpath === '' || linkpath.includes('\0')) throw new CorruptArchiveError(`symbolic link "${name}" has no target`);
    if (!linkpath.startsWith('/')) {
      // Resolved from the link's own folder, inside the layer, a relative target must stay inside.
      const relName = path.relative(this.root, target);
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(relName), linkpath));
      if (resolved === '..' || resolved.startsWith('../')) {
        throw new UnsafeArchiveError(`symbolic link "${name}" → "${linkpath}" points outside the layer`);
      }
    }
    const existing = lstatOrNull(target);
    if (existing) this.remove(target, existing);
    symlinkSync(linkpath, target);
    if (this.chown) lchownSync(target, entry.uid ?? 0, entry.gid ?? 0);
    if (entry.mtime) lutimesSync(target, entry.mtime, entry.mtime);
  }

  private hardlink(entry: ReadEntry, target: string, name: string): void {
    const linkpath = entry.linkpath ?? '';
    let source: string;
    try {
      source = entryPath(this.root, linkpath);
    } catch (error) {
      if (!(error instanceof UnsafeArchiveError)) throw error;
      throw new UnsafeArchiveError(`hard link "${name}" → "${linkpath}" points outside the layer`);
    }
    if (source === this.root || source === target) throw new UnsafeArchiveError(`hard link "${name}" → "${linkpath}" is not a link to another file`);
    this.realFolders(path.dirname(source), name, false);
    const stats = lstatOrNull(source);
    if (!stats) throw new CorruptArchiveError(`hard link "${name}" → "${linkpath}": no such file earlier in the layer`);
    if (stats.isDirectory()) throw new UnsafeArchiveError(`hard link "${name}" → "${linkpath}" links a folder`);
    const existing = lstatOrNull(target);
    if (existing) this.remove(target, existing);
    linkSync(source, target); // link(2) does not follow a symbolic link at `source`: it links the link
  }

  private file(entry: ReadEntry, target: string): void {
    const existing = lstatOrNull(target);
    if (existing) this.remove(target, existing);
    // O_EXCL | O_NOFOLLOW: create a new file right here, never open something a link points at.
    const fd = openSync(target, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, 0o600);
    let open = true;
    const close = () => {
      if (open) closeSync(fd);
      open = false;
    };
    entry.on('data', (chunk: Buffer) => {
      if (this.failure) return close();
      try {
        writeSync(fd, chunk);
      } catch (error) {
        close();
        this.fail(error as Error);
      }
    });
    entry.on('end', () => {
      if (!open) return;
      try {
        // Owner first: chown(2) clears the set-user-ID bit, so the mode comes after it.
        if (this.chown) fchownSync(fd, entry.uid ?? 0, entry.gid ?? 0);
        fchmodSync(fd, (entry.mode ?? 0o644) & 0o7777);
        if (entry.mtime) futimesSync(fd, entry.mtime, entry.mtime);
      } catch (error) {
        this.fail(error as Error);
      } finally {
        close();
      }
    });
  }

  /** The folders' own modes, owners and times, deepest first, once nothing is added to them any more. */
  finish(): void {
    const dirs = [...this.dirs].sort(([a], [b]) => b.length - a.length);
    for (const [dir, meta] of dirs) {
      // Still a real folder at the end of a real path? (A later entry may have replaced it.)
      if (dir !== this.root) this.realFolders(path.dirname(dir), dir, false);
      if (!lstatSync(dir).isDirectory()) continue;
      if (this.chown) chownSync(dir, meta.uid, meta.gid);
      chmodSync(dir, meta.mode & 0o7777);
      utimesSync(dir, meta.mtime, meta.mtime);
    }
  }
}

function metadataOf(entry: ReadEntry): DirMetadata {
  return { mode: entry.mode ?? 0o755, uid: entry.uid ?? 0, gid: entry.gid ?? 0, mtime: entry.mtime ?? new Date(0) };
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

// --- packing: a folder (or a container's upper folder) as a layer tar -------------------------------

/** Drops what differs between two packings of the same folder: access and change times, the user's name. */
function canonicalHeader(entry: WriteEntry): void {
  if (entry.stat) entry.stat = Object.assign(Object.create(Object.getPrototypeOf(entry.stat) as object) as Stats, entry.stat, { atime: undefined, ctime: undefined });
  entry.myuser = '';
}

/** The time of the marker files a commit adds (a whiteout has no time of its own in the OCI form). */
const MARKER_TIME = new Date(0);

/**
 * A layer tar of `dir`, streamed: node-tar writes every entry. For a container's upper folder
 * (`whiteouts`, the default), overlayfs's whiteouts and opaque folders become OCI markers (see
 * ociEntriesFor in overlay.ts); a plain root file system folder is packed as it is (`docker export`).
 * Entries are sorted, so the same folder always makes the same bytes, and the same diff_id. `skipped`
 * lists what a layer cannot hold (sockets, FIFOs, device nodes that are not whiteouts).
 */
export function packLayer(dir: string, options: { whiteouts?: boolean; sys?: Syscalls } = {}): { stream: Readable; skipped: string[] } {
  const { entries, skipped } = upperToTarEntries(options.sys ?? linuxSyscalls(), dir, options.whiteouts ?? true);
  // Folders are listed one by one (noDirRecurse), in our order. Owners, modes and times are kept;
  // node-tar's `portable` mode would drop owners and folder times, so its one useful part is done by
  // hand instead: no atime, ctime or user name in the headers (Docker's canonicalTarHeader does the same).
  const { Pack, ReadEntry, Header } = nodeTar();
  const pack = new Pack({ cwd: dir, noDirRecurse: true, onWriteEntry: canonicalHeader });
  for (const entry of entries) {
    if (entry.kind === 'copy') {
      pack.add(entry.path);
    } else {
      // An empty regular file that exists only in the tar: node-tar writes a ReadEntry as it is given.
      const marker = new ReadEntry(new Header({ path: entry.path, type: 'File', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: MARKER_TIME }));
      marker.end();
      pack.add(marker);
    }
  }
  pack.end();
  return { stream: Readable.from(pack as AsyncIterable<Buffer>), skipped };
}
