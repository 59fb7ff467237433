/**
 * Lesson 07's logic without root: capability names and masks, the steps init runs (on the recording
 * syscall double), seccomp profiles in Docker's format turned into libseccomp's terms, and minidocker's
 * security flags turned into config.json.
 */
import { describe, expect, it } from 'vitest';
import { RecordingSyscalls } from '../../src/sys/recording.js';
import { LinuxSyscalls } from '../../src/sys/linux.js';
import { PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE } from '../../src/sys/constants.js';
import { CAPABILITIES, applyCapabilities, capabilityMask, decodeCapabilities, dropBoundingSet } from '../../lessons/07-security/capabilities.js';
import { DOCKER_DEFAULT_CAPABILITIES, defaultSeccompProfile } from '../../lessons/07-security/defaults.js';
import { kernelAtLeast, resolveProfile, seccompFilter } from '../../lessons/07-security/seccomp.js';
import { becomeUser, resourceLimits } from '../../lessons/07-security/process.js';
import { applySecurity, effectiveCapabilities, parseUlimit } from '../../src/final/security.js';
import { parseRun } from '../../src/final/flags.js';
import { defaultConfig } from '../../src/final/oci/spec.js';

describe('capabilities', () => {
  it('decodes a /proc/PID/status mask as capsh --decode does, and back', () => {
    // What `docker run busybox grep CapEff /proc/self/status` prints.
    expect(decodeCapabilities('00000000a80425fb').sort()).toEqual([...DOCKER_DEFAULT_CAPABILITIES].sort());
    expect(capabilityMask(DOCKER_DEFAULT_CAPABILITIES)).toBe(0xa80425fbn);
    expect(decodeCapabilities('0000000000000000')).toEqual([]);
    expect(CAPABILITIES.indexOf('CAP_SYS_ADMIN')).toBe(21);
    expect(CAPABILITIES.indexOf('CAP_CHECKPOINT_RESTORE')).toBe(40);
  });

  it('drops every capability outside the bounding set, then sets the others, then the ambient ones', () => {
    const sys = new RecordingSyscalls();
    const config = { sets: { bounding: '0x21', effective: '0x1', permitted: '0x21', inheritable: '0x1', ambient: '0x1' }, last: 40 };
    dropBoundingSet(sys, config);
    applyCapabilities(sys, config);
    const drops = sys.calls.filter((call) => call.call === 'prctl' && call.args[0] === PR_CAPBSET_DROP).map((call) => call.args[1]);
    expect(drops).toHaveLength(39); // 41 minus CHOWN (0) and KILL (5)
    expect(drops).not.toContain(0);
    expect(drops).not.toContain(5);
    expect(sys.calls.find((call) => call.call === 'capset')!.args[0]).toEqual({ effective: 1n, permitted: 0x21n, inheritable: 1n });
    expect(sys.calls.at(-1)).toEqual({ call: 'prctl', args: [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 0] });
  });

  it('changes groups before the UID, keeping the capabilities across only when asked', () => {
    const sys = new RecordingSyscalls();
    becomeUser(sys, { uid: 1000, gid: 100, additionalGids: [5], umask: 0o077 }, true);
    expect(sys.calls.map((call) => call.call)).toEqual(['setgroups', 'setgid', 'prctl', 'setuid', 'prctl', 'umask']);
    const plain = new RecordingSyscalls();
    becomeUser(plain, { uid: 1000, gid: 100 }, false);
    expect(plain.calls.map((call) => call.call)).toEqual(['setgroups', 'setgid', 'setuid']);
  });
});

describe('resource limits', () => {
  it('takes the spec\'s names and RLIM_INFINITY, refuses unknown names and soft above hard', () => {
    expect(resourceLimits([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }, { type: 'RLIMIT_CORE', soft: -1, hard: -1 }])).toEqual([
      { name: 'RLIMIT_NOFILE', resource: 7, soft: 1024, hard: 4096 },
      { name: 'RLIMIT_CORE', resource: 4, soft: null, hard: null },
    ]);
    expect(() => resourceLimits([{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }])).toThrow(/unknown limit "RLIMIT_FOO"/);
    expect(() => resourceLimits([{ type: 'RLIMIT_NOFILE', soft: 2, hard: 1 }])).toThrow(/above its hard limit/);
  });
});

describe('seccomp profiles', () => {
  const dockerStyle = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ],
  };

  it("reads Docker's format: archMap for this machine, includes and excludes resolved like Docker's engine", () => {
    const filter = seccompFilter(dockerStyle, { noNewPrivileges: false, capabilities: ['CAP_CHOWN'], arch: 'x64', kernel: '6.1.0-57-amd64' });
    expect(filter.defaultAction).toBe(0x00050001); // ERRNO(EPERM)
    expect(filter.architectures).toEqual(['x86_64', 'x86', 'x32']);
    expect(filter.rules.map((rule) => rule.syscall)).toEqual(['read', 'write', 'ptrace', 'clone', 'clone3']);
    expect(filter.rules.find((rule) => rule.syscall === 'clone')!.args).toEqual([{ index: 0, op: 7, value: 2114060288n, valueTwo: 0n }]);
    expect(filter.rules.find((rule) => rule.syscall === 'clone3')!.action).toBe(0x00050000 + 38);
    const admin = seccompFilter(dockerStyle, { noNewPrivileges: false, capabilities: ['CAP_SYS_ADMIN'], arch: 'x64', kernel: '4.4.0' });
    expect(admin.rules.map((rule) => rule.syscall)).toEqual(['read', 'write', 'mount', 'clone3']);
    expect(seccompFilter(dockerStyle, { noNewPrivileges: false, arch: 'arm64' }).architectures).toEqual(['aarch64', 'arm']);
  });

  it("writes Docker's format as plain linux.seccomp for one container: --cap-add SYS_ADMIN allows mount, as in Docker", () => {
    const plainNames = (caps: string[]) => resolveProfile(defaultSeccompProfile(), { capabilities: caps, arch: 'x64' }).syscalls!.flatMap((entry) => entry.names);
    expect(plainNames(DOCKER_DEFAULT_CAPABILITIES)).toEqual(expect.arrayContaining(['mount', 'unshare', 'clock_settime', 'init_module', 'clone3']));
    const admin = plainNames([...DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    expect(admin).not.toContain('mount');
    expect(admin).not.toContain('clone3');
    expect(admin).toContain('clock_settime'); // that one needs CAP_SYS_TIME
    const resolved = resolveProfile(dockerStyle, { capabilities: [], arch: 'x64', kernel: '6.1.0' });
    expect(resolved.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(JSON.stringify(resolved)).not.toMatch(/includes|excludes|archMap/);
  });

  it('compares kernel releases by major and minor', () => {
    expect(kernelAtLeast('6.1.0-57-amd64', '4.8')).toBe(true);
    expect(kernelAtLeast('4.4.0', '4.8')).toBe(false);
    expect(kernelAtLeast('4.8.1', '4.8')).toBe(true);
  });

  it("the course's default profile compiles with the real libseccomp, and refuses what Docker's refuses", () => {
    const pfc = new LinuxSyscalls().seccompExport(seccompFilter(defaultSeccompProfile(), { noNewPrivileges: false }));
    // libseccomp's pseudo-code: the architecture check, then one branch per refused call.
    expect(pfc).toMatch(/if \(\$arch == \d+\)/);
    for (const name of ['mount', 'unshare', 'keyctl', 'reboot', 'kexec_load', 'init_module', 'clock_settime', 'settimeofday', 'bpf']) {
      expect(pfc, name).toMatch(new RegExp(`# filter for syscall "${name}"`));
    }
    expect(pfc).toMatch(/action ERRNO\(1\)/);
    expect(pfc).not.toMatch(/# filter for syscall "(read|write|execve)"/);
  });
});

describe("minidocker's security flags", () => {
  it("follows Docker's rules for --cap-add, --cap-drop and --privileged", () => {
    const all = CAPABILITIES.slice();
    expect(effectiveCapabilities({}, all)).toEqual(DOCKER_DEFAULT_CAPABILITIES);
    expect(effectiveCapabilities({ capDrop: ['ALL'], capAdd: ['CAP_NET_BIND_SERVICE'] }, all)).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(effectiveCapabilities({ capAdd: ['CAP_NET_ADMIN'], capDrop: ['CAP_MKNOD'] }, all)).toEqual([...DOCKER_DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_MKNOD'), 'CAP_NET_ADMIN']);
    expect(effectiveCapabilities({ capAdd: ['ALL'] }, all)).toEqual(all);
    expect(effectiveCapabilities({ privileged: true, capDrop: ['ALL'] }, all)).toEqual(all);
  });

  it('parses the flags into config.json fields; bad values are one line', () => {
    const options = parseRun(['--cap-add', 'net_admin', '--cap-drop=ALL', '--security-opt', 'no-new-privileges', '--security-opt', 'seccomp=unconfined', '--ulimit', 'nofile=10:20', 'busybox', 'true']);
    expect(options.security).toEqual({ capAdd: ['CAP_NET_ADMIN'], capDrop: ['ALL'], noNewPrivileges: true, seccomp: 'unconfined', ulimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }] });
    const config = defaultConfig(['true']);
    applySecurity(config, options.security!);
    expect(config.process).toMatchObject({ capabilities: { bounding: ['CAP_NET_ADMIN'], inheritable: [] }, noNewPrivileges: true, rlimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }] });
    expect(config.linux!.seccomp).toBeUndefined();
    expect(config.linux!.maskedPaths).toContain('/proc/kcore');
    expect(parseUlimit('nproc=64')).toEqual({ type: 'RLIMIT_NPROC', soft: 64, hard: 64 });
    expect(() => parseRun(['--cap-add', 'FLY', 'busybox'])).toThrow('invalid --cap-add value "FLY": unknown capability');
    expect(() => parseRun(['--security-opt', 'label=disable', 'busybox'])).toThrow(/invalid --security-opt "label=disable"/);
    expect(() => parseRun(['--ulimit', 'nofile', 'busybox'])).toThrow(/use NAME=SOFT\[:HARD\]/);
  });

  it('--privileged: no filter, nothing masked; the defaults otherwise', () => {
    const privileged = defaultConfig(['true']);
    applySecurity(privileged, { privileged: true });
    expect(privileged.linux).toMatchObject({ maskedPaths: [], readonlyPaths: [] });
    expect(privileged.linux!.seccomp).toBeUndefined();
    const secure = defaultConfig(['true']);
    applySecurity(secure, {});
    expect(secure.linux!.seccomp!.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(secure.process.noNewPrivileges).toBe(false); // Docker's default; --security-opt no-new-privileges sets it
    expect(secure.process.capabilities!.bounding).toEqual(DOCKER_DEFAULT_CAPABILITIES);
  });
});
