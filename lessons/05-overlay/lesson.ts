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

/** What the panes show. */
type Scene =
  | { kind: 'image' }
  | { kind: 'container'; current: OverlayContainer; note: string }
  | { kind: 'two'; first: OverlayContainer; second: OverlayContainer }
  | { kind: 'derived'; current: OverlayContainer; image: StoredImage; note: string }
  | { kind: 'latency'; current: OverlayContainer; lines: string[] }
  | { kind: 'gone'; note: string }
  | { kind: 'pull'; exchange: string[]; progress: string[]; stored: string };

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

const lesson: LessonFactory = (context) => ({
  number: 5,
  slug: '05-overlay',
  title: 'OverlayFS — images as read-only layers, containers as a thin writable layer',
  async start() {
    const stateDir = labStateDir();
    const bundleFile = await initBundle(context.bundle);
    const store: ImageStore = openImageStore(stateDir);
    const made: string[] = []; // images this session tags: removed on close
    let base: StoredImage | undefined;
    let baseNote = '';
    let scene: Scene | undefined;
    const tag = randomBytes(3).toString('hex');

    const containersOf = (current: Scene | undefined): OverlayContainer[] => {
      if (!current) return [];
      if (current.kind === 'two') return [current.first, current.second];
      if (current.kind === 'container' || current.kind === 'derived' || current.kind === 'latency') return [current.current];
      return [];
    };
    async function clear(): Promise<void> {
      const previous = scene;
      scene = undefined;
      for (const container of containersOf(previous)) await container.destroy();
    }
    async function ensureBase(): Promise<StoredImage> {
      if (base) return base;
      const started = performance.now();
      const result = await defaultImage(store);
      baseNote = `${result.imported ? 'imported now' : 'already in the store'} (${(performance.now() - started).toFixed(0)} ms)`;
      return (base = result.image);
    }
    async function start(image: StoredImage): Promise<OverlayContainer> {
      return startOverlayContainer({ store, image, args: ['sleep', 'infinity'], bundle: context.bundle });
    }
    /** The current single container, started if the scene has none. */
    async function containerScene(): Promise<Extract<Scene, { kind: 'container' }>> {
      if (scene?.kind === 'container') return scene;
      await clear();
      const current = await start(await ensureBase());
      scene = { kind: 'container', current, note: '' };
      return scene;
    }
    const inside = async (current: OverlayContainer, script: string) => {
      // The steps below delete and write inside the container: never where its "/" is still the host's.
      if (sharesOurRoot(current.container.pid)) throw new Error(`the container's "/" is the host's: its root file system was not set up (check the overlay and rootfs steps)`);
      const { stdout, stderr } = await captureInContainer(current.container.pid, ['sh', '-c', script], context.bundle);
      return `${stdout}${stderr}`.trimEnd();
    };
    const short = (file: string) => file.replace(stateDir, '<state>').replace(/([a-f0-9]{12})[a-f0-9]{52}/g, '$1…');

    function imageRows(image: StoredImage, label = 'image'): PaneRow[] {
      const layers = image.layers.map((layer, index) => `${index + 1}. ${shortDigest(layer.diffId)}  ${formatBytes(layer.size).padStart(8)}  ${image.config.history?.filter((entry) => !entry.empty_layer)[index]?.created_by ?? ''}`);
      return [
        {
          label,
          value: `${image.reference ?? image.digest}  manifest ${shortDigest(image.digest)}  image ID (config) ${shortDigest(image.id)}\nlayers, bottom first (config rootfs.diff_ids):\n${layers.join('\n')}`,
          source: `cat ${path.join(store.root, 'blobs/sha256', image.digest.slice(7))}`,
        },
      ];
    }

    function layerCheckRow(image: StoredImage): PaneRow {
      const results = image.layers.map((layer) => `${shortDigest(layer.diffId)} ${verifyLayer(layer).ok ? 'unchanged ✓' : 'CHANGED ✗'}`);
      return { label: 'image layers re-checked', value: `${results.join('  ')} (tree digest recomputed, compared with the one taken at extraction)` };
    }

    function containerFolderRows(current: OverlayContainer, labelPrefix = ''): PaneRow[] {
      const { dir } = current;
      return [
        { label: `${labelPrefix}container folder`, value: `${short(dir.path)}/\n${readdirSync(dir.path).sort().join(' ')}`, source: `ls ${dir.path}` },
        { label: `${labelPrefix}upper/ (its layer)`, value: `${formatBytes(diskUsage(dir.upper))} on disk\n${listTree(dir.upper)}`, source: `ls -lR ${dir.upper}; du -sh ${dir.upper}` },
        {
          label: `${labelPrefix}rootfs/ on the host`,
          value: readdirSync(dir.rootfs).length === 0 ? 'empty: the overlay is mounted in the container\'s namespace only' : readdirSync(dir.rootfs).join(' '),
          source: `ls ${dir.rootfs}; nsenter -t ${current.container.pid} -m ls ${dir.rootfs}`,
        },
      ];
    }

    async function hostRows(): Promise<PaneRow[]> {
      const image = base;
      const rows: PaneRow[] = [];
      if (!scene || !image) return [{ label: 'image store', value: '(nothing yet)' }];
      const labMounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => line.includes(` ${stateDir}/`)).length;
      switch (scene.kind) {
        case 'image': {
          const layer = image.layers[0]!;
          rows.push(
            { label: 'image store', value: `${short(store.root)}/\n${readdirSync(store.root).sort().join(' ')}`, source: `ls ${store.root}` },
            ...imageRows(image, `busybox:latest, ${baseNote}`),
            { label: 'its one layer', value: `${short(layer.dir)}\n${readdirSync(layer.dir).sort().join(' ')}  (${layer.entries} entries)`, source: `ls ${layer.dir}` },
            { label: 'short link (l/)', value: `l/${layer.link} → ${short(path.relative(path.join(store.root, 'l'), layer.dir))}`, source: `ls -l ${path.join(store.root, 'l')}` },
          );
          break;
        }
        case 'container':
          rows.push(...containerFolderRows(scene.current), layerCheckRow(image));
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
          rows.push(...imageRows(scene.image, scene.image.reference ?? 'new image'));
          rows.push({
            label: 'its top layer on disk',
            value: `${short(scene.image.layers.at(-1)!.dir)}\n${listTree(scene.image.layers.at(-1)!.dir)}`,
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
      rows.push({ label: 'lab mounts on the host', value: labMounts === 0 ? '(none: every overlay lives in a container\'s mount namespace)' : `${labMounts}`, source: `grep ${stateDir} /proc/self/mountinfo` });
      return rows;
    }

    async function containerRows(): Promise<PaneRow[]> {
      const current = containersOf(scene).at(-1);
      if (!current) return [{ label: 'container', value: '(none running)' }];
      const script = ['ls /', 'grep "^overlay / " /proc/self/mounts', 'ls /etc', 'cat /hello.txt 2>&1', 'tail -n 1 /etc/passwd', 'ls /usr/sbin | wc -l', 'stat -c %i /etc/group'].join('; echo @@; ');
      const [ls = '', mount = '', etc = '', hello = '', passwd = '', sbin = '', inode = ''] = (await inside(current, script)).split('@@\n').map((part) => part.trimEnd());
      // "overlay / overlay OPTIONS 0 0": one option a line, each layer of lowerdir on its own line, paths shortened.
      const options = (mount.split(' ')[3] ?? '').split(',').flatMap((option) => {
        if (!option.startsWith('lowerdir=')) return [short(option)];
        return ['lowerdir= (topmost first)', ...option.slice('lowerdir='.length).split(':').map((dir) => `  ${short(dir)}`)];
      });
      const rows: PaneRow[] = [
        { label: 'ls /', value: ls.split('\n').join(' '), source: 'ls /' },
        { label: 'its "/"', value: `overlay, options:\n${options.join('\n')}`, source: 'mount | grep overlay' },
        { label: 'ls /etc', value: etc.split('\n').join(' '), source: 'ls /etc' },
        { label: '/hello.txt', value: hello, source: 'cat /hello.txt' },
        { label: 'last line of /etc/passwd', value: passwd, source: 'tail -n 1 /etc/passwd' },
        { label: 'names in /usr/sbin', value: sbin, source: 'ls /usr/sbin | wc -l' },
      ];
      if (scene?.kind === 'two') rows.push({ label: '/etc/group\'s inode', value: `${inode} (the second container; the first says ${(await inside(scene.first, 'stat -c %i /etc/group')).trim()})`, source: 'stat -c %i /etc/group' });
      if (scene?.kind === 'derived' || scene?.kind === 'latency') {
        rows.push({ label: 'files of its layers', value: await inside(current, 'ls -l /greeting /etc/motd /large.bin 2>&1; cat /greeting 2>/dev/null'), source: 'ls -l /greeting /etc/motd /large.bin' });
      }
      return rows;
    }

    return {
      steps: [
        {
          title: 'An image is a stack of read-only layers',
          narration:
            "The lab's image store — Docker's Graph — keeps images as OCI manifests and configs (JSON, named by their SHA-256) " +
            "and layers, each extracted once into a folder named by its diff_id. Lesson 03's BusyBox folder goes in the way " +
            '`docker import` takes an exported root file system: packed as a tar, it becomes a one-layer image.',
          run: async () => {
            await clear();
            await ensureBase();
            scene = { kind: 'image' };
          },
        },
        {
          title: 'A container is one mount: lowerdir + upperdir + workdir',
          narration:
            "No copy this time. The container's folder gets an empty upper/ (its own layer) and work/, and init mounts overlayfs " +
            "in the container's mount namespace — lowerdir = the image's layers, topmost first — before lesson 03's rootfs step " +
            'pivots into it. On the host, rootfs/ stays an empty folder: the merged view exists only inside.',
          run: async () => {
            await clear();
            await containerScene();
          },
        },
        {
          title: 'Writes go up: new files, and copy-up',
          narration:
            "Inside: a new file, 3 MB of random bytes, and one line appended to /etc/passwd. Everything lands in upper/ — /etc/passwd " +
            "was first copied up whole from the layer, then changed. The image's layer is untouched: its tree digest, taken when it " +
            'was extracted, is recomputed and still matches.',
          run: async () => {
            const current = await containerScene();
            await inside(current.current, "echo 'written by the container' > /hello.txt && dd if=/dev/urandom of=/data.bin bs=1M count=3 2>/dev/null && echo 'lab:x:1000:1000::/home:/bin/sh' >> /etc/passwd");
            current.note = '';
          },
        },
        {
          title: 'Deleting an image file leaves a whiteout',
          narration:
            'rm /etc/os-release cannot touch the read-only layer, so overlayfs records the deletion in upper/: a character device ' +
            'with device number 0/0 (c--------- 0,0), a "whiteout", that hides the name in every layer below. rm -r /usr/sbin then ' +
            'mkdir /usr/sbin gives an "opaque" folder instead: the xattr trusted.overlay.opaque="y" hides all the layers\' contents of it.',
          run: async () => {
            const current = await containerScene();
            await inside(current.current, 'rm /etc/os-release && rm -r /usr/sbin && mkdir /usr/sbin');
            const { upper } = current.current.dir;
            const whiteout = run('stat', ['-c', '%A %F, device %t,%T', path.join(upper, 'etc/os-release')]);
            const opaque = linuxSyscalls().lgetxattr(path.join(upper, 'usr/sbin'), OPAQUE_XATTR);
            const lower = path.join(base!.layers[0]!.dir, 'etc/os-release');
            current.note =
              `stat upper/etc/os-release: ${whiteout}\n` +
              `getfattr -n ${OPAQUE_XATTR} upper/usr/sbin: ${opaque === null ? '(none)' : `"${opaque}"`}\n` +
              `the layer's etc/os-release: ${existsSync(lower) ? `still there, ${lstatSync(lower).size} bytes` : 'MISSING'}`;
          },
        },
        {
          title: 'docker diff: the upper folder IS the difference',
          narration:
            'Every entry of upper/ is one change: a whiteout is D (deleted), anything the image also has is C (changed), the rest ' +
            'is A (added). An opaque folder hides every name the image had below it: those are D too, though no whiteout says so.',
          run: async () => {
            const current = await containerScene();
            current.note = `docker diff:\n${describeChanges(containerDiff(current.current.dir))}`;
          },
        },
        {
          title: 'Two containers, one image: the second costs an empty folder',
          narration:
            'A second container of the same image: same lowerdir, its own empty upper/. The layer is on disk once, whatever the ' +
            'number of containers; each pays only for what it writes. Both even see the same inode for a file neither changed.',
          run: async () => {
            const current = await containerScene();
            const second = await start(base!);
            scene = { kind: 'two', first: current.current, second };
          },
        },
        {
          title: 'docker commit: the container layer becomes an image layer',
          narration:
            "The first container is stopped and its upper/ packed as an OCI layer tar: the whiteout becomes an empty file " +
            "etc/.wh.os-release, the opaque folder gets usr/sbin/.wh..wh..opq. The new image = busybox's layer + this one. Extracted " +
            'into the store, the markers turn back into overlayfs form. A container of the new image sees the changes.',
          run: async () => {
            const previous = scene;
            if (previous?.kind !== 'two' && previous?.kind !== 'container') throw new Error('run the previous steps first');
            const source = previous.kind === 'two' ? previous.first : previous.current;
            if (previous.kind === 'two') await previous.second.destroy();
            scene = undefined;
            source.container.kill('SIGKILL');
            await source.container.wait();
            const reference = `lab05/committed:${tag}`;
            const started = performance.now();
            const image = await commitContainer(store, source.dir, { reference, createdBy: 'docker commit (lesson 05)' });
            made.push(reference);
            await source.destroy();
            scene = { kind: 'derived', current: await start(image), image, note: `committed in ${(performance.now() - started).toFixed(0)} ms` };
          },
        },
        {
          title: 'docker build: one layer per RUN step',
          narration:
            'Each RUN step runs in a container of the previous step\'s image, and its upper/ becomes the next layer. Step 1 writes ' +
            '/etc/motd; step 2 deletes it and writes /greeting — so layer 3 holds a whiteout hiding layer 2\'s file. Three layers, ' +
            'and the mount inside lists them topmost first.',
          run: async () => {
            await clear();
            const reference = `lab05/built:${tag}`;
            const started = performance.now();
            const image = await buildImage(
              store,
              await ensureBase(),
              ["echo 'written by RUN step 1' > /etc/motd", "rm /etc/motd && echo 'RUN step 2 deleted /etc/motd and wrote this' > /greeting"],
              reference,
              { bundle: context.bundle },
            );
            made.push(reference);
            scene = { kind: 'derived', current: await start(image), image, note: `built in ${(performance.now() - started).toFixed(0)} ms` };
          },
        },
        {
          title: 'Starting a container does not copy the image',
          narration:
            'The same start, timed, for the 2 MB busybox image and for one with a 200 MB layer on top (built now by a RUN step: ' +
            'dd from /dev/urandom). The times are the same: three empty folders and one mount(2). Copying the image, as lesson 03 ' +
            'did, grows with its size.',
          run: async () => {
            await clear();
            const small = await ensureBase();
            const built = performance.now();
            const { image: large, built: wasBuilt } = await largeImage(store, small, 200, context.bundle);
            if (wasBuilt) made.push(large.reference!);
            const lines = [wasBuilt ? `(built ${large.reference} in ${((performance.now() - built) / 1000).toFixed(1)} s)` : ''];
            for (const { image, startMs, copyMs } of await measureStart(store, [small, large], 3, context.bundle)) {
              const size = image.layers.reduce((sum, layer) => sum + layer.size, 0);
              lines.push(`${(image.reference ?? '').padEnd(22)} ${formatBytes(size).padStart(9)}: start ${median(startMs).toFixed(0)} ms · a copy: ${copyMs.toFixed(0)} ms`);
            }
            scene = { kind: 'latency', current: await start(large), lines: lines.filter(Boolean) };
          },
        },
        {
          title: 'docker pull: the HTTP exchange with a registry',
          narration:
            'A registry on 127.0.0.1 (registry-server.ts) serves busybox:latest from the store; a pull into a scratch store talks to it ' +
            'as Docker does: /v2/ answers 401 with a Bearer challenge, a token comes from the realm, then the manifest by tag and ' +
            'each blob by digest. Every blob goes through verifyingStream (your exercise) into downloads/, and into the store only ' +
            'once its size and SHA-256 are right.',
          run: async () => {
            await clear();
            const image = await ensureBase();
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
              scene = {
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
          },
        },
        {
          title: 'kill -9: nothing is left mounted',
          narration:
            "The container is killed with SIGKILL. Its overlay mount was in its mount namespace; with the namespace's last process " +
            'gone, the kernel unmounts it. No process on the machine has it in its mount table; the lab then removes the folder.',
          run: async () => {
            const current = containersOf(scene).at(-1) ?? (await start(await ensureBase()));
            const upper = current.dir.upper;
            current.container.kill('SIGKILL');
            await current.container.wait();
            await clear();
            await current.destroy();
            const holders = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
              try {
                return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(upper);
              } catch {
                return false;
              }
            });
            scene = {
              kind: 'gone',
              note: `processes with the overlay in their mount table: ${holders.length === 0 ? 'none' : holders.join(', ')}\n` +
                `${short(path.dirname(upper))}: ${existsSync(path.dirname(upper)) ? 'still there' : 'removed'}`,
            };
          },
        },
      ],
      async snapshot() {
        return { host: await hostRows(), container: await containerRows() };
      },
      shell() {
        const current = containersOf(scene).at(-1);
        if (!current) return null;
        return {
          file: process.execPath,
          args: [bundleFile, 'enter', String(current.container.pid)],
          banner: `A shell in the container (PID ${current.container.pid}); its layer is ${current.dir.upper} on the host. Try: echo hi > /x, rm /bin/vi, then look at the host pane. Type exit to return.`,
        };
      },
      async close() {
        await clear();
        // The images this session made go; busybox:latest stays for next time.
        for (const reference of made.splice(0)) {
          try {
            removeImage(store, reference);
          } catch {
            // already gone
          }
        }
      },
    };
  },
});

export default lesson;
