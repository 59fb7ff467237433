/**
 * minidocker with a user namespace of its own (--uidmap, --userns=auto): root inside, an ordinary ID
 * on the host — seen from inside (id, the image's owners) and from outside (/proc/PID/status, the
 * files it writes, its published port). Every command a new process, as a user types it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { statusIds } from '../../lessons/08-userns/userns.js';
import { describeAsRoot } from '../helpers/root.js';
import { throwawayNetns, inNetns } from '../helpers/netns.js';
import { eventually } from '../helpers/processes.js';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { spawnOnTerminal, within } from '../helpers/terminal.js';
import { cli, COMMAND_PATIENCE_MS, killRecorded, leftovers, MINIDOCKER, mountsUnder, networkLeftovers } from './helpers.js';

/** A range no user of this machine has. */
const BASE = 3_100_000_000;

let stateDir: string;
let hostNetns: string;
const md = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns });


describeAsRoot('minidocker in a user namespace of its own', () => {
  const netns = throwawayNetns();
  beforeEach(() => {
    hostNetns = netns.create('lab-test-uns');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-userns-'));
    // The container's root is no one on the host: it must be able to search the folders above its root
    // file system, as it can those of the default state folder (/var/lib/mini-docker-lab, 0755).
    chmodSync(stateDir, 0o711);
  });
  afterEach(() => {
    // A test that failed half-way leaves containers: rm -f gives back what the host made for them (the
    // overlay over idmapped layers is a host mount); whatever is still mounted then goes lazily, so that
    // the folder's removal never walks through a mount.
    const ids = md('ps', '-aq').stdout.split('\n').filter(Boolean);
    if (ids.length) md('rm', '-f', ...ids);
    killRecorded(stateDir);
    for (const mount of mountsUnder(stateDir).reverse()) spawnSync('umount', ['-l', mount]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('--uidmap: root inside over the image as its own, the mapped ID outside; exec, -p, stop, rm; nothing left', async () => {
    const once = md('run', '--rm', '--network', 'none', '--uidmap', `0:${BASE}:65536`, 'busybox', 'sh', '-c', 'id -u; stat -c %u:%g /bin/busybox /etc; touch /root/made && echo wrote; cat /proc/self/uid_map; exit 3');
    expect(once).toExitWith(3);
    const [uid, busybox, etc, wrote, map] = once.stdout.trim().split('\n');
    expect([uid, busybox, etc, wrote]).toEqual(['0', '0:0', '0:0', 'wrote']); // the image's root-owned files are its root's
    expect(map!.trim().split(/\s+/)).toEqual(['0', String(BASE), '65536']);
    expect(leftovers(stateDir)).toEqual([]);

    const started = md('run', '-d', '--name', 'web', '-p', '8080:80', '--uidmap', `0:${BASE}:65536`, 'busybox', 'sh', '-c', 'mkdir /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www');
    expect(started.code, started.stderr).toBe(0);
    const [inspected] = JSON.parse(md('inspect', 'web').stdout);
    const pid = inspected.State.Pid as number;
    expect(statusIds(pid)).toEqual({ uid: BASE, gid: BASE });
    // busybox's wget (busybox-static is the lab's): a machine need not have wget itself. timeout: see network.test.ts.
    const fetch = () => {
      try {
        return inNetns(hostNetns, ['timeout', '5', 'busybox', 'wget', '-q', '-O-', 'http://127.0.0.1:8080/']);
      } catch {
        return ''; // the server is still starting
      }
    };
    await eventually(() => fetch() === 'hello\n', 30_000, 'the published port answers from the host');
    // What its root wrote is the mapped ID's on the host, in its own layer; the image is untouched.
    const made = path.join(inspected.GraphDriver.Data.UpperDir, 'www', 'index.html');
    expect([statSync(made).uid, statSync(made).gid]).toEqual([BASE, BASE]);
    const inside = md('exec', 'web', 'sh', '-c', 'id -u; readlink /proc/self/ns/user');
    expect(inside.stdout).toBe(`0\n${readlinkSync(`/proc/${pid}/ns/user`)}\n`);
    expect(md('stop', '-t', '1', 'web')).toExitWith(0);
    expect(md('rm', 'web')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
    expect(networkLeftovers(hostNetns)).toEqual([]);
  }, 180_000);

  it('--userns=auto: each container its own range of the user "containers"; one line when it has none', () => {
    const ids = mkdtempSync(path.join(tmpdir(), 'mdl-subid-'));
    try {
      // The machine's /etc/subuid stays as it is: the CLI runs in a mount namespace of its own,
      // where a file of the test's lies over it.
      const lend = (text: string) => {
        writeFileSync(path.join(ids, 'subuid'), text);
        writeFileSync(path.join(ids, 'subgid'), text);
      };
      const under = ['unshare', '--mount', '--', 'sh', '-c', `mount --bind ${ids}/subuid /etc/subuid && mount --bind ${ids}/subgid /etc/subgid && exec "$0" "$@"`];
      const mdWithIds = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns, under });
      lend(`containers:${BASE}:200000\n`);
      for (const name of ['a', 'b']) expect(mdWithIds('run', '-d', '--name', name, '--network', 'none', '--userns=auto', 'busybox', 'sleep', '1000').code).toBe(0);
      const hostUid = (name: string) => statusIds(JSON.parse(md('inspect', name).stdout)[0].State.Pid).uid;
      expect([hostUid('a'), hostUid('b')]).toEqual([BASE, BASE + 65536]);
      expect(mdWithIds('run', '--rm', '--network', 'none', '--userns=auto:size=1000', 'busybox', 'cat', '/proc/self/uid_map').stdout.trim().split(/\s+/)).toEqual(['0', String(BASE + 2 * 65536), '1000']);
      expect(md('rm', '-f', 'a', 'b')).toExitWith(0);

      lend('alice:100000:65536\n');
      const refused = mdWithIds('run', '--rm', '--network', 'none', '--userns=auto', 'busybox', 'true');
      expect(refused).toExitWith(125);
      expect(refused.stderr).toMatch(/^minidocker: --userns=auto: \/etc\/subuid lends no IDs to "containers": add a range for the user "containers" to \/etc\/subuid and \/etc\/subgid, .*\n$/);
      expect(leftovers(stateDir)).toEqual([]);
    } finally {
      rmSync(ids, { recursive: true, force: true });
    }
  }, 180_000);

  it('-it: the terminal is its root\'s to open (the host made it), in run and exec', async () => {
    const onTerminal = (args: string[]) =>
      spawnOnTerminal(process.execPath, [path.join(REPO_ROOT, MINIDOCKER), ...args], { rows: 24, cols: 80, env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns, TERM: 'xterm' } });
    const run = onTerminal(['run', '-it', '--rm', '--network', 'none', '--uidmap', `0:${BASE}:65536`, 'busybox', 'sh', '-c', 'echo "tty=$(tty) owner=$(stat -c %u $(tty))"; exit 4']);
    await run.terminal.waitFor(/tty=\/dev\/pts\/0 owner=0/, COMMAND_PATIENCE_MS);
    expect(await within(run.exited, COMMAND_PATIENCE_MS, 'run -it ends')).toBe(4);
    expect(md('run', '-d', '--name', 'box', '--network', 'none', '--uidmap', `0:${BASE}:65536`, 'busybox', 'sleep', '1000').code).toBe(0);
    const exec = onTerminal(['exec', '-it', 'box', 'sh', '-c', 'echo "exec tty=$(tty) uid=$(id -u)"; exit 6']);
    await exec.terminal.waitFor(/exec tty=\/dev\/pts\/\d+ uid=0/, COMMAND_PATIENCE_MS);
    expect(await within(exec.exited, COMMAND_PATIENCE_MS, 'exec -it ends')).toBe(6);
    expect(md('rm', '-f', 'box')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('refused in one line with the host\'s powers or a network namespace it would not own; nothing left', () => {
    const privileged = md('run', '--rm', '--privileged', '--uidmap', `0:${BASE}:65536`, 'busybox', 'true');
    expect(privileged).toExitWith(125);
    expect(privileged.stderr).toBe("minidocker: --privileged cannot go with a user namespace of its own: the host's powers are the host's root's; use --userns=host\n");
    const hostNetwork = md('run', '--rm', '--network', 'host', '--uidmap', `0:${BASE}:65536`, 'busybox', 'true');
    expect(hostNetwork.stderr).toBe("minidocker: --network host cannot go with a user namespace of its own: that network namespace is not the container's; use --userns=host\n");
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('a state folder the mapped root cannot enter is refused in one line, before anything runs', () => {
    chmodSync(stateDir, 0o700);
    const refused = md('run', '--rm', '--network', 'none', '--uidmap', `0:${BASE}:65536`, 'busybox', 'true');
    expect(refused).toExitWith(125);
    expect(refused.stderr).toContain(`the container's root (host uid ${BASE}) may not enter ${stateDir} (mode 700): let others search it (chmod o+x)`);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    chmodSync(stateDir, 0o711);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);
});
