/**
 * Lesson 03's ociRootfs step without root: config.json's mount options become mount(2)'s flags and data
 * (runc's parseMountOptions), and the step asks the kernel for the mounts in runc's order — the rootfs
 * made private and a mount point, each entry of "mounts" in config.json's order, the devices of a /dev
 * of its own, pivot_root, and the read-only remount last. The recording double changes nothing; the
 * folders the step stats and creates are a temporary tree.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SHARED, MS_SLAVE, MS_STRICTATIME,
  RecordingSyscalls, formatErrorLine,
} from '../../src/sys/index.js';
import { parseMountOptions, setUpOciRootfs } from '../../lessons/03-mount/oci-rootfs.js';
import { moveIntoRootfs } from '../../lessons/03-mount/mount.js';
import { MS_MOVE } from '../../src/sys/index.js';

describe('parseMountOptions', () => {
  it('turns flag words into mount(2) flags, a later word undoing an earlier one', () => {
    expect(parseMountOptions(['nosuid', 'noexec', 'nodev', 'ro'])).toEqual({ flags: MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, data: '', propagation: [] });
    expect(parseMountOptions(['ro', 'rw']).flags).toBe(0);
    expect(parseMountOptions(['rbind', 'ro']).flags).toBe(MS_BIND | MS_REC | MS_RDONLY);
    expect(parseMountOptions(['bind']).flags).toBe(MS_BIND);
    expect(parseMountOptions(['strictatime', 'relatime']).flags).toBe(MS_STRICTATIME);
  });

  it('passes the words the kernel does not know as flags to the file system, as data', () => {
    expect(parseMountOptions(['nosuid', 'mode=755', 'size=65536k'])).toEqual({ flags: MS_NOSUID, data: 'mode=755,size=65536k', propagation: [] });
  });

  it('keeps propagation changes apart: they take mount calls of their own', () => {
    expect(parseMountOptions(['rbind', 'rslave', 'private'])).toEqual({ flags: MS_BIND | MS_REC, data: '', propagation: [MS_SLAVE | MS_REC, MS_PRIVATE] });
  });

  it('has nothing to say about no options', () => {
    expect(parseMountOptions()).toEqual({ flags: 0, data: '', propagation: [] });
  });
});

describe('setUpOciRootfs', () => {
  let root: string;
  let rootfs: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'oci-rootfs-'));
    rootfs = path.join(root, 'rootfs');
    mkdirSync(rootfs);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('mounts in runc\'s order: private, rootfs bind, the mounts as listed, devices, pivot, read-only last', () => {
    const hostFolder = path.join(root, 'data');
    const hostFile = path.join(root, 'hosts');
    mkdirSync(hostFolder);
    writeFileSync(hostFile, '127.0.0.1 localhost\n');
    const sys = new RecordingSyscalls();
    setUpOciRootfs(sys, {
      rootfs,
      readonly: true,
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755'] },
        { destination: '/data', type: 'bind', source: hostFolder, options: ['rbind', 'ro'] },
        { destination: '/etc/hosts', type: 'bind', source: hostFile, options: ['bind', 'rslave'] },
      ],
    });
    const relevant = sys.calls.filter(({ call }) => ['mount', 'pivotRoot', 'umount2', 'chdir'].includes(call));
    expect(relevant).toEqual([
      { call: 'mount', args: [null, '/', null, MS_REC | MS_PRIVATE, null] },
      { call: 'mount', args: [rootfs, rootfs, null, MS_BIND | MS_REC, null] },
      { call: 'mount', args: ['proc', path.join(rootfs, 'proc'), 'proc', 0, null] },
      { call: 'mount', args: ['tmpfs', path.join(rootfs, 'dev'), 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755'] },
      // A bind mount ignores ro on creation: it takes a remount.
      { call: 'mount', args: [hostFolder, path.join(rootfs, 'data'), null, MS_BIND | MS_REC, null] },
      { call: 'mount', args: [null, path.join(rootfs, 'data'), null, MS_BIND | MS_REMOUNT | MS_RDONLY, null] },
      { call: 'mount', args: [hostFile, path.join(rootfs, 'etc/hosts'), null, MS_BIND, null] },
      { call: 'mount', args: [null, path.join(rootfs, 'etc/hosts'), null, MS_SLAVE | MS_REC, null] },
      { call: 'chdir', args: [rootfs] },
      { call: 'pivotRoot', args: ['.', '.'] },
      { call: 'umount2', args: ['.', MNT_DETACH] },
      { call: 'chdir', args: ['/'] },
      { call: 'mount', args: [null, '/', null, MS_BIND | MS_REMOUNT | MS_RDONLY, null] },
    ]);
    // A /dev of its own gets the device nodes, after the mounts and before the pivot.
    const calls = sys.calls.map(({ call }) => call);
    const lastMountBeforePivot = calls.slice(0, calls.indexOf('pivotRoot')).lastIndexOf('mount');
    expect(calls.indexOf('mknod')).toBeGreaterThan(lastMountBeforePivot);
    expect(calls.lastIndexOf('mknod')).toBeLessThan(calls.indexOf('pivotRoot'));
    expect(sys.argsOf('mknod').map(([file]) => path.basename(file as string))).toEqual(expect.arrayContaining(['null', 'zero', 'tty']));
    // What a bind mount covers is made first: a folder for a folder, an empty file for a file.
    expect(existsSync(path.join(rootfs, 'data'))).toBe(true);
    expect(existsSync(path.join(rootfs, 'etc/hosts'))).toBe(true);
  });

  it('leaves the root writable and makes no device nodes into the image\'s own /dev without a tmpfs there', () => {
    const sys = new RecordingSyscalls();
    setUpOciRootfs(sys, { rootfs, readonly: false, mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }] });
    expect(sys.argsOf('mknod')).toEqual([]);
    expect(sys.argsOf('mount').at(-1)).toEqual(['proc', path.join(rootfs, 'proc'), 'proc', 0, null]);
  });

  it('linux.rootfsPropagation: on "/" only after the pivot, when "/" is the container\'s own', () => {
    const sys = new RecordingSyscalls();
    setUpOciRootfs(sys, { rootfs, readonly: true, mounts: [], propagation: 'rshared' });
    const calls = sys.calls.filter(({ call }) => ['mount', 'pivotRoot'].includes(call)).map(({ call, args }) => (call === 'mount' ? `mount ${args[1]} ${args[3]}` : call));
    expect(calls.slice(-3)).toEqual(['pivotRoot', `mount / ${MS_SHARED | MS_REC}`, `mount / ${MS_BIND | MS_REMOUNT | MS_RDONLY}`]);
  });

  it('says which mount failed, with the call and its errno as the cause', () => {
    const sys = new RecordingSyscalls();
    const mounts = [{ destination: '/data', type: 'bind', source: path.join(root, 'missing'), options: ['rbind'] }];
    let caught: unknown;
    try {
      setUpOciRootfs(sys, { rootfs, readonly: false, mounts });
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).message).toBe('mount /data');
    expect(formatErrorLine(caught)).toMatch(/^mount \/data: ENOENT: no such file or directory, stat '.*\/missing'$/);
    expect(sys.argsOf('pivotRoot')).toEqual([]); // stopped there
  });
});

describe('moveIntoRootfs (runc --no-pivot)', () => {
  // The host's mounts as the container's new mount namespace has them, the rootfs below /var/lib.
  const mountinfo = [
    '22 1 8:1 / / rw - ext4 /dev/vda rw',
    '23 22 0:5 / /dev rw - devtmpfs udev rw',
    '24 22 0:6 / /var rw - ext4 /dev/vdb rw',
    '25 24 0:30 / /var/lib/c/rootfs rw - overlay overlay rw',
    '26 25 0:31 / /var/lib/c/rootfs/proc rw - proc proc rw',
    '27 22 0:7 / /home rw - ext4 /dev/vdc rw',
  ].join('\n');

  it('detaches every host mount but the rootfs, what is under it and its ancestors, then moves the rootfs onto "/" and chroots', () => {
    const sys = new RecordingSyscalls();
    moveIntoRootfs(sys, '/var/lib/c/rootfs', mountinfo);
    expect(sys.argsOf('umount2')).toEqual([['/home', MNT_DETACH], ['/dev', MNT_DETACH]]);
    expect(sys.calls.filter(({ call }) => call !== 'umount2')).toEqual([
      { call: 'chdir', args: ['/var/lib/c/rootfs'] },
      { call: 'mount', args: ['/var/lib/c/rootfs', '/', null, MS_MOVE, null] },
      { call: 'chroot', args: ['.'] },
      { call: 'chdir', args: ['/'] },
    ]);
    expect(sys.argsOf('pivotRoot')).toEqual([]);
  });
});
