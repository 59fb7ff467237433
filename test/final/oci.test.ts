/**
 * The low-level runtime through its CLI, as containerd (or a user) drives runc: every command is a new
 * process. `create` hands the container off, as runc's does: the test process is a subreaper, like
 * conmon and containerd-shim, so the container's init is adopted by it and its exit is seen here.
 */
import { execFileSync, spawn, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { busyboxImage } from '../../lessons/03-mount/image.js';
import { managerFor, readCgroupFacts } from '../../lessons/04-cgroups/cgroups.js';
import { defaultConfig } from '../../src/final/oci/spec.js';
import { describeAsRoot } from '../helpers/root.js';
import { eventually } from '../helpers/processes.js';
import { alive, cli, mountsUnder, OCI } from './helpers.js';
import { listenConsoleSocket, readAvailable } from '../helpers/console-socket.js';
import { becomeSubreaper } from '../helpers/subreaper.js';

const oci = (stateDir: string, ...args: string[]) => cli(OCI, stateDir, args);

describeAsRoot('the OCI runtime CLI (create/start/state/kill/delete)', () => {
  let stateDir: string;
  let bundle: string;
  const pids: number[] = [];
  let shim: ReturnType<typeof becomeSubreaper>;

  beforeAll(() => {
    shim = becomeSubreaper();
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-oci-'));
    bundle = path.join(stateDir, 'bundle');
    mkdirSync(bundle);
    const { image } = busyboxImage({ stateDir });
    execFileSync('cp', ['-a', image.rootfs, path.join(bundle, 'rootfs')]);
    const config = defaultConfig(['sh', '-c', 'echo "hello from $(hostname) as pid $$"; exec sleep 1000']);
    config.annotations = { 'lab.test': 'yes' };
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  });
  afterAll(() => {
    for (const pid of pids.filter((pid) => pid > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone, as it should be
      }
    }
    // A test that failed half-way leaves containers the runtime still knows: delete gives back their
    // cgroups (the default spec's device rules make one on cgroup v1) before the folder goes.
    for (const root of [stateDir, path.join(stateDir, 'engine-root')]) {
      const records = path.join(root, 'runtime');
      const ids = existsSync(records) ? readdirSync(records).filter((name) => name !== 'lock') : [];
      for (const id of ids) cli(OCI, stateDir, ['--root', root, 'delete', '--force', id]);
    }
    rmSync(stateDir, { recursive: true, force: true });
    shim.stop();
  });

  it('runs the lifecycle as the runtime spec describes it, and leaves nothing behind', async () => {
    const id = `t${process.pid}`;
    const output = path.join(stateDir, 'out.txt');
    // create: the container's stdio is the caller's (runc's pass-through), here a file.
    // (A pipe would stay open as long as the container: spawnSync would wait for it to end.)
    const outputFd = openSync(output, 'w');
    const created = cli(OCI, stateDir, ['create', '--bundle', bundle, '--pid-file', path.join(stateDir, 'pid'), id], {
      stdio: ['ignore', outputFd, outputFd],
    });
    closeSync(outputFd);
    expect(created.code, readFileSync(output, 'utf8')).toBe(0);
    const state1 = JSON.parse(oci(stateDir, 'state', id).stdout);
    expect(state1).toMatchObject({ ociVersion: '1.0.2', id, status: 'created', bundle, annotations: { 'lab.test': 'yes' } });
    expect(Number(readFileSync(path.join(stateDir, 'pid'), 'utf8'))).toBe(state1.pid);
    pids.push(state1.pid);
    expect(alive(state1.pid)).toBe(true);
    // Handed off: no process of the runtime stays; init is the child of the caller's subreaper.
    expect(shim.adopted(state1.pid)).toBe(true);
    expect(JSON.parse(readFileSync(path.join(stateDir, 'runtime', id, 'state.json'), 'utf8')).monitorPid).toBe(0);
    expect(readFileSync(output, 'utf8')).toBe(''); // not started: init waits

    // errors: one line, nothing changed
    const again = oci(stateDir, 'create', '--bundle', bundle, id);
    expect(again).toExitWith(1);
    expect(again.stderr).toMatch(/^oci: container ".*" already exists\n$/);
    expect(oci(stateDir, 'delete', id).stderr).toMatch(/not stopped: created/);
    expect(oci(stateDir, 'state', 'nope').stderr).toBe('oci: container "nope" does not exist\n');
    expect(oci(stateDir, 'create', '--bundle', stateDir, 'other').stderr).toMatch(/^oci: bundle .*: no config\.json\n$/);
    expect(existsSync(path.join(stateDir, 'runtime', 'other'))).toBe(false);

    expect(oci(stateDir, 'start', id)).toExitWith(0);
    expect(JSON.parse(oci(stateDir, 'state', id).stdout).status).toBe('running');
    await eventually(() => readFileSync(output, 'utf8').includes('hello'), 5000, 'output');
    expect(readFileSync(output, 'utf8')).toBe('hello from runc as pid 1\n');
    expect(oci(stateDir, 'start', id).stderr).toBe('oci: cannot start a container that is running\n');

    expect(oci(stateDir, 'kill', id, 'BOGUS').stderr).toBe('oci: unknown signal "BOGUS"\n');
    expect(oci(stateDir, 'kill', id, 'KILL')).toExitWith(0);
    // The caller's subreaper collects the exit, as conmon does; the runtime only sees the process gone.
    expect(await shim.waitFor(state1.pid)).toEqual({ code: null, signal: 9 });
    const stopped = JSON.parse(oci(stateDir, 'state', id).stdout);
    expect(stopped).toMatchObject({ status: 'stopped', pid: 0 });

    expect(oci(stateDir, 'delete', id)).toExitWith(0);
    expect(existsSync(path.join(stateDir, 'runtime', id))).toBe(false);
    expect(mountsUnder(stateDir)).toEqual([]);
  }, 180_000);

  it("hands the container to the caller's subreaper: the command's exit code reaches it, as conmon needs for `podman run`", async () => {
    const id = `code${process.pid}`;
    const dir = writeBundle(id, ['sh', '-c', 'exit 7']);
    const pid = create(id, dir);
    expect(shim.adopted(pid)).toBe(true);
    expect(oci(stateDir, 'start', id)).toExitWith(0);
    expect(await shim.waitFor(pid)).toEqual({ code: 7, signal: null });
    expect(JSON.parse(oci(stateDir, 'state', id).stdout).status).toBe('stopped');
    expect(oci(stateDir, 'delete', id)).toExitWith(0);
    // delete --force of a container that is not there is what an engine does after a failed create: done already.
    expect(oci(stateDir, 'delete', '--force', id)).toExitWith(0);
    expect(oci(stateDir, 'delete', id).stderr).toBe(`oci: container "${id}" does not exist\n`);
  }, 180_000);

  it('--preserve-fds hands the caller\'s descriptors 3, 4 … to the command (create and exec); --no-pivot still enters the rootfs', async () => {
    const id = `pfd${process.pid}`;
    const listFds = 'for fd in 3 4 5 6 7 8 9; do [ -e /proc/self/fd/$fd ] && echo "fd $fd"; done';
    const dir = writeBundle(id, ['sh', '-c', `echo to-three >&3; echo to-four >&4; ${listFds} >&3; exec sleep 1000`]);
    const [three, four] = [path.join(dir, 'three.txt'), path.join(dir, 'four.txt')];
    const fds = [openSync(three, 'w'), openSync(four, 'w')];
    try {
      // The CLI's descriptors 3 and 4 are these files, as an engine passes a socket it opened.
      expect(cli(OCI, stateDir, ['create', '--preserve-fds', '2', '--no-pivot', '--bundle', dir, id], { stdio: ['ignore', 'ignore', 'ignore', fds[0]!, fds[1]!] })).toExitWith(0);
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
    const pid = JSON.parse(oci(stateDir, 'state', id).stdout).pid;
    pids.push(pid);
    expect(oci(stateDir, 'start', id)).toExitWith(0);
    // Exactly the two: nothing else of the runtime's leaks in.
    await eventually(() => readFileSync(three, 'utf8').split('\n').length > 3, 5000, 'the command wrote through fd 3');
    expect(readFileSync(three, 'utf8')).toBe('to-three\nfd 3\nfd 4\n');
    expect(readFileSync(four, 'utf8')).toBe('to-four\n');
    expect(readFileSync(`/proc/${pid}/root/bin/busybox`).length).toBeGreaterThan(0);
    // (That the host's mounts are detached without pivot_root is the unit test's: the kernel hides mounts out
    // of a process's root from every view of them, /proc/PID/mountinfo and nsenter alike.)

    // exec takes the flag too.
    const extra = path.join(dir, 'exec.txt');
    const fd = openSync(extra, 'w');
    try {
      expect(cli(OCI, stateDir, ['exec', '--preserve-fds', '1', id, 'sh', '-c', `echo from-exec >&3; ${listFds}`], { stdio: ['ignore', 'pipe', 'pipe', fd] }).stdout).toBe('fd 3\n');
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(extra, 'utf8')).toBe('from-exec\n');
    expect(oci(stateDir, 'create', '--preserve-fds', 'two', '--bundle', dir, `${id}x`).stderr).toBe('oci: --preserve-fds two: a number is expected\n');
    expect(oci(stateDir, 'delete', '--force', id)).toExitWith(0);
  }, 180_000);

  it('delete --force ends a running container; a container whose process died is seen as stopped', async () => {
    const id = `f${process.pid}`;
    expect(cli(OCI, stateDir, ['create', '--bundle', bundle, id], { stdio: 'ignore' })).toExitWith(0);
    const { pid } = JSON.parse(oci(stateDir, 'state', id).stdout);
    pids.push(pid);
    expect(oci(stateDir, 'start', id)).toExitWith(0);
    process.kill(pid, 'SIGKILL'); // behind the runtime's back
    await eventually(() => !alive(pid), 5000, 'killed');
    expect(JSON.parse(oci(stateDir, 'state', id).stdout).status).toBe('stopped');

    const id2 = `g${process.pid}`;
    expect(cli(OCI, stateDir, ['create', '--bundle', bundle, id2], { stdio: 'ignore' })).toExitWith(0);
    const running = JSON.parse(oci(stateDir, 'state', id2).stdout);
    pids.push(running.pid);
    expect(oci(stateDir, 'start', id2)).toExitWith(0);
    expect(oci(stateDir, 'delete', '--force', id2)).toExitWith(0);
    expect(alive(running.pid)).toBe(false);
    expect(oci(stateDir, 'delete', id)).toExitWith(0);
    expect(existsSync(path.join(stateDir, 'runtime', id2))).toBe(false);
    expect(mountsUnder(stateDir)).toEqual([]);
  }, 180_000);

  type Config = ReturnType<typeof defaultConfig>;

  /** A bundle in stateDir/ID: the default config running `args` on the shared read-only rootfs, changed by `edit`. */
  function writeBundle(id: string, args: string[], edit: (config: Config) => void = () => {}): string {
    const dir = path.join(stateDir, id);
    mkdirSync(dir);
    const config = { ...defaultConfig(args), root: { path: path.join(bundle, 'rootfs'), readonly: true } };
    edit(config);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }

  /** `create` from that bundle; returns init's PID (remembered for afterAll). */
  function create(id: string, dir: string, stdio: SpawnSyncOptions['stdio'] = 'ignore', flags: string[] = []): number {
    expect(cli(OCI, stateDir, ['create', '--bundle', dir, ...flags, id], { stdio })).toExitWith(0);
    const { pid } = JSON.parse(oci(stateDir, 'state', id).stdout);
    pids.push(pid);
    return pid;
  }

  /** `create` with the container's stdout and stderr going to DIR/out.txt; init's PID and that file. */
  function createWritingTo(id: string, dir: string): { pid: number; output: string } {
    const output = path.join(dir, 'out.txt');
    const outputFd = openSync(output, 'w');
    const created = cli(OCI, stateDir, ['create', '--bundle', dir, id], { stdio: ['ignore', outputFd, outputFd] });
    closeSync(outputFd);
    expect(created.code, readFileSync(output, 'utf8')).toBe(0); // create's own error went there too
    const { pid } = JSON.parse(oci(stateDir, 'state', id).stdout) as { pid: number };
    pids.push(pid);
    return { pid, output };
  }

  /** A cgroup of its own (a pids limit), so that what acts on it is seen. */
  const withPidsLimit = (limit: number) => (config: Config) => {
    config.linux!.resources = { ...config.linux!.resources, pids: { limit } };
  };

  /** Runs a bundle made from the default config (changed by `edit`) to its end; returns what it printed. */
  async function runToEnd(id: string, edit: (config: Config) => void): Promise<string> {
    const dir = writeBundle(id, ['true'], edit);
    const output = path.join(dir, 'out.txt');
    const outputFd = openSync(output, 'w');
    try {
      expect(cli(OCI, stateDir, ['create', '--bundle', dir, id], { stdio: ['ignore', outputFd, outputFd] })).toExitWith(0);
    } finally {
      closeSync(outputFd);
    }
    pids.push(JSON.parse(oci(stateDir, 'state', id).stdout).pid);
    expect(oci(stateDir, 'start', id)).toExitWith(0);
    await eventually(() => JSON.parse(oci(stateDir, 'state', id).stdout).status === 'stopped', 10_000, 'the command ended');
    expect(oci(stateDir, 'delete', id)).toExitWith(0);
    return readFileSync(output, 'utf8');
  }

  it('linux.rootfsPropagation: the container\'s "/" shared (a peer group of its own) or, by default, private', async () => {
    const rootLine = `awk '$5 == "/"' /proc/self/mountinfo`; // the mount whose mount point is "/"
    const shared = await runToEnd(`p${process.pid}`, (config) => {
      config.process.args = ['sh', '-c', rootLine];
      config.linux!.rootfsPropagation = 'shared';
    });
    expect(shared).toMatch(/ shared:\d+ /);
    const plain = await runToEnd(`q${process.pid}`, (config) => (config.process.args = ['sh', '-c', rootLine]));
    expect(plain.trim().split('\n')).toHaveLength(1); // the line is there: its lack of a peer group means something
    expect(plain).not.toMatch(/shared:|master:/);
  }, 180_000);

  it('a cgroup mount shows the container its own cgroups, read-only: in its cgroup namespace, new mounts whose root is its cgroup', async () => {
    const v2 = readCgroupFacts().layout.active === 'v2';
    const pids = v2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/pids';
    const output = await runToEnd(`m${process.pid}`, (config) => {
      withPidsLimit(77)(config);
      config.mounts!.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] });
      config.process.args = ['sh', '-c', `cat ${pids}/pids.max; grep -vc ':/$' /proc/self/cgroup; touch ${pids}/x 2>&1; true`];
    });
    const [limit, notRoot, touched] = output.trim().split('\n');
    expect(limit).toBe('77'); // the limit of the container's own cgroup, seen as the top of the tree
    expect(notRoot).toBe('0'); // every hierarchy's path is "/" in the container's cgroup namespace
    expect(touched).toMatch(/Read-only file system/);
  }, 180_000);

  it('ps and kill --all reach every process of the container; the global flags engines pass (--root, --log, --log-format)', async () => {
    const root = path.join(stateDir, 'engine-root');
    const dir = path.join(stateDir, 'ps-bundle');
    mkdirSync(dir);
    const config = { ...defaultConfig(['sh', '-c', 'sleep 1000 & sleep 1001 & wait']), root: { path: path.join(bundle, 'rootfs'), readonly: true } };
    config.linux!.resources = { memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 50 } };
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const id = `k${process.pid}`;
    // --root: where the runtime keeps its records for this command (an engine's own folder).
    expect(cli(OCI, stateDir, ['--root', root, 'create', '--bundle', dir, id], { stdio: 'ignore' })).toExitWith(0);
    expect(existsSync(path.join(root, 'runtime', id, 'state.json'))).toBe(true);
    expect(oci(stateDir, 'state', id).stderr).toBe(`oci: container "${id}" does not exist\n`); // not in the default folder
    const { pid } = JSON.parse(oci(stateDir, '--root', root, 'state', id).stdout);
    pids.push(pid);
    expect(oci(stateDir, '--root', root, 'start', id)).toExitWith(0);
    const listed = () => JSON.parse(oci(stateDir, '--root', root, 'ps', '--format', 'json', id).stdout) as number[];
    await eventually(() => listed().length === 3, 5000, 'sh and its two sleeps');
    expect(listed()[0]).toBe(pid);
    expect(oci(stateDir, '--root', root, 'ps', id).stdout).toMatch(/sleep 1001/);
    // events --stats: its cgroup, in runc's shape — the limits config.json gave, the three processes counted.
    const stats = JSON.parse(oci(stateDir, '--root', root, 'events', '--stats', id).stdout);
    expect(stats).toMatchObject({ type: 'stats', id, data: { memory: { usage: { limit: 64 * 1024 * 1024 } }, pids: { current: 3, limit: 50 } } });
    expect(stats.data.memory.usage.usage).toBeGreaterThan(0);
    // SIGTERM to the first process only: sh is PID 1 in its namespace and has no handler, so the kernel
    // does not deliver it (pid_namespaces(7)); nothing ends.
    expect(oci(stateDir, '--root', root, 'kill', id, 'TERM')).toExitWith(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(listed()).toHaveLength(3);
    // To all: the sleeps end, sh's wait returns, and with it the container.
    expect(oci(stateDir, '--root', root, 'kill', '--all', id, 'TERM')).toExitWith(0);
    await eventually(() => JSON.parse(oci(stateDir, '--root', root, 'state', id).stdout).status === 'stopped', 5000, 'every process ended');
    expect(oci(stateDir, '--root', root, 'delete', id)).toExitWith(0);

    // --log with --log-format json: the error as runc's logrus writes it, besides the line on stderr.
    const log = path.join(stateDir, 'runtime.log');
    const missing = oci(stateDir, '--log', log, '--log-format', 'json', 'state', 'nope');
    expect(missing.stderr).toBe('oci: container "nope" does not exist\n');
    expect(JSON.parse(readFileSync(log, 'utf8'))).toMatchObject({ level: 'error', msg: 'container "nope" does not exist' });
    expect(oci(stateDir, '--systemd-cgroup', 'state', id).stderr).toBe('oci: --systemd-cgroup is not supported: this runtime writes the cgroup files itself (use the cgroupfs driver)\n');
  }, 180_000);

  it('a seccomp profile that refuses close_range (as older Docker profiles do): descriptors are closed at exec all the same', async () => {
    const output = await runToEnd(`s${process.pid}`, (config) => {
      config.process.args = ['sh', '-c', 'ls /proc/self/fd | tr "\\n" " "'];
      config.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['close_range'], action: 'SCMP_ACT_ERRNO' }] };
    });
    // ls's own: stdin, stdout, stderr, and the directory it reads. Nothing of the runtime's Node.
    expect(output).toBe('0 1 2 3 ');
  }, 60_000);

  it("the config a container was created from is the runtime's own copy: an engine editing or removing the bundle afterwards changes nothing", async () => {
    const run = async (id: string, after: (dir: string) => void) => {
      const dir = writeBundle(id, ['sleep', '1000'], withPidsLimit(64));
      create(id, dir);
      const cgroup = managerFor(readCgroupFacts(), id);
      expect(cgroup.paths.every((cgroupDir) => existsSync(cgroupDir))).toBe(true);
      after(dir);
      expect(oci(stateDir, 'delete', '--force', id)).toExitWith(0);
      expect(cgroup.paths.filter((cgroupDir) => existsSync(cgroupDir))).toEqual([]); // released by what it was made from
    };
    // runtime-tools' config_updates_without_affect: the bundle's config.json rewritten without the limit.
    await run(`e${process.pid}`, (dir) => writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...defaultConfig(['true']), root: { path: 'rootfs' } })));
    // The bundle gone before delete.
    await run(`r${process.pid}`, (dir) => rmSync(path.join(dir, 'config.json')));
  }, 120_000);

  it('a cgroup namespace when config.json lists one (runc spec does), none when it does not', async () => {
    const ours = readlinkSync('/proc/self/ns/cgroup');
    const own = await runToEnd(`c${process.pid}`, (config) => (config.process.args = ['readlink', '/proc/self/ns/cgroup']));
    expect(own.trim()).toMatch(/^cgroup:\[\d+\]$/);
    expect(own.trim()).not.toBe(ours);
    const host = await runToEnd(`d${process.pid}`, (config) => {
      config.process.args = ['readlink', '/proc/self/ns/cgroup'];
      config.linux!.namespaces = config.linux!.namespaces!.filter(({ type }) => type !== 'cgroup');
    });
    expect(host.trim()).toBe(ours);
  }, 180_000);

  it('joins uts and mount namespaces by path, as runc: the host name and the root file system are set up in them', async () => {
    // Namespaces of a process of ours (its own mount namespace, private: nothing it does reaches the host).
    const holder = spawn('unshare', ['--uts', '--mount', '--propagation', 'private', 'sleep', '1000'], { stdio: 'ignore' });
    pids.push(holder.pid!);
    try {
      await eventually(() => readlinkSync(`/proc/${holder.pid}/ns/uts`) !== readlinkSync('/proc/self/ns/uts'), 5000, 'the holder in its namespaces');
      const hostName = execFileSync('hostname', { encoding: 'utf8' });
      const inside = await runToEnd(`j${process.pid}`, (config) => {
        config.hostname = 'joined-uts';
        config.process.args = ['sh', '-c', 'hostname; ls /bin/busybox'];
        config.linux!.namespaces = [
          ...config.linux!.namespaces!.filter(({ type }) => type !== 'uts' && type !== 'mount'),
          { type: 'uts', path: `/proc/${holder.pid}/ns/uts` },
          { type: 'mount', path: `/proc/${holder.pid}/ns/mnt` },
        ];
      });
      expect(inside).toBe('joined-uts\n/bin/busybox\n');
      // It was that namespace's name that changed, not the host's.
      expect(execFileSync('nsenter', ['-t', String(holder.pid), '-u', 'hostname'], { encoding: 'utf8' })).toBe('joined-uts\n');
      expect(execFileSync('hostname', { encoding: 'utf8' })).toBe(hostName);
    } finally {
      holder.kill('SIGKILL');
    }
  }, 180_000);

  it("runs config.json's hooks in the runtime's namespaces, each with the state on stdin; a failed createRuntime hook fails create and leaves nothing", async () => {
    const seen = mkdtempSync(path.join(stateDir, 'hooks-'));
    // Each hook saves its stdin, and the one variable it was given, under its own name ($0).
    const hook = (name: string, script = 'cat > "$SEEN/$0.json"') => ({ path: '/bin/sh', args: ['sh', '-c', script, name], env: [`SEEN=${seen}`, 'PATH=/usr/bin:/bin'] });
    const hooked = (name: string, hooks: object) => {
      const dir = path.join(stateDir, name);
      mkdirSync(dir);
      const config = { ...defaultConfig(['sleep', '1000']), root: { path: path.join(bundle, 'rootfs'), readonly: true }, hooks };
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
      return dir;
    };
    const read = (name: string) => JSON.parse(readFileSync(path.join(seen, `${name}.json`), 'utf8'));

    const id = `h${process.pid}`;
    const dir = hooked('hooked', {
      prestart: [hook('prestart')],
      createRuntime: [hook('createRuntime')],
      poststart: [hook('failing', 'echo boom >&2; exit 3'), hook('poststart')],
      poststop: [hook('poststop')],
    });
    expect(cli(OCI, stateDir, ['create', '--bundle', dir, id], { stdio: 'ignore' })).toExitWith(0);
    const { pid } = JSON.parse(oci(stateDir, 'state', id).stdout);
    pids.push(pid);
    expect(read('prestart')).toEqual({ ociVersion: '1.0.2', id, status: 'creating', pid, bundle: dir, annotations: {} });
    expect(read('createRuntime')).toEqual(read('prestart'));
    expect(existsSync(path.join(seen, 'poststart.json'))).toBe(false);
    // poststart: after the command runs; a failed one is a warning, and the next still runs.
    const started = oci(stateDir, 'start', id);
    expect(started).toExitWith(0);
    expect(started.stderr).toBe('WARNING: hooks.poststart[0] /bin/sh: exited with status 3: boom\n');
    expect(read('poststart')).toMatchObject({ id, status: 'running', pid });
    expect(existsSync(path.join(seen, 'poststop.json'))).toBe(false);
    expect(oci(stateDir, 'delete', '--force', id)).toExitWith(0);
    expect(read('poststop')).toMatchObject({ id, status: 'stopped', pid: 0 });

    // A createRuntime hook that fails: create fails with its words, and the container it had made is gone.
    const failing = hooked('failing', { prestart: [hook('before')], createRuntime: [hook('network', 'echo "no network for you" >&2; exit 4')] });
    const refused = oci(stateDir, 'create', '--bundle', failing, `${id}x`);
    expect(refused).toExitWith(1);
    expect(refused.stderr).toBe(`oci: create container ${id}x: hooks.createRuntime[0] /bin/sh: exited with status 4: no network for you\n`);
    const made = read('before').pid;
    expect(alive(made)).toBe(false);
    expect(existsSync(path.join(stateDir, 'runtime', `${id}x`))).toBe(false);
    // One that outlasts its timeout fails the same way.
    const slow = hooked('slow', { createRuntime: [{ ...hook('slow', 'sleep 30'), timeout: 1 }] });
    expect(oci(stateDir, 'create', '--bundle', slow, `${id}y`).stderr).toBe(`oci: create container ${id}y: hooks.createRuntime[0] /bin/sh: did not finish within its timeout of 1 s\n`);
    // Hooks inside the container's namespaces are refused before anything is made.
    const inside = hooked('inside', { createContainer: [hook('inside')] });
    expect(oci(stateDir, 'create', '--bundle', inside, `${id}z`).stderr).toBe("oci: hooks.createContainer: not supported (this runtime does not run hooks inside the container's namespaces)\n");
    for (const suffix of ['x', 'y', 'z']) expect(existsSync(path.join(stateDir, 'runtime', `${id}${suffix}`))).toBe(false);
    expect(mountsUnder(stateDir)).toEqual([]);
  }, 180_000);
  it('exec: one more process in the container — its namespaces, its cgroup, the user --process asks for; its exit code comes back', async () => {
    const id = `x${process.pid}`;
    // A cgroup of its own, so that joining it is seen; the command runs until killed.
    const dir = writeBundle(id, ['sleep', '1000'], withPidsLimit(100));
    const pid = create(id, dir);
    // runc allows exec into a created container too: its init waits in the namespaces already.
    const early = oci(stateDir, 'exec', id, 'sh', '-c', 'for kind in uts mnt pid; do readlink /proc/self/ns/$kind; done; exit 7');
    expect(early.code, early.stderr).toBe(7);
    expect(early.stdout.trim().split('\n')).toEqual(['uts', 'mnt', 'pid'].map((kind) => readlinkSync(`/proc/${pid}/ns/${kind}`)));
    expect(oci(stateDir, 'start', id)).toExitWith(0);

    // --process FILE: the whole process — its args, environment, working directory and user.
    const processFile = path.join(dir, 'process.json');
    writeFileSync(processFile, JSON.stringify({ args: ['sh', '-c', 'echo "$GREETING"; pwd; id -u; id -g'], env: ['GREETING=hi', 'PATH=/bin'], cwd: '/tmp', user: { uid: 1000, gid: 1001 } }));
    const fromFile = oci(stateDir, 'exec', '--process', processFile, id);
    expect(fromFile.stderr).toBe('');
    expect(fromFile.stdout).toBe('hi\n/tmp\n1000\n1001\n');

    // --detach --pid-file: the process runs on after `exec` returns, inside the container's PID namespace and cgroup.
    const pidFile = path.join(dir, 'exec.pid');
    // (Its stdio is this call's, as with runc: a pipe would stay open as long as the process, so none here.)
    expect(cli(OCI, stateDir, ['exec', '--detach', '--pid-file', pidFile, '--env', 'MARK=x', id, 'sleep', '1000'], { stdio: 'ignore' })).toExitWith(0);
    const execPid = Number(readFileSync(pidFile, 'utf8'));
    pids.push(execPid);
    expect(alive(execPid)).toBe(true);
    expect(shim.adopted(execPid)).toBe(true); // handed off like create's init: conmon waits for it (`podman exec`)
    expect(readlinkSync(`/proc/${execPid}/ns/pid`)).toBe(readlinkSync(`/proc/${pid}/ns/pid`));
    const pidsCgroup = (of: number) => readFileSync(`/proc/${of}/cgroup`, 'utf8').split('\n').find((line) => /^0::|:pids:/.test(line));
    expect(pidsCgroup(execPid)).toContain(id);
    expect(pidsCgroup(execPid)).toBe(pidsCgroup(pid));
    expect(readFileSync(`/proc/${execPid}/environ`, 'utf8').split('\0')).toContain('MARK=x');
    expect(JSON.parse(oci(stateDir, 'ps', '--format', 'json', id).stdout)).toContain(execPid);

    // Refused in one line, nothing started: two commands, a terminal, a relative directory, a stopped container.
    expect(oci(stateDir, 'exec', '--process', processFile, id, 'true').stderr).toBe('oci: exec: give the command either in --process or after the container id, not both\n');
    expect(oci(stateDir, 'exec', '--console-socket', path.join(dir, 'nowhere.sock'), id, 'sh').stderr).toBe('oci: cannot use console socket if runc will not detach or allocate tty (process.terminal is false)\n');
    expect(oci(stateDir, 'exec', '--cwd', 'tmp', id, 'true').stderr).toBe('oci: exec: the working directory "tmp" must be an absolute path\n');
    expect(oci(stateDir, 'kill', '--all', id, 'KILL')).toExitWith(0);
    // Both were handed off to us: we collect them, as conmon does (a PID namespace's init ends only once
    // every other process in it has been collected, the detached exec included).
    expect(await shim.waitFor(execPid)).toEqual({ code: null, signal: 9 });
    expect(await shim.waitFor(pid)).toEqual({ code: null, signal: 9 });
    expect(oci(stateDir, 'exec', id, 'true').stderr).toBe('oci: cannot exec in a stopped container\n');
    expect(oci(stateDir, 'delete', id)).toExitWith(0);
    expect(mountsUnder(stateDir)).toEqual([]);
  }, 180_000);
  it('a user namespace (linux.uidMappings, gidMappings): root inside, an ordinary ID on the host — from inside and outside, exec included', async () => {
    const id = `userns${process.pid}`;
    // A range no user of this machine has: 0–65535 inside are 3000000000… outside.
    const base = 3_000_000_000;
    const dir = writeBundle(id, ['sh', '-c', 'id; cat /proc/self/uid_map /proc/self/gid_map; echo "pid $$"; touch /tmp/made-inside; exec sleep 1000'], (config) => {
      withPidsLimit(50)(config);
      config.linux!.namespaces!.push({ type: 'user' });
      config.linux!.uidMappings = [{ containerID: 0, hostID: base, size: 65536 }];
      config.linux!.gidMappings = [{ containerID: 0, hostID: base, size: 65536 }];
      config.root = { path: path.join(stateDir, id, 'rootfs'), readonly: false };
    });
    // Its own copy of the image, owned by the container's root as the engine would do it (podman chowns);
    // and the folders above it searchable by that root, as containers/storage makes its own (0711).
    chmodSync(stateDir, 0o711);
    execFileSync('cp', ['-a', path.join(bundle, 'rootfs'), path.join(dir, 'rootfs')]);
    execFileSync('chown', ['-R', `${base}:${base}`, path.join(dir, 'rootfs')]);
    const { pid, output } = createWritingTo(id, dir);
    const status = (field: string) => new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    // Outside, before start: init is the mapped ID, in a user namespace that is not ours, in the container's cgroup.
    expect(status('Uid')!.split(/\s+/)).toEqual([String(base), String(base), String(base), String(base)]);
    expect(readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(readlinkSync('/proc/self/ns/user'));
    const pidsCgroup = (of: number) => readFileSync(`/proc/${of}/cgroup`, 'utf8').split('\n').find((line) => /^0::|:pids:/.test(line));
    expect(pidsCgroup(pid)).toContain(id);
    // Its PID namespace belongs to its user namespace (it mounted a /proc for it): NS_GET_USERNS is
    // not reachable from here, so judge by what only works then — the command sees itself as PID 1.
    expect(oci(stateDir, 'start', id)).toExitWith(0);
    const made = path.join(dir, 'rootfs', 'tmp', 'made-inside');
    await eventually(() => existsSync(made), 10_000, 'the command made its file');
    const [idLine, uidMap, gidMap, pidLine] = readFileSync(output, 'utf8').split('\n');
    expect(idLine).toMatch(/^uid=0\(root\) gid=0\(root\)/);
    expect([uidMap, gidMap].map((line) => line!.trim().split(/\s+/))).toEqual([['0', String(base), '65536'], ['0', String(base), '65536']]);
    expect(pidLine).toBe('pid 1');
    // The file the container's root made is the mapped ID's on the host.
    expect(execFileSync('stat', ['-c', '%u:%g', made], { encoding: 'utf8' }).trim()).toBe(`${base}:${base}`);
    // exec joins the user namespace too: root there, the same namespace, the mapped ID outside.
    const inside = oci(stateDir, 'exec', id, 'sh', '-c', 'id -u; readlink /proc/self/ns/user');
    expect(inside.stderr).toBe('');
    expect(inside.stdout).toBe(`0\n${readlinkSync(`/proc/${pid}/ns/user`)}\n`);
    // A second container joins its user namespace by path (as podman's pods share one): root there too.
    const joinerId = `${id}j`;
    const joiner = writeBundle(joinerId, ['sh', '-c', 'id -u; readlink /proc/self/ns/user'], (config) => {
      config.linux!.namespaces!.push({ type: 'user', path: `/proc/${pid}/ns/user` });
      config.root = { path: path.join(dir, 'rootfs'), readonly: true };
    });
    const joined = createWritingTo(joinerId, joiner);
    expect(oci(stateDir, 'start', joinerId)).toExitWith(0);
    expect(await shim.waitFor(joined.pid)).toEqual({ code: 0, signal: null });
    expect(readFileSync(joined.output, 'utf8')).toBe(`0\n${readlinkSync(`/proc/${pid}/ns/user`)}\n`);
    expect(oci(stateDir, 'delete', joinerId)).toExitWith(0);
    // Handed off after start: the caller's subreaper is init's parent and sees its end, as conmon must.
    expect(shim.adopted(pid)).toBe(true);
    expect(oci(stateDir, 'kill', id, 'KILL')).toExitWith(0);
    expect(await shim.waitFor(pid)).toEqual({ code: null, signal: 9 });
    expect(oci(stateDir, 'delete', id)).toExitWith(0);
    expect(mountsUnder(stateDir)).toEqual([]);
  }, 180_000);

  it('a user namespace is refused in one line without both mappings, and mappings without a user namespace; nothing is left', () => {
    const id = `usermap${process.pid}`;
    const noGid = writeBundle(`${id}a`, ['true'], (config) => {
      config.linux!.namespaces!.push({ type: 'user' });
      config.linux!.uidMappings = [{ containerID: 0, hostID: 3_000_000_000, size: 1 }];
    });
    expect(cli(OCI, stateDir, ['create', '--bundle', noGid, `${id}a`]).stderr).toBe(`oci: create container ${id}a: a new user namespace needs linux.uidMappings and linux.gidMappings\n`);
    const noNamespace = writeBundle(`${id}b`, ['true'], (config) => {
      config.linux!.uidMappings = [{ containerID: 0, hostID: 3_000_000_000, size: 1 }];
      config.linux!.gidMappings = [{ containerID: 0, hostID: 3_000_000_000, size: 1 }];
    });
    expect(cli(OCI, stateDir, ['create', '--bundle', noNamespace, `${id}b`]).stderr).toBe(`oci: create container ${id}b: linux.uidMappings and gidMappings map a new user namespace: add {"type": "user"} (no path) to linux.namespaces\n`);
    expect(existsSync(path.join(stateDir, 'runtime', `${id}a`))).toBe(false);
    expect(existsSync(path.join(stateDir, 'runtime', `${id}b`))).toBe(false);
  });

  it('pause and resume: the freezer stops every process where it stands (v2, and v1 with its freezer); without one, a one-line refusal', async () => {
    const id = `z${process.pid}`;
    // A cgroup of its own to freeze; a command that writes all the time, so a pause shows.
    const dir = writeBundle(id, ['sh', '-c', 'while true; do echo tick; usleep 20000; done'], withPidsLimit(100));
    const { pid, output } = createWritingTo(id, dir);
    const status = () => JSON.parse(oci(stateDir, 'state', id).stdout).status;
    const size = () => readFileSync(output, 'utf8').length;
    expect(oci(stateDir, 'pause', id).stderr).toBe(`oci: container "${id}" is created: only a running container can be paused\n`);
    expect(oci(stateDir, 'start', id)).toExitWith(0);
    await eventually(() => size() > 0, 5000, 'the first ticks');

    const { layout } = readCgroupFacts();
    if (layout.active === 'v1' && !layout.v1Mounts.freezer) {
      expect(oci(stateDir, 'pause', id).stderr).toMatch(new RegExp(`^oci: container "${id}": pause: pausing needs the freezer controller, and no cgroup v1 hierarchy has it mounted here: .*\n$`));
      expect(status()).toBe('running');
    } else {
      expect(oci(stateDir, 'pause', id)).toExitWith(0);
      expect(status()).toBe('paused');
      const frozenAt = size();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(size()).toBe(frozenAt); // not one tick while frozen
      expect(oci(stateDir, 'pause', id).stderr).toBe(`oci: container "${id}" is paused: only a running container can be paused\n`);
      expect(oci(stateDir, 'exec', id, 'true').stderr).toBe('oci: cannot exec in a paused container\n');
      expect(oci(stateDir, 'resume', id)).toExitWith(0);
      expect(status()).toBe('running');
      await eventually(() => size() > frozenAt, 5000, 'ticks again');
      expect(oci(stateDir, 'resume', id).stderr).toBe(`oci: container "${id}" is running, not paused\n`);
      expect(oci(stateDir, 'pause', id)).toExitWith(0); // and a paused container can still be deleted by force
    }
    expect(oci(stateDir, 'delete', '--force', id)).toExitWith(0);
    expect(alive(pid)).toBe(false);
    expect(existsSync(path.join(stateDir, 'runtime', id))).toBe(false);
    expect(managerFor(readCgroupFacts(), id).paths.some((cgroupDir) => existsSync(cgroupDir))).toBe(false);
  }, 180_000);
  it('update: new limits for a container that has processes, only what it names; the file or the flags; one-line refusals', async () => {
    const id = `u${process.pid}`;
    const dir = writeBundle(id, ['sleep', '1000'], withPidsLimit(100));
    const pid = create(id, dir);
    const cgroup = managerFor(readCgroupFacts(), id);
    const pidsMax = () => readFileSync(path.join(cgroup.paths.find((dir) => existsSync(path.join(dir, 'pids.max')))!, 'pids.max'), 'utf8').trim();
    expect(pidsMax()).toBe('100');
    expect(oci(stateDir, 'update', '--pids-limit', '50', id)).toExitWith(0); // created: init waits, its cgroup is there
    expect(pidsMax()).toBe('50');
    expect(oci(stateDir, 'start', id)).toExitWith(0);
    const resources = path.join(dir, 'resources.json');
    writeFileSync(resources, JSON.stringify({ pids: { limit: 70 }, memory: { limit: 64 * 1024 * 1024 } }));
    expect(oci(stateDir, 'update', '--resources', resources, id)).toExitWith(0);
    expect(pidsMax()).toBe('70');
    expect(cgroup.stats().memory.limit).toBe(64 * 1024 * 1024);
    expect(oci(stateDir, 'update', '--cpuset-cpus', '0', id).stderr).toBe('oci: update: --cpuset-cpus is not supported (this runtime limits memory, cpu shares and quota, pids)\n');
    expect(oci(stateDir, 'update', '--pids-limit', 'many', id).stderr).toBe('oci: update: --pids-limit many: a whole number is expected\n');
    writeFileSync(resources, JSON.stringify({ blockIO: { weight: 10 } }));
    expect(oci(stateDir, 'update', '--resources', resources, id).stderr).toBe('oci: linux.resources.blockIO: not supported by this runtime (it limits memory, cpu, pids)\n');
    expect(oci(stateDir, 'update', id).stderr).toBe('oci: update: nothing to change: give --resources FILE or a limit flag\n');
    expect(pidsMax()).toBe('70'); // the refusals changed nothing
    expect(oci(stateDir, 'kill', id, 'KILL')).toExitWith(0);
    await eventually(() => !alive(pid), 5000, 'the container gone');
    expect(oci(stateDir, 'update', '--pids-limit', '10', id).stderr).toBe(`oci: container "${id}" is stopped: there is nothing left to update\n`);
    expect(oci(stateDir, 'delete', id)).toExitWith(0);
  }, 180_000);
  it('process.terminal: the pty master goes to --console-socket (SCM_RIGHTS), the command gets the slave; exec --tty too', async () => {
    const id = `tty${process.pid}`;
    const dir = writeBundle(id, ['sh', '-c', 'tty; read line; echo "got $line"; exec sleep 1000'], (config) => (config.process.terminal = true));
    // Without a socket there is nowhere for the terminal to go: refused, nothing made.
    expect(oci(stateDir, 'create', '--bundle', dir, id).stderr).toBe('oci: cannot allocate tty if runc will detach without setting console socket (process.terminal is true: give --console-socket)\n');
    expect(existsSync(path.join(stateDir, 'runtime', id))).toBe(false);

    const server = listenConsoleSocket(path.join(dir, 'console.sock'));
    try {
      const pid = create(id, dir, 'ignore', ['--console-socket', server.path]);
      const received = server.receive();
      expect(received?.name).toBe('/dev/ptmx');
      const master = received!.fd;
      try {
        expect(oci(stateDir, 'start', id)).toExitWith(0);
        let screen = '';
        await eventually(() => (screen += readAvailable(master)).includes('/dev/pts/0'), 5000, 'the command names its terminal');
        writeSync(master, 'hello\n'); // typed on the terminal: the line discipline echoes it, the shell reads it
        await eventually(() => (screen += readAvailable(master)).includes('got hello'), 5000, 'the answer');
        expect(readlinkSync(`/proc/${pid}/fd/0`)).toBe(readlinkSync(`/proc/${pid}/fd/1`)); // stdin and stdout: the one pty

        // exec --tty: a terminal of its own, its master sent the same way; the second pty of the container.
        expect(cli(OCI, stateDir, ['exec', '--tty', '--console-socket', server.path, id, 'tty'], { stdio: 'ignore' })).toExitWith(0);
        const execReceived = server.receive();
        expect(execReceived?.name).toBe('/dev/ptmx');
        expect(readAvailable(execReceived!.fd)).toContain('/dev/pts/1');
        closeSync(execReceived!.fd);
        expect(oci(stateDir, 'exec', '--tty', id, 'tty').stderr).toMatch(/^oci: cannot allocate tty if runc will detach without setting console socket/);
      } finally {
        closeSync(master);
      }
    } finally {
      server.close();
    }
    expect(oci(stateDir, 'delete', '--force', id)).toExitWith(0);
  }, 180_000);
});
