/**
 * Lesson 03's default image: a BusyBox root file system, built offline from the machine's static busybox.
 *
 * An image, before lesson 05 makes it layers, is just a folder that looks like the root of a Linux
 * system: bin/, etc/, proc/ ... One static BusyBox program plays every command (it looks at the name it
 * was started under: `ls` → its ls applet), so the whole image is one 2 MB file with a few hundred
 * names — hard links, as in Docker's own busybox image — and a handful of text files. A dynamically linked busybox would not do: execve(2) looks for its
 * loader (/lib64/ld-linux-x86-64.so.2) inside the container's root, and the image has none.
 *
 * The build is reproducible (fixed names, modes, contents and timestamps, so the same busybox always
 * gives the same image ID) and atomic: it is made in a temporary folder next to its final place and
 * renamed into place, so a build killed halfway leaves no half image behind.
 *
 *   <state>/images/busybox/rootfs/       the file system
 *   <state>/images/busybox/image.json    its ID (a digest of the contents), the busybox it came from
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync, chmodSync, constants as fsConstants, copyFileSync, existsSync, linkSync, lutimesSync, mkdirSync, openSync,
  readFileSync, readSync, readdirSync, closeSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { elfLinkage } from '../../src/sys/elf.js';
import { labStateDir } from '../../src/container/state.js';
import { processIsAlive } from '../../src/sys/process.js';

/** Bumped whenever the recipe below changes, so images built by an older lab are rebuilt. */
const RECIPE_VERSION = 2;

/** Every file gets this modification time: a build must not depend on when it ran. */
const FIXED_TIME = new Date('2024-01-01T00:00:00Z');

export interface Image {
  name: string;
  /** "sha256:…" of the image's manifest (every path, mode, link target and file digest). */
  id: string;
  /** The folder that becomes a container's "/" (each container gets its own copy of it). */
  rootfs: string;
  /** signature: the binary's stat (see fileSignature) when its sha256 was last checked. */
  busybox: { path: string; sha256: string; version: string; signature?: string };
  files: number;
  bytes: number;
}

/** A build failed; the message is one line and says what to do. */
export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
}

// Where the doctor looks for busybox too (src/course/doctor/probe.ts): the PATH, then the usual folders.
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The first statically linked busybox on this machine, or an ImageBuildError naming the fix. */
export function findStaticBusybox(searchPath = process.env.PATH ?? '', systemDirs: readonly string[] = SYSTEM_DIRS): string {
  const dirs = [...new Set([...searchPath.split(':').filter(Boolean), ...systemDirs])];
  let dynamic: string | undefined;
  for (const dir of dirs) {
    const candidate = path.join(dir, 'busybox');
    let linkage;
    try {
      accessSync(candidate, fsConstants.X_OK);
      linkage = elfLinkage(readHead(candidate, 64 * 1024)).kind;
    } catch {
      continue; // not there, not executable, not a file
    }
    if (linkage === 'static') return candidate;
    if (linkage === 'dynamic') dynamic ??= candidate;
  }
  const found = dynamic ? `${dynamic} is dynamically linked (it would need a loader the image does not have)` : 'no busybox found';
  throw new ImageBuildError(`${found}: run \`sudo apt-get install busybox-static\` (or \`npm run doctor\`)`);
}

function readHead(file: string, length: number): Uint8Array {
  const bytes = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    return bytes.subarray(0, readSync(fd, bytes, 0, length, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * The busybox image, built if there is none yet or if it was built from another busybox.
 * `built` says whether this call built it (the lesson shows how long that took).
 */
export function busyboxImage(options: { stateDir?: string; busybox?: string } = {}): { image: Image; built: boolean } {
  const imagesDir = path.join(options.stateDir ?? labStateDir(), 'images');
  const finalDir = path.join(imagesDir, 'busybox');
  const busybox = options.busybox ?? findStaticBusybox();
  const cached = readImage(finalDir);
  // Every container start asks for the image: hash the 2 MB binary only when its stat says it changed.
  const signature = fileSignature(busybox);
  if (cached && cached.busybox.path === busybox && cached.busybox.signature === signature) return { image: cached, built: false };
  const sha256 = digest(readFileSync(busybox));
  if (cached && cached.busybox.sha256 === sha256) return { image: rememberSignature(finalDir, cached, busybox, signature), built: false };

  mkdirSync(imagesDir, { recursive: true });
  removeAbandonedBuilds(imagesDir);
  // The pid in the name tells a later build whether this one is still running (see removeAbandonedBuilds).
  const buildDir = path.join(imagesDir, `.busybox.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(buildDir);
    const version = busyboxVersion(busybox);
    const manifest = writeBusyboxTree(path.join(buildDir, 'rootfs'), busybox, version);
    const image: Image = {
      name: 'busybox',
      id: `sha256:${digest(Buffer.from(manifest.lines.join('\n')))}`,
      rootfs: path.join(finalDir, 'rootfs'),
      busybox: { path: busybox, sha256, version, signature },
      files: manifest.lines.length,
      bytes: manifest.bytes,
    };
    writeFileSync(path.join(buildDir, 'image.json'), `${JSON.stringify({ recipe: RECIPE_VERSION, ...image }, null, 2)}\n`);
    // rename(2) is atomic: the image appears whole or not at all. An outdated image is moved aside first;
    // one that another process completed meanwhile is used as it is (someone may be copying it right now).
    const completedMeanwhile = readImage(finalDir);
    if (completedMeanwhile?.busybox.sha256 === sha256) return { image: completedMeanwhile, built: false };
    if (existsSync(finalDir)) renameSync(finalDir, `${buildDir}.old`);
    try {
      renameSync(buildDir, finalDir);
    } catch (error) {
      // Another process built the same image at the same moment: use theirs.
      const theirs = readImage(finalDir);
      if (theirs && theirs.busybox.sha256 === sha256) return { image: theirs, built: false };
      throw error;
    }
    return { image, built: true };
  } catch (error) {
    if (error instanceof ImageBuildError) throw error;
    throw new ImageBuildError(`could not build the busybox image in ${imagesDir}: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(`${buildDir}.old`, { recursive: true, force: true });
  }
}

/** The image recorded in `dir`, or null when there is none, it is incomplete, or an older recipe made it. */
function readImage(dir: string): Image | null {
  try {
    const { recipe, ...image } = JSON.parse(readFileSync(path.join(dir, 'image.json'), 'utf8')) as Image & { recipe: number };
    return recipe === RECIPE_VERSION && existsSync(image.rootfs) ? image : null;
  } catch {
    return null;
  }
}

/**
 * What changes whenever the file's bytes can have: a new file (an upgrade replaces it: another inode),
 * a new size, or a ctime — which every write and chmod moves, and which no one can set back.
 */
function fileSignature(file: string): string {
  const stats = statSync(file);
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.ctimeMs}`;
}

/** The image as it was, its image.json now with the binary's signature (written whole: renamed into place). */
function rememberSignature(dir: string, image: Image, busybox: string, signature: string): Image {
  const updated = { ...image, busybox: { ...image.busybox, path: busybox, signature } };
  const temporary = path.join(dir, `.image.json.${process.pid}`);
  try {
    writeFileSync(temporary, `${JSON.stringify({ recipe: RECIPE_VERSION, ...updated }, null, 2)}\n`);
    renameSync(temporary, path.join(dir, 'image.json'));
  } catch {
    rmSync(temporary, { force: true }); // a read-only state folder: the hash is simply computed again next time
  }
  return updated;
}

/** Builds killed before their rename (kill -9, power loss) left their folder: remove it once its process is gone. */
function removeAbandonedBuilds(imagesDir: string): void {
  for (const name of readdirSync(imagesDir)) {
    const match = /^\.busybox\.build-(\d+)-/.exec(name);
    if (match && !processIsAlive(Number(match[1]))) rmSync(path.join(imagesDir, name), { recursive: true, force: true });
  }
}

function digest(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function busyboxVersion(busybox: string): string {
  const { stdout, stderr } = spawnSync(busybox, ['--help'], { encoding: 'utf8' });
  return /BusyBox (v\S+)/.exec(`${stdout}${stderr}`)?.[1] ?? 'unknown';
}

/** The folders of a root file system, with their modes: /tmp is world-writable with the sticky bit, /root is private. */
const DIRECTORIES: [string, number][] = [
  ['bin', 0o755], ['dev', 0o755], ['etc', 0o755], ['home', 0o755], ['mnt', 0o755], ['proc', 0o555], ['root', 0o700],
  ['run', 0o755], ['sbin', 0o755], ['sys', 0o555], ['tmp', 0o1777], ['usr', 0o755], ['usr/bin', 0o755],
  ['usr/sbin', 0o755], ['var', 0o755], ['var/tmp', 0o1777],
];

/** The text files. hostname, hosts and resolv.conf are placeholders: the runtime bind-mounts its own over them. */
function etcFiles(version: string): [string, string][] {
  return [
    ['etc/passwd', 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n'],
    ['etc/group', 'root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n'],
    [
      'etc/os-release',
      `NAME="mini-docker lab busybox"\nID=mini-docker-busybox\nVERSION_ID="${version.replace(/^v/, '')}"\n` +
        `PRETTY_NAME="mini-docker lab busybox (BusyBox ${version})"\nHOME_URL="https://busybox.net/"\n`,
    ],
    ['etc/hostname', ''],
    ['etc/hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'],
    ['etc/resolv.conf', ''],
  ];
}

/**
 * Writes the image's file system into `root` (which must not exist) and returns its manifest: one line
 * per entry, sorted, from which the image ID is computed.
 */
export function writeBusyboxTree(root: string, busybox: string, version: string): { lines: string[]; bytes: number } {
  const lines: string[] = [];
  let bytes = 0;
  mkdirSync(root, { mode: 0o755 });
  for (const [dir, mode] of DIRECTORIES) {
    mkdirSync(path.join(root, dir));
    chmodSync(path.join(root, dir), mode); // after mkdir: mkdir's mode is filtered through the umask
    lines.push(`dir ${mode.toString(8)} ${dir}`);
  }

  const binary = path.join(root, 'bin/busybox');
  copyFileSync(busybox, binary);
  chmodSync(binary, 0o755);
  const program = readFileSync(binary);
  bytes += program.length;
  lines.push(`file 755 bin/busybox ${digest(program)}`);

  // `busybox --list-full` names every applet with its usual place: "usr/bin/env", "bin/sh", "sbin/init" ...
  const listing = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' });
  if (listing.status !== 0) throw new ImageBuildError(`${busybox} --list-full failed: ${listing.stderr.trim() || `exit ${listing.status}`}`);
  const applets = listing.stdout.split('\n').filter((entry) => entry.includes('/') && entry !== 'bin/busybox');
  for (const applet of applets) {
    // A hard link is one more name for the same file (same inode): no new file, unlike a symbolic link,
    // and it means the same thing seen from the host and from inside the container.
    mkdirSync(path.join(root, path.dirname(applet)), { recursive: true });
    linkSync(binary, path.join(root, applet));
    lines.push(`hardlink ${applet} bin/busybox`);
  }

  for (const [file, text] of etcFiles(version)) {
    writeFileSync(path.join(root, file), text);
    chmodSync(path.join(root, file), 0o644);
    bytes += Buffer.byteLength(text);
    lines.push(`file 644 ${file} ${digest(Buffer.from(text))}`);
  }

  for (const entry of walk(root)) lutimesSync(entry, FIXED_TIME, FIXED_TIME); // a hard link's name shares its file's times
  return { lines: lines.sort(), bytes };
}

/** Every path below `root`, and root itself last (so a folder's time is set after its contents). */
function walk(root: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name);
    if (entry.isDirectory()) found.push(...walk(full));
    else found.push(full);
  }
  found.push(root);
  return found;
}
