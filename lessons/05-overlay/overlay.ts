/**
 * Lesson 05 — overlayfs: images as read-only layers, containers as a thin writable layer.
 *
 * A union file system shows several folders as one. overlayfs (in Linux since 3.18; Docker's overlay2
 * driver, containerd's overlayfs snapshotter) stacks:
 *
 *   lowerdir   the image's layers, read-only, any number of them, the TOPMOST FIRST
 *   upperdir   the container's layer: every change lands here
 *   workdir    an empty folder on the same file system as upperdir, for overlayfs's own atomic renames
 *
 * and mounts the merged view, which becomes the container's "/" (lesson 03's rootfs step pivots into
 * it). Reading a file finds the topmost layer that has it. Writing one copies it up into upperdir first
 * (copy-up). Deleting one leaves a "whiteout" in upperdir: a character device with device number 0/0
 * that hides the name in every layer below. A folder that must hide everything below it (rm -r, then
 * mkdir again) gets the extended attribute trusted.overlay.opaque="y". (The kernel's own account:
 * Documentation/filesystems/overlayfs.rst.)
 *
 * Functions marked "init" run in the container's init, in its new mount namespace, synchronously on the
 * main thread (see lessons 02–03). The rest runs on the host.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Syscalls } from '../../src/sys/index.js';
import { inUserNamespace } from '../../src/sys/process.js';

/** What the `overlay` setup step mounts. */
export interface OverlayMount {
  /** Where the merged view goes: the folder lesson 03's rootfs step then pivots into. */
  target: string;
  /** The image's layer folders in the image's order: the BOTTOM layer first (rootfs.diff_ids order). */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
  /**
   * The same folders as short paths relative to `home` (Docker's l/ links), for images with so many
   * layers that the absolute paths do not fit in the one page mount(2) accepts.
   */
  short?: { home: string; lowerdirs: string[]; upperdir: string; workdir: string };
}

/** The parts of OverlayMount that make the mount's option string. */
export type OverlayLayers = Pick<OverlayMount, 'lowerdirs' | 'upperdir' | 'workdir'>;

/**
 * overlayfs's options, as `mount -t overlay overlay -o THIS target` takes them. The image lists its
 * layers bottom first; overlayfs reads lowerdir left to right as top to bottom — the leftmost layer
 * wins. Getting this backwards is the classic mistake: every file an upper layer changed shows its
 * OLD version, and deleted files come back.
 */
export function overlayMountData(layers: OverlayLayers): string {
  // EXERCISE(overlay.lowerdir): Return "lowerdir=L,upperdir=U,workdir=W" where L is the lower folders joined by ":" with the TOPMOST layer first (layers.lowerdirs lists the bottom one first). Do not change the caller's array.
  // HINT: overlayfs reads lowerdir left to right as top to bottom; the image config lists its layers bottom to top.
  // HINT: Array.prototype.reverse() reverses in place and would change the caller's array (the tests pass a frozen one): reverse a copy.
  // HINT: The kernel's Documentation/filesystems/overlayfs.rst, "Multiple lower layers"; Array.prototype.toReversed on MDN.
  const topFirst = [...layers.lowerdirs].reverse();
  return `lowerdir=${topFirst.join(':')},upperdir=${layers.upperdir},workdir=${layers.workdir}`;
  // END EXERCISE
}

/**
 * Options added to every mount, as Docker's overlay2 driver does: index=off (no inode index: the same
 * lower layers are shared by many mounts) and redirect_dir=off (renaming a lower folder copies it up
 * whole instead of leaving a redirect xattr, so the upper folder alone is a complete layer for commit —
 * Docker falls back to a slow "naive diff" when a kernel enables redirect_dir).
 */
export const OVERLAY_EXTRA_OPTIONS = 'index=off,redirect_dir=off';

/** mount(2) copies its data argument from one page: 4096 bytes, the terminating NUL included. */
export const MOUNT_DATA_LIMIT = 4095;

/** overlayfs separates options with "," and layers with ":"; a path with either cannot be given plainly. */
function checkPlainPath(dir: string): void {
  if (/[,:\\]/.test(dir)) throw new Error(`overlay: the path ${dir} contains "," ":" or "\\", which overlayfs options cannot hold; choose another LAB_STATE_DIR`);
}

/**
 * The options for this mount: absolute paths when they fit in a page, else Docker's trick — short
 * relative paths (l/<id> links to the layers), resolved from `short.home`, which the mount is made from.
 */
export function chooseMountData(config: OverlayMount): { data: string; cwd?: string } {
  for (const dir of [...config.lowerdirs, config.upperdir, config.workdir]) checkPlainPath(dir);
  // Mounted by a root without privilege on the host (rootless): overlayfs keeps its xattrs as user.*
  // (userxattr, Linux 5.11) — and since anyone could forge those, it will not follow redirects either.
  const extra = inUserNamespace() ? 'index=off,redirect_dir=nofollow,userxattr' : OVERLAY_EXTRA_OPTIONS;
  const data = `${overlayMountData(config)},${extra}`;
  if (Buffer.byteLength(data) <= MOUNT_DATA_LIMIT || !config.short) return { data };
  const { home, ...relative } = config.short;
  return { data: `${overlayMountData(relative)},${extra}`, cwd: home };
}

/**
 * init: the `overlay` setup step. It runs BEFORE lesson 03's rootfs step, in the container's private
 * mount namespace: the merged view exists only there, the host never sees it mounted, and it goes away
 * with the namespace — however the container ends, kill -9 included.
 */
export function mountOverlay(sys: Syscalls, config: OverlayMount): void {
  const { data, cwd } = chooseMountData(config);
  if (cwd === undefined) {
    sys.mount('overlay', config.target, 'overlay', 0, data);
    return;
  }
  // Relative lowerdir paths are resolved from the working directory of the process calling mount(2).
  // Docker forks a helper that chdirs; init is single-threaded here and its own process, so it chdirs
  // and comes back (Node's process.cwd() never saw the change).
  const back = process.cwd();
  sys.chdir(cwd);
  try {
    sys.mount('overlay', config.target, 'overlay', 0, data);
  } finally {
    sys.chdir(back);
  }
}

// --- whiteouts, as overlayfs writes them --------------------------------------------------------------

/** The xattr that makes a folder of a layer hide the same folder in every layer below it. */
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
/**
 * The same, for an overlay mounted with `userxattr` (Linux 5.11): trusted.* belongs to the host's root
 * alone, so a root without privilege on the host (rootless, in a user namespace) writes user.* instead.
 */
export const USER_OPAQUE_XATTR = 'user.overlay.opaque';

/** The opaque xattr this process can write: user.* in a user namespace, trusted.* on the host. */
export function opaqueXattr(): string {
  return inUserNamespace() ? USER_OPAQUE_XATTR : OPAQUE_XATTR;
}

/** A whiteout, in overlayfs's form: a character device whose device number is 0/0. */
export function isOverlayWhiteout(stats: Pick<Stats, 'isCharacterDevice' | 'rdev'>): boolean {
  return stats.isCharacterDevice() && stats.rdev === 0;
}

export function isOpaqueDir(sys: Syscalls, dir: string): boolean {
  return sys.lgetxattr(dir, OPAQUE_XATTR) === 'y' || sys.lgetxattr(dir, USER_OPAQUE_XATTR) === 'y';
}

// --- docker diff ----------------------------------------------------------------------------------------

/** One line of `docker diff`: A added, C changed, D deleted; the path as the container sees it. */
export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

/** Looks up paths in the image's layers as the merged view would show them (without the container's layer). */
export interface LowerView {
  /** Does the image (its layers merged) have something at `rel` ("etc/passwd")? */
  has(rel: string): boolean;
  /** The names the image shows in folder `rel`. */
  list(rel: string): string[];
}

/** A LowerView that can also say where a file's content is. */
export interface LowerFiles extends LowerView {
  /** The file the image shows at `rel`, on disk (in the topmost layer that has it); null if none or not a plain file. */
  file(rel: string): string | null;
}

/**
 * `docker diff`: the container's changes, read from its upper folder alone — that folder IS the
 * difference between the container and its image. Every entry in it is one change:
 *   - a whiteout (character device 0/0)       D: the container deleted it
 *   - anything the image has at that path     C: changed (copied up, then modified)
 *   - anything else                           A: added
 * The walk goes into folders (their contents are changes too), but not into whiteouts. Sorted by path.
 */
export function diffUpper(upperdir: string, lower: LowerView): Change[] {
  // EXERCISE(overlay.diff): Walk upperdir recursively (lstat, do not follow links) and return one Change per entry, path "/" + its relative path: D for a whiteout, C when lower.has(rel), else A. Recurse into folders; return the list sorted by path.
  // HINT: readdirSync(dir) and lstatSync(path.join(dir, name)) for each name; keep the relative path ("etc/passwd") for lower.has() and "/etc/passwd" for the Change.
  // HINT: isOverlayWhiteout(stats) tells a whiteout. Only folders that are not whiteouts are walked into; a helper that calls itself for each folder does the walk, and one sort by path at the end the order.
  // HINT: `docker diff` in Docker's documentation (A, C, D); man 2 lstat; overlayfs.rst, "whiteouts and opaque directories".
  const changes: Change[] = [];
  const walk = (relDir: string): void => {
    for (const name of readdirSync(path.join(upperdir, relDir))) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const stats = lstatSync(path.join(upperdir, rel));
      const kind = isOverlayWhiteout(stats) ? 'D' : lower.has(rel) ? 'C' : 'A';
      changes.push({ kind, path: `/${rel}` });
      if (kind !== 'D' && stats.isDirectory()) walk(rel);
    }
  };
  walk('');
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // END EXERCISE
}

/**
 * The image as the merged view shows it, from the layer folders alone (bottom first): a name is there
 * if the topmost layer that mentions it does not white it out, and no layer above made its folder opaque.
 */
export function lowerView(sys: Syscalls, lowerdirs: readonly string[]): LowerFiles {
  const topFirst = [...lowerdirs].reverse();
  /** What the layers say about `rel`, from the top: the first layer that has an entry (or hides it) decides. */
  const lookup = (rel: string): { stats: Stats; file: string } | null => {
    const parts = rel.split('/');
    for (const layer of topFirst) {
      // A whiteout or a non-folder at any parent, or an opaque parent, ends the search in this layer and below.
      let blocked = false;
      for (let depth = 1; depth < parts.length; depth++) {
        const parent = path.join(layer, ...parts.slice(0, depth));
        const stats = lstatOrNull(parent);
        if (!stats) continue;
        if (!stats.isDirectory()) return null;
        if (isOpaqueDir(sys, parent)) blocked = true;
      }
      const file = path.join(layer, rel);
      const stats = lstatOrNull(file);
      if (stats) return isOverlayWhiteout(stats) ? null : { stats, file };
      if (blocked) return null;
    }
    return null;
  };
  return {
    has: (rel) => lookup(rel) !== null,
    list(rel) {
      const names = new Set<string>();
      for (const layer of topFirst) {
        const dir = path.join(layer, rel);
        const stats = lstatOrNull(dir);
        if (!stats?.isDirectory()) continue;
        for (const name of readdirSync(dir)) names.add(name);
        if (isOpaqueDir(sys, dir)) break;
      }
      return [...names].filter((name) => lookup(rel === '' ? name : `${rel}/${name}`) !== null).sort();
    },
    file(rel) {
      const found = lookup(rel);
      return found?.stats.isFile() ? found.file : null;
    },
  };
}

/**
 * diffUpper, plus what an opaque folder hid: `rm -r /x; mkdir /x` leaves one opaque folder in the upper
 * layer, and every name the image had under /x is gone from the container (D), though no whiteout says so.
 */
export function diffContainer(sys: Syscalls, upperdir: string, lowerdirs: readonly string[]): Change[] {
  const lower = lowerView(sys, lowerdirs);
  const changes = diffUpper(upperdir, lower);
  const listed = new Set(changes.map((change) => change.path));
  for (const change of [...changes]) {
    if (change.kind !== 'C' || !isOpaqueDir(sys, path.join(upperdir, change.path))) continue;
    const rel = change.path.slice(1);
    for (const name of lower.list(rel)) {
      const hidden = `${change.path}/${name}`;
      if (!listed.has(hidden)) changes.push({ kind: 'D', path: hidden });
    }
  }
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// --- docker commit: from overlayfs's form back to the OCI form ------------------------------------------

/** The OCI spec's whiteout prefix: ".wh.NAME" in a layer tar means "NAME is deleted". */
export const WHITEOUT_PREFIX = '.wh.';
/** The OCI spec's opaque marker: this file in a folder means "hide everything below this folder". */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** One entry of the layer tar a commit writes: a path of the upper folder, or an empty marker file. */
export type LayerTarEntry = { kind: 'copy'; path: string } | { kind: 'marker'; path: string };

/**
 * What one entry of the upper folder becomes in an OCI layer tar. overlayfs and OCI say "deleted"
 * differently, and a tar (and a registry) cannot carry a 0/0 device or a trusted.* xattr, so:
 *   whiteout "etc/motd" (char 0/0)   → an empty file "etc/.wh.motd"
 *   opaque folder "var/cache"        → the folder itself, then an empty file "var/cache/.wh..wh..opq"
 *   anything else                    → itself
 * `rel` is relative to the upper folder ("etc/motd"); `opaque` says whether a folder has the xattr.
 */
export function ociEntriesFor(rel: string, stats: Pick<Stats, 'isCharacterDevice' | 'isDirectory' | 'rdev'>, opaque: boolean): LayerTarEntry[] {
  // EXERCISE(overlay.commit): Return the tar entries for one upper-folder entry: a whiteout becomes a marker ".wh.NAME" next to it; an opaque folder becomes the folder (copy) followed by a marker ".wh..wh..opq" inside it; anything else is copied as it is.
  // HINT: isOverlayWhiteout(stats) tells a whiteout; WHITEOUT_PREFIX and OPAQUE_WHITEOUT are the OCI names.
  // HINT: Three cases: a whiteout becomes one marker named WHITEOUT_PREFIX + its name, in the same folder (path.posix.dirname/basename/join; join drops the "." of a top-level name); an opaque folder is a copy followed by an OPAQUE_WHITEOUT marker inside it; the rest is one copy.
  // HINT: The OCI image spec's layer.md, "Representing Changes" and "Whiteouts".
  if (isOverlayWhiteout(stats)) {
    return [{ kind: 'marker', path: path.posix.join(path.posix.dirname(rel), WHITEOUT_PREFIX + path.posix.basename(rel)) }];
  }
  if (stats.isDirectory() && opaque) return [{ kind: 'copy', path: rel }, { kind: 'marker', path: path.posix.join(rel, OPAQUE_WHITEOUT) }];
  return [{ kind: 'copy', path: rel }];
  // END EXERCISE
}

/**
 * Every entry of a folder, in tar order (a folder before its contents, names sorted, so the same folder
 * always makes the same tar). An upper folder's entries are converted with ociEntriesFor; a plain folder
 * (`whiteouts` false: an exported root file system) has no whiteouts to convert. Device nodes other than
 * whiteouts, sockets and FIFOs cannot go into a layer here: they are left out and reported in `skipped`.
 */
export function upperToTarEntries(sys: Syscalls, upperdir: string, whiteouts = true): { entries: LayerTarEntry[]; skipped: string[] } {
  const entries: LayerTarEntry[] = [];
  const skipped: string[] = [];
  const walk = (relDir: string): void => {
    for (const name of readdirSync(path.join(upperdir, relDir)).sort()) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const full = path.join(upperdir, rel);
      const stats = lstatSync(full);
      const plain = stats.isFile() || stats.isDirectory() || stats.isSymbolicLink();
      if (!plain && !(whiteouts && isOverlayWhiteout(stats))) {
        skipped.push(`/${rel}`);
        continue;
      }
      if (whiteouts) entries.push(...ociEntriesFor(rel, stats, stats.isDirectory() && isOpaqueDir(sys, full)));
      else entries.push({ kind: 'copy', path: rel });
      if (stats.isDirectory()) walk(rel);
    }
  };
  walk('');
  return { entries, skipped };
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}
