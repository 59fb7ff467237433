/**
 * Lesson 07 graded checks: what a container's root may do. The code on its own (the recording syscall
 * double), then real containers seen from inside (/proc/self/status and harmless attacks) and outside.
 *
 * Every attack is harmless even where the protection is missing: the host name and the mount are the
 * container's own (its UTS and mount namespaces, made private by lesson 03's step first),
 * core_pattern is opened for appending with nothing written, and `unshare -u` makes a namespace that
 * ends with the command.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect } from 'vitest';
import { graded } from '../../src/course/grading.js';
import {
  MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE, PR_SET_NO_NEW_PRIVS, RecordingSyscalls,
} from '../../src/sys/index.js';
import { ConfigError } from '../../src/container/config.js';
import { busyboxImage, type Image } from '../../lessons/03-mount/image.js';
import { removeContainerDir, startRootfsContainer, type RootfsContainer } from '../../lessons/03-mount/containers.js';
import { DOCKER_DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, defaultSeccompProfile } from '../../lessons/07-security/defaults.js';

import { bundleUnderTest, importLesson, registryUnderTest } from '../helpers/impl.js';
import { describeAsRoot } from '../helpers/root.js';
import '../helpers/syscalls.js';

// The lessons' features as the implementation under test has them: host-side planning runs its code too.
const registry = await registryUnderTest();

const capabilities = await importLesson<typeof import('../../lessons/07-security/capabilities.js')>('07-security', 'capabilities.ts');
const paths = await importLesson<typeof import('../../lessons/07-security/paths.js')>('07-security', 'paths.ts');
const processModule = await importLesson<typeof import('../../lessons/07-security/process.js')>('07-security', 'process.ts');
const seccomp = await importLesson<typeof import('../../lessons/07-security/seccomp.js')>('07-security', 'seccomp.ts');
// The lesson's container and probe, from the student's copy: its steps are planned by the student's code.
const lesson = await importLesson<typeof import('../../lessons/07-security/probe.js')>('07-security', 'probe.ts');

/** A random set of capabilities: a mask and its names in bit order. */
function randomCapabilities(): { mask: bigint; names: string[] } {
  const bits = [...Array(41).keys()].filter(() => Math.random() < 0.4);
  return { mask: bits.reduce((mask, bit) => mask | (1n << BigInt(bit)), 0n), names: bits.map((bit) => capabilities.CAPABILITIES[bit]!) };
}
const hex = (mask: bigint) => `0x${mask.toString(16)}`;

describe('lesson 07 · the code, on its own', () => {
  graded('capabilities.decode', 'decodeCapabilities turns a /proc/self/status mask into names, in bit order', () => {
    const { mask, names } = randomCapabilities();
    expect(capabilities.decodeCapabilities(mask.toString(16).padStart(16, '0'))).toEqual(names);
    expect(capabilities.decodeCapabilities(mask)).toEqual(names);
    expect(capabilities.decodeCapabilities('00000000a80425fb').length).toBe(14); // Docker's default
    expect(capabilities.decodeCapabilities('0000000000000000')).toEqual([]);
  }, { requires: ['bit N', 'capsh --decode'] });

  graded('capabilities.bounding', 'dropBoundingSet drops, in bit order, every capability up to the last one that the bounding set does not hold', () => {
    const { mask } = randomCapabilities();
    const last = 38 + Math.floor(Math.random() * 3);
    const sys = new RecordingSyscalls();
    capabilities.dropBoundingSet(sys, { sets: { bounding: hex(mask), effective: '0x0', permitted: '0x0', inheritable: '0x0', ambient: '0x0' }, last });
    const expected = [...Array(last + 1).keys()].filter((bit) => !((mask >> BigInt(bit)) & 1n)).map((bit) => ({ call: 'prctl' as const, args: [PR_CAPBSET_DROP, bit] }));
    expect(sys.calls).toMakeSyscalls(expected);
  }, { requires: ['PR_CAPBSET_DROP', 'cap_last_cap'] });

  graded('capabilities.apply', 'applyCapabilities: one capset, then the ambient set cleared and each ambient capability raised', () => {
    const { mask } = randomCapabilities();
    const ambient = mask & 0x3fn;
    const sys = new RecordingSyscalls();
    capabilities.applyCapabilities(sys, { sets: { bounding: hex(mask), effective: hex(mask), permitted: hex(mask), inheritable: hex(ambient), ambient: hex(ambient) }, last: 40 });
    const raises = [...Array(6).keys()].filter((bit) => (ambient >> BigInt(bit)) & 1n).map((bit) => ({ call: 'prctl' as const, args: [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, bit] }));
    expect(sys.calls).toMakeSyscalls([
      { call: 'capset', args: [{ effective: mask, permitted: mask, inheritable: ambient }] },
      { call: 'prctl', args: [PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0] },
      ...raises,
    ]);
  }, { requires: ['capset', 'PR_CAP_AMBIENT_CLEAR_ALL', 'PR_CAP_AMBIENT_RAISE'] });

  graded('process.nnp', 'setNoNewPrivileges is one prctl(PR_SET_NO_NEW_PRIVS, 1)', () => {
    const sys = new RecordingSyscalls();
    processModule.setNoNewPrivileges(sys);
    expect(sys.calls).toMakeSyscalls([{ call: 'prctl', args: [PR_SET_NO_NEW_PRIVS, 1] }]);
  }, { requires: ['PR_SET_NO_NEW_PRIVS'] });

  graded('seccomp.action', "actionValue gives libseccomp's values, the errno in the low 16 bits, and refuses unknown names naming the field", () => {
    const errno = 1 + Math.floor(Math.random() * 100);
    expect(seccomp.actionValue('SCMP_ACT_ALLOW', undefined, 'f')).toBe(0x7fff0000);
    expect(seccomp.actionValue('SCMP_ACT_ERRNO', errno, 'f')).toBe(0x00050000 + errno);
    expect(seccomp.actionValue('SCMP_ACT_ERRNO', undefined, 'f')).toBe(0x00050001); // EPERM
    expect(seccomp.actionValue('SCMP_ACT_KILL_PROCESS', undefined, 'f')).toBe(0x80000000);
    expect(seccomp.actionValue('SCMP_ACT_KILL', undefined, 'f')).toBe(0);
    expect(seccomp.actionValue('SCMP_ACT_TRAP', undefined, 'f')).toBe(0x00030000);
    expect(seccomp.actionValue('SCMP_ACT_LOG', undefined, 'f')).toBe(0x7ffc0000);
    expect(seccomp.actionValue('SCMP_ACT_TRACE', errno, 'f')).toBe(0x7ff00000 + errno);
    const field = `linux.seccomp.syscalls[${errno}].action`;
    expect(() => seccomp.actionValue('SCMP_ACT_FLY', undefined, field)).toThrow(ConfigError);
    expect(() => seccomp.actionValue('SCMP_ACT_FLY', undefined, field)).toThrow(field);
    expect(() => seccomp.actionValue('SCMP_ACT_NOTIFY', undefined, field)).toThrow(ConfigError);
  }, { requires: ['SCMP_ACT_ERRNO', 'EPERM', 'ConfigError'] });

  graded('paths.protect', 'protectPaths: /dev/null over files, a read-only tmpfs over folders, read-only binds; missing paths skipped', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lab07-paths-'));
    try {
      const file = path.join(dir, `file-${randomBytes(2).toString('hex')}`);
      const folder = path.join(dir, 'folder');
      writeFileSync(file, 'secret');
      mkdirSync(folder);
      const sys = new RecordingSyscalls();
      paths.protectPaths(sys, { masked: [path.join(dir, 'missing'), file, folder], readonly: [folder, path.join(dir, 'gone')] });
      expect(sys.calls).toMakeSyscalls([
        { call: 'mount', args: ['/dev/null', file, null, MS_BIND, null] },
        { call: 'mount', args: ['tmpfs', folder, 'tmpfs', MS_RDONLY, null] },
        { call: 'mount', args: [folder, folder, null, MS_BIND | MS_REC, null] },
        { call: 'mount', args: [folder, folder, null, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null] },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, { requires: ['/dev/null', 'tmpfs', 'MS_REMOUNT'] });
});

describeAsRoot('lesson 07 · real containers', () => {
  let stateDir: string;
  let image: Image;
  const running: RootfsContainer[] = [];
  beforeAll(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'lab07-test-state-'));
    image = busyboxImage({ stateDir }).image;
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((container) => container.destroy()));
  });
  afterAll(() => {
    if (stateDir) removeContainerDir(stateDir);
  });

  /** A lesson 03 container with lesson 07's steps for these config.json fields; what its own probe found. */
  async function probe(fields: Parameters<typeof lesson.securitySteps>[0]) {
    const started = await startRootfsContainer({
      mode: 'pivot_root', args: lesson.PROBE_COMMAND, image, stateDir, registry, bundle: bundleUnderTest(), stdio: ['ignore', 'pipe', 'pipe'],
      config: lesson.securityConfig(fields),
    });
    running.push(started);
    return lesson.readProbe(started.container);
  }

  graded('capabilities.bounding', "with Docker's 14 capabilities, root inside cannot mount, rename its host or unshare", async () => {
    const found = await probe({ capabilities: DOCKER_DEFAULT_CAPABILITIES });
    expect(capabilities.decodeCapabilities(found.CapBnd!).sort()).toEqual([...DOCKER_DEFAULT_CAPABILITIES].sort());
    expect(found).toMatchObject({ mount: 'no', hostname: 'no', unshare: 'no' });
  });

  graded('capabilities.apply', 'the effective set is exactly what config.json asks for', async () => {
    const chosen = ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_ADMIN'].filter(() => Math.random() < 0.7);
    const found = await probe({ capabilities: chosen });
    expect(capabilities.decodeCapabilities(found.CapEff!)).toEqual(chosen);
    expect(found.mount).toBe(chosen.includes('CAP_SYS_ADMIN') ? 'yes' : 'no');
  });

  graded('process.nnp', 'NoNewPrivs is 1 inside', async () => {
    expect((await probe({ noNewPrivileges: true })).NoNewPrivs).toBe('1');
  });

  graded('seccomp.action', "with the default profile, even root with every capability cannot mount or unshare (Seccomp: 2)", async () => {
    const found = await probe({ seccomp: defaultSeccompProfile() });
    expect(found).toMatchObject({ Seccomp: '2', mount: 'no', unshare: 'no', hostname: 'yes' });
  });

  graded('paths.protect', 'masked /proc files read as empty; core_pattern cannot even be opened for writing', async () => {
    const without = await probe({});
    expect(without.core_pattern).toBe('yes'); // the attack works before — harmless: nothing is written
    // Where this kernel has /proc/timer_list, the unmasked container reads the host's timers from it.
    if (existsSync('/proc/timer_list')) expect(Number(without.timer_list)).toBeGreaterThan(0);
    const found = await probe({ maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS });
    expect(found).toMatchObject({ core_pattern: 'no', timer_list: '0' });
  });
});
