/**
 * minidocker end to end, as a user types it: every command a new process, each test with its own
 * LAB_STATE_DIR (removed even when the test fails, after killing whatever it started).
 *
 * The time limits in test/final are generous (3 minutes a test) because the VM suite runs these files
 * under software emulation, where one `run` takes seconds; they only stop a hang. Speed is measured by
 * `npm run bench`, not here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { findProgram } from '../../src/sys/programs.js';
import { describeAsRoot } from '../helpers/root.js';
import { throwawayNetns } from '../helpers/netns.js';
import { eventually } from '../helpers/processes.js';
import { alive, cli, COMMAND_PATIENCE_MS, MINIDOCKER, leftovers, recordedPids, killRecorded } from './helpers.js';

let stateDir: string;
let hostNetns: string;
const md = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns });



describeAsRoot('minidocker, as a user types it', () => {
  const netns = throwawayNetns();
  beforeEach(() => {
    hostNetns = netns.create('lab-test-md');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-final-'));
  });
  afterEach(() => {
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('run --rm prints the output and exits with the command’s code (0, 3, 127, 126)', () => {
    const hello = md('run', '--rm', 'busybox', 'echo', 'hello');
    expect(hello).toMatchObject({ code: 0, stdout: 'hello\n' });
    expect(md('run', '--rm', 'busybox', 'sh', '-c', 'exit 3')).toExitWith(3);
    const missing = md('run', '--rm', 'busybox', 'no-such-command');
    expect(missing).toExitWith(127);
    expect(missing.stderr).toBe('minidocker: exec: "no-such-command": executable file not found in $PATH\n');
    expect(md('run', '--rm', 'busybox', '/etc/hostname')).toExitWith(126);
    expect(md('run', '--rm', 'no-such-image', 'true')).toExitWith(125);
    // --network none: a namespace with only lo, and lo is up.
    expect(md('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net; ip -o link show lo | grep -o "<[^>]*>"')).toMatchObject({ code: 0, stdout: 'lo\n<LOOPBACK,UP,LOWER_UP>\n' });
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('applies --hostname, -e, -w, --init and --read-only', () => {
    const result = md('run', '--rm', '--hostname', 'box', '-e', 'GREETING=hi', '-w', '/tmp', '--init', '--read-only', 'busybox',
      'sh', '-c', 'hostname; echo $GREETING; pwd; tr "\\0" " " < /proc/1/cmdline; echo; touch /x || echo read-only');
    expect(result).toExitWith(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(['box', 'hi', '/tmp']);
    expect(lines[3]).toMatch(/^\/sbin\/docker-init -- sh -c/);
    expect(lines.at(-1)).toBe('read-only');
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('run -d keeps running after the CLI exits; ps, logs, stop, ps -a, rm', async () => {
    const started = md('run', '-d', '--name', 'worker', 'busybox', 'sh', '-c', 'echo up; trap "echo bye; exit 7" TERM; while true; do sleep 0.1; done');
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(md('ps').stdout).toMatch(new RegExp(`${id}.*Up .*worker`));
    await eventually(() => md('logs', 'worker').stdout === 'up\n', 10_000, 'log line');
    const { State } = JSON.parse(md('inspect', 'worker').stdout)[0];
    expect(State).toMatchObject({ Status: 'running', Running: true });
    expect(alive(State.Pid)).toBe(true);
    expect(md('rm', 'worker')).toExitWith(125); // running: refused, nothing changed
    expect(md('stop', '-t', '5', 'worker')).toMatchObject({ code: 0, stdout: 'worker\n' });
    expect(alive(State.Pid)).toBe(false);
    expect(md('ps').stdout).not.toContain(id);
    expect(md('ps', '-a').stdout).toMatch(new RegExp(`${id}.*Exited \\(7\\).*worker`));
    expect(md('logs', 'worker').stdout).toBe('up\nbye\n');
    expect(md('logs', '--tail', '1', 'worker').stdout).toBe('bye\n');
    expect(md('logs', '-n', '0', 'worker').stdout).toBe('');
    expect(md('logs', '--tail=all', 'worker').stdout).toBe('up\nbye\n');
    expect(md('logs', '-t', 'worker')).toMatchObject({ code: 125, stderr: expect.stringMatching(/^minidocker: this container's log records no times: leave out -t .*\n$/) });
    expect(md('logs', '--tail', 'x', 'worker')).toMatchObject({ code: 125, stderr: 'minidocker: invalid --tail "x": a number of lines, or all\n' });
    expect(md('rm', 'worker')).toExitWith(0);
    expect(md('ps', '-a').stdout.trim().split('\n')).toHaveLength(1);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it.skipIf(!findProgram('conmon'))('run -d hands the container to conmon: the command is its child, its exit code reaches ps -a; MINIDOCKER_SHIM=monitor keeps the lab’s own monitor', async () => {
    const parentOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    };
    const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    const loop = ['sh', '-c', 'trap "exit 7" TERM; while true; do sleep 0.1; done'];
    expect(md('run', '-d', '--name', 'under-conmon', 'busybox', ...loop)).toExitWith(0);
    const pid = JSON.parse(md('inspect', 'under-conmon').stdout)[0].State.Pid as number;
    const shim = parentOf(pid);
    expect(commandLine(shim)).toMatch(/^\S*conmon .*-l passthrough/);
    expect(recordedPids(stateDir)).toContain(shim); // the record names conmon as the monitor
    expect(md('stop', '-t', '5', 'under-conmon')).toExitWith(0);
    expect(md('ps', '-a').stdout).toMatch(/Exited \(7\).*under-conmon/); // conmon's exit file, read by the runtime
    await eventually(() => !alive(shim), 5000, 'conmon to leave');

    const monitorRun = cli(MINIDOCKER, stateDir, ['run', '-d', '--name', 'under-monitor', 'busybox', ...loop], { hostNetns, env: { MINIDOCKER_SHIM: 'monitor' } });
    expect(monitorRun).toExitWith(0);
    const monitorPid = parentOf(JSON.parse(md('inspect', 'under-monitor').stdout)[0].State.Pid);
    expect(commandLine(monitorPid)).toMatch(/init\.cjs monitor/);
    expect(md('stop', '-t', '5', 'under-monitor')).toExitWith(0);
    expect(md('ps', '-a').stdout).toMatch(/Exited \(7\).*under-monitor/);

    const bad = cli(MINIDOCKER, stateDir, ['run', '-d', 'busybox', 'true'], { hostNetns, env: { MINIDOCKER_SHIM: 'runc' } });
    expect(bad).toMatchObject({ code: 125, stderr: 'minidocker: MINIDOCKER_SHIM=runc: use conmon or monitor\n' });
    expect(md('rm', 'under-conmon', 'under-monitor')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('stop and rm take several containers, as docker does: each one in order, and one that fails does not stop the others', () => {
    for (const name of ['one', 'two']) expect(md('run', '-d', '--name', name, 'busybox', 'sleep', '100')).toExitWith(0);
    expect(md('run', '--name', 'done', 'busybox', 'true')).toExitWith(0);
    const pids = ['one', 'two'].map((name) => JSON.parse(md('inspect', name).stdout)[0].State.Pid as number);
    // inspect takes several too; -f prints each one's line of the template (what the course's READMEs use).
    expect(JSON.parse(md('inspect', 'one', 'two').stdout).map((details: { Name: string }) => details.Name)).toEqual(['/one', '/two']);
    expect(md('inspect', '-f', '{{.State.Pid}} {{.Config.Hostname}}', 'one', 'two').stdout).toMatch(new RegExp(`^${pids[0]} [0-9a-f]{12}\n${pids[1]} [0-9a-f]{12}\n$`));
    expect(md('inspect', '--format={{json .State.Running}}', 'one')).toMatchObject({ code: 0, stdout: 'true\n' });
    expect(md('inspect', '-f', '{{range .Mounts}}{{end}}', 'one')).toMatchObject({ code: 125, stdout: '', stderr: expect.stringMatching(/^minidocker: template: "\{\{range \.Mounts\}\}" is not supported: .*\n$/) });
    const stopped = md('stop', '-t', '1', 'one', 'nosuch', 'two');
    expect(stopped).toMatchObject({ code: 1, stdout: 'one\ntwo\n', stderr: 'minidocker: No such container: nosuch\n' });
    expect(pids.map(alive)).toEqual([false, false]);
    expect(md('rm', 'one', 'two', 'done')).toMatchObject({ code: 0, stdout: 'one\ntwo\ndone\n' });
    expect(md('ps', '-a').stdout.trim().split('\n')).toHaveLength(1);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('save and load: one tar, through a file or a pipe, the image ID kept; bad input says what it is and leaves nothing', () => {
    expect(md('run', '--rm', 'busybox', 'true')).toExitWith(0); // the lab's busybox in the store
    expect(md('tag', 'busybox', 'kept:v1')).toExitWith(0);
    const archive = path.join(stateDir, 'kept.tar');
    expect(md('save', '-o', archive, 'kept:v1', 'busybox')).toMatchObject({ code: 0, stdout: '' });
    const listed = spawnSync('tar', ['tf', archive], { encoding: 'utf8' }).stdout.split('\n');
    expect(listed).toEqual(expect.arrayContaining(['oci-layout', 'index.json', 'manifest.json']));
    const before = md('images').stdout.split('\n').find((line) => line.startsWith('kept '))!.split(/\s+/)[2];
    expect(md('rmi', 'kept:v1')).toExitWith(0);
    expect(md('load', '-i', archive)).toMatchObject({ code: 0, stdout: 'Loaded image: kept:v1\nLoaded image: busybox:latest\n' });
    expect(md('images').stdout.split('\n').find((line) => line.startsWith('kept '))!.split(/\s+/)[2]).toBe(before); // the same image ID
    expect(md('run', '--rm', 'kept:v1', 'echo', 'loaded')).toMatchObject({ code: 0, stdout: 'loaded\n' });
    // Through stdout and stdin, as `minidocker save IMAGE | minidocker load`.
    const cliFile = path.join(REPO_ROOT, MINIDOCKER);
    const piped = spawnSync('sh', ['-c', `"${process.execPath}" "${cliFile}" save kept:v1 | "${process.execPath}" "${cliFile}" load`], {
      encoding: 'utf8', timeout: COMMAND_PATIENCE_MS, env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns },
    });
    expect(piped).toMatchObject({ status: 0, stdout: 'Loaded image: kept:v1\n' });

    const notAnImage = path.join(stateDir, 'notes.txt');
    writeFileSync(notAnImage, 'not a tar\n');
    const refused = md('load', '-i', notAnImage);
    expect(refused).toExitWith(125);
    expect(refused.stderr).toMatch(/^minidocker: .*notes\.txt is not an image archive that docker save or podman save writes .*minidocker image import/);
    expect(refused.stderr.split('\n')).toHaveLength(2); // one line
    expect(md('save', '-o', path.join(stateDir, 'no-such-dir', 'x.tar'), 'kept:v1')).toExitWith(125);
    expect(md('save', '-o', path.join(stateDir, 'y.tar'), 'no-such:v1')).toMatchObject({ code: 125, stderr: "minidocker: Unable to find image 'no-such:v1' locally\n" });
    expect(readdirSync(stateDir).filter((name) => name.includes('.partial') || name === 'y.tar')).toEqual([]);
    expect(readdirSync(path.join(stateDir, 'images', 'tmp'))).toEqual([]);
    expect(md('rmi', 'kept:v1')).toExitWith(0);
  }, 180_000);

  it('kill -9 of the CLI during `run` leaves a state the next `ps -a` repairs', async () => {
    // The launcher imports the CLI into its own process, so the kill hits the CLI itself.
    const child = spawn(process.execPath, [path.join(REPO_ROOT, MINIDOCKER), 'run', '--rm', '--name', 'victim', 'busybox', 'sleep', '1000'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns },
      stdio: 'ignore',
    });
    try {
      await eventually(() => recordedPids(stateDir).length === 2 && md('ps').stdout.includes('victim'), COMMAND_PATIENCE_MS, 'container running');
    } finally {
      child.kill('SIGKILL');
    }
    const [pid, monitor] = recordedPids(stateDir) as [number, number];
    await eventually(() => !alive(pid) && !alive(monitor), 5000, 'the container goes with its runtime');
    // The runtime's record still says "running"; ps -a sees the process gone and finishes the --rm.
    expect(JSON.parse(readFileSync(path.join(stateDir, 'runtime', readdirSync(path.join(stateDir, 'runtime')).find((n) => n !== 'lock')!, 'state.json'), 'utf8')).status).toBe('running');
    expect(md('ps', '-a').stdout.trim().split('\n')).toHaveLength(1);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);
});
