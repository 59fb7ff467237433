/**
 * minidocker's --userns, --uidmap and --gidmap (src/final/userns.ts): the flags read as podman reads
 * them, and --userns=auto's choice of a free range. Pure logic: the real containers are in
 * test/final/minidocker.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseSubordinateIds } from '../../lessons/08-userns/subid.js';
import { splitFlag } from '../../src/final/argv.js';
import { parseRun, UsageError } from '../../src/final/flags.js';
import { allocateAuto, parseIdMapFlag, parseUsernsFlag } from '../../src/final/userns.js';

describe('splitFlag', () => {
  it('divides at the first "=" only: the value may hold more', () => {
    expect(splitFlag('--userns=auto:size=100')).toEqual(['--userns', 'auto:size=100']);
    expect(splitFlag('--env=A=B')).toEqual(['--env', 'A=B']);
    expect(splitFlag('--rm')).toEqual(['--rm', undefined]);
    expect(splitFlag('--name=')).toEqual(['--name', '']);
  });
});

describe('--userns, --uidmap, --gidmap', () => {
  it('reads host, auto and auto:size=N; refuses anything else in one line', () => {
    expect(parseUsernsFlag('host')).toEqual({ mode: 'host' });
    expect(parseUsernsFlag('auto')).toEqual({ mode: 'auto', size: 65536 });
    expect(parseUsernsFlag('auto:size=1024')).toEqual({ mode: 'auto', size: 1024 });
    expect(() => parseUsernsFlag('keep-id')).toThrow('--userns keep-id: use host, auto or auto:size=N');
    expect(() => parseUsernsFlag('auto:size=0')).toThrow(/size must be between 1 and/);
  });

  it('reads CONTAINER:HOST:SIZE; refuses a wrong shape or an empty range', () => {
    expect(parseIdMapFlag('0:100000:65536', '--uidmap')).toEqual({ containerID: 0, hostID: 100000, size: 65536 });
    for (const bad of ['0:100000', '0:x:1', '0:1:0', '-1:1:1']) expect(() => parseIdMapFlag(bad, '--uidmap'), bad).toThrow(/^--uidmap .*: use CONTAINER_ID:HOST_ID:SIZE/);
  });

  it('run: --userns=auto:size=N (the "=" inside the value kept), --uidmap for both, --gidmap apart', () => {
    expect(parseRun(['--userns=auto:size=4096', 'busybox']).userns).toEqual({ mode: 'auto', size: 4096 });
    expect(parseRun(['--uidmap', '0:100000:65536', 'busybox']).userns).toEqual({
      mode: 'map', uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
    });
    expect(parseRun(['--uidmap=0:100000:1', '--gidmap=0:200000:1', 'busybox']).userns).toMatchObject({ gidMappings: [{ containerID: 0, hostID: 200000, size: 1 }] });
    expect(() => parseRun(['--gidmap', '0:1:1', 'busybox'])).toThrow(new UsageError('--gidmap needs --uidmap too'));
    expect(() => parseRun(['--userns=auto', '--uidmap', '0:1:1', 'busybox'])).toThrow(/cannot go together/);
    expect(parseRun(['busybox']).userns).toBeUndefined(); // the host's, as Docker's default
  });
});

describe('--userns=auto: a free range of the user "containers"', () => {
  const files = (text: string) => ({ subuid: parseSubordinateIds(text), subgid: parseSubordinateIds(text) });
  const none = { uid: [], gid: [] };

  it('takes the first IDs of the ranges lent to "containers", and only theirs', () => {
    const mappings = allocateAuto(65536, files('alice:100000:65536\ncontainers:200000:1000000\n'), none);
    expect(mappings).toEqual({ uidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 200000, size: 65536 }] });
  });

  it('skips what other containers hold, and goes on to the next range when one is full', () => {
    const held = [{ containerID: 0, hostID: 200000, size: 65536 }, { containerID: 0, hostID: 265536, size: 1000 }];
    expect(allocateAuto(65536, files('containers:200000:200000'), { uid: held, gid: [] }).uidMappings[0]!.hostID).toBe(266536);
    // gid is picked in its own file, against the groups other containers hold.
    expect(allocateAuto(65536, files('containers:200000:200000'), { uid: held, gid: [] }).gidMappings[0]!.hostID).toBe(200000);
    expect(allocateAuto(1000, files('containers:200000:1500\ncontainers:900000:5000'), { uid: [{ containerID: 0, hostID: 200600, size: 10 }], gid: [] }).uidMappings[0]!.hostID).toBe(900000);
  });

  it('says what to add, in one line, when "containers" has no range or no room is left', () => {
    expect(() => allocateAuto(65536, files('alice:100000:65536'), none)).toThrow(/^--userns=auto: \/etc\/subuid lends no IDs to "containers": add a range for the user "containers" to \/etc\/subuid and \/etc\/subgid/);
    expect(() => allocateAuto(65536, files('containers:200000:70000'), { uid: [{ containerID: 0, hostID: 210000, size: 1 }], gid: [] })).toThrow(/no 65536 free IDs left in \/etc\/subuid/);
  });
});
