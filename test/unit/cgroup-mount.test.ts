/**
 * config.json's cgroup mount (lessons/03-mount/cgroup-mount.ts), on recorded syscalls and the mountinfo
 * of three kinds of machine: what is mounted where, in a cgroup namespace of the container's own (new
 * mounts) and in the host's (binds of the container's own cgroup). The real mounts are checked in
 * test/final (features.test.ts), inside a container.
 */
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountCgroups } from '../../lessons/03-mount/cgroup-mount.js';
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT } from '../../src/sys/index.js';
import { RecordingSyscalls } from '../../src/sys/recording.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'cgroups');
const mountinfo = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');
const READ_ONLY = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC; // Docker's ["ro", "nosuid", "noexec", "nodev"]

let target: string;
beforeEach(() => (target = path.join(mkdtempSync(path.join(tmpdir(), 'cgroup-mount-')), 'sys', 'fs', 'cgroup')));
afterEach(() => rmSync(path.dirname(path.dirname(path.dirname(target))), { recursive: true, force: true }));

describe('the cgroup mount', () => {
  it('cgroup v2 in a cgroup namespace of its own: one new cgroup2 mount, which shows the namespace’s root', () => {
    const sys = new RecordingSyscalls();
    mountCgroups(sys, target, READ_ONLY, true, { mountinfo: mountinfo('mountinfo-v2.txt'), selfCgroup: '0::/\n' });
    expect(sys.argsOf('mount')).toEqual([['cgroup2', target, 'cgroup2', READ_ONLY, null]]);
  });

  it('cgroup v2 in the host’s cgroup namespace: its own cgroup bound, never a new mount (that would reset the host’s cgroup2 options)', () => {
    const sys = new RecordingSyscalls();
    mountCgroups(sys, target, READ_ONLY, false, { mountinfo: mountinfo('mountinfo-v2.txt'), selfCgroup: '0::/mini-docker-lab/abc\n' });
    expect(sys.argsOf('mount')).toEqual([
      ['/sys/fs/cgroup/mini-docker-lab/abc', target, null, MS_BIND, null],
      [null, target, null, MS_BIND | MS_REMOUNT | READ_ONLY, null],
    ]);
  });

  it('cgroup v1: a tmpfs with a folder per hierarchy, each its own cgroup; co-mounted controllers found by each name; read-only last', () => {
    const sys = new RecordingSyscalls();
    const selfCgroup = ['12:pids:/lab/abc', '7:cpu,cpuacct:/lab/abc', '6:memory:/lab/abc', '5:net_cls,net_prio:/', '4:blkio:/', '1:name=systemd:/user.slice', '0::/user.slice', ''].join('\n');
    mountCgroups(sys, target, READ_ONLY, false, { mountinfo: mountinfo('mountinfo-v1-comounted.txt'), selfCgroup });
    const mounts = sys.argsOf('mount');
    expect(mounts[0]).toEqual(['tmpfs', target, 'tmpfs', READ_ONLY & ~MS_RDONLY, 'mode=755']);
    const binds = mounts.filter(([, , , flags]) => flags === MS_BIND).map(([source, at]) => [source, path.relative(target, at as string)]);
    expect(binds).toEqual([
      ['/sys/fs/cgroup/unified/user.slice', 'unified'],
      ['/sys/fs/cgroup/systemd/user.slice', 'systemd'],
      ['/sys/fs/cgroup/cpu,cpuacct/lab/abc', 'cpu,cpuacct'],
      ['/sys/fs/cgroup/memory/lab/abc', 'memory'],
      ['/sys/fs/cgroup/net_cls,net_prio/', 'net_cls,net_prio'],
      ['/sys/fs/cgroup/pids/lab/abc', 'pids'],
      ['/sys/fs/cgroup/blkio/', 'blkio'],
    ]);
    expect(mounts.at(-1)).toEqual([null, target, null, MS_REMOUNT | READ_ONLY, null]);
    expect(readlinkSync(path.join(target, 'cpu'))).toBe('cpu,cpuacct');
    expect(lstatSync(path.join(target, 'cpuacct')).isSymbolicLink()).toBe(true);
  });

  it('cgroup v1 in a cgroup namespace of its own: each hierarchy mounted anew, named by its controllers or name=', () => {
    const sys = new RecordingSyscalls();
    mountCgroups(sys, target, 0, true, { mountinfo: mountinfo('mountinfo-v1-comounted.txt'), selfCgroup: '' });
    const fresh = sys.argsOf('mount').slice(1).map(([source, at, type, , data]) => [source, path.relative(target, at as string), type, data]);
    expect(fresh).toContainEqual(['cgroup', 'systemd', 'cgroup', 'name=systemd']);
    expect(fresh).toContainEqual(['cgroup', 'cpu,cpuacct', 'cgroup', 'cpu,cpuacct']);
    expect(fresh).toContainEqual(['cgroup2', 'unified', 'cgroup2', null]);
    expect(sys.argsOf('mount').filter(([, , , flags]) => ((flags as number) & MS_REMOUNT) !== 0)).toEqual([]); // rw: no remount
  });

  it('says which hierarchy it cannot place the container in', () => {
    expect(() => mountCgroups(new RecordingSyscalls(), target, 0, false, { mountinfo: mountinfo('mountinfo-v2.txt'), selfCgroup: '3:memory:/x\n' }))
      .toThrow('this process is in no cgroup of the /sys/fs/cgroup hierarchy (/proc/self/cgroup has no "" line)');
  });
});
