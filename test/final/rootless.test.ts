/**
 * minidocker run by an ordinary user: no sudo, root inside, the user outside. A user of the test's own
 * (removed at the end) with a range of subordinate IDs runs the commands as a user types them. Its
 * ranges lie over /etc/subuid and /etc/subgid in a mount namespace of each command's own, and the host
 * it publishes ports on is a throwaway network namespace: the machine's files and network stay as
 * they are. Where systemd runs (the VM's --systemd boot, a student's machine), the user gets a systemd
 * user session (loginctl enable-linger) and its memory limit is enforced through delegation; elsewhere
 * a limit is skipped with one line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { statusIds } from '../../lessons/08-userns/userns.js';
import { freshBundle, REPO_ROOT } from '../../src/build/bundle.js';
import { processIsAlive } from '../../src/sys/process.js';
import { describeAsRoot } from '../helpers/root.js';
import { inNetns, throwawayNetns } from '../helpers/netns.js';
import { eventually } from '../helpers/processes.js';
import { COMMAND_PATIENCE_MS, MINIDOCKER, mountsUnder } from './helpers.js';

/** A range no user of this machine has. */
const BASE = 3_300_000_000;

const haveTools = ['newuidmap', 'newgidmap', 'useradd', 'setpriv', 'unshare', 'nsenter'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
/** systemd is PID 1 and cgroup v2: the user can get a session with a delegated cgroup. */
const withSystemd = existsSync('/run/systemd/system') && existsSync('/sys/fs/cgroup/cgroup.controllers') && spawnSync('sh', ['-c', 'command -v loginctl systemd-run']).status === 0;

describeAsRoot('minidocker without root (rootless)', () => {
  const netns = throwawayNetns();
  let dir: string;
  let name: string;
  let uid: number;
  let gid: number;
  let runtimeDir: string;
  let hostNetns: string;
  /**
   * Can the user open the machine's /dev/net/tun (slirp4netns's TAP)? udev makes it 0666; some machines
   * keep it root's. Then the test makes a node of its own for it (0666, in its folder) and binds it over
   * /dev/net/tun in the user's mount namespaces only: the machine's node keeps its mode.
   */
  let hostTunUsable = false;
  let ownTun = false;
  const tunUsable = () => hostTunUsable || ownTun;

  /** A command as the test's user, in a mount namespace where its ranges are the files'; `node` and `repo` stand for them. */
  function asUser(argv: string[], who = { uid, gid, home: `${dir}/home`, runtimeDir }, tun: 'own' | 'host' = 'own'): { code: number | null; stdout: string; stderr: string } {
    const env = [`HOME=${who.home}`, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `XDG_RUNTIME_DIR=${who.runtimeDir}`, 'NO_COLOR=1',
      ...(withSystemd ? [`DBUS_SESSION_BUS_ADDRESS=unix:path=${runtimeDir}/bus`] : [])];
    // The checkout and node may sit in folders the user cannot search (/root): bound into the test's folder.
    const script = [
      `mount --bind ${REPO_ROOT} ${dir}/repo`, `mount --bind ${process.execPath} ${dir}/node`,
      `mount --bind ${dir}/subuid /etc/subuid`, `mount --bind ${dir}/subgid /etc/subgid`, `cd ${dir}/repo`,
      ...(ownTun && tun === 'own' ? [`mount --bind ${dir}/tun /dev/net/tun`] : []),
      `exec nsenter --net=/run/netns/${hostNetns} setpriv --reuid=${who.uid} --regid=${who.gid} --clear-groups env -i ${env.join(' ')} "$@"`,
    ].join(' && ');
    const command = argv.map((word) => word.replace(/^node$/, `${dir}/node`).replace(/^repo\//, `${dir}/repo/`));
    const result = spawnSync('unshare', ['--mount', '--', 'sh', '-c', script, 'as-user', ...command], { encoding: 'utf8', timeout: COMMAND_PATIENCE_MS * 2, cwd: '/' });
    return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
  }

  /** One minidocker command as the test's user. */
  const md = (...args: string[]) => asUser(['node', `repo/${MINIDOCKER}`, ...args]);

  /** The user's pause process (lesson 08's rootless.ts), if one runs. */
  function pausePid(): number | null {
    try {
      const identity = readFileSync(path.join(runtimeDir, 'mini-docker-lab', 'pause.pid'), 'utf8').trim();
      return processIsAlive(identity) ? Number(identity.split(' ')[0]) : null;
    } catch {
      return null;
    }
  }

  beforeAll(async () => {
    // The user may not write the checkout: its bundles are built here, by root, before it runs them.
    await freshBundle('minidocker');
    await freshBundle('init');
    await freshBundle('oci'); // what conmon runs for `run -d`
    dir = mkdtempSync(path.join(tmpdir(), 'mdl-rootless-'));
    chmodSync(dir, 0o755);
    name = `mdl-rl-${process.pid.toString(36)}`;
    // --system: useradd gives no ranges of its own to a system user (it would write them into the
    // machine's /etc/subuid); the test's own range lies over that file instead.
    execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', `${dir}/home`, '--shell', '/usr/sbin/nologin', '--user-group', name]);
    uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim()); // a system user's group need not have its number
    mkdirSync(`${dir}/home`, { mode: 0o700 });
    chownSync(`${dir}/home`, uid, gid);
    mkdirSync(`${dir}/repo`);
    writeFileSync(`${dir}/node`, '');
    writeFileSync(`${dir}/subuid`, `${name}:${BASE}:65536\n`);
    writeFileSync(`${dir}/subgid`, `${name}:${BASE}:65536\n`);
    if (withSystemd) {
      // A systemd user session without a login: the user's manager (user@UID.service), its bus, and the
      // cgroup subtree it is delegated.
      execFileSync('loginctl', ['enable-linger', name]);
      runtimeDir = `/run/user/${uid}`;
      await eventually(() => existsSync(`${runtimeDir}/bus`) && existsSync(`${runtimeDir}/systemd/private`), 60_000, "the user's systemd session is up");
    } else {
      runtimeDir = `${dir}/run`;
      mkdirSync(runtimeDir, { mode: 0o700 });
      chownSync(runtimeDir, uid, gid);
    }
    // Opening it makes nothing: a TAP device exists only once TUNSETIFF names one.
    const opensTun = (extra = '') => spawnSync('unshare', ['--mount', '--', 'sh', '-c', `${extra}exec setpriv --reuid=${uid} --regid=${gid} --clear-groups sh -c 'exec 3<>/dev/net/tun'`]).status === 0;
    hostTunUsable = opensTun();
    if (!hostTunUsable && spawnSync('mknod', ['-m', '0666', `${dir}/tun`, 'c', '10', '200']).status === 0) {
      ownTun = opensTun(`mount --bind ${dir}/tun /dev/net/tun && `); // not where the folder's file system is nodev
    }
  }, 120_000);

  beforeEach(() => {
    hostNetns = netns.create('lab-test-rl');
  });

  afterAll(() => {
    if (!dir) return;
    hostNetns = netns.create('lab-test-rl');
    const ids = md('ps', '-aq').stdout.split('\n').filter(Boolean);
    if (ids.length) md('rm', '-f', ...ids);
    const pause = pausePid();
    if (pause) process.kill(pause, 'SIGKILL');
    // Whatever a failed test left running as its user (a container's slirp4netns, a monitor) is the test's own.
    const leftBehind = uid > 0 ? spawnSync('pgrep', ['-u', String(uid)], { encoding: 'utf8' }).stdout : '';
    for (const pid of leftBehind.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (withSystemd) spawnSync('loginctl', ['disable-linger', name]);
    if (withSystemd) spawnSync('loginctl', ['terminate-user', name]);
    spawnSync('userdel', [name]);
    for (const mount of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', mount]);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it.runIf(haveTools)('run --rm: root inside is the user outside, over the image as its own; bad flags get one line', () => {
    const once = md('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'id; stat -c %u:%g /bin/busybox; cat /proc/self/uid_map');
    expect(once.code, once.stderr).toBe(0);
    const [id, owner, ...map] = once.stdout.trim().split('\n');
    expect(id).toMatch(/^uid=0\(root\) gid=0\(root\)/);
    expect(owner).toBe('0:0');
    expect(map.map((line) => line.trim().split(/\s+/))).toEqual([['0', String(uid), '1'], ['1', String(BASE), '65536']]);
    const gidMap = md('run', '--rm', '--network', 'none', 'busybox', 'cat', '/proc/self/gid_map').stdout.trim().split('\n');
    expect(gidMap.map((line) => line.trim().split(/\s+/))).toEqual([['0', String(gid), '1'], ['1', String(BASE), '65536']]);
    // The state is the user's own.
    expect(existsSync(`${dir}/home/.local/share/mini-docker-lab`)).toBe(true);
    expect(statSync(`${dir}/home/.local/share/mini-docker-lab`).uid).toBe(uid);

    for (const [flags, said] of [
      [['--network', 'none', '--uidmap', '0:100000:65536'], /^minidocker: --userns, --uidmap and --gidmap need root: /],
      [['--network', 'bridge'], /^minidocker: --network bridge needs root: /],
      [['--network', 'none', '--privileged'], /^minidocker: --privileged needs root: /],
    ] as const) {
      const refused = md('run', '--rm', ...flags, 'busybox', 'true');
      expect(refused.code).toBe(125);
      expect(refused.stderr).toMatch(said);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(md('ps', '-aq').stdout).toBe('');
  }, 180_000);

  it.runIf(haveTools)('a user without ranges of its own: one line that says what to ask for, and nothing made', () => {
    const nobodysRun = `${dir}/nobody-run`;
    mkdirSync(nobodysRun, { mode: 0o700 });
    chownSync(nobodysRun, 65534, 65534);
    const refused = asUser(['node', `repo/${MINIDOCKER}`, 'run', '--rm', 'busybox', 'true'], { uid: 65534, gid: 65534, home: '/nonexistent', runtimeDir: nobodysRun });
    expect(refused.code).toBe(125);
    expect(refused.stderr).toMatch(/^minidocker: nobody has no subordinate user IDs in \/etc\/subuid: ask an administrator for a range: sudo usermod --add-subuids \S+ --add-subgids \S+ nobody\n$/);
    expect(readdirSync(nobodysRun)).toEqual([]);
  });

  it.runIf(haveTools)('run -d, ps, exec, logs, stop, rm: the host sees the user; files it writes are the user\'s (or the range\'s)', async () => {
    const network = tunUsable() ? [] : ['--network', 'none'];
    const started = md('run', '-d', '--name', 'web', ...network, 'busybox', 'sh', '-c', 'echo started; mkdir /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www');
    expect(started.code, started.stderr).toBe(0);
    const [inspected] = JSON.parse(md('inspect', 'web').stdout);
    const pid = inspected.State.Pid as number;
    expect(statusIds(pid)).toEqual({ uid, gid });
    expect(execFileSync('ps', ['-o', 'user:32=', '-p', String(pid)], { encoding: 'utf8' }).trim()).toBe(name);
    expect(md('ps').stdout).toMatch(/web\n$/);
    expect(md('exec', 'web', 'sh', '-c', 'id -u; touch /daemons && chown 1:1 /daemons').stdout).toBe('0\n');
    const upper = inspected.GraphDriver.Data.UpperDir as string;
    expect(statSync(path.join(upper, 'www', 'index.html')).uid).toBe(uid); // root inside = the user
    expect(statSync(path.join(upper, 'daemons')).uid).toBe(BASE); // 1 inside = the range's first ID
    expect(md('logs', 'web').stdout).toBe('started\n');
    // The pause process dies (killed; the end of a session): the next command joins the namespaces the
    // container still holds, and reaches it as before.
    const killed = pausePid()!;
    process.kill(killed, 'SIGKILL');
    await eventually(() => !existsSync(`/proc/${killed}`), 10_000, 'the pause process is gone');
    expect(md('exec', 'web', 'id', '-u').stdout).toBe('0\n');
    const rejoined = pausePid()!;
    expect(rejoined).not.toBe(killed);
    expect(readlinkSync(`/proc/${rejoined}/ns/user`)).toBe(readlinkSync(`/proc/${pid}/ns/user`));
    expect(md('stop', '-t', '1', 'web').code).toBe(0);
    expect(md('ps', '-a').stdout).toMatch(/Exited \(137\)/);
    expect(md('rm', 'web').code).toBe(0);
    expect(md('ps', '-aq').stdout).toBe('');
  }, 180_000);

  it.runIf(haveTools)('the default network is slirp4netns: -p answers from the host; one line where /dev/net/tun is root\'s', async () => {
    if (!hostTunUsable) {
      // The machine's own node, root's: seen by a pause process (a runtime folder) of its own, made without ours.
      const elsewhere = `${dir}/run-host-tun`;
      mkdirSync(elsewhere, { mode: 0o700 });
      chownSync(elsewhere, uid, gid);
      const refused = asUser(['node', `repo/${MINIDOCKER}`, 'run', '--rm', '-p', '8080:80', 'busybox', 'true'], { uid, gid, home: `${dir}/home`, runtimeDir: elsewhere }, 'host');
      const otherPause = Number(readFileSync(`${elsewhere}/mini-docker-lab/pause.pid`, 'utf8').split(' ')[0]);
      if (otherPause > 0) process.kill(otherPause, 'SIGKILL');
      expect(refused.code).toBe(125);
      expect(refused.stderr).toMatch(/^minidocker: --network slirp4netns needs \/dev\/net\/tun, which this user may not open .*\n$/);
      if (!ownTun) return;
    }
    const started = md('run', '-d', '--name', 'pub', '-p', '8080:80', 'busybox', 'sh', '-c', 'mkdir /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www');
    expect(started.code, started.stderr).toBe(0);
    const fetch = () => {
      try {
        return inNetns(hostNetns, ['timeout', '5', 'busybox', 'wget', '-q', '-O-', 'http://127.0.0.1:8080/']);
      } catch {
        return '';
      }
    };
    await eventually(() => fetch() === 'hello\n', 30_000, 'the published port answers from the host');
    // Its name server is slirp4netns's forwarder, which asks the host's from the host's side.
    const resolvConf = md('exec', 'pub', 'cat', '/etc/resolv.conf');
    expect(resolvConf.stdout.split('\n').find((line) => line.startsWith('nameserver'))).toBe('nameserver 10.0.2.3');
    const slirp = spawnSync('pgrep', ['-u', String(uid), 'slirp4netns'], { encoding: 'utf8' }).stdout.trim();
    expect(slirp).not.toBe('');
    expect(md('rm', '-f', 'pub').code).toBe(0);
    // rm ends the container's slirp4netns: the port is free again.
    await eventually(() => spawnSync('pgrep', ['-u', String(uid), 'slirp4netns']).status === 1, 10_000, 'slirp4netns has ended');
  }, 180_000);

  it.runIf(haveTools)('npm run lesson: lesson 1 runs without root and says so; lesson 6 says in one line why it needs root', () => {
    const tsx = ['node', 'repo/node_modules/tsx/dist/cli.mjs', 'repo/src/course/cli/lesson.ts'];
    const one = asUser([...tsx, '1', '--plain']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toMatch(/^lesson 1 runs without root: as root of your own user namespace/);
    expect(one.stdout).toMatch(/Lesson complete\.\n$/);
    const six = asUser([...tsx, '6', '--plain']);
    expect(six.code).not.toBe(0); // sudo, if there is one, asks for a password there is no terminal for
    expect(six.stderr).toMatch(/^lesson 6 needs root: veth pairs, the bridge and NAT rules change the host's network, which only root may; /);
  }, 300_000);

  it.runIf(haveTools)(withSystemd ? '--memory: enforced in the cgroup systemd delegates to the user' : '--memory: skipped in one line, without a delegated cgroup', () => {
    const limited = md('run', '--rm', '--network', 'none', '--memory', '16m', '--memory-swap', '16m', 'busybox', 'sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || echo none');
    expect(limited.code, limited.stderr).toBe(0);
    if (!withSystemd) {
      expect(limited.stderr).toMatch(/^WARNING: resource limits are not applied without root here: .*\n$/);
      return;
    }
    expect(limited.stdout).toBe('16777216\n');
    // Only now that the limit is seen in place: tail keeps all of an endless line, until the OOM killer ends it.
    const greedy = md('run', '--rm', '--network', 'none', '--memory', '16m', '--memory-swap', '16m', 'busybox', 'tail', '/dev/zero');
    expect(greedy.code, greedy.stderr).toBe(137);
  }, 180_000);
});
