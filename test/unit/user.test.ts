/**
 * `minidocker run -u`: a user and group as typed, turned into config.json's numbers with the image's
 * own /etc/passwd and /etc/group — runc's rules, which Docker's engine uses.
 */
import { describe, expect, it } from 'vitest';
import type { OciConfig } from '../../src/container/config.js';
import { applyUser, resolveUser } from '../../src/final/user.js';

const files = {
  passwd: ['root:x:0:0:root:/root:/bin/sh', 'daemon:x:1:1:daemon:/usr/sbin:/bin/false', 'lab:x:1000:1000::/home/lab:/bin/sh', 'broken line', 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false', ''].join('\n'),
  group: ['root:x:0:', 'staff:x:50:lab,daemon', 'lab:x:1000:', 'audio:x:29:lab', 'nogroup:x:65534:'].join('\n'),
};

describe('resolveUser: -u USER[:GROUP] in the image\'s names', () => {
  it('a name: its UID, GID and home, and the groups that list it as supplementary groups', () => {
    expect(resolveUser('lab', files)).toEqual({ uid: 1000, gid: 1000, home: '/home/lab', additionalGids: [50, 29] });
    expect(resolveUser('nobody', files)).toEqual({ uid: 65534, gid: 65534, home: '/nonexistent' });
  });

  it('a number: that UID, with its entry\'s GID and home if the image has one, else GID 0 and /', () => {
    expect(resolveUser('1', files)).toEqual({ uid: 1, gid: 1, home: '/usr/sbin', additionalGids: [50] });
    expect(resolveUser('4242', files)).toEqual({ uid: 4242, gid: 0, home: '/' });
  });

  it('USER:GROUP: the group by name or number, and then no supplementary groups', () => {
    expect(resolveUser('lab:staff', files)).toEqual({ uid: 1000, gid: 50, home: '/home/lab' });
    expect(resolveUser('4242:4343', files)).toEqual({ uid: 4242, gid: 4343, home: '/' });
    expect(resolveUser('daemon:nogroup', files)).toEqual({ uid: 1, gid: 65534, home: '/usr/sbin' });
  });

  it('nothing: root, as an image without a User runs; an image without the files too', () => {
    expect(resolveUser('', files)).toEqual({ uid: 0, gid: 0, home: '/root' });
    expect(resolveUser('', { passwd: null, group: null })).toEqual({ uid: 0, gid: 0, home: '/' });
    expect(resolveUser('1000', { passwd: null, group: null })).toEqual({ uid: 1000, gid: 0, home: '/' });
  });

  it('refuses, in Docker\'s words, names the image does not have and what is not USER[:GROUP]', () => {
    expect(() => resolveUser('ghost', files)).toThrow('unable to find user ghost: no matching entries in passwd file');
    expect(() => resolveUser('lab:ghosts', files)).toThrow('unable to find group ghosts: no matching entries in group file');
    expect(() => resolveUser('lab:', files)).toThrow('invalid user "lab:"');
    expect(() => resolveUser('a:b:c', files)).toThrow('invalid user "a:b:c"');
    expect(() => resolveUser('4294967295', files)).toThrow('must be in the range 0-2147483647');
  });
});

describe('applyUser: into config.json', () => {
  const config = (): OciConfig => ({
    ociVersion: '1.0.2', root: { path: 'rootfs' },
    process: { args: ['sh'], cwd: '/', env: ['PATH=/bin'], capabilities: { bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] } },
  });

  it('root keeps its capabilities and gets its HOME', () => {
    const root = config();
    applyUser(root, { uid: 0, gid: 0, home: '/root' });
    expect(root.process).toMatchObject({ user: { uid: 0, gid: 0 }, env: ['PATH=/bin', 'HOME=/root'], capabilities: { effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] } });
  });

  it('any other UID: capabilities in the bounding set only, as execve would leave them; a HOME already set stays', () => {
    const user = config();
    user.process.env!.push('HOME=/data');
    applyUser(user, { uid: 1000, gid: 1000, home: '/home/lab', additionalGids: [50] });
    expect(user.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [50] });
    expect(user.process.env).toEqual(['PATH=/bin', 'HOME=/data']);
    expect(user.process.capabilities).toEqual({ bounding: ['CAP_CHOWN'], effective: [], permitted: [], ambient: [] });
  });
});
