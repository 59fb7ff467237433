/**
 * Lesson 03 graded checks: the container's own root file system, mount propagation, pivot_root vs chroot.
 * Expected values (markers, secrets, paths, sizes) are random on every run.
 *
 * Only mount.ts is the student's: it is imported through importLesson and runs inside the containers
 * (bundleUnderTest). The lab's machinery around it (the image, the container folders, the propagation
 * demonstration) is always the reference, and its own checks at the end are not graded.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import {
  appendFileSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync,
  rmdirSync, statSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { graded } from '../../src/course/grading.js';
// An independent mountinfo parser (the doctor's), so that checks of other exercises do not depend on the student's parser.
import { parseMountinfo as kernelMounts } from '../../src/sys/mountinfo.js';
import { captureInContainer } from '../../src/container/runtime.js';
import {
  MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_STRICTATIME, RecordingSyscalls, S_IFCHR,
} from '../../src/sys/index.js';
import { processIdentity } from '../../src/sys/process.js';
import type { SyscallRecord } from '../../src/sys/syscalls.js';
import { busyboxImage, findStaticBusybox, ImageBuildError, type Image } from '../../lessons/03-mount/image.js';
import {
  claimContainerDir, removeContainerDir, removeStaleContainerDirs, runInside, startRootfsContainer,
  type RootfsContainer, type RootfsContainerOptions,
} from '../../lessons/03-mount/containers.js';
import { demonstratePropagation, type PropagationDemo } from '../../lessons/03-mount/propagation.js';
import { bundleUnderTest, importLesson, registryUnderTest } from '../helpers/impl.js';
import { assertOwnRoot, describeAsRoot } from '../helpers/root.js';
import { eventually, isRunning } from '../helpers/processes.js';
import '../helpers/syscalls.js';

// The lessons' features as the implementation under test has them: host-side planning runs its code too.
const registry = await registryUnderTest();

const mount = await importLesson<typeof import('../../lessons/03-mount/mount.js')>('03-mount', 'mount.ts');

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hex = (bytes = 4) => randomBytes(bytes).toString('hex');

/** A temporary folder removed after `work`, whatever happens. */
function withTempDir<T>(prefix: string, work: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  try {
    return work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const hasStaticBusybox = (() => {
  try {
    findStaticBusybox();
    return true;
  } catch {
    return false;
  }
})();

describe('lesson 03 · the code, on its own', () => {
  graded('mount.private', 'makeMountsPrivate: one mount(2) call that makes "/" and everything under it private', () => {
    const sys = new RecordingSyscalls();
    mount.makeMountsPrivate(sys);
    expect(sys.calls).toMakeSyscalls([{ call: 'mount', args: [null, '/', null, MS_REC | MS_PRIVATE, null] }]);
  }, { requires: ['MS_REC | MS_PRIVATE', '"/"'] });

  graded('mount.bind', 'bindMount: a recursive bind of source onto target', () => {
    const source = `/var/lib/lab-${hex()}/rootfs`;
    const target = `/srv/lab-${hex()}`;
    const sys = new RecordingSyscalls();
    mount.bindMount(sys, source, target);
    expect(sys.calls).toMakeSyscalls([{ call: 'mount', args: [source, target, null, MS_BIND | MS_REC, null] }]);
  }, { requires: ['MS_BIND | MS_REC'] });

  graded('mount.kernel-fs', "mountKernelFilesystems: proc, a read-only sysfs and a tmpfs /dev, with runc's flags", () => {
    const rootfs = `/var/lib/lab-${hex()}/rootfs`;
    const sys = new RecordingSyscalls();
    mount.mountKernelFilesystems(sys, rootfs);
    expect(sys.calls).toMakeSyscalls([
      { call: 'mount', args: ['proc', `${rootfs}/proc`, 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, null] },
      { call: 'mount', args: ['sysfs', `${rootfs}/sys`, 'sysfs', MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null] },
      { call: 'mount', args: ['tmpfs', `${rootfs}/dev`, 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755,size=65536k'] },
    ]);
  }, { requires: ['MS_NOSUID|MS_NODEV|MS_NOEXEC', 'MS_RDONLY', 'MS_NOSUID|MS_STRICTATIME', 'mode=755,size=65536k'] });

  graded('mount.devices', 'createDeviceNodes: six character devices, mode 0666, made with the umask at 0 and restored after', () => {
    const dev = `/tmp/lab-${hex()}/dev`;
    const sys = new RecordingSyscalls();
    mount.createDeviceNodes(sys, dev);
    expect(sys.calls[0]).toEqual({ call: 'umask', args: [0] });
    expect(sys.calls.at(-1)).toEqual({ call: 'umask', args: [0o022] }); // what RecordingSyscalls said the old mask was
    const nodes = sys.argsOf('mknod').map(([file, mode, device]) => `${file} ${(mode as number).toString(8)} ${device}`);
    const expected = [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]].map(
      ([name, major, minor]) => `${dev}/${name} ${(S_IFCHR | 0o666).toString(8)} ${(major as number) * 256 + (minor as number)}`,
    );
    expect(nodes.sort()).toEqual(expected.sort());
    expect(sys.calls).toHaveLength(8);
  }, { requires: ['S_IFCHR', 'mode 0666', 'umask to 0', 'restore'] });

  it('makedev packs device numbers the way glibc does', () => {
    expect(mount.makedev(1, 3)).toBe(0x103);
    expect(mount.makedev(5, 0)).toBe(0x500);
    // Large numbers spill into the high bits (glibc's gnu_dev_makedev): minor 0x34567 → 0x67 low, 0x345 from bit 20 on.
    expect(mount.makedev(0x12, 0x34567)).toBe(0x67 + 0x12 * 2 ** 8 + 0x345 * 2 ** 20);
    expect(mount.makedev(0x1234, 0)).toBe(0x234 * 2 ** 8 + 0x1 * 2 ** 44);
  });

  graded('mount.pivot', 'pivotIntoRootfs: chdir in, pivot_root(".", "."), detach the old root, chdir("/")', () => {
    const rootfs = `/var/lib/lab-${hex()}/rootfs`;
    const sys = new RecordingSyscalls();
    mount.pivotIntoRootfs(sys, rootfs);
    expect(sys.calls).toMakeSyscalls([
      { call: 'chdir', args: [rootfs] },
      { call: 'pivotRoot', args: ['.', '.'] },
      { call: 'umount2', args: ['.', MNT_DETACH] },
      { call: 'chdir', args: ['/'] },
    ]);
  }, { requires: ['pivot_root(".", ".")', 'MNT_DETACH', 'move to the new "/"'] });

  /** What one of the student's functions asks for on its own; an unfinished one contributes what it did before throwing. */
  function callsOf(step: (sys: RecordingSyscalls) => void): SyscallRecord[] {
    const sys = new RecordingSyscalls();
    try {
      step(sys);
    } catch {
      // The step's own check reports it; here only its calls matter.
    }
    return sys.calls;
  }

  /**
   * The rootfs step's calls for a given config, on a real temporary folder (the step creates mount
   * points in it), and the sequence it should make. The expected sequence takes the parts made by the
   * OTHER exercises from the student's own functions: a wrong /dev flag fails mount.kernel-fs's check
   * alone, not this one too. Only the part of the exercise a check grades is spelled out.
   */
  function rootfsStepCalls(mode: 'pivot_root' | 'chroot', readonly: boolean, graded: 'mount.pivot' | 'mount.bind') {
    return withTempDir('lab03-unit-rootfs-', (rootfs) => {
      const state = `/var/lib/lab-${hex()}`;
      const files = ['hostname', 'hosts', 'resolv.conf'].map((name) => ({ source: `${state}/${name}`, destination: `/etc/${name}` }));
      const sys = new RecordingSyscalls();
      mount.setUpRootfs(sys, { rootfs, mode, readonly, files });
      const dev = `${rootfs}/dev`;
      const bind = (source: string, target: string): SyscallRecord[] =>
        graded === 'mount.bind'
          ? [{ call: 'mount', args: [source, target, null, MS_BIND | MS_REC, null] }]
          : callsOf((s) => mount.bindMount(s, source, target));
      const mounts: SyscallRecord[] = [
        ...callsOf((s) => mount.makeMountsPrivate(s)),
        ...bind(rootfs, rootfs),
        ...callsOf((s) => mount.mountKernelFilesystems(s, rootfs)),
        { call: 'mount', args: ['devpts', `${dev}/pts`, 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5'] },
        { call: 'mount', args: ['shm', `${dev}/shm`, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=65536k'] },
        ...callsOf((s) => mount.createDeviceNodes(s, dev)),
        ...files.flatMap((file) => bind(file.source, `${rootfs}${file.destination}`)),
      ];
      return { calls: sys.calls, mounts, rootfs };
    });
  }

  graded('mount.pivot', 'the rootfs step in pivot_root mode: the runc-like sequence, call by call', () => {
    const { calls, mounts, rootfs } = rootfsStepCalls('pivot_root', false, 'mount.pivot');
    expect(calls).toMakeSyscalls([
      ...mounts,
      { call: 'chdir', args: [rootfs] },
      { call: 'pivotRoot', args: ['.', '.'] },
      { call: 'umount2', args: ['.', MNT_DETACH] },
      { call: 'chdir', args: ['/'] },
    ]);
  });

  graded('mount.bind', 'the rootfs step in chroot mode, read-only: bound onto itself first, chroot last, then "/" remounted read-only', () => {
    const { calls, mounts, rootfs } = rootfsStepCalls('chroot', true, 'mount.bind');
    expect(calls).toMakeSyscalls([
      ...mounts,
      { call: 'chroot', args: [rootfs] },
      { call: 'chdir', args: ['/'] },
      { call: 'mount', args: [null, '/', null, MS_BIND | MS_REMOUNT | MS_RDONLY, null] },
    ]);
  });

  graded('mount.mountinfo', 'parseMountinfo reads every field, propagation tags included, and unescapes paths', () => {
    const id = randomInt(20, 5000);
    const folder = `/srv/lab ${hex(2)}`; // a space: the kernel writes it as \040
    const escaped = folder.replace(' ', '\\040');
    const peer = randomInt(1, 900);
    const text = [
      `${id} 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard`,
      `${id + 1} ${id} 0:${peer} ${escaped}/data ${escaped} ro,nosuid shared:${peer} master:${peer + 1} - tmpfs lab-${peer} rw,size=4k`,
      `${id + 2} ${id} 0:22 / /proc rw,nosuid,nodev,noexec - proc proc rw`,
      '',
    ].join('\n');
    expect(mount.parseMountinfo(text)).toEqual([
      { id, parentId: 1, root: '/', mountPoint: '/', options: ['rw', 'relatime'], propagation: ['shared:1'], fsType: 'ext4', source: '/dev/vda' },
      {
        id: id + 1, parentId: id, root: `${folder}/data`, mountPoint: folder, options: ['ro', 'nosuid'],
        propagation: [`shared:${peer}`, `master:${peer + 1}`], fsType: 'tmpfs', source: `lab-${peer}`,
      },
      { id: id + 2, parentId: id, root: '/', mountPoint: '/proc', options: ['rw', 'nosuid', 'nodev', 'noexec'], propagation: [], fsType: 'proc', source: 'proc' },
    ]);
    expect(mount.propagationOf(mount.parseMountinfo(text)[2]!)).toBe('private');
  }, { requires: ['unescapeMountinfo', 'propagation'] });

  graded('mount.mountinfo', 'parseMountinfo skips blank lines and rejects a line without the "-" separator', () => {
    expect(mount.parseMountinfo('\n\n')).toEqual([]);
    expect(() => mount.parseMountinfo(`${randomInt(10, 99)} 1 0:1 / /x rw shared:1 tmpfs tmpfs rw`)).toThrow();
  }, { requires: ['non-empty line', '" - " separator'] });

  graded('mount.mountinfo', "parseMountinfo agrees with the kernel's /proc/self/mounts on this machine", () => {
    // Read both files, then the first again: another test may mount something in between.
    let info = '';
    let mounts = '';
    for (let attempt = 0; attempt < 5; attempt++) {
      info = readFileSync('/proc/self/mountinfo', 'utf8');
      mounts = readFileSync('/proc/self/mounts', 'utf8');
      if (readFileSync('/proc/self/mountinfo', 'utf8') === info) break;
    }
    const parsed = mount.parseMountinfo(info).map((entry) => `${entry.mountPoint} ${entry.fsType}`);
    const kernel = mounts.trim().split('\n').map((line) => line.split(' ')).map(([, point, type]) => `${mount.unescapeMountinfo(point!)} ${type}`);
    expect(parsed).toEqual(kernel);
  });
});

describeAsRoot('lesson 03 · a real container', () => {
  let stateDir: string;
  let hostDir: string;
  let image: Image;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'lab03-test-state-'));
    hostDir = mkdtempSync(path.join(tmpdir(), 'lab03-test-host-'));
    image = busyboxImage({ stateDir }).image;
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => {
    if (stateDir) removeContainerDir(stateDir); // unmounts anything that leaked there first
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
  });

  async function start(options: Partial<Omit<RootfsContainerOptions, 'image' | 'registry'>> = {}): Promise<RootfsContainer> {
    const started = await startRootfsContainer({ mode: 'pivot_root', args: ['sleep', '1000'], image, stateDir, registry, bundle: bundleUnderTest(), ...options });
    cleanups.push(() => started.destroy());
    return started;
  }
  async function demo(makePrivate: boolean): Promise<PropagationDemo> {
    const started = await demonstratePropagation({ makePrivate, bundle: bundleUnderTest(), stateDir });
    cleanups.push(() => started.close());
    return started;
  }
  /**
   * Put before any write inside: it runs only if "/" really is the image. With a broken pivotIntoRootfs
   * the container would still be in the host's "/", and a check must never write there.
   */
  const IN_THE_IMAGE = 'grep -q "mini-docker lab busybox" /etc/os-release &&';
  /** A script inside the container, in its root (as `docker exec` would run it). */
  const inside = async (target: RootfsContainer, script: string) => {
    assertOwnRoot(target.container.pid); // scripts write inside the container: never into the host's "/"
    return (await runInside(target, script, bundleUnderTest())).stdout.trim();
  };
  /** The whole mount table of the container's namespace: entering it without going into its root. */
  const namespaceMounts = async (target: RootfsContainer) =>
    kernelMounts((await captureInContainer(target.container.pid, ['cat', '/proc/self/mountinfo'], bundleUnderTest(), { intoRoot: false })).stdout);
  const hostMountinfoLines = () => readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n');

  graded('mount.bind', "the container's / is its copy of the image: the host's marker is there, a host file is not", async () => {
    const container = await start();
    const marker = `marker-${hex()}`;
    const content = `written by the host ${hex()}`;
    writeFileSync(path.join(container.dir.rootfs, marker), content);
    const hostOnly = path.join(hostDir, `host-only-${hex()}`);
    writeFileSync(hostOnly, 'the host alone has this file');
    const fromInside = `from-inside-${hex()}`;
    // The write is guarded by the marker: with a broken pivot_root, "/" inside would be the host's "/".
    const [seen, hostFile, osName] = (
      await inside(container, `cat /${marker}; echo; test -e ${hostOnly} && echo visible || echo absent; head -1 /etc/os-release; test -e /${marker} && touch /${fromInside}`)
    ).split('\n');
    expect(seen).toBe(content);
    expect(hostFile).toBe('absent');
    expect(osName).toBe('NAME="mini-docker lab busybox"');
    expect(existsSync(path.join(container.dir.rootfs, fromInside))).toBe(true);
  });

  graded('mount.bind', '"/" inside is a bind mount of the container\'s rootfs folder (mountinfo\'s root field)', async () => {
    const container = await start();
    const root = (await namespaceMounts(container)).find((entry) => entry.mountPoint === '/');
    // The root field is relative to the file system the folder is on, so compare the end of it.
    expect(root?.root.endsWith(`/containers/${container.dir.id}/rootfs`)).toBe(true);
  });

  graded('mount.bind', '/etc/hostname, /etc/hosts and /etc/resolv.conf are the files generated on the host, bind-mounted', async () => {
    const container = await start();
    const extra = `# appended on the host ${hex()}`;
    appendFileSync(path.join(container.dir.path, 'hosts'), `${extra}\n`);
    const [name, ...hosts] = (await inside(container, 'cat /etc/hostname; cat /etc/hosts')).split('\n');
    expect(name).toBe(container.hostname);
    expect(name).toBe(container.dir.id.slice(0, 12));
    expect(hosts).toContain(`127.0.1.1\t${container.hostname}`);
    expect(hosts).toContain(extra); // the same file, not a copy
    const points = (await namespaceMounts(container)).map((entry) => entry.mountPoint);
    expect(points).toEqual(expect.arrayContaining(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']));
  });

  graded('mount.kernel-fs', "/proc inside is the container's own: PID 1 is the command", async () => {
    const seconds = String(randomInt(1000, 9999));
    const container = await start({ args: ['sleep', seconds] });
    expect(await inside(container, 'tr "\\0" " " < /proc/1/cmdline')).toBe(`sleep ${seconds}`);
  });

  graded('mount.kernel-fs', '/sys inside is read-only: writing fails with EROFS', async () => {
    const container = await start();
    const name = `lab-${hex()}`;
    // mkdir checks for a read-only mount before anything else, so the error names it; the host's /sys is untouched.
    expect(await inside(container, `${IN_THE_IMAGE} mkdir /sys/${name} 2>&1; echo "exit $?"`)).toMatch(/Read-only file system\nexit 1$/);
    const sys = (await namespaceMounts(container)).find((entry) => entry.mountPoint === '/sys');
    expect(sys?.fsType).toBe('sysfs');
    expect(sys?.mountOptions).toContain('ro');
    expect(existsSync(`/sys/${name}`)).toBe(false);
  });

  graded('mount.kernel-fs', "/dev inside is a tmpfs that holds only the container's nodes and links", async () => {
    const container = await start();
    const dev = (await namespaceMounts(container)).find((entry) => entry.mountPoint === '/dev');
    expect(dev?.fsType).toBe('tmpfs');
    const names = (await inside(container, 'ls -A /dev')).split(/\s+/).sort();
    expect(names).toEqual(['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
  });

  graded('mount.devices', '/dev/null is character device 1,3 (and the others have their numbers); they behave as devices', async () => {
    const container = await start();
    // busybox stat: %F the file type, %t and %T the major and minor device numbers in hex.
    const stats = await inside(container, 'for d in null zero full random urandom tty; do stat -c "%n %F %t,%T %a" /dev/$d; done');
    expect(stats.split('\n')).toEqual([
      '/dev/null character special file 1,3 666',
      '/dev/zero character special file 1,5 666',
      '/dev/full character special file 1,7 666',
      '/dev/random character special file 1,8 666',
      '/dev/urandom character special file 1,9 666',
      '/dev/tty character special file 5,0 666',
    ]);
    const count = randomInt(10, 5000);
    const [random, zeros, full] = (
      await inside(container, `head -c ${count} /dev/urandom | wc -c; head -c ${count} /dev/zero | tr -d "\\000" | wc -c; ${IN_THE_IMAGE} echo x > /dev/full 2>&1 || echo refused`)
    ).split('\n');
    expect(Number(random)).toBe(count);
    expect(Number(zeros)).toBe(0);
    expect(full).toMatch(/No space left on device|refused/);
  });

  graded('mount.pivot', "after pivot_root the namespace holds only the container's mounts: the old root is gone", async () => {
    const container = await start();
    const points = (await namespaceMounts(container)).map((entry) => entry.mountPoint).sort();
    expect(points).toEqual(['/', '/dev', '/dev/pts', '/dev/shm', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/proc', '/sys']);
    const hostOnly = path.join(hostDir, `host-only-${hex()}`);
    writeFileSync(hostOnly, hex());
    // Even entering the namespace without chroot (at its root) finds no way to the host's file.
    const entered = await captureInContainer(container.container.pid, ['sh', '-c', `test -e ${hostOnly} && echo visible || echo absent`], bundleUnderTest());
    expect(entered.stdout.trim()).toBe('absent');
  });

  graded('mount.pivot', "the chroot escape reads the host's file after chroot, and finds nothing after pivot_root", async () => {
    const secret = `secret-${hex()}`;
    const secretFile = path.join(hostDir, `secret-${hex()}`);
    writeFileSync(secretFile, `${secret}\n`);
    const report = ['sh', '-c', `cat ${secretFile} 2>&1; echo @@done; exec sleep 1000`];
    const outputOf = async (mode: 'chroot' | 'pivot_root') => {
      const container = await start({ mode, escape: true, args: report, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      container.container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      await eventually(() => output.includes('@@done'), 5000, `the ${mode} container's report`);
      return output;
    };
    expect(await outputOf('chroot')).toContain(secret);
    const afterPivot = await outputOf('pivot_root');
    expect(afterPivot).not.toContain(secret);
    expect(afterPivot).toContain('No such file or directory');
  });

  graded('mount.private', "without MS_PRIVATE a new namespace's mount reaches a shared mount's peers; after makeMountsPrivate it does not", async () => {
    const seenByFakeHost = (started: PropagationDemo) =>
      kernelMounts(readFileSync(`/proc/${started.fakeHost.pid}/mountinfo`, 'utf8')).some((entry) => entry.mountPoint === started.target);
    const seenByContainer = (started: PropagationDemo) =>
      kernelMounts(readFileSync(`/proc/${started.container.pid}/mountinfo`, 'utf8')).some((entry) => entry.mountPoint === started.target);
    const leaky = await demo(false);
    expect(seenByContainer(leaky)).toBe(true);
    expect(seenByFakeHost(leaky)).toBe(true);
    const tight = await demo(true);
    expect(seenByContainer(tight)).toBe(true);
    expect(seenByFakeHost(tight)).toBe(false);
    // Neither ever reached the real host: the fake host's namespace is private towards it.
    expect(hostMountinfoLines().filter((line) => line.includes(stateDir))).toEqual([]);
  });

  graded('mount.private', "mounts do not cross either way: the container's stay inside, the host's new ones stay outside", async () => {
    // chroot mode: the namespace still holds the host's tree, where a propagated host mount would show up.
    const container = await start({ mode: 'chroot' });
    const insideSource = `lab-inside-${hex()}`;
    expect(await inside(container, `mount -t tmpfs ${insideSource} /mnt && grep -c ${insideSource} /proc/self/mountinfo`)).toBe('1');
    expect(kernelMounts(readFileSync('/proc/self/mountinfo', 'utf8')).some((entry) => entry.source === insideSource)).toBe(false);

    const hostMountPoint = mkdtempSync(path.join(hostDir, 'host-mount-'));
    const hostSource = `lab-host-${hex()}`;
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', hostSource, hostMountPoint]);
    try {
      const table = await namespaceMounts(container);
      expect(table.some((entry) => entry.mountPoint === container.dir.rootfs)).toBe(true); // the right table: it has the host's tree
      expect(table.some((entry) => entry.source === hostSource)).toBe(false);
    } finally {
      execFileSync('umount', ['-l', hostMountPoint]);
      rmdirSync(hostMountPoint);
    }
  });

  graded('mount.private', 'nothing of the container is ever mounted on the host: during its life and after it', async () => {
    const before = hostMountinfoLines();
    const container = await start();
    await inside(container, 'mount -t tmpfs lab-inside /mnt');
    const labLines = () => hostMountinfoLines().filter((line) => !before.includes(line) && (line.includes(stateDir) || line.includes('lab-inside')));
    expect(labLines()).toEqual([]);
    await container.destroy();
    expect(labLines()).toEqual([]);
    expect(existsSync(container.dir.path)).toBe(false);
  });
});

describe("lesson 03 · the lab's machinery (not graded)", () => {
  it.skipIf(!hasStaticBusybox)('builds the image reproducibly: the same busybox always gives the same ID and tree', () => {
    withTempDir('lab03-image-', (dir) => {
      const first = busyboxImage({ stateDir: path.join(dir, 'a') });
      const second = busyboxImage({ stateDir: path.join(dir, 'b') });
      expect(first.built && second.built).toBe(true);
      expect(second.image.id).toBe(first.image.id);
      expect(first.image.id).toMatch(/^sha256:[0-9a-f]{64}$/);
      const root = first.image.rootfs;
      // Every applet is a hard link: one more name for bin/busybox.
      const busybox = statSync(path.join(root, 'bin/busybox'));
      for (const name of ['bin/sh', 'bin/ls', 'usr/bin/env', 'sbin/pivot_root', 'usr/sbin/chroot']) {
        expect(lstatSync(path.join(root, name)).ino).toBe(busybox.ino);
      }
      expect(busybox.nlink).toBeGreaterThan(200);
      expect(readFileSync(path.join(root, 'etc/os-release'), 'utf8')).toMatch(/^NAME="mini-docker lab busybox"$/m);
      expect(readFileSync(path.join(root, 'etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:root:\/root:\/bin\/sh$/m);
      expect(statSync(path.join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
      expect(lstatSync(path.join(root, 'etc/passwd')).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
      expect(lstatSync(path.join(root, 'usr/bin')).mtime.toISOString()).toBe('2024-01-01T00:00:00.000Z');
      // Built in place, atomically: nothing but the image is left in images/.
      expect(readdirSync(path.join(dir, 'a', 'images'))).toEqual(['busybox']);
    });
  });

  it.skipIf(!hasStaticBusybox)('uses the built image again, rebuilds it for another busybox, and clears a killed build', () => {
    withTempDir('lab03-image-', (dir) => {
      const first = busyboxImage({ stateDir: dir });
      expect(busyboxImage({ stateDir: dir }).built).toBe(false);
      // A build killed halfway by a process that is gone now.
      const abandoned = path.join(dir, 'images', `.busybox.build-${deadPid()}-${hex()}`);
      mkdirSync(path.join(abandoned, 'rootfs'), { recursive: true });
      // Another busybox (one extra byte at the end is still a valid program): another image.
      const other = path.join(dir, 'busybox');
      copyFileSync(first.image.busybox.path, other);
      appendFileSync(other, Buffer.from([0]));
      const rebuilt = busyboxImage({ stateDir: dir, busybox: other });
      expect(rebuilt.built).toBe(true);
      expect(rebuilt.image.id).not.toBe(first.image.id);
      expect(rebuilt.image.rootfs).toBe(first.image.rootfs);
      // Checked by its stat first, by its bytes when the stat changed: a write in place is seen …
      appendFileSync(other, Buffer.from([0]));
      expect(busyboxImage({ stateDir: dir, busybox: other }).built).toBe(true);
      // … and the same bytes at another path (another inode) are the same image.
      const copy = path.join(dir, 'busybox-copy');
      copyFileSync(other, copy);
      expect(busyboxImage({ stateDir: dir, busybox: copy }).built).toBe(false);
      expect(busyboxImage({ stateDir: dir, busybox: copy }).image.busybox.path).toBe(copy);
      expect(existsSync(abandoned)).toBe(false);
      expect(readdirSync(path.join(dir, 'images'))).toEqual(['busybox']);
    });
  });

  it('refuses a dynamically linked busybox with a one-line fix', () => {
    withTempDir('lab03-busybox-', (dir) => {
      copyFileSync(process.execPath, path.join(dir, 'busybox')); // node: an ELF program with a loader
      execFileSync('chmod', ['755', path.join(dir, 'busybox')]);
      const attempt = () => findStaticBusybox(dir, []);
      expect(attempt).toThrow(ImageBuildError);
      expect(attempt).toThrow(/dynamically linked.*busybox-static/);
      expect(() => findStaticBusybox(path.join(dir, 'nothing-here'), [])).toThrow(/no busybox found/);
    });
  });

  it('removes the folders of containers whose owner is gone, and only those', () => {
    withTempDir('lab03-state-', (stateDir) => {
      const own = claimContainerDir(`own-${hex()}`, stateDir);
      const gone = claimContainerDir(`gone-${hex()}`, stateDir);
      writeFileSync(path.join(gone, 'owner'), `${deadPid()} 12345\n`);
      // Our PID, but another start time: the PID was reused by another process.
      const reused = claimContainerDir(`reused-${hex()}`, stateDir);
      writeFileSync(path.join(reused, 'owner'), `${process.pid} 1\n`);
      const unowned = path.join(stateDir, 'containers', `being-created-${hex()}`);
      mkdirSync(unowned);
      expect(processIdentity(process.pid)).toMatch(new RegExp(`^${process.pid} \\d+$`));
      expect(removeStaleContainerDirs(stateDir).sort()).toEqual([gone, reused].sort());
      expect([own, gone, reused, unowned].map(existsSync)).toEqual([true, false, false, true]);
    });
  });
});

describeAsRoot("lesson 03 · the lab's machinery, as root (not graded)", () => {
  it('kill -9 of the runtime: the container dies, its mounts with its namespace; the next start removes its folder', async () => {
    await withTempDirAsync('lab03-kill-', async (stateDir) => {
      // A separate runtime process that starts a lesson 03 container, reports it and waits forever.
      const script = `
        import { readlinkSync } from 'node:fs';
        import { busyboxImage } from './lessons/03-mount/image.ts';
        import { startRootfsContainer } from './lessons/03-mount/containers.ts';
        import { registry } from './lessons/registry.ts';
        const { image } = busyboxImage();
        const started = await startRootfsContainer({ mode: 'pivot_root', args: ['sleep', '600'], image, registry });
        const pid = started.container.pid;
        console.log(JSON.stringify({ pid, monitorPid: started.container.monitorPid, namespace: readlinkSync('/proc/' + pid + '/ns/mnt'), dir: started.dir.path }));
        setInterval(() => {}, 1000);`;
      const runtime = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: REPO_ROOT,
        env: { ...process.env, LAB_STATE_DIR: stateDir },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => runtime.once('exit', resolve));
      try {
        const line = await new Promise<string>((resolve, reject) => {
          runtime.stdout!.once('data', (chunk) => resolve(String(chunk)));
          runtime.once('exit', (code) => reject(new Error(`the runtime exited (${code}) before reporting`)));
        });
        const { pid, monitorPid, namespace, dir } = JSON.parse(line) as { pid: number; monitorPid: number; namespace: string; dir: string };
        expect(isRunning(pid)).toBe(true);
        const mountsOfContainer = (await captureInContainer(pid, ['cat', '/proc/self/mountinfo'], undefined, { intoRoot: false })).stdout.trim().split('\n');
        expect(mountsOfContainer.length).toBeGreaterThanOrEqual(9);

        runtime.kill('SIGKILL');
        await exited;
        await eventually(() => !isRunning(pid) && !isRunning(monitorPid), 5000, 'container and monitor killed with the runtime');
        // No process is left in the container's mount namespace, so it is gone, and every mount in it.
        expect(processesInNamespace(namespace)).toEqual([]);
        expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(stateDir);
        // The folder is not a mount: it is left over, until the next start cleans it up.
        expect(existsSync(dir)).toBe(true);
        expect(removeStaleContainerDirs(stateDir)).toEqual([dir]);
        expect(existsSync(dir)).toBe(false);
      } finally {
        runtime.kill('SIGKILL');
        await exited;
      }
    });
  });
});

async function withTempDirAsync(prefix: string, work: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  try {
    await work(dir);
  } finally {
    removeContainerDir(dir);
  }
}

/** The PID of a process that has exited (and been reaped): a short-lived child's. */
function deadPid(): number {
  return Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());
}

function processesInNamespace(namespace: string): string[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return readlinkSync(`/proc/${name}/ns/mnt`) === namespace;
      } catch {
        return false;
      }
    });
}
