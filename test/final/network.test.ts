/**
 * minidocker's --network and -p, end to end through the CLI. The "host" is a throwaway network
 * namespace (MINIDOCKER_NETNS): the bridge, veths and iptables rules live there and go with it, and all
 * traffic goes to addresses inside it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { describeAsRoot } from '../helpers/root.js';
import { throwawayNetns } from '../helpers/netns.js';
import { eventually } from '../helpers/processes.js';
import { alive, cli, COMMAND_PATIENCE_MS, leftovers, MINIDOCKER, networkLeftovers, recordedPids, killRecorded } from './helpers.js';

let stateDir: string;
let hostNetns: string;
const md = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns });
const SBIN_PATH = `/usr/sbin:/sbin:${process.env.PATH}`;

/** A command on the "host": inside the throwaway namespace. */
function onHost(argv: string[]) {
  const result = spawnSync('ip', ['netns', 'exec', hostNetns, ...argv], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PATH: SBIN_PATH } });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** `wget -qO- URL` from the host, retried while the server inside is still starting. (BusyBox 1.35's wget -T crashes: timeout(1) instead.) */
async function fetchFromHost(url: string): Promise<string> {
  let body = '';
  await eventually(() => {
    const result = onHost(['timeout', '5', 'busybox', 'wget', '-q', '-O-', url]);
    body = result.stdout;
    return result.code === 0;
  }, 10_000, `${url} answers`);
  return body;
}

/** A web server's files: index.html says which container answers. */
function webRoot(text: string): string {
  return `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`;
}

describeAsRoot('minidocker --network and -p', () => {
  const netns = throwawayNetns();
  const children: ChildProcess[] = [];
  beforeEach(() => {
    hostNetns = netns.create('lab-test-mdnet');
    stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-net-'));
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    killRecorded(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('bridge is the default: eth0 with an address from 172.29.0.0/24, a route to the gateway, and the way out', () => {
    const result = md('run', '--rm', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0; ip route; ping -c 1 -W 2 172.29.0.1 >/dev/null && echo gateway answers');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/eth0\s+inet 172\.29\.0\.\d+\/24/);
    expect(result.stdout).toContain('default via 172.29.0.1 dev eth0');
    expect(result.stdout).toContain('gateway answers');
    // The host's side: the bridge exists in the host namespace, the container's veth and address are gone.
    expect(onHost(['ip', '-o', 'link', 'show', 'labbr0'])).toExitWith(0);
    expect(networkLeftovers(hostNetns)).toEqual([]);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it("/etc/resolv.conf names servers the container can reach: not one on the host's loopback, unless it shares it", () => {
    // The host's file, as a machine with a local resolver has it, in a mount namespace of the command's own.
    const fake = path.join(stateDir, 'host-resolv.conf');
    writeFileSync(fake, 'nameserver 127.0.1.1\nnameserver 192.0.2.7\nsearch lab.test\n');
    const withHostFile = ['unshare', '--mount', '--', 'sh', '-c', `mount --bind ${fake} /etc/resolv.conf && exec "$@"`, 'sh'];
    const run = (...args: string[]) => cli(MINIDOCKER, stateDir, args, { hostNetns, under: withHostFile });
    const bridge = run('run', '--rm', 'busybox', 'cat', '/etc/resolv.conf');
    expect(bridge.code, bridge.stderr).toBe(0);
    expect(bridge.stdout).toBe('nameserver 192.0.2.7\nsearch lab.test\n');
    expect(run('run', '--rm', '--network', 'host', 'busybox', 'cat', '/etc/resolv.conf').stdout).toBe(readFileSync(fake, 'utf8'));
    // Nothing left of the host's: Docker's public servers.
    writeFileSync(fake, 'nameserver 127.0.1.1\n');
    expect(run('run', '--rm', '--network', 'none', 'busybox', 'cat', '/etc/resolv.conf').stdout).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  }, 180_000);

  it('a detached web server with -p 8080:80 answers from the host, on localhost and on the bridge address', async () => {
    const started = md('run', '-d', '--name', 'web', '-p', '8080:80', '-m', '64m', '--cpus', '0.5', '--pids-limit', '64', 'busybox', 'sh', '-c', webRoot('hello-from-web'));
    expect(started.code, started.stderr).toBe(0);
    expect(await fetchFromHost('http://127.0.0.1:8080/')).toBe('hello-from-web\n');
    expect(await fetchFromHost('http://172.29.0.1:8080/')).toBe('hello-from-web\n');

    const ps = md('ps');
    expect(ps.stdout).toMatch(/PORTS/);
    expect(ps.stdout).toMatch(/0\.0\.0\.0:8080->80\/tcp\s+web/);
    const [inspected] = JSON.parse(md('inspect', 'web').stdout);
    expect(inspected.NetworkSettings.IPAddress).toMatch(/^172\.29\.0\.\d+$/);
    expect(inspected.HostConfig.NetworkMode).toBe('bridge');
    // The rule as the host's iptables shows it: the DNAT to the container's address.
    expect(onHost(['iptables', '-t', 'nat', '-S', 'LAB-DNAT']).stdout).toContain(`--dport 8080 -m comment --comment "mini-docker-lab:${inspected.Id}" -j DNAT --to-destination ${inspected.NetworkSettings.IPAddress}:80`);

    expect(md('rm', '-f', 'web')).toExitWith(0);
    expect(onHost(['timeout', '5', 'busybox', 'wget', '-q', '-O-', 'http://127.0.0.1:8080/'])).not.toExitWith(0);
    expect(networkLeftovers(hostNetns)).toEqual([]);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('a port in use is refused in one line, by a container or by a program on the host, and nothing is created', () => {
    expect(md('run', '-d', '--name', 'first', '-p', '8080:80', 'busybox', 'sleep', '1000')).toExitWith(0);
    const taken = md('run', '--rm', '-p', '8080:80', 'busybox', 'true');
    expect(taken).toExitWith(125);
    expect(taken.stderr).toBe('minidocker: Bind for 0.0.0.0:8080 failed: port is already allocated by container first: publish another host port, or stop first\n');

    const listener = spawn('ip', ['netns', 'exec', hostNetns, 'busybox', 'nc', '-l', '-p', '9090'], { stdio: 'ignore', env: { ...process.env, PATH: SBIN_PATH } });
    children.push(listener);
    let busy = { code: 0 as number | null, stderr: '' };
    const deadline = Date.now() + 5000;
    do busy = md('run', '--rm', '-p', '9090:80', 'busybox', 'true');
    while (busy.code === 0 && Date.now() < deadline); // until nc listens
    expect(busy).toExitWith(125);
    expect(busy.stderr).toMatch(/^minidocker: port 9090\/tcp is already in use on the host: .*\n$/);

    expect(md('ps', '-a').stdout.trim().split('\n')).toHaveLength(2); // the header and "first"
    expect(md('rm', '-f', 'first')).toExitWith(0);
    expect(networkLeftovers(hostNetns)).toEqual([]);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('--network none has only lo; host shares the host’s stack; container:NAME shares another container’s', () => {
    const none = md('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net; ip -o link | wc -l');
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toBe('lo\n1\n');

    // host: the very network namespace that plays the host, compared by inode.
    const hostInode = statSync(`/run/netns/${hostNetns}`).ino;
    const host = md('run', '--rm', '--network', 'host', 'busybox', 'readlink', '/proc/self/ns/net');
    expect(host.stdout.trim()).toBe(`net:[${hostInode}]`);

    expect(md('run', '-d', '--name', 'web', 'busybox', 'sh', '-c', webRoot('shared'))).toExitWith(0);
    const [web] = JSON.parse(md('inspect', 'web').stdout);
    const joined = md('run', '--rm', '--network', 'container:web', 'busybox', 'sh', '-c', 'ip -4 -o addr show eth0; wget -q -O- http://127.0.0.1/ || { sleep 1; wget -q -O- http://127.0.0.1/; }');
    expect(joined.code, joined.stderr).toBe(0);
    expect(joined.stdout).toContain(`inet ${web.NetworkSettings.IPAddress}/24`);
    expect(joined.stdout).toContain('shared');
    expect(md('rm', '-f', 'web')).toExitWith(0);
    expect(networkLeftovers(hostNetns)).toEqual([]);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);

  it('bad --network, -p and MINIDOCKER_NETNS values: one line, exit 125, nothing left', () => {
    const cases: [string[], RegExp][] = [
      [['--network', 'bogus'], /^minidocker: invalid --network "bogus": use bridge, host, none, slirp4netns or container:NAME\n$/],
      [['-p', '99999:80'], /^minidocker: -p 99999:80: the host port must be a number from 1 to 65535\n$/],
      [['-p', 'eighty'], /^minidocker: -p eighty: expected HOSTPORT:CONTAINERPORT/],
      [['--network', 'container:nobody'], /^minidocker: No such container: nobody\n$/],
    ];
    for (const [flags, message] of cases) {
      const result = md('run', '--rm', ...flags, 'busybox', 'true');
      expect(result.code, flags.join(' ')).toBe(125);
      expect(result.stderr).toMatch(message);
    }
    const missing = cli(MINIDOCKER, stateDir, ['run', '--rm', 'busybox', 'true'], { hostNetns: 'lab-test-no-such-netns' });
    expect(missing).toExitWith(125);
    expect(missing.stderr).toBe('minidocker: MINIDOCKER_NETNS=lab-test-no-such-netns: there is no network namespace "lab-test-no-such-netns": create it with `ip netns add lab-test-no-such-netns`, or unset MINIDOCKER_NETNS\n');
    expect(leftovers(stateDir)).toEqual([]);
    expect(networkLeftovers(hostNetns)).toEqual([]);
  }, 180_000);

  it('kill -9 of the CLI during `run -p`: ps -a shows Exited (137) and removes its address and rules', async () => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, MINIDOCKER), 'run', '--name', 'victim', '-p', '8081:80', 'busybox', 'sleep', '1000'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LAB_STATE_DIR: stateDir, MINIDOCKER_NETNS: hostNetns },
      stdio: 'ignore',
    });
    children.push(child);
    // (a minute: under the VM suite's software emulation a start takes seconds)
    await eventually(() => networkLeftovers(hostNetns).some((rule) => rule.includes('--dport 8081')) && md('ps').stdout.includes('victim'), COMMAND_PATIENCE_MS, 'container running with its port');
    child.kill('SIGKILL');
    await eventually(() => recordedPids(stateDir).every((pid) => !alive(pid)), 5000, 'the container goes with its runtime');
    expect(md('ps', '-a').stdout).toMatch(/Exited \(137\) [\w ]+ ago\s+victim/);
    expect(networkLeftovers(hostNetns)).toEqual([]);
    // Its bridge connection was released: the record of it (lesson 06's network.json) is gone.
    const id = JSON.parse(md('inspect', 'victim').stdout)[0].Id;
    expect(existsSync(path.join(stateDir, 'runtime', id, 'network.json'))).toBe(false);
    expect(md('rm', 'victim')).toExitWith(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 180_000);
});

describeAsRoot('the bridge network, once it is set up', () => {
  const netns = throwawayNetns();
  it('is checked by one command on the next run, and set up again where a part of it went missing', async () => {
    const { NetworkHost } = await import('../../lessons/06-network/commands.js');
    const { setUpNetwork } = await import('../../lessons/06-network/network.js');
    const stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-netsnap-'));
    try {
      const host = new NetworkHost({ sandbox: netns.create('lab-test-netsnap'), stateDir });
      const commands: string[] = [];
      const run = host.run.bind(host);
      host.run = (argv, options) => {
        commands.push(argv.join(' '));
        return run(argv, options);
      };
      await setUpNetwork(host, undefined, { localhostPorts: true });
      const first = commands.splice(0);
      expect(first.length).toBeGreaterThan(10);
      await setUpNetwork(host, undefined, { localhostPorts: true });
      expect(commands.splice(0)).toEqual([expect.stringMatching(/^sh -c ip -j addr show dev labbr0/)]);
      // A rule deleted behind the lab's back is found missing, and only it is added again.
      const save = () => spawnSync('ip', ['netns', 'exec', host.sandbox!, 'iptables-save'], { encoding: 'utf8' }).stdout.split('\n').filter((line) => line.startsWith('-A')).sort();
      const complete = save();
      spawnSync('ip', ['netns', 'exec', host.sandbox!, 'iptables', '-t', 'nat', '-F', 'LAB-SNAT']);
      await setUpNetwork(host, undefined, { localhostPorts: true });
      expect(save()).toEqual(complete);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
