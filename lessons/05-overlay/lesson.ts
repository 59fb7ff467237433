/**
 * Lesson 05 as the TUI shows it: an image as read-only layers, a container as one thin writable layer
 * on top, and what Docker builds on that: diff, commit, build. Run it with `npm run lesson 5`
 * (add `-- --plain` for plain text).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LessonContext, LessonFactory, PaneRow } from '../../src/course/lesson.js';
import { initBundle } from '../../src/build/bundle.js';
import { captureInContainer } from '../../src/container/runtime.js';
import { labStateDir } from '../../src/container/state.js';
import { linuxSyscalls } from '../../src/sys/index.js';
import { sharesOurRoot } from '../../src/sys/process.js';
import {
  buildImage, commitContainer, containerDiff, defaultImage, largeImage, measureStart, median, startOverlayContainer,
  type OverlayContainer,
} from './containers.js';
import { shortDigest } from './oci.js';
import { OPAQUE_XATTR, type Change } from './overlay.js';
import { formatBytes } from './progress.js';
import { openImageStore, removeImage, verifyLayer, type ImageStore, type StoredImage } from './store.js';
import { pullImage } from './registry.js';
import { serveStore } from './registry-server.js';

/** One step of the lesson: what the student reads, and what it does to this run of the lesson. */
interface Step {
  title: string;
  narration: string;
  run(session: OverlaySession): Promise<void>;
}

/** The lesson, step by step. Each step's work is the function named on its `run` line, below. */
const steps: Step[] = [
  {
    title: 'An image is a stack of read-only layers',
    narration:
      "The lab's image store — Docker's Graph — keeps images as OCI manifests and configs (JSON, named by their SHA-256) " +
      "and layers, each extracted once into a folder named by its diff_id. Lesson 03's BusyBox folder goes in the way " +
      '`docker import` takes an exported root file system: packed as a tar, it becomes a one-layer image.',
    run: importBaseImage,
  },
  {
    title: 'A container is one mount: lowerdir + upperdir + workdir',
    narration:
      "No copy this time. The container's folder gets an empty upper/ (its own layer) and work/, and init mounts overlayfs " +
      "in the container's mount namespace — lowerdir = the image's layers, topmost first — before lesson 03's rootfs step " +
      'pivots into it. On the host, rootfs/ stays an empty folder: the merged view exists only inside.',
    run: startOneContainer,
  },
  {
    title: 'Writes go up: new files, and copy-up',
    narration:
      "Inside: a new file, 3 MB of random bytes, and one line appended to /etc/passwd. Everything lands in upper/ — /etc/passwd " +
      "was first copied up whole from the layer, then changed. The image's layer is untouched: its tree digest, taken when it " +
      'was extracted, is recomputed and still matches.',
    run: writeInside,
  },
  {
    title: 'Deleting an image file leaves a whiteout',
    narration:
      'rm /etc/os-release cannot touch the read-only layer, so overlayfs records the deletion in upper/: a character device ' +
      'with device number 0/0 (c--------- 0,0), a "whiteout", that hides the name in every layer below. rm -r /usr/sbin then ' +
      'mkdir /usr/sbin gives an "opaque" folder instead: the xattr trusted.overlay.opaque="y" hides all the layers\' contents of it.',
    run: deleteInside,
  },
  {
    title: 'docker diff: the upper folder IS the difference',
    narration:
      'Every entry of upper/ is one change: a whiteout is D (deleted), anything the image also has is C (changed), the rest ' +
      'is A (added). An opaque folder hides every name the image had below it: those are D too, though no whiteout says so.',
    run: showDiff,
  },
  {
    title: 'Two containers, one image: the second costs an empty folder',
    narration:
      'A second container of the same image: same lowerdir, its own empty upper/. The layer is on disk once, whatever the ' +
      'number of containers; each pays only for what it writes. Both even see the same inode for a file neither changed.',
    run: startSecondContainer,
  },
  {
    title: 'docker commit: the container layer becomes an image layer',
    narration:
      "The first container is stopped and its upper/ packed as an OCI layer tar: the whiteout becomes an empty file " +
      "etc/.wh.os-release, the opaque folder gets usr/sbin/.wh..wh..opq. The new image = busybox's layer + this one. Extracted " +
      'into the store, the markers turn back into overlayfs form. A container of the new image sees the changes.',
    run: commitFirstContainer,
  },
  {
    title: 'docker build: one layer per RUN step',
    narration:
      'Each RUN step runs in a container of the previous step\'s image, and its upper/ becomes the next layer. Step 1 writes ' +
      '/etc/motd; step 2 deletes it and writes /greeting — so layer 3 holds a whiteout hiding layer 2\'s file. Three layers, ' +
      'and the mount inside lists them topmost first.',
    run: buildTwoSteps,
  },
  {
    title: 'Starting a container does not copy the image',
    narration:
      'The same start, timed, for the 2 MB busybox image and for one with a 200 MB layer on top (built now by a RUN step: ' +
      'dd from /dev/urandom). The times are the same: three empty folders and one mount(2). Copying the image, as lesson 03 ' +
      'did, grows with its size.',
    run: timeStarts,
  },
  {
    title: 'docker pull: the HTTP exchange with a registry',
    narration:
      'A registry on 127.0.0.1 (registry-server.ts) serves busybox:latest from the store; a pull into a scratch store talks to it ' +
      'as Docker does: /v2/ answers 401 with a Bearer challenge, a token comes from the realm, then the manifest by tag and ' +
      'each blob by digest. Every blob goes through verifyingStream (your exercise) into downloads/, and into the store only ' +
      'once its size and SHA-256 are right.',
    run: pullFromRegistry,
  },
  {
    title: 'kill -9: nothing is left mounted',
    narration:
      "The container is killed with SIGKILL. Its overlay mount was in its mount namespace; with the namespace's last process " +
      'gone, the kernel unmounts it. No process on the machine has it in its mount table; the lab then removes the folder.',
    run: killAndLookForMounts,
  },
];

const lesson: LessonFactory = (context) => ({
  number: 5,
  slug: '05-overlay',
  title: 'OverlayFS — images as read-only layers, containers as a thin writable layer',
  async start() {
    const session = await OverlaySession.open(context);
    return {
      steps: steps.map((step) => ({ title: step.title, narration: step.narration, run: () => step.run(session) })),
      async snapshot() {
        return { host: await hostRows(session), container: await containerRows(session) };
      },
      shell() {
        const current = containersOf(session.scene).at(-1);
        if (!current) return null;
        return {
          file: process.execPath,
          args: [session.bundleFile, 'enter', String(current.container.pid)],
          banner: `A shell in the container (PID ${current.container.pid}); its layer is ${current.dir.upper} on the host. Try: echo hi > /x, rm /bin/vi, then look at the host pane. Type exit to return.`,
        };
      },
      close: () => session.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

async function importBaseImage(session: OverlaySession): Promise<void> {
  await session.clear();
  await session.ensureBase();
  session.scene = { kind: 'image' };
}

async function startOneContainer(session: OverlaySession): Promise<void> {
  await session.clear();
  await session.containerScene();
}

async function writeInside(session: OverlaySession): Promise<void> {
  const current = await session.containerScene();
  await session.inside(current.current, "echo 'written by the container' > /hello.txt && dd if=/dev/urandom of=/data.bin bs=1M count=3 2>/dev/null && echo 'lab:x:1000:1000::/home:/bin/sh' >> /etc/passwd");
  current.note = '';
}

async function deleteInside(session: OverlaySession): Promise<void> {
  const current = await session.containerScene();
  await session.inside(current.current, 'rm /etc/os-release && rm -r /usr/sbin && mkdir /usr/sbin');
  const { upper } = current.current.dir;
  const whiteout = run('stat', ['-c', '%A %F, device %t,%T', path.join(upper, 'etc/os-release')]);
  const opaque = linuxSyscalls().lgetxattr(path.join(upper, 'usr/sbin'), OPAQUE_XATTR);
  const lower = path.join(session.base!.layers[0]!.dir, 'etc/os-release');
  current.note =
    `stat upper/etc/os-release: ${whiteout}\n` +
    `getfattr -n ${OPAQUE_XATTR} upper/usr/sbin: ${opaque === null ? '(none)' : `"${opaque}"`}\n` +
    `the layer's etc/os-release: ${existsSync(lower) ? `still there, ${lstatSync(lower).size} bytes` : 'MISSING'}`;
}

async function showDiff(session: OverlaySession): Promise<void> {
  const current = await session.containerScene();
  current.note = `docker diff:\n${describeChanges(containerDiff(current.current.dir))}`;
}

async function startSecondContainer(session: OverlaySession): Promise<void> {
  const current = await session.containerScene();
  const second = await session.start(session.base!);
  session.scene = { kind: 'two', first: current.current, second };
}

async function commitFirstContainer(session: OverlaySession): Promise<void> {
  const previous = session.scene;
  if (previous?.kind !== 'two' && previous?.kind !== 'container') throw new Error('run the previous steps first');
  const source = previous.kind === 'two' ? previous.first : previous.current;
  if (previous.kind === 'two') await previous.second.destroy();
  session.scene = undefined;
  source.container.kill('SIGKILL');
  await source.container.wait();
  const reference = `lab05/committed:${session.tag}`;
  const started = performance.now();
  const image = await commitContainer(session.store, source.dir, { reference, createdBy: 'docker commit (lesson 05)' });
  session.made.push(reference);
  await source.destroy();
  session.scene = { kind: 'derived', current: await session.start(image), image, note: `committed in ${(performance.now() - started).toFixed(0)} ms` };
}

async function buildTwoSteps(session: OverlaySession): Promise<void> {
  await session.clear();
  const reference = `lab05/built:${session.tag}`;
  const started = performance.now();
  const image = await buildImage(
    session.store,
    await session.ensureBase(),
    ["echo 'written by RUN step 1' > /etc/motd", "rm /etc/motd && echo 'RUN step 2 deleted /etc/motd and wrote this' > /greeting"],
    reference,
    { registry: session.context.registry, bundle: session.context.bundle },
  );
  session.made.push(reference);
  session.scene = { kind: 'derived', current: await session.start(image), image, note: `built in ${(performance.now() - started).toFixed(0)} ms` };
}

async function timeStarts(session: OverlaySession): Promise<void> {
  await session.clear();
  const { store, context } = session;
  const small = await session.ensureBase();
  const built = performance.now();
  const { image: large, built: wasBuilt } = await largeImage(store, small, 200, { registry: context.registry, bundle: context.bundle });
  if (wasBuilt) session.made.push(large.reference!);
  const lines = [wasBuilt ? `(built ${large.reference} in ${((performance.now() - built) / 1000).toFixed(1)} s)` : ''];
  for (const { image, startMs, copyMs } of await measureStart(store, [small, large], 3, { registry: context.registry, bundle: context.bundle })) {
    const size = image.layers.reduce((sum, layer) => sum + layer.size, 0);
    lines.push(`${(image.reference ?? '').padEnd(22)} ${formatBytes(size).padStart(9)}: start ${median(startMs).toFixed(0)} ms · a copy: ${copyMs.toFixed(0)} ms`);
  }
  session.scene = { kind: 'latency', current: await session.start(large), lines: lines.filter(Boolean) };
}

async function pullFromRegistry(session: OverlaySession): Promise<void> {
  await session.clear();
  const { store } = session;
  const image = await session.ensureBase();
  if (image.manifest.layers.some((layer) => !existsSync(path.join(store.root, 'blobs/sha256', layer.digest.slice(7))))) {
    throw new Error(`${image.reference} was imported before the store kept layer blobs: remove it (npx tsx lessons/05-overlay/images.ts rm ${image.reference}) and run the lesson again`);
  }
  const registry = await serveStore(store, { 'library/busybox': image.reference ?? 'busybox:latest' });
  const scratch = mkdtempSync(path.join(tmpdir(), 'lab05-pull-'));
  const exchange: string[] = [];
  const progress: string[] = [];
  try {
    const pulled = await pullImage(openImageStore(scratch), `${registry.host}/library/busybox:latest`, {
      trace: (line) => exchange.push(line),
      onEvent: (event) => {
        if (event.current === undefined) progress.push(event.id ? `${event.id}: ${event.status}` : event.status);
      },
    });
    const scratchStore = path.join(scratch, 'images');
    session.scene = {
      kind: 'pull',
      exchange,
      progress,
      stored: `image ID ${shortDigest(pulled.image.id)} — the same as the original's (${shortDigest(image.id)})\n` +
        `blobs/sha256/: ${readdirSync(path.join(scratchStore, 'blobs/sha256')).map((hex) => hex.slice(0, 12)).join(' ')}\n` +
        `downloads/: ${readdirSync(path.join(scratchStore, 'downloads')).length === 0 ? '(empty: every blob verified and moved in)' : readdirSync(path.join(scratchStore, 'downloads')).join(' ')}`,
    };
  } finally {
    await registry.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function killAndLookForMounts(session: OverlaySession): Promise<void> {
  const current = containersOf(session.scene).at(-1) ?? (await session.start(await session.ensureBase()));
  const upper = current.dir.upper;
  current.container.kill('SIGKILL');
  await current.container.wait();
  await session.clear();
  await current.destroy();
  const holders = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(upper);
    } catch {
      return false;
    }
  });
  session.scene = {
    kind: 'gone',
    note: `processes with the overlay in their mount table: ${holders.length === 0 ? 'none' : holders.join(', ')}\n` +
      `${session.short(path.dirname(upper))}: ${existsSync(path.dirname(upper)) ? 'still there' : 'removed'}`,
  };
}

// ---------------------------------------------------------------------------------------------------
// What one run of the lesson holds: the image store, the busybox image, what the panes show

/** What the panes show. */
type Scene =
  | { kind: 'image' }
  | { kind: 'container'; current: OverlayContainer; note: string }
  | { kind: 'two'; first: OverlayContainer; second: OverlayContainer }
  | { kind: 'derived'; current: OverlayContainer; image: StoredImage; note: string }
  | { kind: 'latency'; current: OverlayContainer; lines: string[] }
  | { kind: 'gone'; note: string }
  | { kind: 'pull'; exchange: string[]; progress: string[]; stored: string };

function containersOf(current: Scene | undefined): OverlayContainer[] {
  if (!current) return [];
  if (current.kind === 'two') return [current.first, current.second];
  if (current.kind === 'container' || current.kind === 'derived' || current.kind === 'latency') return [current.current];
  return [];
}

class OverlaySession {
  /** Images this session tags: removed on close. */
  readonly made: string[] = [];
  readonly tag = randomBytes(3).toString('hex');
  base: StoredImage | undefined;
  baseNote = '';
  scene: Scene | undefined;

  private constructor(
    readonly context: LessonContext,
    readonly stateDir: string,
    readonly bundleFile: string,
    readonly store: ImageStore,
  ) {}

  static async open(context: LessonContext): Promise<OverlaySession> {
    const stateDir = labStateDir();
    const bundleFile = await initBundle(context.bundle);
    return new OverlaySession(context, stateDir, bundleFile, openImageStore(stateDir));
  }

  /** Removes the containers on screen. */
  async clear(): Promise<void> {
    const previous = this.scene;
    this.scene = undefined;
    for (const container of containersOf(previous)) await container.destroy();
  }

  async ensureBase(): Promise<StoredImage> {
    if (this.base) return this.base;
    const started = performance.now();
    const result = await defaultImage(this.store);
    this.baseNote = `${result.imported ? 'imported now' : 'already in the store'} (${(performance.now() - started).toFixed(0)} ms)`;
    return (this.base = result.image);
  }

  async start(image: StoredImage): Promise<OverlayContainer> {
    return startOverlayContainer({ store: this.store, image, args: ['sleep', 'infinity'], registry: this.context.registry, bundle: this.context.bundle });
  }

  /** The current single container, started if the scene has none. */
  async containerScene(): Promise<Extract<Scene, { kind: 'container' }>> {
    if (this.scene?.kind === 'container') return this.scene;
    await this.clear();
    const current = await this.start(await this.ensureBase());
    const scene: Extract<Scene, { kind: 'container' }> = { kind: 'container', current, note: '' };
    this.scene = scene;
    return scene;
  }

  async inside(current: OverlayContainer, script: string): Promise<string> {
    // The steps below delete and write inside the container: never where its "/" is still the host's.
    if (sharesOurRoot(current.container.pid)) throw new Error(`the container's "/" is the host's: its root file system was not set up (check the overlay and rootfs steps)`);
    const { stdout, stderr } = await captureInContainer(current.container.pid, ['sh', '-c', script], this.context.bundle);
    return `${stdout}${stderr}`.trimEnd();
  }

  /** A path as the panes print it: the state folder as <state>, digests cut to 12 hex digits. */
  short(file: string): string {
    return file.replace(this.stateDir, '<state>').replace(/([a-f0-9]{12})[a-f0-9]{52}/g, '$1…');
  }

  async close(): Promise<void> {
    await this.clear();
    // The images this session made go; busybox:latest stays for next time.
    for (const reference of this.made.splice(0)) {
      try {
        removeImage(this.store, reference);
      } catch {
        // already gone
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// What the panes show

function imageRows(session: OverlaySession, image: StoredImage, label = 'image'): PaneRow[] {
  const layers = image.layers.map((layer, index) => `${index + 1}. ${shortDigest(layer.diffId)}  ${formatBytes(layer.size).padStart(8)}  ${image.config.history?.filter((entry) => !entry.empty_layer)[index]?.created_by ?? ''}`);
  return [
    {
      label,
      value: `${image.reference ?? image.digest}  manifest ${shortDigest(image.digest)}  image ID (config) ${shortDigest(image.id)}\nlayers, bottom first (config rootfs.diff_ids):\n${layers.join('\n')}`,
      source: `cat ${path.join(session.store.root, 'blobs/sha256', image.digest.slice(7))}`,
    },
  ];
}

function layerCheckRow(image: StoredImage): PaneRow {
  const results = image.layers.map((layer) => `${shortDigest(layer.diffId)} ${verifyLayer(layer).ok ? 'unchanged ✓' : 'CHANGED ✗'}`);
  return { label: 'image layers re-checked', value: `${results.join('  ')} (tree digest recomputed, compared with the one taken at extraction)` };
}

function containerFolderRows(session: OverlaySession, current: OverlayContainer, labelPrefix = ''): PaneRow[] {
  const { dir } = current;
  return [
    { label: `${labelPrefix}container folder`, value: `${session.short(dir.path)}/\n${readdirSync(dir.path).sort().join(' ')}`, source: `ls ${dir.path}` },
    { label: `${labelPrefix}upper/ (its layer)`, value: `${formatBytes(diskUsage(dir.upper))} on disk\n${listTree(dir.upper)}`, source: `ls -lR ${dir.upper}; du -sh ${dir.upper}` },
    {
      label: `${labelPrefix}rootfs/ on the host`,
      value: readdirSync(dir.rootfs).length === 0 ? 'empty: the overlay is mounted in the container\'s namespace only' : readdirSync(dir.rootfs).join(' '),
      source: `ls ${dir.rootfs}; nsenter -t ${current.container.pid} -m ls ${dir.rootfs}`,
    },
  ];
}

async function hostRows(session: OverlaySession): Promise<PaneRow[]> {
  const { base: image, scene } = session;
  const rows: PaneRow[] = [];
  if (!scene || !image) return [{ label: 'image store', value: '(nothing yet)' }];
  const labMounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(` ${session.stateDir}/`)).length;
  switch (scene.kind) {
    case 'image': {
      const layer = image.layers[0]!;
      rows.push(
        { label: 'image store', value: `${session.short(session.store.root)}/\n${readdirSync(session.store.root).sort().join(' ')}`, source: `ls ${session.store.root}` },
        ...imageRows(session, image, `busybox:latest, ${session.baseNote}`),
        { label: 'its one layer', value: `${session.short(layer.dir)}\n${readdirSync(layer.dir).sort().join(' ')}  (${layer.entries} entries)`, source: `ls ${layer.dir}` },
        { label: 'short link (l/)', value: `l/${layer.link} → ${session.short(path.relative(path.join(session.store.root, 'l'), layer.dir))}`, source: `ls -l ${path.join(session.store.root, 'l')}` },
      );
      break;
    }
    case 'container':
      rows.push(...containerFolderRows(session, scene.current), layerCheckRow(image));
      if (scene.note) rows.push({ label: 'last result', value: scene.note });
      break;
    case 'two': {
      const layerBytes = image.layers.reduce((sum, layer) => sum + diskUsage(layer.dir), 0);
      rows.push(
        { label: 'the image\'s layer (shared)', value: `${formatBytes(layerBytes)}, once, for both containers`, source: `du -sh ${image.layers[0]!.dir}` },
        { label: 'first container\'s upper/', value: `${formatBytes(diskUsage(scene.first.dir.upper))}: what it wrote`, source: `du -sh ${scene.first.dir.upper}` },
        { label: 'second container\'s upper/', value: `${formatBytes(diskUsage(scene.second.dir.upper))}: an empty folder`, source: `du -sh ${scene.second.dir.upper}` },
        { label: 'lesson 03\'s way', value: `a full copy per container: ${formatBytes(layerBytes)} each, written before the command can start` },
        {
          label: 'inode of etc/group in the layer',
          value: `${lstatSync(path.join(image.layers[0]!.dir, 'etc/group')).ino}: both containers report this number (right pane)`,
          source: `stat -c %i ${path.join(image.layers[0]!.dir, 'etc/group')}`,
        },
      );
      break;
    }
    case 'derived':
      rows.push(...imageRows(session, scene.image, scene.image.reference ?? 'new image'));
      rows.push({
        label: 'its top layer on disk',
        value: `${session.short(scene.image.layers.at(-1)!.dir)}\n${listTree(scene.image.layers.at(-1)!.dir)}`,
        source: `ls -lR ${scene.image.layers.at(-1)!.dir}`,
      });
      if (scene.note) rows.push({ label: 'last result', value: scene.note });
      break;
    case 'latency':
      rows.push({ label: 'start latency (median of 3)', value: scene.lines.join('\n'), source: 'npx tsx lessons/05-overlay/images.ts measure-start 200' });
      break;
    case 'gone':
      rows.push({ label: 'last result', value: scene.note });
      break;
    case 'pull':
      rows.push(
        { label: 'the HTTP exchange', value: scene.exchange.join('\n'), source: 'MINIDOCKER_REGISTRY_TRACE=1 npm run minidocker -- pull HOST/NAME:TAG' },
        { label: 'what `docker pull` prints', value: scene.progress.join('\n') },
        { label: 'in the scratch store', value: scene.stored },
      );
      break;
  }
  rows.push({ label: 'lab mounts on the host', value: labMounts === 0 ? '(none: every overlay lives in a container\'s mount namespace)' : `${labMounts}`, source: `grep ${session.stateDir} /proc/self/mountinfo` });
  return rows;
}

async function containerRows(session: OverlaySession): Promise<PaneRow[]> {
  const { scene } = session;
  const current = containersOf(scene).at(-1);
  if (!current) return [{ label: 'container', value: '(none running)' }];
  const script = ['ls /', 'grep "^overlay / " /proc/self/mounts', 'ls /etc', 'cat /hello.txt 2>&1', 'tail -n 1 /etc/passwd', 'ls /usr/sbin | wc -l', 'stat -c %i /etc/group'].join('; echo @@; ');
  const [ls = '', mount = '', etc = '', hello = '', passwd = '', sbin = '', inode = ''] = (await session.inside(current, script)).split('@@\n').map((part) => part.trimEnd());
  // "overlay / overlay OPTIONS 0 0": one option a line, each layer of lowerdir on its own line, paths shortened.
  const options = (mount.split(' ')[3] ?? '').split(',').flatMap((option) => {
    if (!option.startsWith('lowerdir=')) return [session.short(option)];
    return ['lowerdir= (topmost first)', ...option.slice('lowerdir='.length).split(':').map((dir) => `  ${session.short(dir)}`)];
  });
  const rows: PaneRow[] = [
    { label: 'ls /', value: ls.split('\n').join(' '), source: 'ls /' },
    { label: 'its "/"', value: `overlay, options:\n${options.join('\n')}`, source: 'mount | grep overlay' },
    { label: 'ls /etc', value: etc.split('\n').join(' '), source: 'ls /etc' },
    { label: '/hello.txt', value: hello, source: 'cat /hello.txt' },
    { label: 'last line of /etc/passwd', value: passwd, source: 'tail -n 1 /etc/passwd' },
    { label: 'names in /usr/sbin', value: sbin, source: 'ls /usr/sbin | wc -l' },
  ];
  if (scene?.kind === 'two') rows.push({ label: '/etc/group\'s inode', value: `${inode} (the second container; the first says ${(await session.inside(scene.first, 'stat -c %i /etc/group')).trim()})`, source: 'stat -c %i /etc/group' });
  if (scene?.kind === 'derived' || scene?.kind === 'latency') {
    rows.push({ label: 'files of its layers', value: await session.inside(current, 'ls -l /greeting /etc/motd /large.bin 2>&1; cat /greeting 2>/dev/null'), source: 'ls -l /greeting /etc/motd /large.bin' });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// Formatting

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trimEnd();
  } catch (error) {
    return `(${command} failed: ${(error as Error).message.split('\n')[0]})`;
  }
}

function firstLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : [...lines.slice(0, count), `… and ${lines.length - count} more`].join('\n');
}

/** `du -sh`, as a number of bytes on disk. */
function diskUsage(dir: string): number {
  return Number(run('du', ['-sk', dir]).split('\t')[0]) * 1024 || 0;
}

/** "drwxr-xr-x", "c---------": the mode column of `ls -l`. */
function modeString(stats: Stats): string {
  const type = stats.isDirectory() ? 'd' : stats.isSymbolicLink() ? 'l' : stats.isCharacterDevice() ? 'c' : stats.isBlockDevice() ? 'b' : '-';
  const bits = 'rwxrwxrwx'.split('').map((letter, index) => (stats.mode & (0o400 >> index) ? letter : '-')).join('');
  return `${type}${bits}`;
}

/** What `ls -lR` shows, one line per entry (a device shows its numbers, as ls does: "0, 0"). */
function listTree(dir: string, max = 14): string {
  const lines: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const stats = lstatSync(path.join(dir, relPath));
      const device = stats.isCharacterDevice() || stats.isBlockDevice();
      const size = device ? `${Math.floor(stats.rdev / 256)}, ${stats.rdev % 256}` : String(stats.size);
      const whiteout = device && stats.rdev === 0 ? '   ← a WHITEOUT' : '';
      lines.push(`${modeString(stats)} ${size.padStart(8)}  ${relPath}${whiteout}`);
      if (stats.isDirectory()) walk(relPath);
    }
  };
  walk('');
  return lines.length === 0 ? '(empty)' : firstLines(lines.join('\n'), max);
}

/** docker diff output, with what an opaque folder hid folded into one line. */
function describeChanges(changes: readonly Change[]): string {
  const lines: string[] = [];
  const folded = new Map<string, number>();
  for (const change of changes) {
    const parent = path.posix.dirname(change.path);
    const parentOpaque = change.kind === 'D' && changes.some((other) => other.path === parent && other.kind === 'C');
    if (parentOpaque && changes.filter((other) => other.kind === 'D' && path.posix.dirname(other.path) === parent).length > 3) {
      folded.set(parent, (folded.get(parent) ?? 0) + 1);
      continue;
    }
    lines.push(`${change.kind} ${change.path}`);
  }
  for (const [parent, count] of folded) lines.push(`D ${parent}/… (${count} names the image had there)`);
  return lines.join('\n') || '(no changes)';
}
