/**
 * Lesson 05 graded checks: images as read-only layers, containers as a thin writable layer.
 * Names, contents and sizes are random on every run; hostile archives are made in the tests
 * (test/fixtures/overlay/archives.ts).
 *
 * The student's files are overlay.ts, layers.ts and oci.ts (and store.ts, which uses them). Each graded
 * check uses the student's code for its own exercise and the reference machinery for the rest where it
 * can: a container's overlay mount runs the student's overlay.ts inside init (bundleUnderTest), while
 * the images it starts from are imported by the reference store. Every test gets a state folder of its
 * own (LAB_STATE_DIR), removed afterwards, and fails if anything is left mounted.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import {
  createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { graded } from '../../src/course/grading.js';
import { captureInContainer } from '../../src/container/runtime.js';
import { MNT_DETACH, RecordingSyscalls, S_IFCHR, linuxSyscalls } from '../../src/sys/index.js';
import { hostMountPointsUnder } from '../../lessons/03-mount/containers.js';
import { busyboxImage } from '../../lessons/03-mount/image.js';
import * as lab from '../../lessons/05-overlay/containers.js';
import { packLayer } from '../../lessons/05-overlay/layers.js';
import { progressPrinter } from '../../lessons/05-overlay/progress.js';
import * as store from '../../lessons/05-overlay/store.js';
import { bundleUnderTest, importLesson, registryUnderTest } from '../helpers/impl.js';
import { eventually } from '../helpers/processes.js';
import { assertOwnRoot, describeAsRoot } from '../helpers/root.js';
import { dockerSaveFiles, makeTar, sha256, tarOfFiles, writeOciLayout, type TarEntry } from '../fixtures/overlay/archives.js';
import '../helpers/syscalls.js';

// The lessons' features as the implementation under test has them: host-side planning runs its code too.
const features = await registryUnderTest();

const overlay = await importLesson<typeof import('../../lessons/05-overlay/overlay.js')>('05-overlay', 'overlay.ts');
const layers = await importLesson<typeof import('../../lessons/05-overlay/layers.js')>('05-overlay', 'layers.ts');
const oci = await importLesson<typeof import('../../lessons/05-overlay/oci.js')>('05-overlay', 'oci.ts');
const registry = await importLesson<typeof import('../../lessons/05-overlay/registry.js')>('05-overlay', 'registry.ts');
// The student's store: it runs the student's path checks, whiteouts and digest checks.
const theirStore = await importLesson<typeof import('../../lessons/05-overlay/store.js')>('05-overlay', 'store.ts');

const hex = (bytes = 4) => randomBytes(bytes).toString('hex');
const randomPath = () => `/var/lib/lab-${hex()}/layers/${hex(8)}`;

/** A temporary folder removed after `work`, whatever happens. */
async function withTempDir<T>(prefix: string, work: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fake lstat results, for the code that only asks what kind of file something is. */
function fakeStats(kind: 'file' | 'dir' | 'whiteout' | 'chardev') {
  return {
    isCharacterDevice: () => kind === 'whiteout' || kind === 'chardev',
    isDirectory: () => kind === 'dir',
    rdev: kind === 'chardev' ? 0x103 : 0,
  };
}

describe('lesson 05 · the code, on its own', () => {
  graded('overlay.lowerdir', 'overlayMountData puts the TOPMOST layer first and leaves the caller\'s list alone', () => {
    const lowerdirs = Object.freeze([randomPath(), randomPath(), randomPath()]);
    const upperdir = randomPath();
    const workdir = randomPath();
    expect(overlay.overlayMountData({ lowerdirs: lowerdirs as string[], upperdir, workdir })).toBe(
      `lowerdir=${lowerdirs[2]}:${lowerdirs[1]}:${lowerdirs[0]},upperdir=${upperdir},workdir=${workdir}`,
    );
    const single = randomPath();
    expect(overlay.overlayMountData({ lowerdirs: [single], upperdir, workdir })).toBe(`lowerdir=${single},upperdir=${upperdir},workdir=${workdir}`);
  }, { requires: ['lowerdir=L,upperdir=U,workdir=W', 'TOPMOST layer first', 'Do not change the caller'] });

  graded('overlay.lowerdir', 'the overlay step: one mount(2), or from the state folder through the short links when the options are too long', () => {
    const short = (count: number) => Array.from({ length: count }, (_, index) => `images/l/${hex(13).toUpperCase().slice(0, 26)}${index}`);
    const config = (count: number) => ({
      target: `/var/lib/lab-${hex()}/containers/${hex(32)}/rootfs`,
      lowerdirs: Array.from({ length: count }, () => `/var/lib/lab-${hex()}/images/layers/${hex(32)}/diff`),
      upperdir: `/var/lib/lab-${hex()}/upper`,
      workdir: `/var/lib/lab-${hex()}/work`,
      short: { home: `/var/lib/lab-${hex()}`, lowerdirs: short(count), upperdir: 'containers/x/upper', workdir: 'containers/x/work' },
    });
    const few = config(3);
    const sys = new RecordingSyscalls();
    overlay.mountOverlay(sys, few);
    expect(sys.calls).toMakeSyscalls([
      { call: 'mount', args: ['overlay', few.target, 'overlay', 0, `lowerdir=${[...few.lowerdirs].reverse().join(':')},upperdir=${few.upperdir},workdir=${few.workdir},index=off,redirect_dir=off`] },
    ]);
    const many = config(60);
    const manySys = new RecordingSyscalls();
    overlay.mountOverlay(manySys, many);
    expect(manySys.calls).toMakeSyscalls([
      { call: 'chdir', args: [many.short.home] },
      {
        call: 'mount',
        args: ['overlay', many.target, 'overlay', 0, `lowerdir=${[...many.short.lowerdirs].reverse().join(':')},upperdir=containers/x/upper,workdir=containers/x/work,index=off,redirect_dir=off`],
      },
      { call: 'chdir', args: [process.cwd()] },
    ]);
  });

  graded('layer.safe-path', 'entryPath keeps harmless names inside the layer', () => {
    const root = `/var/lib/lab-${hex()}/diff`;
    const name = `f-${hex()}`;
    expect(layers.entryPath(root, `etc/${name}`)).toBe(`${root}/etc/${name}`);
    expect(layers.entryPath(root, `./etc//${name}`)).toBe(`${root}/etc/${name}`);
    expect(layers.entryPath(root, `usr/${name}/`)).toBe(`${root}/usr/${name}`);
    expect(layers.entryPath(root, './')).toBe(root);
    expect(layers.entryPath(root, `..${name}`)).toBe(`${root}/..${name}`); // a name that merely starts with dots is fine
  });

  graded('layer.safe-path', 'entryPath refuses absolute names, any "..", empty names and NUL bytes — with an UnsafeArchiveError', () => {
    const root = `/var/lib/lab-${hex()}/diff`;
    const name = `f-${hex()}`;
    for (const hostile of [`/etc/${name}`, `../${name}`, `a/../../${name}`, `a/../${name}`, `${name}/..`, '', `a\0${name}`, `//${name}`]) {
      let error: unknown;
      try {
        layers.entryPath(root, hostile);
      } catch (caught) {
        error = caught;
      }
      expect((error as Error | undefined)?.name, `entry ${JSON.stringify(hostile)}`).toBe('UnsafeArchiveError');
    }
  }, { requires: ['UnsafeArchiveError', 'absolute', 'NUL', '".."'] });

  graded('layer.whiteout', 'convertWhiteout: ".wh.NAME" becomes a 0/0 character device NAME, ".wh..wh..opq" the opaque xattr', () => {
    const dir = `/var/lib/lab-${hex()}/diff/etc`;
    const name = `gone-${hex()}`;
    const whiteout = new RecordingSyscalls();
    layers.convertWhiteout(whiteout, dir, `.wh.${name}`);
    expect(whiteout.calls).toMakeSyscalls([{ call: 'mknod', args: [`${dir}/${name}`, S_IFCHR, 0] }]);
    const opaque = new RecordingSyscalls();
    layers.convertWhiteout(opaque, dir, '.wh..wh..opq');
    expect(opaque.calls).toMakeSyscalls([{ call: 'lsetxattr', args: [dir, 'trusted.overlay.opaque', 'y'] }]);
  }, { requires: ['OPAQUE_XATTR', 'S_IFCHR', 'device number 0'] });

  graded('oci.digest', 'verifyDigest accepts the right digest and refuses a wrong or malformed one with a DigestError', () => {
    const bytes = randomBytes(randomInt(1, 4096));
    const actual = sha256(bytes);
    const what = `layer ${randomInt(1, 9)} of lab/${hex()}`;
    expect(() => oci.verifyDigest(`sha256:${actual}`, actual, what)).not.toThrow();
    const flipped = `${actual.slice(0, 10)}${actual[10] === '0' ? '1' : '0'}${actual.slice(11)}`;
    const error = (() => {
      try {
        oci.verifyDigest(`sha256:${flipped}`, actual, what);
      } catch (caught) {
        return caught as Error;
      }
      return undefined;
    })();
    expect(error?.name).toBe('DigestError');
    expect(error?.message).toContain(what);
    expect(error?.message).toContain(flipped);
    expect(error?.message).toContain(actual);
    for (const malformed of [`sha512:${actual}`, `sha256:${actual.toUpperCase()}`, `sha256:${actual.slice(1)}`, actual, `sha256:${actual}0`]) {
      expect(() => oci.verifyDigest(malformed, actual, what), malformed).toThrowError(expect.objectContaining({ name: 'DigestError' }));
    }
  }, { requires: ['DigestError', 'sha256:<64 lowercase hex>'] });

  /** Runs `chunks` through the student's verifyingStream; what came out, or the error it failed with. */
  async function throughVerifier(chunks: Iterable<Buffer> | AsyncIterable<Buffer>, expected: { digest: string; size: number }, what: string, start?: Parameters<typeof registry.verifyingStream>[2]) {
    const out: Buffer[] = [];
    try {
      await pipeline(Readable.from(chunks), registry.verifyingStream(expected, what, start), async function* (source) {
        for await (const chunk of source) out.push(chunk as Buffer);
      });
      return { bytes: Buffer.concat(out) };
    } catch (error) {
      return { bytes: Buffer.concat(out), error: error as Error };
    }
  }
  const piecesOf = (bytes: Buffer) => {
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const length = randomInt(1, 5000);
      pieces.push(bytes.subarray(at, at + length));
      at += length;
    }
    return pieces;
  };

  graded('registry.verify', 'verifyingStream passes a blob on unchanged when its size and digest are right, and resumes from a partial download', async () => {
    const blob = randomBytes(randomInt(20_000, 60_000));
    const expected = { digest: `sha256:${sha256(blob)}`, size: blob.length };
    const whole = await throughVerifier(piecesOf(blob), expected, `layer ${hex()}`);
    expect(whole.error).toBeUndefined();
    expect(whole.bytes.equals(blob)).toBe(true);
    // A resume: the first part is on disk already (its hash and count carried over), the rest comes now.
    const cut = randomInt(1, blob.length - 1);
    const hash = createHash('sha256').update(blob.subarray(0, cut));
    const rest = await throughVerifier(piecesOf(blob.subarray(cut)), expected, 'resumed', { hash, bytes: cut });
    expect(rest.error).toBeUndefined();
    expect(rest.bytes.equals(blob.subarray(cut))).toBe(true);
  });

  graded('registry.verify', 'verifyingStream refuses a wrong digest, a short blob, and stops an endless one at the first byte too many', async () => {
    const blob = randomBytes(randomInt(20_000, 60_000));
    const expected = { digest: `sha256:${sha256(blob)}`, size: blob.length };
    const what = `layer ${randomInt(1, 9)} of lab/${hex()}`;
    const tampered = Buffer.from(blob);
    tampered[randomInt(0, blob.length)]! ^= 0x01;
    const wrong = await throughVerifier(piecesOf(tampered), expected, what);
    expect(wrong.error?.name).toBe('DigestError');
    expect(wrong.error?.message).toContain(what);
    const short = await throughVerifier(piecesOf(blob.subarray(0, blob.length - randomInt(1, 100))), expected, what);
    expect(short.error?.name).toBe('TruncatedBlobError');
    expect(short.error?.message).toContain(what);
    // An endless blob (this one gives up by itself after 64 MiB): refused while it streams, long before its end.
    let produced = 0;
    async function* endless() {
      while (produced < 64 << 20) {
        produced += 4096;
        yield Buffer.alloc(4096, 0x61);
      }
    }
    const flood = await throughVerifier(endless(), expected, what);
    expect(flood.error?.name).toBe('DigestError');
    expect(flood.error?.message).toContain(what);
    expect(flood.bytes.length).toBeLessThanOrEqual(blob.length);
    expect(produced).toBeLessThan(blob.length + (1 << 20));
  }, { requires: ['DigestError', 'TruncatedBlobError', 'expected.size', 'verifyDigest'] });

  graded('overlay.commit', 'ociEntriesFor: whiteouts become .wh. markers, opaque folders get .wh..wh..opq, the rest is copied', () => {
    const dir = `d-${hex()}`;
    const file = `f-${hex()}`;
    expect(overlay.ociEntriesFor(`${dir}/${file}`, fakeStats('whiteout'), false)).toEqual([{ kind: 'marker', path: `${dir}/.wh.${file}` }]);
    expect(overlay.ociEntriesFor(file, fakeStats('whiteout'), false)).toEqual([{ kind: 'marker', path: `.wh.${file}` }]);
    expect(overlay.ociEntriesFor(`${dir}/${file}`, fakeStats('dir'), true)).toEqual([
      { kind: 'copy', path: `${dir}/${file}` },
      { kind: 'marker', path: `${dir}/${file}/.wh..wh..opq` },
    ]);
    expect(overlay.ociEntriesFor(`${dir}/${file}`, fakeStats('dir'), false)).toEqual([{ kind: 'copy', path: `${dir}/${file}` }]);
    expect(overlay.ociEntriesFor(`${dir}/${file}`, fakeStats('file'), false)).toEqual([{ kind: 'copy', path: `${dir}/${file}` }]);
    // A character device that is not 0/0 is not a whiteout.
    expect(overlay.ociEntriesFor(file, fakeStats('chardev'), false)).toEqual([{ kind: 'copy', path: file }]);
  }, { requires: ['.wh.NAME', '.wh..wh..opq'] });

  graded('overlay.diff', 'diffUpper: A for what the image lacks, C for what it has, folders walked into, sorted', async () => {
    await withTempDir('lab05-diff-', (upper) => {
      const added = `new-${hex()}`;
      const changed = `passwd`;
      mkdirSync(path.join(upper, 'etc'));
      writeFileSync(path.join(upper, 'etc', changed), 'x');
      mkdirSync(path.join(upper, added, 'inner'), { recursive: true });
      writeFileSync(path.join(upper, added, 'inner', 'file'), 'y');
      const lowerHas = new Set(['etc', `etc/${changed}`]);
      const changes = overlay.diffUpper(upper, { has: (rel) => lowerHas.has(rel), list: () => [] });
      expect(changes).toEqual(
        [
          { kind: 'C', path: '/etc' },
          { kind: 'C', path: `/etc/${changed}` },
          { kind: 'A', path: `/${added}` },
          { kind: 'A', path: `/${added}/inner` },
          { kind: 'A', path: `/${added}/inner/file` },
        ].sort((a, b) => (a.path < b.path ? -1 : 1)),
      );
    });
  }, { requires: ['D for a whiteout', 'C when lower.has(rel)', 'sorted by path'] });
});

/** Every process's mount table lines that mention `dir`: after a container is gone there must be none, anywhere. */
function mountsMentioning(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      for (const line of readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n')) if (line.includes(dir)) found.push(`${pid}: ${line}`);
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

function diskUsageKb(dir: string): number {
  return Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]);
}

describeAsRoot('lesson 05 · images as layers, containers as a thin layer', () => {
  let fixtures: string;
  /** Lesson 03's busybox image as a root file system tarball (what `docker export` would give). */
  let busyboxTar: string;
  beforeAll(async () => {
    fixtures = mkdtempSync(path.join(tmpdir(), 'lab05-fixtures-'));
    const { image } = busyboxImage({ stateDir: fixtures });
    busyboxTar = path.join(fixtures, 'busybox.tar');
    await pipeline(packLayer(image.rootfs, { whiteouts: false }).stream, createWriteStream(busyboxTar));
  });
  afterAll(() => rmSync(fixtures, { recursive: true, force: true }));

  let stateDir: string;
  let savedStateDir: string | undefined;
  let images: store.ImageStore;
  const running: lab.OverlayContainer[] = [];
  beforeEach(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'lab05-state-'));
    savedStateDir = process.env.LAB_STATE_DIR;
    process.env.LAB_STATE_DIR = stateDir;
    images = store.openImageStore(); // LAB_STATE_DIR, as the lab reads it
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((current) => current.destroy().catch(() => undefined)));
    // The mounts lived in the containers' namespaces: with the containers gone, none may be left anywhere.
    let left: string[] = [];
    try {
      await eventually(() => (left = mountsMentioning(stateDir)).length === 0, 5000, `no mounts under ${stateDir}`);
    } finally {
      if (savedStateDir === undefined) delete process.env.LAB_STATE_DIR;
      else process.env.LAB_STATE_DIR = savedStateDir;
      // Removed whatever happened; a mount that leaked into this (the host's) namespace is detached first,
      // so that the recursive delete cannot walk into a layer through it.
      for (const mountPoint of hostMountPointsUnder(stateDir).sort((a, b) => b.length - a.length)) linuxSyscalls().umount2(mountPoint, MNT_DETACH);
      rmSync(stateDir, { recursive: true, force: true });
    }
    expect(left).toEqual([]);
  });

  const base = async () => (await store.importImage(images, busyboxTar, { reference: 'busybox:latest' }))[0]!;
  async function start(image: store.StoredImage, args = ['sleep', '600']) {
    const current = await lab.startOverlayContainer({ store: images, image, args, registry: features, bundle: bundleUnderTest() });
    running.push(current);
    return current;
  }
  const sh = async (current: lab.OverlayContainer, script: string) => {
    assertOwnRoot(current.container.pid); // the scripts below delete and append: never on the host
    const result = await captureInContainer(current.container.pid, ['sh', '-c', script], bundleUnderTest());
    if (result.exitCode !== 0) throw new Error(`inside: ${script}: exit ${result.exitCode}: ${result.stderr.trim()}`);
    return result.stdout;
  };
  /** An image = `parent` + one layer made of these tar entries (reference store). */
  const withLayer = (parent: store.StoredImage, entries: TarEntry[]) =>
    store.addImage(images, parent, Readable.from([makeTar(entries)]), { createdBy: `test layer ${hex()}` });
  /** What the store holds besides the layers: for "a refused import leaves nothing behind". */
  const storeState = () => ({
    layers: readdirSync(path.join(images.root, 'layers')).sort(),
    blobs: readdirSync(path.join(images.root, 'blobs', 'sha256')).sort(),
    tags: [...store.listTags(images).keys()].sort(),
    jobs: readdirSync(path.join(images.root, 'tmp')),
  });

  graded('overlay.lowerdir', 'writes go to the upper folder; the image layer stays as it was (its digest re-checked)', async () => {
    const image = await base();
    const layer = image.layers[0]!;
    const current = await start(image);
    const name = `lab-${hex()}`;
    const text = `written inside ${hex(8)}`;
    expect((await sh(current, `echo '${text}' > /${name} && echo '${name}:x:1000:1000::/:/bin/sh' >> /etc/passwd && cat /${name}`)).trim()).toBe(text);
    // On the host: the new file and the copied-up /etc/passwd are in the container's upper folder...
    expect(readFileSync(path.join(current.dir.upper, name), 'utf8').trim()).toBe(text);
    expect(readFileSync(path.join(current.dir.upper, 'etc/passwd'), 'utf8')).toContain(`${name}:x:1000`);
    // ...and not in the image's layer, which is exactly as it was extracted.
    expect(existsSync(path.join(layer.dir, name))).toBe(false);
    expect(readFileSync(path.join(layer.dir, 'etc/passwd'), 'utf8')).not.toContain(name);
    expect(store.verifyLayer(layer)).toMatchObject({ ok: true });
    // The merged view is mounted only in the container's namespace: on the host, rootfs/ is an empty folder.
    expect(readdirSync(current.dir.rootfs)).toEqual([]);
    const mounts = await sh(current, 'grep "^overlay / " /proc/self/mounts');
    expect(mounts).toContain(`lowerdir=${layer.dir},upperdir=${current.dir.upper},workdir=${current.dir.work}`);
  });

  graded('overlay.lowerdir', 'with three layers on the image, the topmost one wins', async () => {
    let image = await base();
    const values = [hex(), hex(), hex()];
    const onlyInMiddle = `middle-${hex()}`;
    for (const [index, value] of values.entries()) {
      image = await withLayer(image, [{ path: 'which', content: value }, ...(index === 1 ? [{ path: onlyInMiddle, content: value }] : [])]);
    }
    const current = await start(image);
    expect(await sh(current, `cat /which; echo; cat /${onlyInMiddle}`)).toBe(`${values[2]}\n${values[1]}`);
  });

  graded('overlay.lowerdir', 'an image of 60 layers still mounts: too long for a page, it goes through the l/ short links', async () => {
    let image = await base();
    let last = '';
    for (let index = 0; index < 59; index++) image = await withLayer(image, [{ path: 'which', content: (last = `${index}-${hex()}`) }]);
    const current = await start(image);
    const mount = lab.overlayMountFor(current.dir, images);
    expect(Buffer.byteLength(overlay.overlayMountData(mount))).toBeGreaterThan(4095);
    expect((await sh(current, 'cat /which')).trim()).toBe(last);
    expect(readdirSync(path.join(images.root, 'l'))).toHaveLength(60);
  });

  graded('overlay.lowerdir', 'two containers of one image share its layer: the second costs an empty folder, not a copy', async () => {
    const image = await base();
    const layersBefore = readdirSync(path.join(images.root, 'layers'));
    const first = await start(image);
    const second = await start(image);
    const kilobytes = randomInt(512, 2048);
    await sh(first, `dd if=/dev/urandom of=/big-${hex()} bs=1k count=${kilobytes} 2>/dev/null`);
    expect(diskUsageKb(first.dir.upper)).toBeGreaterThanOrEqual(kilobytes);
    expect(diskUsageKb(second.dir.upper)).toBeLessThan(16);
    expect(readdirSync(path.join(images.root, 'layers'))).toEqual(layersBefore);
    // Both see the very same file: overlayfs reports the lower file's inode number for a file it did not copy up.
    const inode = String(lstatSync(path.join(image.layers[0]!.dir, 'etc/group')).ino);
    expect((await sh(first, 'stat -c %i /etc/group')).trim()).toBe(inode);
    expect((await sh(second, 'stat -c %i /etc/group')).trim()).toBe(inode);
  });

  graded('layer.whiteout', 'extracting a layer turns .wh. files into 0/0 devices and the opaque xattr — and overlayfs honours them', async () => {
    await withTempDir('lab05-whiteout-', async (dir) => {
      const [bottom, top, merged] = ['bottom', 'top', 'merged'].map((name) => path.join(dir, name)) as [string, string, string];
      for (const folder of [bottom, top, merged]) mkdirSync(folder);
      const gone = `gone-${hex()}`;
      const kept = `kept-${hex()}`;
      const fresh = `fresh-${hex()}`;
      const extract = (tar: Buffer, into: string) => layers.extractArchive(Readable.from([tar]), into, { what: 'test layer', compression: 'none', whiteouts: true });
      await extract(makeTar([{ path: gone, content: 'x' }, { path: kept, content: 'y' }, { path: 'dir/', type: 'Directory' }, { path: 'dir/old', content: 'z' }]), bottom);
      await extract(makeTar([{ path: `.wh.${gone}` }, { path: 'dir/', type: 'Directory' }, { path: 'dir/.wh..wh..opq' }, { path: `dir/${fresh}`, content: 'w' }]), top);
      const whiteout = lstatSync(path.join(top, gone));
      expect(whiteout.isCharacterDevice() && whiteout.rdev === 0 && (whiteout.mode & 0o7777) === 0).toBe(true); // c--------- 0,0
      expect(existsSync(path.join(top, `.wh.${gone}`))).toBe(false);
      expect(existsSync(path.join(top, 'dir/.wh..wh..opq'))).toBe(false);
      expect(linuxSyscalls().lgetxattr(path.join(top, 'dir'), 'trusted.overlay.opaque')).toBe('y');
      // A read-only overlay of the two (no upper folder), in a throwaway mount namespace: what does the kernel show?
      const shown = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t overlay overlay -o lowerdir=${top}:${bottom} ${merged} && ls -A ${merged} && echo @@ && ls -A ${merged}/dir`], { encoding: 'utf8' });
      const [rootNames = '', dirNames = ''] = shown.split('@@\n');
      expect(rootNames.split('\n').filter(Boolean).sort()).toEqual(['dir', kept].sort());
      expect(dirNames.split('\n').filter(Boolean)).toEqual([fresh]);
    });
  });

  graded('overlay.diff', 'docker diff of a container: A, C and D, opaque folders included', async () => {
    const image = await base();
    const current = await start(image);
    const added = `added-${hex()}`;
    await sh(current, [`mkdir -p /${added}/inner`, `echo 1 > /${added}/inner/file`, 'echo x >> /etc/passwd', 'rm /etc/os-release', 'rm -r /usr/sbin', 'mkdir /usr/sbin'].join(' && '));
    const hiddenSbin = readdirSync(path.join(image.layers[0]!.dir, 'usr/sbin')).map((name) => ({ kind: 'D', path: `/usr/sbin/${name}` }));
    const expected = [
      { kind: 'A', path: `/${added}` },
      { kind: 'A', path: `/${added}/inner` },
      { kind: 'A', path: `/${added}/inner/file` },
      { kind: 'C', path: '/etc' },
      { kind: 'D', path: '/etc/os-release' },
      { kind: 'C', path: '/etc/passwd' },
      { kind: 'C', path: '/usr' },
      { kind: 'C', path: '/usr/sbin' },
      ...hiddenSbin,
    ].sort((a, b) => (a.path < b.path ? -1 : 1));
    expect(hiddenSbin.length).toBeGreaterThan(0);
    expect(overlay.diffContainer(linuxSyscalls(), current.dir.upper, image.layers.map((layer) => layer.dir))).toEqual(expected);
  });

  graded('overlay.commit', 'commit: the upper folder becomes a new layer; a container of the new image sees the change', async () => {
    const image = await base();
    const current = await start(image);
    const name = `committed-${hex()}`;
    const text = hex(16);
    await sh(current, `echo ${text} > /${name} && rm /etc/os-release && rm -r /usr/sbin && mkdir /usr/sbin && echo kept > /usr/sbin/only`);
    current.container.kill('SIGKILL');
    await current.container.wait();
    // The student's packing (whiteouts → .wh. markers), the lab's store for the rest.
    const { stream } = layers.packLayer(current.dir.upper);
    const createdBy = `test commit ${hex()}`;
    const committed = await store.addImage(images, image, stream, { reference: `lab05/test:${hex()}`, createdBy });
    expect(committed.config.rootfs.diff_ids).toEqual([...image.config.rootfs.diff_ids, committed.layers[1]!.diffId]);
    expect(committed.manifest.layers).toHaveLength(2);
    expect(committed.config.history?.at(-1)?.created_by).toBe(createdBy);
    // The new layer, on disk, in overlayfs's form again.
    const newLayer = committed.layers[1]!.dir;
    expect(readFileSync(path.join(newLayer, name), 'utf8').trim()).toBe(text);
    expect(lstatSync(path.join(newLayer, 'etc/os-release')).isCharacterDevice()).toBe(true);
    expect(linuxSyscalls().lgetxattr(path.join(newLayer, 'usr/sbin'), 'trusted.overlay.opaque')).toBe('y');
    // And a container of the new image: the file is there, the deleted one is not, /usr/sbin holds only the new file.
    const next = await start(committed);
    expect((await sh(next, `cat /${name}; ls /etc; echo @@; ls /usr/sbin`)).split('@@\n')).toEqual([`${text}\n${readdirSync(path.join(image.layers[0]!.dir, 'etc')).filter((entry) => entry !== 'os-release').sort().join('\n')}\n`, 'only\n']);
  });

  /** The hostile archives: each must be refused with one line, write nothing outside, and leave no image behind. */
  function hostileCases(outside: string, marker: string, hostFile: string): { name: string; entries: TarEntry[] }[] {
    const climb = '../'.repeat(16);
    return [
      { name: 'an entry whose name climbs out with ..', entries: [{ path: `${climb}${outside.slice(1)}/${marker}`, content: 'pwned' }] },
      { name: 'an entry with an absolute name', entries: [{ path: `${outside}/${marker}`, content: 'pwned' }] },
      {
        name: 'a symbolic link to /, then a file through it',
        entries: [{ path: 'root', type: 'SymbolicLink', linkpath: '/' }, { path: `root${outside}/${marker}`, content: 'pwned' }],
      },
      {
        name: 'a symbolic link to a host folder, then a file through it',
        entries: [{ path: 'x', type: 'SymbolicLink', linkpath: outside }, { path: `x/${marker}`, content: 'pwned' }],
      },
      { name: 'a relative symbolic link that climbs out of the layer', entries: [{ path: 'up', type: 'SymbolicLink', linkpath: `${climb}${outside.slice(1)}` }] },
      { name: 'a hard link to a host file', entries: [{ path: 'hl', type: 'Link', linkpath: hostFile }] },
      { name: 'a hard link that climbs out', entries: [{ path: 'hl', type: 'Link', linkpath: `${climb}${hostFile.slice(1)}` }] },
      { name: 'a character device node (/dev/mem)', entries: [{ path: 'dev/', type: 'Directory' }, { path: 'dev/mem', type: 'CharacterDevice', devmaj: 1, devmin: 1 }] },
      { name: 'a block device node', entries: [{ path: `disk-${hex()}`, type: 'BlockDevice', devmaj: 8, devmin: 0 }] },
    ];
  }

  for (const { name } of hostileCases('/o', 'm', '/o/f')) {
    graded('layer.safe-path', `a hostile archive is refused: ${name}`, async () => {
      await base();
      await withTempDir('lab05-outside-', async (outside) => {
        const marker = `pwned-${hex()}`;
        const hostFile = path.join(outside, `target-${hex()}`);
        writeFileSync(hostFile, 'host file');
        const entries = hostileCases(outside, marker, hostFile).find((entry) => entry.name === name)!.entries;
        const archive = path.join(fixtures, `hostile-${hex()}.tar`);
        writeFileSync(archive, makeTar([{ path: `ok-${hex()}`, content: 'an innocent first entry' }, ...entries]));
        const before = storeState();
        const error = await theirStore.importImage(images, archive, { reference: `evil/${hex()}:1` }).then(() => undefined, (caught: Error) => caught);
        rmSync(archive);
        expect(error?.name, error?.message).toBe('UnsafeArchiveError');
        expect(error!.message.split('\n')).toHaveLength(1);
        expect(readdirSync(outside).sort()).toEqual([path.basename(hostFile)]);
        expect(statSync(hostFile).nlink).toBe(1);
        expect(storeState()).toEqual(before);
      });
    });
  }

  /** A two-layer OCI layout: busybox's tar below, a layer with a new file and a whiteout above (gzipped). */
  function goodLayout(dir: string, name?: string) {
    const file = `oci-${hex()}`;
    const content = hex(8);
    const top = makeTar([{ path: file, content }, { path: 'etc/', type: 'Directory' }, { path: 'etc/.wh.os-release' }]);
    const written = writeOciLayout(dir, [readFileSync(busyboxTar), top], { gzip: [1], name });
    return { ...written, file, content, top };
  }

  graded('oci.digest', 'a valid OCI image layout is imported: digests checked, layers extracted, tag from its annotation', async () => {
    await withTempDir('lab05-oci-', async (dir) => {
      const reference = `lab05/oci-${hex()}:v${randomInt(1, 99)}`;
      const layout = goodLayout(path.join(dir, 'layout'), reference);
      const [image] = await theirStore.importImage(images, path.join(dir, 'layout'));
      expect(image!.reference).toBe(reference);
      expect(image!.digest).toBe(layout.manifest.digest);
      expect(image!.id).toBe(layout.config.digest);
      expect(image!.layers.map((layer) => layer.diffId)).toEqual([`sha256:${sha256(readFileSync(busyboxTar))}`, `sha256:${sha256(layout.top)}`]);
      expect(readFileSync(path.join(image!.layers[1]!.dir, layout.file), 'utf8')).toBe(layout.content);
      expect(lstatSync(path.join(image!.layers[1]!.dir, 'etc/os-release')).isCharacterDevice()).toBe(true);
    });
  });

  const digestCases: { name: string; tamper: (dir: string, layout: ReturnType<typeof goodLayout>) => void }[] = [
    {
      name: 'a layer blob changed after it was named (same size)',
      tamper: (dir, layout) => {
        // The top layer: the bottom one (busybox) is already in the store, so its blob is not even read.
        const file = path.join(dir, 'blobs/sha256', layout.layers[1]!.digest.slice(7));
        const bytes = readFileSync(file);
        bytes[bytes.length - 9] = bytes[bytes.length - 9]! ^ 0xff; // one bit of the gzip's trailer
        writeFileSync(file, bytes);
      },
    },
    {
      name: 'a config blob changed after it was named',
      tamper: (dir, layout) => {
        const file = path.join(dir, 'blobs/sha256', layout.config.digest.slice(7));
        writeFileSync(file, readFileSync(file, 'utf8').replace('"os":"linux"', '"os":"linux" '));
      },
    },
    {
      name: 'a config whose diff_id does not match the layer (blob digest right)',
      tamper: (dir, layout) => {
        // Rewrite the config with a false diff_id, and the manifest and index to name the new config:
        // every blob is what its name says, only the layer is not what the config says.
        const blobs = path.join(dir, 'blobs/sha256');
        const config = JSON.parse(readFileSync(path.join(blobs, layout.config.digest.slice(7)), 'utf8'));
        config.rootfs.diff_ids[1] = `sha256:${sha256(hex())}`;
        const configBytes = JSON.stringify(config);
        writeFileSync(path.join(blobs, sha256(configBytes)), configBytes);
        const manifest = JSON.parse(readFileSync(path.join(blobs, layout.manifest.digest.slice(7)), 'utf8'));
        manifest.config = { ...manifest.config, digest: `sha256:${sha256(configBytes)}`, size: configBytes.length };
        const manifestBytes = JSON.stringify(manifest);
        writeFileSync(path.join(blobs, sha256(manifestBytes)), manifestBytes);
        const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
        index.manifests[0] = { ...index.manifests[0], digest: `sha256:${sha256(manifestBytes)}`, size: manifestBytes.length };
        writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
      },
    },
  ];

  for (const { name, tamper } of digestCases) {
    graded('oci.digest', `a digest mismatch is refused, and no half image is left: ${name}`, async () => {
      await base();
      await withTempDir('lab05-oci-', async (dir) => {
        const layoutDir = path.join(dir, 'layout');
        const layout = goodLayout(layoutDir, `lab05/tampered-${hex()}:1`);
        tamper(layoutDir, layout);
        const before = storeState();
        const error = await theirStore.importImage(images, layoutDir).then(() => undefined, (caught: Error) => caught);
        expect(error?.name, error?.message).toBe('DigestError');
        expect(error!.message.split('\n')).toHaveLength(1);
        expect(storeState()).toEqual(before);
      });
    });
  }

  graded('oci.digest', 'a docker save archive whose config lies about a diff_id is refused', async () => {
    await base();
    const layer = makeTar([{ path: `f-${hex()}`, content: hex() }]);
    const files = dockerSaveFiles([readFileSync(busyboxTar), layer], [`lab05/saved-${hex()}:1`], {
      diffIds: [`sha256:${sha256(readFileSync(busyboxTar))}`, `sha256:${sha256(hex())}`],
    });
    const archive = path.join(fixtures, `saved-${hex()}.tar`);
    writeFileSync(archive, tarOfFiles(files));
    const before = storeState();
    const error = await theirStore.importImage(images, archive).then(() => undefined, (caught: Error) => caught);
    rmSync(archive);
    expect(error?.name, error?.message).toBe('DigestError');
    expect(storeState()).toEqual(before);
  });

  // --- the lab's own machinery (reference code only: not graded) ---------------------------------------

  describe('the store and the lab around the exercises', () => {
    it('imports a docker save archive: tags from RepoTags, Docker\'s image ID kept, the shared layer not extracted twice', async () => {
      await base();
      const layersBefore = readdirSync(path.join(images.root, 'layers')).length;
      const reference = `lab05/saved-${hex()}:v1`;
      const file = `saved-${hex()}`;
      const files = dockerSaveFiles([readFileSync(busyboxTar), makeTar([{ path: file, content: 'saved' }])], [`docker.io/${reference}`]);
      const archive = path.join(fixtures, `saved-${hex()}.tar.gz`);
      writeFileSync(archive, gzipSync(tarOfFiles(files)));
      const events: store.ProgressEvent[] = [];
      try {
        const [image] = await store.importImage(images, archive, { onProgress: (event) => events.push(event) });
        const configName = Object.keys(files).find((name) => name.endsWith('.json') && name !== 'manifest.json')!;
        expect(image!.reference).toBe(reference);
        expect(image!.id).toBe(`sha256:${configName.replace('.json', '')}`);
        expect(readdirSync(path.join(images.root, 'layers'))).toHaveLength(layersBefore + 1);
        expect(events.some((event) => event.what === 'layer 1/2' && event.phase === 'present')).toBe(true);
        const current = await start(image!);
        expect(await sh(current, `cat /${file}`)).toBe('saved');
      } finally {
        rmSync(archive);
      }
    });

    it('imports an OCI layout sent as one tar file', async () => {
      await withTempDir('lab05-oci-', async (dir) => {
        const reference = `lab05/oci-tar-${hex()}:1`;
        const layout = goodLayout(path.join(dir, 'layout'), reference);
        const files: Record<string, Buffer> = {};
        for (const name of ['oci-layout', 'index.json', ...readdirSync(path.join(dir, 'layout/blobs/sha256')).map((blob) => `blobs/sha256/${blob}`)]) {
          files[name] = readFileSync(path.join(dir, 'layout', name));
        }
        writeFileSync(path.join(dir, 'layout.tar'), tarOfFiles(files));
        const [image] = await store.importImage(images, path.join(dir, 'layout.tar'));
        expect(image!.reference).toBe(reference);
        expect(readFileSync(path.join(image!.layers[1]!.dir, layout.file), 'utf8')).toBe(layout.content);
      });
    });

    const broken: { name: string; bytes: () => Buffer }[] = [
      { name: 'cut in the middle of an entry', bytes: () => readFileSync(busyboxTar).subarray(0, 512 * 40 + 100) },
      { name: 'cut exactly between two entries', bytes: () => makeTar([{ path: 'a', content: 'x' }, { path: 'b', content: 'y' }]).subarray(0, 1024) },
      { name: 'a header with a bad checksum', bytes: () => Object.assign(makeTar([{ path: 'a', content: 'x' }, { path: 'b', content: 'y' }]), { [1024 + 10]: 0x41 }) },
      { name: 'not a tar at all', bytes: () => randomBytes(4096) },
      { name: 'a gzip cut short', bytes: () => gzipSync(readFileSync(busyboxTar)).subarray(0, 20000) },
      { name: 'empty', bytes: () => Buffer.alloc(0) },
    ];
    for (const { name, bytes } of broken) {
      it(`refuses a damaged archive, leaving nothing behind: ${name}`, async () => {
        await base();
        const archive = path.join(fixtures, `broken-${hex()}.tar`);
        writeFileSync(archive, bytes());
        const before = storeState();
        try {
          const error = await store.importImage(images, archive, { reference: `broken/${hex()}:1` }).then(() => undefined, (caught: Error) => caught);
          expect(error?.name, error?.message).toBe('CorruptArchiveError');
          expect(storeState()).toEqual(before);
        } finally {
          rmSync(archive);
        }
      });
    }

    it('a folder replaced by a link keeps its mode to itself: nothing is applied through the link', async () => {
      await withTempDir('lab05-outside-', async (outside) => {
        const before = statSync(outside);
        const archive = path.join(fixtures, `replaced-${hex()}.tar`);
        // d/ comes with mode 0777 and a time; then d becomes an (allowed, absolute) link to a host folder.
        writeFileSync(archive, makeTar([{ path: 'd/', type: 'Directory', mode: 0o777 }, { path: 'd/f', content: 'x' }, { path: 'd', type: 'SymbolicLink', linkpath: outside }]));
        try {
          const [image] = await store.importImage(images, archive, { reference: `lab05/replaced-${hex()}:1` });
          expect(lstatSync(path.join(image!.layers[0]!.dir, 'd')).isSymbolicLink()).toBe(true);
          const after = statSync(outside);
          expect([after.mode, after.mtimeMs, readdirSync(outside)]).toEqual([before.mode, before.mtimeMs, []]);
        } finally {
          rmSync(archive);
        }
      });
    });

    it('an OCI layout whose blob is a link out of the archive is refused', async () => {
      await withTempDir('lab05-oci-', async (dir) => {
        const layout = goodLayout(path.join(dir, 'layout'), `lab05/linked-${hex()}:1`);
        const files: Record<string, Buffer> = {};
        for (const name of ['oci-layout', 'index.json', ...readdirSync(path.join(dir, 'layout/blobs/sha256')).map((blob) => `blobs/sha256/${blob}`)]) {
          files[name] = readFileSync(path.join(dir, 'layout', name));
        }
        const config = `blobs/sha256/${layout.config.digest.slice(7)}`;
        delete files[config];
        const entries = makeTar([{ path: config, type: 'SymbolicLink', linkpath: '/etc/passwd' }]);
        // The archive's own entries, then the link where the config should be (tarOfFiles ends with the zero blocks: cut them).
        const archive = Buffer.concat([tarOfFiles(files).subarray(0, -1024), entries]);
        writeFileSync(path.join(dir, 'linked.tar'), archive);
        const before = storeState();
        const error = await store.importImage(images, path.join(dir, 'linked.tar')).then(() => undefined, (caught: Error) => caught);
        expect(error?.name, error?.message).toBe('UnsafeArchiveError');
        expect(error?.message).toContain('resolves outside the archive');
        expect(storeState()).toEqual(before);
      });
    });

    it('builds a three-layer image, one layer per RUN step, and removes only what nothing else uses', async () => {
      const image = await base();
      const one = hex();
      const two = hex();
      // The second step deletes what the first made (a whiteout in its layer) — only files of this test:
      // a RUN step runs the student's code, and must not touch the host's files if their rootfs step is wrong.
      const [first, second] = [`one-${one}`, `two-${two}`];
      const built = await lab.buildImage(images, image, [`echo ${one} > /${first} && echo ${one} > /${first}.keep`, `rm /${first} && echo ${two} > /${second}`], 'lab05/built:latest', { registry: features, bundle: bundleUnderTest() });
      expect(built.layers).toHaveLength(3);
      expect(built.config.history?.map((entry) => entry.created_by).slice(1)).toEqual([`/bin/sh -c echo ${one} > /${first} && echo ${one} > /${first}.keep`, `/bin/sh -c rm /${first} && echo ${two} > /${second}`]);
      expect(readdirSync(built.layers[1]!.dir).sort()).toEqual([first, `${first}.keep`].sort());
      const current = await start(built);
      expect(await sh(current, `cat /${first}.keep /${second}; ls /${first} 2>/dev/null || echo no ${first}`)).toBe(`${one}\n${two}\nno ${first}\n`);
      // rmi while a container stands on it: the tag goes, the layers stay (the container's `lower` names them).
      expect(store.removeImage(images, 'lab05/built:latest')).toEqual([]);
      await current.destroy();
      running.splice(running.indexOf(current), 1);
      // The next rmi prunes them too (nothing uses them now), with its own layer — and never busybox's.
      const again = await lab.buildImage(images, image, [`echo ${two} > /again`], 'lab05/again:latest', { registry: features, bundle: bundleUnderTest() });
      const removed = store.removeImage(images, 'lab05/again:latest');
      expect(removed.sort()).toEqual([again.layers[1]!.diffId, built.layers[1]!.diffId, built.layers[2]!.diffId].sort());
      expect(readdirSync(path.join(images.root, 'layers'))).toEqual([image.layers[0]!.diffId.slice(7)]);
      expect(store.getImage(images, 'busybox:latest').layers[0]!.diffId).toBe(image.layers[0]!.diffId);
    });

    it('kill -9 of a container leaves nothing mounted anywhere: the mount was in its namespace', async () => {
      const current = await start(await base());
      // The host never had the mount, not even now; the container's namespace has it.
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(current.dir.upper);
      expect(readFileSync(`/proc/${current.container.pid}/mountinfo`, 'utf8')).toContain(current.dir.upper);
      process.kill(current.container.pid, 'SIGKILL');
      await current.container.wait();
      // Its last process gone, the namespace is freed and the kernel unmounts what was in it: nothing to clean.
      await eventually(() => mountsMentioning(current.dir.upper).length === 0, 5000, 'the overlay mount gone');
    });

    it('openImageStore removes the folder of an import whose process died', async () => {
      const dead = path.join(images.root, 'tmp', `job-999999999-${hex()}`);
      mkdirSync(path.join(dead, '0', 'diff'), { recursive: true });
      store.openImageStore(stateDir);
      expect(existsSync(dead)).toBe(false);
    });

    it('prints a line per layer when the output is not a terminal', () => {
      let text = '';
      const stream = { isTTY: false, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream;
      const print = progressPrinter(stream);
      const digest = `sha256:${sha256(hex())}`;
      print({ what: 'layer 1/2', phase: 'verify', bytes: 10, total: 2_000_000 });
      print({ what: 'layer 1/2', phase: 'done', bytes: 2_000_000, total: 2_000_000, digest });
      print({ what: 'layer 2/2', phase: 'present', bytes: 0, total: 512 });
      expect(text).toBe(`layer 1/2 ${digest.slice(7, 19)}: done (2.0 MB)\nlayer 2/2: already present (512 B)\n`);
    });
  });
});
