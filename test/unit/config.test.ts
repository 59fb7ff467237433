/**
 * config.json, read and checked before anything is created (src/container/config.ts), and turned into
 * the plan init follows (src/container/builder.ts planFromConfig): with a small registry made here, and
 * with the lessons' own (lessons/registry.ts), for a config.json like the ones minidocker writes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, checkConfig, readConfig, type OciConfig } from '../../src/container/config.js';
import { planFromConfig } from '../../src/container/builder.js';
import { FeatureRegistry, defineFeature, type HostContext } from '../../src/container/features.js';
import { registry } from '../../lessons/registry.js';
import type { Syscalls } from '../../src/sys/syscalls.js';
import { OVERLAY_ANNOTATION } from '../../lessons/05-overlay/feature.js';
import { resourcesOf } from '../../lessons/04-cgroups/feature.js';
import { checkLinuxFields, defaultConfig } from '../../src/final/oci/spec.js';

let bundle: string;
beforeEach(() => {
  bundle = mkdtempSync(path.join(tmpdir(), 'config-'));
  mkdirSync(path.join(bundle, 'rootfs'));
});
afterEach(() => rmSync(bundle, { recursive: true, force: true }));

function writeConfig(config: unknown): void {
  writeFileSync(path.join(bundle, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
}

/** readConfig's error, which must be a one-line ConfigError. */
function refusal(): string {
  try {
    readConfig(bundle);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message.replaceAll(bundle, 'BUNDLE');
  }
  throw new Error('readConfig accepted it');
}

describe('readConfig and checkConfig', () => {
  it('reads a good config.json as it is', () => {
    writeConfig(defaultConfig(['true']));
    expect(readConfig(bundle).process.args).toEqual(['true']);
  });

  it('refuses a bundle without config.json, and one that is not JSON', () => {
    expect(refusal()).toBe('bundle BUNDLE: no config.json');
    writeConfig('{"ociVersion": ');
    expect(refusal()).toMatch(/^bundle BUNDLE: config\.json is not valid JSON \(.+\)$/);
  });

  it('names the field that is missing or wrong', () => {
    const cases: [(config: OciConfig) => void, string][] = [
      [(config) => (config.process.args = []), 'process.args is empty'],
      [(config) => (config.process.cwd = 'relative'), 'process.cwd must be an absolute path'],
      [(config) => (config.root = undefined as never), 'root.path is missing'],
      [(config) => (config.root!.path = 'nowhere'), `root.path ${'BUNDLE'}/nowhere is not a directory`],
      [(config) => config.linux!.namespaces!.push({ type: 'time' }), 'the time namespace is not supported'],
      [(config) => (config.linux!.namespaces = [{ type: 'network', path: '/proc/no-such/ns/net' }]), 'namespace path /proc/no-such/ns/net does not exist'],
    ];
    for (const [change, message] of cases) {
      const config = defaultConfig(['true']);
      change(config);
      writeConfig(config);
      expect(refusal()).toBe(`bundle BUNDLE: ${message}`);
    }
  });

  it('refuses a config.json that is not an object', () => {
    expect(() => checkConfig(null as never, bundle)).toThrow(new ConfigError(`bundle ${bundle}: config.json is not an object`));
  });

  it('only parses with check: false (cleaning up after a container whose rootfs is gone)', () => {
    const config = defaultConfig(['true']);
    config.root!.path = 'gone';
    writeConfig(config);
    expect(readConfig(bundle, { check: false }).root!.path).toBe('gone');
  });
});

const context = (): HostContext => ({ id: 'abc', bundle, stateDir: bundle, runtimeDir: path.join(bundle, 'runtime'), warn: () => {} });

describe('planFromConfig with a registry of its own', () => {
  const first = defineFeature({
    name: 'first',
    steps: { greet: (_sys: Syscalls, _config: { to: string }) => {} },
    plan: (config, _context, step) => (config.hostname ? [step('greet', { to: config.hostname })] : []),
  });
  const second = defineFeature({
    name: 'second',
    steps: { count: (_sys: Syscalls, _config: { n: number }) => {}, never: (_sys: Syscalls, _config: Record<string, never>) => {} },
    plan: (config, _context, step) => [step('count', { n: config.process.args.length })],
  });

  it('asks each feature in the registry\'s order, and takes the namespaces and process from config.json', () => {
    const config = defaultConfig(['echo', 'hi']);
    config.hostname = 'box';
    config.linux!.namespaces = [{ type: 'uts' }, { type: 'network', path: '/proc/1/ns/net' }];
    const plan = planFromConfig(config, new FeatureRegistry([first, second]), context());
    expect(plan.id).toBe('abc');
    expect(plan.steps).toEqual([{ step: 'greet', config: { to: 'box' } }, { step: 'count', config: { n: 2 } }]);
    expect(plan.namespaces).toEqual(['uts']);
    expect(plan.join).toEqual([{ kind: 'net', path: '/proc/1/ns/net' }]);
    expect(plan.process).toEqual({ args: ['echo', 'hi'], env: config.process.env, cwd: '/' });
    // The other order, the other steps' order; a feature that asks for nothing adds nothing.
    config.hostname = undefined;
    expect(planFromConfig(config, new FeatureRegistry([second, first]), context()).steps.map(({ step }) => step)).toEqual(['count']);
  });

  it('refuses a namespace that only a step can make when no feature of the registry makes it', () => {
    const config = defaultConfig(['true']);
    expect(config.linux!.namespaces).toContainEqual({ type: 'cgroup' }); // as runc spec writes it
    expect(() => planFromConfig(config, new FeatureRegistry([first, second]), context())).toThrow('the cgroup namespace is not supported (no lesson makes one yet)');
  });

  it('refuses two features that add a step of the same name', () => {
    expect(() => new FeatureRegistry([first, first])).toThrow('setup step "greet" is added twice: by first and by first');
  });
});

describe('planFromConfig with the lessons\' registry', () => {
  /** A config.json as minidocker writes it (src/final/docker.ts bundleConfig), trimmed: without lesson 07's fields (tested below). */
  function minidockerConfig(): OciConfig {
    const config = defaultConfig(['sh']);
    config.process = { ...config.process, capabilities: undefined, rlimits: undefined, noNewPrivileges: undefined, user: undefined };
    config.root = { path: path.join(bundle, 'rootfs'), readonly: false };
    config.hostname = 'abc';
    config.linux = { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] };
    config.annotations = {
      [OVERLAY_ANNOTATION]: JSON.stringify({ target: path.join(bundle, 'rootfs'), lowerdirs: ['/l1'], upperdir: '/u', workdir: '/w' }),
    };
    return config;
  }

  it('runs the host name, then the overlay, then the root file system', () => {
    const plan = planFromConfig(minidockerConfig(), registry, context());
    expect(plan.steps.map(({ step }) => step)).toEqual(['hostname', 'overlay', 'ociRootfs', 'loopback']);
    expect(plan.steps[0]!.config).toEqual({ hostname: 'abc' });
    expect(plan.steps[2]!.config).toMatchObject({ rootfs: path.join(bundle, 'rootfs'), readonly: false });
    expect(plan.namespaces).toEqual(['pid', 'net', 'ipc', 'uts', 'mnt']);
  });

  it('makes a cgroup namespace when config.json lists one: in the join step, after the join; alone without a cgroup', () => {
    const config = minidockerConfig();
    config.linux!.namespaces!.push({ type: 'cgroup' });
    expect(planFromConfig(config, registry, context()).steps[0]).toEqual({ step: 'cgroup', config: { procs: [], namespace: true } });
    expect(planFromConfig(config, registry, context()).namespaces).not.toContain('cgroup'); // not with the others: see STEP_NAMESPACES
    config.linux!.resources = { pids: { limit: 10 } };
    expect(planFromConfig(config, registry, context()).steps[0]).toMatchObject({ step: 'cgroup', config: { namespace: true } });
    expect((planFromConfig(config, registry, context()).steps[0]!.config as { procs: string[] }).procs.length).toBeGreaterThan(0);
    config.linux!.namespaces!.push({ type: 'cgroup', path: '/proc/self/ns/cgroup' });
    config.linux!.namespaces = config.linux!.namespaces!.filter((entry) => entry.type !== 'cgroup' || entry.path);
    expect(() => planFromConfig(config, registry, context())).toThrow('joining a cgroup namespace by path is not supported');
  });

  it("reads linux.resources as runc does: swap unlimited when left out, 0 = not set, -1 = unlimited, empty blocks ask for nothing", () => {
    const read = (resources: Record<string, unknown>) => {
      const config = minidockerConfig();
      config.linux!.resources = resources;
      return resourcesOf(config);
    };
    expect(read({ memory: { limit: 1024 } })).toEqual({ memory: { limit: 1024, swap: -1 } });
    expect(read({ memory: { limit: 1024, swap: 2048 } })).toEqual({ memory: { limit: 1024, swap: 2048 } });
    expect(read({ memory: { limit: 0 }, cpu: { quota: -1, period: 100000, shares: 0 }, pids: { limit: 0 } })).toEqual({});
    expect(read({ cpu: { quota: 50000, period: 100000 }, pids: { limit: -5 } })).toEqual({ cpu: { quota: 50000, period: 100000 }, pids: { limit: -1 } });
    // What podman and containerd send when nothing is asked for.
    expect(read({ blockIO: {}, hugepageLimits: [], cpu: { cpus: '', mems: '' }, devices: [{ allow: false, access: 'rwm' }] })).toEqual({});
    expect(resourcesOf(minidockerConfig())).toEqual({});
  });

  it('refuses in one line a limit it cannot write: never a container with less of a limit than config.json asks', () => {
    const read = (resources: Record<string, unknown>) => () => {
      const config = minidockerConfig();
      config.linux!.resources = resources;
      return resourcesOf(config);
    };
    expect(read({ blockIO: { weight: 10 } })).toThrow('linux.resources.blockIO: not supported by this runtime (it limits memory, cpu, pids)');
    expect(read({ cpu: { cpus: '0-1' } })).toThrow('linux.resources.cpu.cpus: not supported by this runtime (of cpu it limits shares, quota, period)');
    expect(read({ memory: { limit: 1024, reservation: 512 } })).toThrow('linux.resources.memory.reservation: not supported');
    expect(read({ pids: { limit: '10' } })).toThrow('linux.resources.pids.limit must be a whole number, got "10"');
    expect(read({ memory: { swap: 2048 } })).toThrow('linux.resources.memory.swap needs memory.limit too');
  });

  it('puts the cgroup first, only when there are limits', () => {
    const config = minidockerConfig();
    config.linux!.resources = { memory: { limit: 64 * 1024 * 1024 } };
    expect(planFromConfig(config, registry, context()).steps.map(({ step }) => step)).toEqual(['cgroup', 'hostname', 'overlay', 'ociRootfs', 'loopback']);
  });

  it('without an overlay annotation, pivots into root.path as it is; a cgroup mount goes along, told whether the container has a cgroup namespace', () => {
    const config = minidockerConfig();
    delete config.annotations![OVERLAY_ANNOTATION];
    config.mounts!.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' });
    const warnings: string[] = [];
    const rootfsStep = (c: OciConfig) => planFromConfig(c, registry, { ...context(), warn: (message) => warnings.push(message) }).steps.find(({ step }) => step === 'ociRootfs')!;
    const plan = planFromConfig(config, registry, context());
    expect(plan.steps.map(({ step }) => step)).toEqual(['hostname', 'ociRootfs', 'loopback']);
    expect(rootfsStep(config).config).toMatchObject({ mounts: config.mounts });
    expect(rootfsStep(config).config).not.toHaveProperty('cgroupNamespace');
    config.linux!.namespaces!.push({ type: 'cgroup' });
    expect(rootfsStep(config).config).toMatchObject({ cgroupNamespace: true });
    expect(warnings).toEqual([]);
  });

  it("runs lesson 07's steps last, in runc's order: the bounding set before the user, seccomp last with no_new_privs and before any drop without it", () => {
    const config = minidockerConfig();
    Object.assign(config.process, defaultConfig().process, { user: { uid: 1000, gid: 1000 } });
    config.linux = { ...config.linux, maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'], seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO' }] } };
    const steps = (c: OciConfig) => planFromConfig(c, registry, context()).steps.map(({ step }) => step);
    expect(steps(config)).toEqual(['hostname', 'overlay', 'ociRootfs', 'loopback', 'protectPaths', 'rlimits', 'boundingSet', 'user', 'capabilities', 'noNewPrivileges', 'seccomp']);
    config.process.noNewPrivileges = false;
    expect(steps(config)).toEqual(['hostname', 'overlay', 'ociRootfs', 'loopback', 'protectPaths', 'rlimits', 'seccomp', 'boundingSet', 'user', 'capabilities']);
  });

  it("refuses lesson 07's fields it cannot honour, naming the field", () => {
    const refused = (change: (config: OciConfig) => void) => {
      const config = minidockerConfig();
      change(config);
      try {
        planFromConfig(config, registry, context());
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(refused((c) => (c.process.capabilities = { bounding: ['CAP_FLY'] }))).toMatch(/^process\.capabilities\.bounding: unknown capability "CAP_FLY"/);
    expect(refused((c) => (c.process.rlimits = [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }]))).toMatch(/^process\.rlimits: unknown limit "RLIMIT_FOO"/);
    expect(refused((c) => (c.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 9, hard: 1 }]))).toMatch(/soft limit 9 is above its hard limit 1/);
    expect(refused((c) => (c.process.user = { uid: -1, gid: 0 }))).toMatch(/^process\.user: /);
    expect(refused((c) => (c.linux!.seccomp = { defaultAction: 'SCMP_ACT_FLY' }))).toMatch(/^linux\.seccomp\.defaultAction: unknown action "SCMP_ACT_FLY"/);
    expect(refused((c) => (c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }))).toMatch(/unknown architecture "SCMP_ARCH_Z80"/);
    expect(refused((c) => (c.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mount'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_ABOUT' }] }] }))).toMatch(/linux\.seccomp\.syscalls\[0\]\.args\[0\]: unknown operator/);
    expect(refused((c) => (c.linux!.sysctl = { 'kernel.panic': '1' }))).toMatch(/^linux\.sysctl "kernel\.panic" is not namespaced: it would change the whole machine/);
    expect(refused((c) => {
      c.linux!.namespaces = c.linux!.namespaces!.filter(({ type }) => type !== 'ipc');
      c.linux!.sysctl = { 'kernel.shmmni': '100' };
    })).toMatch(/^linux\.sysctl "kernel\.shmmni" needs an ipc namespace of the container's own/);
    expect(refused((c) => (c.linux!.resources = { devices: [{ allow: true, type: 'x' }] }))).toMatch(/^linux\.resources\.devices: type "x" is not a, b or c/);
    expect(refused((c) => (c.linux!.devices = [{ path: 'dev/fuse', type: 'c', major: 10, minor: 229 }]))).toMatch(/^linux\.devices "dev\/fuse": the path must be absolute/);
    expect(refused((c) => (c.linux!.devices = [{ path: '/dev/sdb', type: 'b' }]))).toMatch(/a block device needs a major and a minor number/);
    expect(refused((c) => {
      c.linux!.namespaces = c.linux!.namespaces!.filter(({ type }) => type !== 'mount');
      c.linux!.maskedPaths = ['/proc/kcore'];
    })).toMatch(/mount namespace/);
  });

  it('passes linux.rootfsPropagation to the rootfs step, and refuses a word mount(8) does not know', () => {
    const config = minidockerConfig();
    config.linux!.rootfsPropagation = 'slave';
    expect(planFromConfig(config, registry, context()).steps.find(({ step }) => step === 'ociRootfs')!.config).toMatchObject({ propagation: 'slave' });
    config.linux!.rootfsPropagation = 'sideways';
    expect(() => planFromConfig(config, registry, context())).toThrow('linux.rootfsPropagation "sideways": use shared, slave, private or unbindable');
  });

  it('refuses a hostname without a uts namespace of its own, and a container without a mount namespace', () => {
    const noUts = minidockerConfig();
    noUts.linux!.namespaces = noUts.linux!.namespaces!.filter(({ type }) => type !== 'uts');
    const refusal = new ConfigError("config.json: hostname needs a uts namespace of the container's own (a new one, or another's joined by path)");
    expect(() => planFromConfig(noUts, registry, context())).toThrow(refusal);
    // Joined by path, but the runtime's own namespace: the host's name would change.
    noUts.linux!.namespaces!.push({ type: 'uts', path: '/proc/self/ns/uts' });
    expect(() => planFromConfig(noUts, registry, context())).toThrow(refusal);
    const noMount = minidockerConfig();
    noMount.linux!.namespaces = noMount.linux!.namespaces!.filter(({ type }) => type !== 'mount');
    expect(() => planFromConfig(noMount, registry, context())).toThrow(/a mount namespace of the container's own is required/);
    // Joined by path, but the runtime's own: pivot_root there would move the host's root.
    noMount.linux!.namespaces!.push({ type: 'mount', path: '/proc/self/ns/mnt' });
    expect(() => planFromConfig(noMount, registry, context())).toThrow(/a mount namespace of the container's own is required/);
  });
});

describe('checkLinuxFields (the OCI runtime: every linux field is applied or refused)', () => {
  it('refuses in one line a field no lesson applies; one left empty asks for nothing', () => {
    const config = defaultConfig(['true']);
    expect(() => checkLinuxFields(config)).not.toThrow(); // runc spec's fields are all applied
    Object.assign(config.linux!, { uidMappings: [], timeOffsets: null, personality: {}, intelRdt: '' });
    expect(() => checkLinuxFields(config)).not.toThrow();
    for (const [field, value] of [['personality', { domain: 'LINUX32' }], ['timeOffsets', { monotonic: { secs: 1 } }], ['intelRdt', { closID: 'x' }]] as const) {
      const asking = defaultConfig(['true']);
      Object.assign(asking.linux!, { [field]: value });
      expect(() => checkLinuxFields(asking), field).toThrow(new RegExp(`^linux\\.${field}: not supported by this runtime$`));
    }
  });

  it('takes mountLabel where SELinux is off, as runc does, and refuses it where SELinux enforces', () => {
    const config = defaultConfig(['true']);
    Object.assign(config.linux!, { mountLabel: 'system_u:object_r:container_file_t:s0' });
    expect(() => checkLinuxFields(config, () => false)).not.toThrow();
    expect(() => checkLinuxFields(config, () => true)).toThrow(/^linux\.mountLabel: this runtime does not apply SELinux labels/);
  });
});
