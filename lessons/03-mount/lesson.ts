/**
 * Lesson 03 as the TUI shows it: a root file system of its own, mount propagation, and why pivot_root
 * beats chroot. Run it with `npm run lesson 3` (add `-- --plain` for plain text).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LessonContext, LessonFactory, PaneRow } from '../../src/course/lesson.js';
import { isTodo } from '../../src/course/todo.js';
import { initBundle } from '../../src/build/bundle.js';
import { captureInContainer } from '../../src/container/runtime.js';
import { labStateDir } from '../../src/container/state.js';
import { processIsAlive, sharesOurRoot } from '../../src/sys/process.js';
import { runInside, startRootfsContainer, type RootfsContainer, type RootfsContainerOptions } from './containers.js';
import { busyboxImage, type Image } from './image.js';
import { parseMountinfo, propagationOf, type MountEntry } from './mount.js';
import { demonstratePropagation, type PropagationDemo } from './propagation.js';

/** One step of the lesson: what the student reads, and what it does to this run of the lesson. */
interface Step {
  title: string;
  narration: string;
  run(lab: MountLab): Promise<void>;
}

/** The lesson, step by step. Each step's work is the function named on its `run` line, below. */
const steps: Step[] = [
  {
    title: 'An image is a folder',
    narration:
      "The lab builds its default image from this machine's static BusyBox: one program that answers to hundreds of " +
      'names (ls, sh, mount …), a few folders, /etc/passwd and /etc/os-release. Built once, reproducibly, into the ' +
      "lab's state folder; every container will get its own copy of it as its \"/\".",
    run: buildImage,
  },
  {
    title: 'Propagation: without MS_PRIVATE a mount reaches the host',
    narration:
      'On systemd machines "/" is a shared mount, and a new mount namespace inherits that: mounts made under a shared ' +
      'mount propagate to its peers, the host included. To show it safely, the lab makes a throwaway "fake host" with one ' +
      'shared folder; the container copies its namespace (unshare(CLONE_NEWNS)) and mounts a tmpfs under that folder.',
    run: (lab) => showPropagation(lab, false),
  },
  {
    title: '…with MS_PRIVATE first, it stays inside',
    narration:
      'Same again, but the container first calls mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL): its copies of the ' +
      'mounts leave their peer groups ("shared:N" becomes "private"). Its tmpfs is now its own; the fake host sees nothing. ' +
      'This is the first thing every runtime does in a new mount namespace (runc: MS_SLAVE|MS_REC by default).',
    run: (lab) => showPropagation(lab, true),
  },
  {
    title: 'pivot_root: the image becomes "/"',
    narration:
      'A real container now: its own copy of the image, bound onto itself, /proc, a read-only /sys, a tmpfs /dev with six ' +
      'device nodes, the generated /etc/hostname, /etc/hosts and /etc/resolv.conf bound in — then pivot_root and the old root ' +
      "detached. The host wrote a marker into the copy after the start: it is there inside. The host's own file is not.",
    run: (lab) => lab.showContainer({ mode: 'pivot_root', args: ['sleep', 'infinity'] }),
  },
  {
    title: 'A mount made inside stays inside',
    narration:
      'Inside the container: mount -t tmpfs lab-inside /mnt. Its `mount` lists it; the host\'s mount table does not change ' +
      '(left: no lab mounts). Mounts live in a mount namespace, and this one is private.',
    run: mountInside,
  },
  {
    title: 'chroot: the same view from inside, the host still underneath',
    narration:
      'The same container with chroot(rootfs) instead of pivot_root. From inside it looks identical: ls /, mount, os-release. ' +
      "But only the process's root directory changed: the mount namespace still holds the host's whole tree (left: its " +
      'mount count), and `docker exec`-style entering lands on the host unless it chroots too (this lab does, like nsenter --root).',
    run: (lab) => lab.showContainer({ mode: 'chroot', args: ['sleep', 'infinity'] }),
  },
  {
    title: 'The chroot escape',
    narration:
      'Any process with CAP_SYS_CHROOT inside can do it: chroot("/tmp") WITHOUT chdir — the working directory is now outside ' +
      'the root — then chdir("..") again and again (".." stops only at the root, which is below us), then chroot("."). ' +
      "Init runs exactly that right before the command; the command then reads the host's file by its host path.",
    run: (lab) => tryEscape(lab, 'chroot'),
  },
  {
    title: 'The same escape after pivot_root: nowhere to go',
    narration:
      'The same three moves in a pivot_root container. The climb ends at the rootfs: the host\'s root was detached from the ' +
      'namespace (umount2(MNT_DETACH)), so there is no "above" any more. That is why runc uses pivot_root, and falls back to ' +
      'chroot only where pivot_root cannot work (a ramfs root: Docker\'s DOCKER_RAMDISK).',
    run: (lab) => tryEscape(lab, 'pivot_root'),
  },
  {
    title: 'docker run --read-only',
    narration:
      'After the switch, init remounts "/" read-only: mount(NULL, "/", NULL, MS_BIND|MS_REMOUNT|MS_RDONLY). The image cannot ' +
      'be changed from inside; /dev, /dev/shm and /proc are separate mounts and stay as they were.',
    run: readOnlyRoot,
  },
  {
    title: 'When the container goes, everything it mounted goes',
    narration:
      "The container is killed. Its mounts were in its mount namespace, and a namespace lives only as long as something " +
      'uses it: the kernel unmounts everything with it (after Ctrl-C or kill -9 of the runtime too). The rootfs copy is a ' +
      'folder, not a mount: the lab removes it (and, after a kill -9, the next start does).',
    run: killAndLookForMounts,
  },
];

const lesson: LessonFactory = (context) => ({
  number: 3,
  slug: '03-mount',
  title: 'Mount namespace — a root file system of its own',
  async start() {
    const lab = await MountLab.open(context);
    return {
      steps: steps.map((step) => ({ title: step.title, narration: step.narration, run: () => step.run(lab) })),
      async snapshot() {
        return { host: await hostRows(lab), container: await containerRows(lab) };
      },
      shell() {
        const { scene, bundleFile } = lab;
        if (scene?.kind === 'propagation') {
          return {
            file: process.execPath,
            args: [bundleFile, 'enter', String(scene.demo.container.pid), 'sh'],
            banner: `A shell in the demo container's mount namespace. Try: grep ${path.basename(path.dirname(scene.demo.shared)).slice(0, 12)} /proc/self/mountinfo. Type exit to return.`,
          };
        }
        if (scene?.kind !== 'container') return null;
        const { current } = scene;
        return {
          file: process.execPath,
          args: [bundleFile, 'enter', String(current.container.pid), '/bin/sh'],
          banner:
            `A shell in the container (PID ${current.container.pid}, ${current.mode}). Try ls /, mount, cat /proc/self/mountinfo, ` +
            `cat ${lab.hostFile}. Type exit to return.`,
        };
      },
      close: () => lab.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

async function buildImage(lab: MountLab): Promise<void> {
  await lab.clear();
  const started = performance.now();
  const result = busyboxImage({ stateDir: lab.stateDir });
  lab.image = result.image;
  const ms = (performance.now() - started).toFixed(0);
  lab.scene = { kind: 'image', note: result.built ? `built now in ${ms} ms` : `already built (checked in ${ms} ms)` };
}

async function showPropagation(lab: MountLab, makePrivate: boolean): Promise<void> {
  await lab.clear();
  const demo = await demonstratePropagation({ makePrivate, bundle: lab.context.bundle, stateDir: lab.stateDir });
  lab.scene = { kind: 'propagation', demo, makePrivate };
}

async function mountInside(lab: MountLab): Promise<void> {
  if (lab.scene?.kind !== 'container' || lab.scene.current.mode !== 'pivot_root') await lab.showContainer({ mode: 'pivot_root', args: ['sleep', 'infinity'] });
  const { scene } = lab;
  if (scene?.kind !== 'container') return;
  const { stdout, exitCode } = await runInside(scene.current, 'mount -t tmpfs lab-inside /mnt && grep lab-inside /proc/mounts', lab.context.bundle);
  scene.note = exitCode === 0 ? `inside: ${stdout.trim()}  ·  on the host: ${shown(() => (hostMounts().some((entry) => entry.source === 'lab-inside') ? 'ALSO there' : 'not there'))}` : 'the mount failed inside';
}

/** The escape, run by init right before the command; the command reports where it ended up. */
async function tryEscape(lab: MountLab, mode: 'chroot' | 'pivot_root'): Promise<void> {
  await lab.showContainer({ mode, escape: true, args: lab.escapeReport });
  const { scene } = lab;
  if (scene?.kind !== 'container') return;
  if (mode === 'chroot') lab.escapes[0] = `chroot:     ${scene.output().split('\n')[0]}`;
  else lab.escapes[1] = `pivot_root: ${scene.output().split('\n')[0]}`;
}

async function readOnlyRoot(lab: MountLab): Promise<void> {
  await lab.showContainer({ mode: 'pivot_root', readonly: true, args: ['sleep', 'infinity'] });
  const { scene } = lab;
  if (scene?.kind !== 'container') return;
  // Only where the host's marker proves "/" is the container's copy (with --mine, a pivot_root
  // that does nothing would leave "/" the host's, and the writes must not land there).
  const script = `if test -e /${scene.marker}; then touch /new-file 2>&1; touch /dev/shm/new-file && echo "touch /dev/shm/new-file: ok"; else echo "/ is not the container's copy of the image: nothing written"; fi`;
  const { stdout } = await runInside(scene.current, script, lab.context.bundle);
  scene.note = stdout.trim().split('\n').join('  ·  ');
}

async function killAndLookForMounts(lab: MountLab): Promise<void> {
  if (lab.scene?.kind !== 'container') await lab.showContainer({ mode: 'pivot_root', args: ['sleep', 'infinity'] });
  const { scene } = lab;
  if (scene?.kind !== 'container') return;
  const { current } = scene;
  const namespace = readlinkSync(`/proc/${current.container.pid}/ns/mnt`);
  await lab.clear();
  const users = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((name) => {
    try {
      return readlinkSync(`/proc/${name}/ns/mnt`) === namespace;
    } catch {
      return false;
    }
  });
  lab.scene = {
    kind: 'gone',
    note: `${namespace}: ${users.length === 0 ? 'no process left in it, so it is gone with its mounts' : `still used by ${users.join(', ')}`}\n` +
      `${current.dir.rootfs}: ${existsSync(current.dir.path) ? 'still there' : 'removed'}`,
  };
}

// ---------------------------------------------------------------------------------------------------
// What one run of the lesson holds: a file only the host has, the image, what the panes show

/** What the panes are showing: nothing yet, the image, the propagation demo, or a container. */
type Scene =
  | { kind: 'image'; note: string }
  | { kind: 'propagation'; demo: PropagationDemo; makePrivate: boolean }
  | { kind: 'container'; current: RootfsContainer; marker: string; output: () => string; note: string }
  | { kind: 'gone'; note: string };

class MountLab {
  image: Image | undefined;
  scene: Scene | undefined;
  /** What the two escape steps found, one line each. */
  readonly escapes: string[] = [];
  /** The escape, run by init right before this command; the command reports where it ended up. */
  readonly escapeReport: string[];

  private constructor(
    readonly context: LessonContext,
    readonly stateDir: string,
    readonly bundleFile: string,
    /** A folder only the host has, with a file the container must not be able to read (until the chroot escape does). */
    readonly hostDir: string,
    readonly hostFile: string,
  ) {
    this.escapeReport = ['sh', '-c', `cat ${hostFile} 2>&1; echo "ls / now shows: $(ls / | tr '\\n' ' ')"; echo @@done; exec sleep infinity`];
  }

  static async open(context: LessonContext): Promise<MountLab> {
    const stateDir = labStateDir();
    const bundleFile = await initBundle(context.bundle);
    // A file only the host has: the container must not be able to read it (until the chroot escape does).
    removeAbandonedHostDirs();
    const hostDir = mkdtempSync(path.join(tmpdir(), `lab03-host-${process.pid}-`));
    const hostFile = path.join(hostDir, 'host-only.txt');
    const hostSecret = `host secret ${randomBytes(4).toString('hex')}`;
    writeFileSync(hostFile, `${hostSecret}\n`);
    return new MountLab(context, stateDir, bundleFile, hostDir, hostFile);
  }

  /** Ends what the panes show: the propagation demo or the container. */
  async clear(): Promise<void> {
    const previous = this.scene;
    this.scene = undefined;
    if (previous?.kind === 'propagation') await previous.demo.close();
    if (previous?.kind === 'container') await previous.current.destroy();
  }

  ensureImage(): Image {
    this.image ??= busyboxImage({ stateDir: this.stateDir }).image;
    return this.image;
  }

  /** Starts a container and writes a marker into its rootfs copy FROM THE HOST, after it started. */
  async showContainer(options: Omit<RootfsContainerOptions, 'image' | 'bundle' | 'stateDir' | 'registry'>): Promise<void> {
    await this.clear();
    const current = await startRootfsContainer({ ...options, image: this.ensureImage(), registry: this.context.registry, bundle: this.context.bundle, stateDir: this.stateDir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    current.container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    current.container.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const marker = `lab-marker-${randomBytes(3).toString('hex')}`;
    writeFileSync(path.join(current.dir.rootfs, marker), `${marker}: written by the host into ${current.dir.rootfs}\n`);
    this.scene = { kind: 'container', current, marker, output: () => output, note: '' };
    // The escape steps' commands print, then sleep: wait for their report.
    for (let waited = 0; waited < 3000 && !output.includes('@@done') && options.args[0] !== 'sleep'; waited += 50) await settle(50);
  }

  async close(): Promise<void> {
    await this.clear();
    rmSync(this.hostDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------
// What the panes show

async function hostRows(lab: MountLab): Promise<PaneRow[]> {
  const rows: PaneRow[] = [
    { label: 'mount table', value: shown(() => `${hostMounts().length} mounts`), source: 'wc -l /proc/self/mountinfo' },
    { label: 'lab mounts on the host', value: shown(() => labMountsOnHost(lab.stateDir)), source: `grep ${lab.stateDir} /proc/self/mountinfo` },
    { label: 'propagation of /', value: shown(describeRootPropagation), source: 'findmnt -o TARGET,PROPAGATION /' },
  ];
  const { scene, image } = lab;
  if (!scene) return rows;
  if (scene.kind === 'image' && image) {
    rows.push(
      { label: 'image', value: `busybox ${image.id.slice(7, 19)} · ${image.files} entries · ${(image.bytes / 1e6).toFixed(1)} MB · ${scene.note}`, source: `cat ${path.dirname(image.rootfs)}/image.json` },
      { label: 'its folder', value: `${image.rootfs}\n${listing(image.rootfs)}`, source: `ls ${image.rootfs}` },
      {
        label: 'bin/ls is',
        value: `bin/busybox: the same file (inode ${statSync(path.join(image.rootfs, 'bin/ls')).ino}), one of its ${statSync(path.join(image.rootfs, 'bin/busybox')).nlink} names`,
        source: `ls -li ${image.rootfs}/bin/ls ${image.rootfs}/bin/busybox`,
      },
    );
  } else if (scene.kind === 'propagation') {
    const { demo } = scene;
    const base = path.dirname(demo.shared);
    rows.push(
      { label: `fake host (PID ${demo.fakeHost.pid})`, value: shown(() => describeMounts(demo.mountsSeenBy(demo.fakeHost.pid), base)), source: `grep shared /proc/${demo.fakeHost.pid}/mountinfo` },
      { label: 'did the mount leak?', value: shown(() => (demo.leaked() ? `YES: ${path.basename(demo.shared)}/inner is mounted in the fake host too` : 'no: the fake host has only its own shared mount')) },
      { label: 'the real host', value: shown(() => describeMounts(demo.mountsSeenBy('self'), base)), source: 'grep shared /proc/self/mountinfo' },
    );
  } else if (scene.kind === 'container') {
    const { current } = scene;
    const pid = current.container.pid;
    // Entering only the mount namespace (no chroot) shows its whole mount table.
    // Into the namespace but not into its root (nsenter -m): its whole mount table, host tree included.
    const table = await captureInContainer(pid, ['sh', '-c', 'wc -l < /proc/self/mountinfo'], lab.context.bundle, { intoRoot: false }).catch(() => null);
    rows.push(
      { label: "container's rootfs", value: `${current.dir.rootfs}\n${listing(current.dir.rootfs)}`, source: `ls ${current.dir.rootfs}` },
      { label: 'image copied in', value: `${current.copyMs.toFixed(0)} ms (cp -a; lesson 05's overlayfs makes this copy unnecessary)` },
      {
        label: 'its mount namespace',
        value: `${table?.stdout.trim() ?? '?'} mounts ${current.mode === 'chroot' ? '(the host\'s tree is still in it)' : '(only the container\'s)'}`,
        source: `nsenter -t ${pid} -m cat /proc/self/mountinfo | wc -l`,
      },
      { label: 'a file only the host has', value: lab.hostFile, source: `cat ${lab.hostFile}` },
    );
    if (lab.escapes.length) rows.push({ label: 'escape results', value: lab.escapes.join('\n') });
    if (scene.note) rows.push({ label: 'last result', value: scene.note });
  } else if (scene.kind === 'gone') {
    rows.push({ label: 'last result', value: scene.note });
  }
  return rows;
}

async function containerRows(lab: MountLab): Promise<PaneRow[]> {
  const { scene } = lab;
  if (!scene || scene.kind === 'image' || scene.kind === 'gone') return [{ label: 'container', value: '(none running)' }];
  if (scene.kind === 'propagation') {
    const { demo } = scene;
    return [
      {
        label: `container (PID ${demo.container.pid})`,
        value: `unshare(CLONE_NEWNS)${scene.makePrivate ? ', mount("/", MS_REC|MS_PRIVATE)' : ''}, mount tmpfs on …/inner`,
      },
      { label: 'its view', value: shown(() => describeMounts(demo.mountsSeenBy(demo.container.pid), path.dirname(demo.shared))), source: `grep shared /proc/${demo.container.pid}/mountinfo` },
    ];
  }
  const { current, marker } = scene;
  const ownOutput = scene.output().replace('@@done\n', '').trimEnd();
  // After a successful escape the command's "/" is the host's: anything run "inside" would run on the
  // host, so the lab shows what the command itself reported and runs nothing more in it.
  if (sharesOurRoot(current.container.pid)) {
    return [
      { label: "the command's own output", value: ownOutput },
      { label: 'its "/"', value: `the host's (the same directory as the lab's own "/"): nothing more is run in it`, source: `stat -L /proc/${current.container.pid}/root /` },
    ];
  }
  const parts = await inside(current, ['ls /', 'grep PRETTY_NAME /etc/os-release', 'cat /etc/hostname', 'mount', `cat /${marker} 2>&1`, `cat ${lab.hostFile} 2>&1`, 'ls -l /dev/null'], lab.context);
  if (typeof parts === 'string') return [{ label: 'error', value: parts }];
  const [ls = '', os = '', name = '', mounts = '', markerText = '', hostText = '', devNull = ''] = parts;
  const rows: PaneRow[] = [];
  if (ownOutput) rows.push({ label: "the command's own output", value: ownOutput });
  rows.push(
    { label: 'ls /', value: ls.split('\n').join(' '), source: 'ls /' },
    { label: 'os-release', value: os, source: 'grep PRETTY_NAME /etc/os-release' },
    { label: '/etc/hostname', value: name, source: 'cat /etc/hostname' },
    { label: 'mounts', value: firstLines(mounts, 12), source: 'mount' },
    { label: 'the host\'s marker', value: markerText, source: `cat /${marker}` },
    { label: 'the host-only file', value: hostText, source: `cat ${lab.hostFile}` },
    { label: '/dev/null', value: devNull, source: 'ls -l /dev/null' },
  );
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// Helpers

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function hostMounts(): MountEntry[] {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
}

/**
 * A row's value computed with lesson code that may not be written yet (with --mine): an unfinished
 * exercise shows its TODO in that row instead of stopping the lesson.
 */
function shown(compute: () => string): string {
  try {
    return compute();
  } catch (error) {
    return isTodo(error) ? `(exercise ${error.exercise} is not done yet: npm run hint 3)` : `(${(error as Error).message})`;
  }
}

/** The host's mounts at or under the lab's state folder: there should never be any. */
function labMountsOnHost(stateDir: string): string {
  const lab = hostMounts().filter((entry) => entry.mountPoint.startsWith(`${stateDir}/`));
  return lab.length === 0 ? '(none)' : lab.map((entry) => `${entry.mountPoint} ${entry.fsType}`).join('\n');
}

function describeRootPropagation(): string {
  const root = hostMounts().find((entry) => entry.mountPoint === '/');
  if (!root) return '?';
  return root.propagation.length
    ? `${propagationOf(root)} (systemd's default: a mount under it in a copied namespace would reach the host)`
    : 'private (not systemd\'s default: nothing could leak here, so step 2 brings a shared "fake host")';
}

/** "a b c" for the names in a folder, cut short. */
function listing(dir: string, count = 16): string {
  const names = readdirSync(dir).sort();
  return names.length <= count ? names.join(' ') : `${names.slice(0, count).join(' ')} … (${names.length} in all)`;
}

function describeMounts(entries: MountEntry[], base: string): string {
  if (entries.length === 0) return '(none)';
  return entries.map((entry) => `…${entry.mountPoint.slice(base.length)}  ${entry.fsType}  ${propagationOf(entry)}`).join('\n');
}

/** A run killed with SIGKILL leaves its /tmp folder behind: remove those whose process is gone. */
function removeAbandonedHostDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const owner = /^lab03-host-(\d+)-/.exec(name)?.[1];
    if (owner && !processIsAlive(Number(owner))) rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
  }
}

/** Long listings (the host's mounts, seen by an escaped process) are cut short. */
function firstLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : [...lines.slice(0, count), `… and ${lines.length - count} more`].join('\n');
}

/** Pieces of one `sh -c` run inside, split on "@@" lines. */
async function inside(current: RootfsContainer, scripts: string[], context: LessonContext): Promise<string[] | string> {
  const { stdout, stderr, exitCode } = await runInside(current, scripts.join('; echo @@; '), context.bundle);
  if (exitCode !== 0 && !stdout) return `could not look inside (exit ${exitCode}): ${stderr.trim()}`;
  return stdout.split('@@\n').map((part) => part.trimEnd());
}
