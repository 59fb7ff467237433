/**
 * minidocker's exec, resource flags (lesson 04), -v bind mounts and image commands (lesson 05), end to
 * end as a user types them: each command a new process, each test with its own LAB_STATE_DIR, removed
 * even when the test fails, after killing whatever it started.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeAsRoot } from '../helpers/root.js';
import { throwawayNetns } from '../helpers/netns.js';
import { busyboxImage } from '../../lessons/03-mount/image.js';
import { readCgroupFacts, labParentDirs } from '../../lessons/04-cgroups/cgroups.js';
import { removeCgroupDir } from '../../lessons/04-cgroups/manager.js';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { eventually } from '../helpers/processes.js';
import { alive, cli, COMMAND_PATIENCE_MS, MINIDOCKER, leftovers, recordedPids, killRecorded } from './helpers.js';

let stateDir: string;
let hostDir: string;
let hostNetns: string;
const md = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns });


/** A container's cgroup name: config.json's linux.cgroupsPath (its full 64-hex ID), or undefined without limits. */
function cgroupNameOf(id: string): string | undefined {
  return JSON.parse(readFileSync(path.join(stateDir, 'minidocker', id, 'bundle', 'config.json'), 'utf8')).linux?.cgroupsPath;
}

/** This test's containers' cgroups: named in their bundles' config.json. */
function cgroupDirs(): string[] {
  const root = path.join(stateDir, 'minidocker');
  const names = existsSync(root)
    ? readdirSync(root).flatMap((id) => {
        try {
          const name = cgroupNameOf(id);
          return name ? [name] : [];
        } catch {
          return [];
        }
      })
    : [];
  return labParentDirs(readCgroupFacts()).flatMap((parent) => names.map((name) => path.join(parent, name))).filter((dir) => existsSync(dir));
}


/** Cgroups are machine-wide: remember which ones this test's containers have, to check they go. */
function ownCgroupsOf(id: string): string[] {
  return labParentDirs(readCgroupFacts()).map((parent) => path.join(parent, cgroupNameOf(id)!));
}

describeAsRoot('minidocker exec, limits, volumes, images', () => {
  const netns = throwawayNetns();
  beforeEach(() => {
    hostNetns = netns.create('lab-test-md');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-feat-'));
    hostDir = mkdtempSync(path.join(tmpdir(), 'mdl-host-'));
  });
  afterEach(async () => {
    const cgroups = cgroupDirs();
    killRecorded(stateDir);
    for (const dir of cgroups) await removeCgroupDir(dir).catch(() => {});
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(hostDir, { recursive: true, force: true });
  });

  it('exec runs in a running container: its namespaces, -e, -w, exit code; one-line errors', () => {
    const started = md('run', '-d', '--name', 'box', '--hostname', 'inside', '-e', 'FROM_RUN=1', 'busybox', 'sleep', '1000');
    expect(started.code, started.stderr).toBe(0);
    const out = md('exec', '-e', 'EXTRA=2', '-w', '/tmp', 'box', 'sh', '-c', 'hostname; echo $FROM_RUN$EXTRA; pwd; cat /proc/1/cmdline | tr "\\0" " "');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual(['inside', '12', '/tmp', 'sleep 1000']);
    expect(md('exec', 'box', 'sh', '-c', 'exit 5')).toExitWith(5);
    expect(md('exec', 'box', 'no-such-command')).toExitWith(127);
    expect(md('exec', 'nothing', 'true')).toMatchObject({ code: 125, stderr: 'minidocker: No such container: nothing\n' });
    expect(md('stop', '-t', '1', 'box')).toExitWith(0);
    const stopped = md('exec', 'box', 'true');
    expect(stopped).toExitWith(125);
    expect(stopped.stderr).toMatch(/^minidocker: container [0-9a-f]{12} is not running\n$/);
    expect(md('rm', 'box')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('-m kills a container over its memory limit with 137; --pids-limit is in the cgroup; exec joins the cgroup; nothing is left', () => {
    expect(md('run', '--rm', '-m', '64m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=200M', 'count=1')).toExitWith(137);
    expect(md('run', '--rm', '-m', '64m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=16M', 'count=1')).toExitWith(0);
    // A --rm container's cgroup goes with it. Seen from the host: inside, cgroup v2's cgroup namespace
    // shows the container its own cgroup as "/", so /proc/self/cgroup names nothing there.
    const temporary = md('run', '-d', '--rm', '-m', '64m', 'busybox', 'sleep', '1000');
    expect(temporary.code, temporary.stderr).toBe(0);
    const temporaryDirs = ownCgroupsOf(temporary.stdout.trim());
    expect(temporaryDirs.filter((dir) => existsSync(dir)).length).toBeGreaterThan(0);
    expect(md('stop', '-t', '0', temporary.stdout.trim())).toExitWith(0);
    expect(temporaryDirs.filter((dir) => existsSync(dir))).toEqual([]);
    expect(md('ps', '-a').stdout).not.toContain(temporary.stdout.trim()); // --rm: stopped means removed
    const started = md('run', '-d', '--name', 'limited', '--pids-limit', '42', '--memory=32m', '--cpus', '0.5', 'busybox', 'sleep', '1000');
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    const dirs = ownCgroupsOf(id);
    const pidsDir = dirs.find((dir) => existsSync(path.join(dir, 'pids.max')))!;
    expect(readFileSync(path.join(pidsDir, 'pids.max'), 'utf8').trim()).toBe('42');
    // exec's process is in the container's cgroup too (docker exec does the same).
    const inside = md('exec', 'limited', 'cat', '/proc/self/cgroup');
    expect(inside.code, inside.stderr).toBe(0);
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      // v2: exec joined the container's cgroup namespace too, whose root is the container's cgroup. A
      // process outside that cgroup would see a path climbing out of the root ("0::/../..."), not "/".
      expect(inside.stdout.trim()).toBe('0::/');
    } else {
      expect(inside.stdout).toMatch(new RegExp(`pids:/.*${cgroupNameOf(id)}`));
    }
    expect(md('rm', '-f', 'limited')).toExitWith(0);
    expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('Docker’s cgroup mount: /sys/fs/cgroup shows the container its own cgroup (its memory limit), read-only', () => {
    const v2 = readCgroupFacts().layout.active === 'v2';
    const memory = v2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
    const result = md('run', '--rm', '-m', '48m', 'busybox', 'sh', '-c', `cat ${memory}/${v2 ? 'memory.max' : 'memory.limit_in_bytes'}; touch ${memory}/x 2>&1; true`);
    expect(result).toExitWith(0);
    const [limit, touched] = result.stdout.trim().split('\n');
    expect(limit).toBe(String(48 * 1024 * 1024));
    expect(touched).toMatch(/Read-only file system/);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('pause freezes a container and unpause thaws it (v2: cgroup.freeze; v1: the freezer controller); ps says Paused; stop works on a paused one', async () => {
    const started = md('run', '-d', '--name', 'frozen', '-m', '64m', 'busybox', 'sh', '-c', 'while true; do echo tick; usleep 20000; done');
    expect(started.code, started.stderr).toBe(0);
    const ticks = () => md('logs', 'frozen').stdout.split('\n').filter(Boolean).length;
    await eventually(() => ticks() > 0, 10_000, 'the first ticks');
    const layout = readCgroupFacts().layout;
    if (layout.active === 'v1' && !layout.v1Mounts.freezer) {
      const refused = md('pause', 'frozen');
      expect(refused).toExitWith(125);
      expect(refused.stderr).toMatch(/^minidocker: container "[0-9a-f]{12}": pause: pausing needs the freezer controller, and no cgroup v1 hierarchy has it mounted here: mount it .*\n$/);
      expect(md('ps').stdout).not.toContain('Paused');
    } else {
      expect(md('pause', 'frozen')).toMatchObject({ code: 0, stdout: 'frozen\n' });
      expect(md('ps').stdout).toMatch(/Up .* \(Paused\)/);
      expect(JSON.parse(md('inspect', 'frozen').stdout)[0].State).toMatchObject({ Status: 'paused', Running: true, Paused: true });
      const frozenAt = ticks();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ticks()).toBe(frozenAt); // not one tick while frozen
      expect(md('pause', 'frozen').stderr).toBe('minidocker: Container frozen is already paused\n');
      expect(md('exec', 'frozen', 'true').stderr).toMatch(/^minidocker: Container [0-9a-f]{12,64} is paused, unpause the container before exec\n$/);
      expect(md('unpause', 'frozen')).toMatchObject({ code: 0, stdout: 'frozen\n' });
      await eventually(() => ticks() > frozenAt, 10_000, 'ticks again');
      expect(md('unpause', 'frozen').stderr).toBe('minidocker: Container frozen is not paused\n');
      expect(md('pause', 'frozen')).toExitWith(0); // stop thaws it first, so that SIGTERM can be acted on
    }
    expect(md('stop', '-t', '1', 'frozen')).toExitWith(0);
    expect(md('pause', 'frozen').stderr).toBe('minidocker: Container frozen is not running\n');
    expect(md('rm', 'frozen')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('update changes the limits of a running container in its cgroup and in inspect; Docker\'s swap rule; one-line refusals', () => {
    const started = md('run', '-d', '--name', 'tuned', '-m', '64m', '--pids-limit', '42', 'busybox', 'sleep', '1000');
    expect(started.code, started.stderr).toBe(0);
    const dirs = ownCgroupsOf(started.stdout.trim());
    const read = (name: string) => readFileSync(path.join(dirs.find((dir) => existsSync(path.join(dir, name)))!, name), 'utf8').trim();
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    expect(md('update', '--pids-limit', '60', '-m', '32m', 'tuned')).toMatchObject({ code: 0, stdout: 'tuned\n' });
    expect(read('pids.max')).toBe('60');
    expect(read(v2 ? 'memory.max' : 'memory.limit_in_bytes')).toBe(String(32 * 1024 * 1024));
    expect(JSON.parse(md('inspect', 'tuned').stdout)[0].HostConfig).toMatchObject({ Memory: 32 * 1024 * 1024, MemorySwap: 64 * 1024 * 1024, PidsLimit: 60 });
    // Memory+swap is still 64m: a limit above it needs a new one too, as in Docker.
    expect(md('update', '-m', '128m', 'tuned')).toMatchObject({
      code: 125,
      stderr: 'minidocker: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time\n',
    });
    expect(md('update', '-m', '128m', '--memory-swap', '256m', 'tuned')).toExitWith(0);
    expect(read(v2 ? 'memory.max' : 'memory.limit_in_bytes')).toBe(String(128 * 1024 * 1024));
    expect(md('update', '--cpuset-cpus', '0', 'tuned').stderr).toBe('minidocker: unknown flag: --cpuset-cpus (update takes -m, --memory-swap, --cpus, --cpu-shares, --pids-limit)\n');
    expect(md('update', 'tuned').stderr).toBe('minidocker: you must provide one or more flags when using this command\n');
    expect(md('stop', '-t', '0', 'tuned')).toExitWith(0);
    expect(md('update', '--pids-limit', '10', 'tuned').stderr).toMatch(/^minidocker: container "[0-9a-f]{12}" is stopped: there is nothing left to update\n$/);
    expect(md('rm', 'tuned')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('kill -9 of the CLI during `run --rm -m`: the next `ps -a` removes the container and its cgroup', async () => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, MINIDOCKER), 'run', '--rm', '-m', '64m', '--name', 'victim', 'busybox', 'sleep', '1000'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns },
      stdio: 'ignore',
    });
    let dirs: string[] = [];
    try {
      await eventually(() => recordedPids(stateDir).length === 2 && md('ps').stdout.includes('victim'), COMMAND_PATIENCE_MS, 'container running');
      dirs = ownCgroupsOf(readdirSync(path.join(stateDir, 'minidocker')).find((name) => name !== 'lock')!);
      expect(dirs.filter((dir) => existsSync(dir)).length).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
    }
    await eventually(() => recordedPids(stateDir).every((pid) => !alive(pid)), 5000, 'the container goes with its runtime');
    expect(md('ps', '-a').stdout.trim().split('\n')).toHaveLength(1);
    expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('bad limit values: one line, exit 125, nothing created', () => {
    for (const flags of [['-m', '64q'], ['-m', '1m'], ['--cpus', 'lots'], ['--pids-limit', 'x'], ['--memory-swap', '64m'], ['--cpu-shares', '1']]) {
      const result = md('run', '--rm', ...flags, 'busybox', 'true');
      expect(result.code, flags.join(' ')).toBe(125);
      expect(result.stderr).toMatch(/^minidocker: [^\n]+\n$/);
    }
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('-v binds a host folder or file; :ro refuses writes; a missing host path is an error', () => {
    writeFileSync(path.join(hostDir, 'note'), 'from the host\n');
    const rw = md('run', '--rm', '-v', `${hostDir}:/data`, 'busybox', 'sh', '-c', 'cat /data/note; echo back > /data/reply');
    expect(rw).toMatchObject({ code: 0, stdout: 'from the host\n' });
    expect(readFileSync(path.join(hostDir, 'reply'), 'utf8')).toBe('back\n');
    const ro = md('run', '--rm', '-v', `${hostDir}/note:/etc/note:ro`, 'busybox', 'sh', '-c', 'cat /etc/note; echo x > /etc/note || echo refused');
    expect(ro).toExitWith(0);
    expect(ro.stdout).toBe('from the host\nrefused\n');
    expect(readFileSync(path.join(hostDir, 'note'), 'utf8')).toBe('from the host\n');
    const missing = md('run', '--rm', '-v', `${hostDir}/nope:/data`, 'busybox', 'true');
    expect(missing).toExitWith(125);
    expect(missing.stderr).toBe(`minidocker: invalid volume specification: "${hostDir}/nope:/data": bind source path does not exist: ${hostDir}/nope\n`);
    expect(md('run', '--rm', '-v', 'relative:/data', 'busybox', 'true')).toExitWith(125);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('image import, commit, rmi', () => {
    const { image: folder } = busyboxImage({ stateDir });
    const tarball = path.join(hostDir, 'rootfs.tar');
    expect(spawnSync('tar', ['-C', folder.rootfs, '-cf', tarball, '.']).status).toBe(0);
    const imported = md('image', 'import', tarball, 'imported:v1');
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(md('images').stdout).toMatch(/imported\s+v1/);
    expect(md('run', '--rm', 'imported:v1', 'echo', 'from import')).toMatchObject({ code: 0, stdout: 'from import\n' });

    expect(md('run', '--name', 'maker', 'imported:v1', 'sh', '-c', 'echo made > /made')).toExitWith(0);
    const committed = md('commit', 'maker', 'made');
    expect(committed.code, committed.stderr).toBe(0);
    expect(md('run', '--rm', 'made', 'cat', '/made')).toMatchObject({ code: 0, stdout: 'made\n' });
    // an image a container uses cannot go
    const refused = md('rmi', 'imported:v1');
    expect(refused).toExitWith(125);
    expect(refused.stderr).toMatch(/^minidocker: conflict: [^\n]+\n$/);
    expect(md('rm', 'maker')).toExitWith(0);
    expect(md('rmi', 'made').stdout).toMatch(/^Untagged: made:latest\n/);
    expect(md('rmi', 'imported:v1')).toExitWith(0);
    expect(md('images').stdout).not.toMatch(/imported|made/);
    expect(md('rmi', 'made')).toMatchObject({ code: 125, stderr: 'minidocker: No such image: made\n' });
    expect(md('image', 'import', path.join(hostDir, 'none.tar'), 'x')).toExitWith(125);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('an unknown command says so, with the usage, exit 125', () => {
    const result = md('frobnicate');
    expect(result).toExitWith(125);
    expect(result.stderr).toMatch(/^minidocker: unknown command "frobnicate"\nUsage:/);
  }, 30_000);
});
