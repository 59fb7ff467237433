/**
 * A real engine drives the OCI runtime: `podman --runtime` with conmon as the container's shim, exactly
 * as podman drives runc. conmon is a subreaper that waits for the container's process itself, so this
 * only works when `create` hands init off (see src/container/protocol.ts) — the command's exit code,
 * `podman exec`, `run -it` with the pty sent over --console-socket, limits in podman's own cgroup path.
 *
 * Everything podman keeps is in this test's folder (--root, --runroot, --tmpdir), its cgroups under a
 * parent of this test's own (--cgroup-parent), and it uses no network (--network none): the machine's
 * podman, its images and its networks are never touched. Skipped, saying so, where podman is missing.
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { busyboxImage } from '../../lessons/03-mount/image.js';
import { isRoot } from '../helpers/root.js';
import { spawnOnTerminal, within } from '../helpers/terminal.js';
import { COMMAND_PATIENCE_MS, mountsUnder, OCI } from './helpers.js';
import { podmanUlimitFlags, removeCgroupParent } from '../../src/final/podman.js';

const hasPodman = ['podman', 'conmon'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
const skipReason = !isRoot ? 'needs root' : !hasPodman ? 'podman and conmon are not installed (`npm run setup` installs them)' : null;
const describeWithPodman = skipReason ? (name: string, body: () => void) => describe.skip(`${name} (skipped: ${skipReason})`, body) : describe;

describeWithPodman('podman drives the OCI runtime (podman --runtime, conmon as the shim)', () => {
  let dir: string;
  let cgroupParent: string;
  let engine: string[];
  let ulimits: string[];
  const children: ChildProcess[] = [];

  const podman = (...args: string[]) => {
    const result = spawnSync('podman', [...engine, ...args], { encoding: 'utf8', timeout: COMMAND_PATIENCE_MS });
    return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
  };
  /** `podman run` with what every run here shares: no network, this test's cgroup parent, the machine's own file limits. */
  const run = (...args: string[]) => ['run', '--network', 'none', '--cgroup-parent', cgroupParent, ...ulimits, ...args];

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mdl-podman-'));
    cgroupParent = `/${path.basename(dir)}`;
    // The runtime as an engine is given one: a program path. The wrapper keeps its state in this test's folder.
    const runtime = path.join(dir, 'mini-oci');
    writeFileSync(runtime, `#!/bin/sh\nLAB_STATE_DIR=${path.join(dir, 'lab')} exec ${process.execPath} ${path.join(REPO_ROOT, OCI)} "$@"\n`);
    chmodSync(runtime, 0o755);
    engine = ['--root', path.join(dir, 'storage'), '--runroot', path.join(dir, 'run'), '--tmpdir', path.join(dir, 'tmp'),
      '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--runtime', runtime];
    ulimits = podmanUlimitFlags();
    const { image } = busyboxImage({ stateDir: path.join(dir, 'lab') });
    const tarball = path.join(dir, 'busybox.tar');
    execFileSync('tar', ['-C', image.rootfs, '-cf', tarball, '.']);
    const imported = podman('import', '--quiet', tarball, 'localhost/lab-busybox');
    expect(imported.code, imported.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    podman('rm', '--all', '--force', '--time', '0');
    podman('rmi', '--all', '--force');
    for (const mount of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', mount]);
    rmSync(dir, { recursive: true, force: true });
    removeCgroupParent(cgroupParent); // podman's, in each hierarchy, with conmon's cgroup inside it
  });

  it('run --rm: the output, and the exit code exactly (conmon waits for the command itself)', () => {
    const hi = podman(...run('--rm', 'localhost/lab-busybox', 'sh', '-c', 'echo hi; exit 7'));
    expect(hi.stdout).toBe('hi\n');
    expect(hi.code, hi.stderr).toBe(7);
    const missing = podman(...run('--rm', 'localhost/lab-busybox', 'nosuchcommand'));
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('"nosuchcommand": executable file not found in $PATH');
    expect(podman('ps', '--all', '--quiet').stdout).toBe('');
    expect(runtimeRecords()).toEqual([]);
  });

  it('--uidmap: podman asks for a user namespace (linux.uidMappings); root inside, the mapped ID outside, conmon still its parent', () => {
    const base = 3_300_000_000;
    const started = podman(...run('-d', '--name', 'mapped', '--uidmap', `0:${base}:65536`, 'localhost/lab-busybox', 'sh', '-c', 'touch /root/made; exec sleep 1000'));
    expect(started.code, started.stderr).toBe(0);
    const pid = Number(podman('inspect', '--format', '{{.State.Pid}}', 'mapped').stdout);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+\d+\s+(\d+)/m.exec(status)![1]).toBe(String(base));
    const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    expect(readFileSync(`/proc/${parent}/comm`, 'utf8').trim()).toBe('conmon'); // the helper that forked init left
    const inside = podman('exec', 'mapped', 'sh', '-c', 'id -u; stat -c %u /root/made; cat /proc/self/uid_map');
    expect(inside.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/).join(' '))).toEqual(['0', '0', `0 ${base} 65536`]);
    expect(podman('rm', '--force', '--time', '0', 'mapped').code).toBe(0);
    expect(runtimeRecords()).toEqual([]);
  });

  it('run -d, ps, exec, stop, rm; limits in the cgroup podman names; nothing left in the runtime', () => {
    const started = podman(...run('-d', '--name', 'sleeper', '--memory', '64m', '--pids-limit', '50', 'localhost/lab-busybox', 'sleep', '1000'));
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(podman('ps', '--format', '{{.Names}} {{.Status}}').stdout).toMatch(/^sleeper Up /);

    // The container's process is conmon's child: conmon is the subreaper that adopted it.
    const pid = Number(podman('inspect', '--format', '{{.State.Pid}}', 'sleeper').stdout);
    const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    expect(readFileSync(`/proc/${parent}/comm`, 'utf8').trim()).toBe('conmon');
    // The limits, in the cgroup podman asked for (linux.cgroupsPath: <parent>/libpod-<ID>).
    const pidsCgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((line) => /^0::|:pids:/.test(line))!;
    expect(pidsCgroup).toContain(`${cgroupParent}/libpod-${id}`);
    const pidsDir = pidsCgroup.startsWith('0::') ? `/sys/fs/cgroup${pidsCgroup.slice(3)}` : `/sys/fs/cgroup/pids${pidsCgroup.split(':')[2]}`;
    expect(readFileSync(path.join(pidsDir, 'pids.max'), 'utf8').trim()).toBe('50');

    const exec = podman('exec', 'sleeper', 'sh', '-c', 'echo "in $(cat /proc/1/cmdline | tr "\\0" " ")"; exit 3');
    expect(exec.stdout).toBe('in sleep 1000 \n');
    expect(exec.code, exec.stderr).toBe(3);

    expect(podman('stop', '--time', '1', 'sleeper').code).toBe(0);
    expect(podman('ps', '--all', '--format', '{{.Names}} {{.Status}}').stdout).toMatch(/^sleeper Exited \(137\)/);
    expect(podman('rm', 'sleeper').code).toBe(0);
    expect(runtimeRecords()).toEqual([]);
    expect(existsSync(pidsDir)).toBe(false);
  });

  it('run -it: a real pty (sent back over --console-socket), the window size, the exit code', async () => {
    const { terminal, child, exited } = spawnOnTerminal('podman', [...engine, ...run('-it', '--rm', 'localhost/lab-busybox', 'sh')], { rows: 30, cols: 90, env: { ...process.env, TERM: 'xterm' } });
    children.push(child);
    await terminal.waitFor(/\/ # /, COMMAND_PATIENCE_MS);
    terminal.type('echo "tty=$(tty) size=$(stty size)"');
    await terminal.waitFor(/tty=\/dev\/pts\/0 size=30 90/);
    terminal.type('exit 5');
    expect(await within(exited, COMMAND_PATIENCE_MS, 'podman to exit')).toBe(5);
    await terminal.finish();
  });

  /** The containers the runtime still keeps a record of. */
  function runtimeRecords(): string[] {
    const records = path.join(dir, 'lab', 'runtime');
    return existsSync(records) ? readdirSync(records).filter((name) => name !== 'lock') : [];
  }
});
