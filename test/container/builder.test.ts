/**
 * One way to build a container (src/container/builder.ts): from config.json, feature by feature — and
 * everything a feature made is given back when a later one fails, or when the container is gone.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFromConfig, createFromConfig, planFromConfig, releaseFeatures } from '../../src/container/builder.js';
import { OCI_VERSION, type OciConfig } from '../../src/container/config.js';
import { defineFeature, FeatureRegistry, type HostContext } from '../../src/container/features.js';
import { startInitEarly, type Container } from '../../src/container/runtime.js';
import { registry as labRegistry } from '../../lessons/registry.js';
import { describeAsRoot } from '../helpers/root.js';
import { findProgram } from '../../src/sys/programs.js';
import { eventually, isRunning } from '../helpers/processes.js';

let dir: string;
let context: HostContext;
const warnings: string[] = [];
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'lab-builder-'));
  mkdirSync(path.join(dir, 'rootfs'));
  mkdirSync(path.join(dir, 'runtime'));
  warnings.length = 0;
  context = { id: `builder-${process.pid}`, bundle: dir, stateDir: dir, runtimeDir: path.join(dir, 'runtime'), warn: (message) => warnings.push(message) };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function config(extra: Partial<OciConfig> = {}): OciConfig {
  return { ociVersion: OCI_VERSION, process: { args: ['sleep', '60'], cwd: '/' }, root: { path: 'rootfs' }, linux: { namespaces: [{ type: 'uts' }] }, ...extra };
}

/** A feature that writes down each of its host-side calls, and fails in the one it is told to. */
function recorder(name: string, log: string[], failIn?: 'prepare' | 'connect' | 'release') {
  const call = (what: 'prepare' | 'connect' | 'release') => {
    log.push(`${name}.${what}`);
    if (failIn === what) throw new Error(`${name} refused to ${what}`);
  };
  return defineFeature({ name, prepare: () => call('prepare'), connect: () => call('connect'), release: () => call('release') });
}

describe('planFromConfig', () => {
  it('asks every feature, in the registry’s order, and takes the namespaces from linux.namespaces', () => {
    const first = defineFeature({ name: 'first', steps: { a: (_sys: unknown, _config: Record<string, never>) => {} }, plan: (_config, _context, step) => [step('a', {})] });
    const second = defineFeature({ name: 'second', steps: { b: (_sys: unknown, _config: Record<string, never>) => {} }, plan: (_config, _context, step) => [step('b', {})] });
    const plan = planFromConfig(config({ linux: { namespaces: [{ type: 'uts' }, { type: 'network', path: '/proc/1/ns/net' }] } }), new FeatureRegistry([first, second]), context);
    expect(plan.steps.map((step) => step.step)).toEqual(['a', 'b']);
    expect(plan.namespaces).toEqual(['uts']);
    expect(plan.join).toEqual([{ kind: 'net', path: '/proc/1/ns/net' }]);
  });

  it('without a root, a lesson’s container keeps the host’s files: a new PID namespace gets its own /proc, no rootfs step', () => {
    const bare = { ...config({ hostname: 'lab', linux: { namespaces: [{ type: 'uts' }, { type: 'pid' }, { type: 'mount' }] } }), root: undefined };
    expect(planFromConfig(bare, labRegistry, context).steps.map((step) => step.step)).toEqual(['hostname', 'mountProc']);
    // Never a /proc mount in the runtime's own mount namespace.
    const shared = { ...config({ linux: { namespaces: [{ type: 'pid' }] } }), root: undefined };
    expect(planFromConfig(shared, labRegistry, context).steps).toEqual([]);
  });

  it('with the lessons’ registry: a hostname and a root file system become lesson 01’s and lesson 03’s steps', () => {
    const plan = planFromConfig(config({ hostname: 'lab', linux: { namespaces: [{ type: 'uts' }, { type: 'mount' }] } }), labRegistry, context);
    expect(plan.steps.map((step) => step.step)).toEqual(['hostname', 'ociRootfs']);
  });

  it('a registry refuses two features that add the same step', () => {
    const one = defineFeature({ name: 'one', steps: { same: () => {} } });
    const other = defineFeature({ name: 'other', steps: { same: () => {} } });
    expect(() => new FeatureRegistry([one, other])).toThrow('setup step "same" is added twice: by one and by other');
  });
});

describe('releaseFeatures', () => {
  it('asks every feature in reverse order, even after one fails, and throws the first failure', async () => {
    const log: string[] = [];
    const registry = new FeatureRegistry([recorder('a', log), recorder('b', log, 'release'), recorder('c', log)]);
    await expect(releaseFeatures(config(), registry, context)).rejects.toThrow('b: releasing: b refused to release');
    expect(log).toEqual(['c.release', 'b.release', 'a.release']);
    // Not marked done: the next caller tries again.
    await expect(releaseFeatures(config(), registry, context)).rejects.toThrow();
    expect(log).toHaveLength(6);
  });

  it('once all went well, later calls do nothing', async () => {
    const log: string[] = [];
    const registry = new FeatureRegistry([recorder('a', log), recorder('b', log)]);
    await releaseFeatures(config(), registry, context);
    await releaseFeatures(config(), registry, context);
    expect(log).toEqual(['b.release', 'a.release']);
    expect(existsSync(path.join(context.runtimeDir, 'released'))).toBe(true);
  });
});

describeAsRoot('createFromConfig', () => {
  let container: Container | undefined;
  afterEach(async () => {
    await container?.destroy();
    container = undefined;
  });

  it('prepares, creates, connects: the container waits for start with its features’ work done', async () => {
    const log: string[] = [];
    container = await createFromConfig(config(), { registry: new FeatureRegistry([recorder('a', log), recorder('b', log)]), context, stdio: 'ignore' });
    expect(log).toEqual(['a.prepare', 'b.prepare', 'a.connect', 'b.connect']);
    expect(isRunning(container.pid)).toBe(true);
  });

  it('a feature that fails to connect: the container is killed and every feature releases, the error is the feature’s', async () => {
    const log: string[] = [];
    const registry = new FeatureRegistry([recorder('a', log), recorder('b', log, 'connect')]);
    let pid = 0;
    const failing = defineFeature({ name: 'spy', connect: (_config, { pid: created }) => void (pid = created) });
    await expect(createFromConfig(config(), { registry: new FeatureRegistry([failing, ...registry.features]), context, stdio: 'ignore' })).rejects.toThrow('b refused to connect');
    expect(log).toEqual(['a.prepare', 'b.prepare', 'a.connect', 'b.connect', 'b.release', 'a.release']);
    expect(pid).toBeGreaterThan(0);
    await eventually(() => !isRunning(pid), 5000, 'the created container to be gone');
  });
});

describeAsRoot('createFromConfig with an init started early (startInitEarly)', () => {
  const containers: Container[] = [];
  afterEach(async () => {
    for (const created of containers.splice(0)) await created.destroy();
  });
  // A new PID namespace and nothing else: no root, so no mount namespace is needed (and none is touched).
  const pidOnly = () => ({ ...config({ linux: { namespaces: [{ type: 'pid' }] } }), root: undefined });
  const nsPid = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/^NSpid:\s+(.*)$/m)![1]!.split(/\s+/).map(Number);

  it('is the container’s init when the plan’s PID namespace is the one it was started in: PID 1 there', async () => {
    const early = await startInitEarly({ stdio: 'ignore', direct: { registry: labRegistry }, newPidNamespace: true });
    const container = await createFromConfig(pidOnly(), { registry: labRegistry, context, stdio: 'ignore', direct: true, early });
    containers.push(container);
    expect(container.pid).toBe(early.process.pid);
    expect(nsPid(container.pid)).toEqual([container.pid, 1]);
    early.discard(); // taken: discard leaves the container's init alone
    expect(isRunning(container.pid)).toBe(true);
  });

  it('is ended when the plan wants another PID namespace, and a new init starts in the right one', async () => {
    const early = await startInitEarly({ stdio: 'ignore', direct: { registry: labRegistry }, newPidNamespace: false });
    const container = await createFromConfig(pidOnly(), { registry: labRegistry, context, stdio: 'ignore', direct: true, early });
    containers.push(container);
    expect(container.pid).not.toBe(early.process.pid);
    expect(nsPid(container.pid)).toEqual([container.pid, 1]);
    await eventually(() => !isRunning(early.process.pid!), 5000, 'the early init to end');
  });
});

describeAsRoot('a container in a user namespace of its own, started directly (a foreground run)', () => {
  // No root file system: the host's files, read by a root that is no one on the host (they are world-readable).
  const mapped = (args: string[]) => ({
    ...config({
      process: { args, cwd: '/' },
      linux: { namespaces: [{ type: 'pid' }, { type: 'user' }], uidMappings: [{ containerID: 0, hostID: 3_200_000_000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 3_200_000_000, size: 65536 }] },
    }),
    root: undefined,
  });
  const status = (pid: number, field: string) => readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(.*)$`, 'm'))![1]!.split(/\s+/);

  it('is PID 1 of a PID namespace made inside it, adopted by us: its exit code, and 137 when it is killed', async () => {
    const ends = await createFromConfig(mapped(['sh', '-c', 'exit 7']), { registry: labRegistry, context, stdio: 'ignore', direct: true });
    expect(status(ends.pid, 'NSpid')).toEqual([String(ends.pid), '1']);
    expect(status(ends.pid, 'Uid')[1]).toBe('3200000000');
    expect(status(ends.pid, 'PPid')).toEqual([String(process.pid)]); // its helper forked it and left
    await ends.start();
    expect(await ends.wait()).toEqual({ code: 7, signal: null, exitCode: 7 });

    const killed = await createFromConfig(mapped(['sleep', '60']), { registry: labRegistry, context: { ...context, id: `${context.id}-k` }, stdio: 'ignore', direct: true });
    await killed.start();
    killed.kill('SIGKILL');
    expect(await killed.wait()).toEqual({ code: null, signal: 'SIGKILL', exitCode: 137 });
  });

  it('dies with us, not with the helper that forked it: a helper that leaves late does not kill it', async () => {
    // PR_SET_PDEATHSIG fires when the parent of the moment exits. A setsid whose parent half the scheduler
    // runs late (a loaded machine) is played by one that waits half a second before it leaves.
    const slow = mkdtempSync(path.join(tmpdir(), 'lab-slow-setsid-'));
    chmodSync(slow, 0o755); // run by the container's root, no one on the host
    writeFileSync(path.join(slow, 'setsid'), `#!/bin/sh\nshift 2\n${findProgram('setsid')} "$@" &\nsleep 0.5\n`, { mode: 0o755 });
    const searchPath = process.env.PATH;
    process.env.PATH = `${slow}:${searchPath}`;
    try {
      const late = await createFromConfig(mapped(['sh', '-c', 'sleep 1; exit 3']), { registry: labRegistry, context, stdio: 'ignore', direct: true });
      await late.start();
      expect(await late.wait()).toEqual({ code: 3, signal: null, exitCode: 3 });
    } finally {
      process.env.PATH = searchPath;
      rmSync(slow, { recursive: true, force: true });
    }
  });

  it('an init that dies before it is ready is an error that says so, directly or through a monitor — not a wait forever', async () => {
    // Killed while the host attaches it (its cgroup): the moment an adopted init is most alone.
    const killer = defineFeature({ name: 'killer', attach: (_config, { pid }) => void process.kill(pid, 'SIGKILL') });
    const registry = new FeatureRegistry([...labRegistry.features, killer]);
    for (const direct of [true, false]) {
      const creating = createFromConfig(mapped(['true']), { registry, context: { ...context, id: `${context.id}-${direct}` }, stdio: 'ignore', direct });
      await expect(creating).rejects.toMatchObject({ exitCode: 125, message: 'init ended before the container was ready (killed by SIGKILL)' });
    }
  });
});

describeAsRoot('buildFromConfig', () => {
  it('destroy() ends the container, then releases every feature, once however often it is called', async () => {
    const log: string[] = [];
    const built = await buildFromConfig(config(), { registry: new FeatureRegistry([recorder('a', log), recorder('b', log)]), context, stdio: 'ignore' });
    try {
      await built.container.start();
      expect(isRunning(built.container.pid)).toBe(true);
    } finally {
      await Promise.all([built.destroy(), built.destroy()]);
    }
    expect(isRunning(built.container.pid)).toBe(false);
    expect(log).toEqual(['a.prepare', 'b.prepare', 'a.connect', 'b.connect', 'b.release', 'a.release']);
  });
});
