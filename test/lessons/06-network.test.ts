/**
 * Lesson 06 graded checks: a network namespace, veth pairs, a bridge, NAT and published ports.
 *
 * Every root test builds its "host" inside a throwaway network namespace (test/helpers/netns.ts): the
 * bridge, the veths, the iptables rules and net.ipv4.ip_forward all live there and go with it. Traffic
 * goes only to addresses inside namespaces the test made.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { graded } from '../../src/course/grading.js';
import { lessonFile } from '../../src/course/impl.js';
import { CLONE_NEWNET, RecordingSyscalls } from '../../src/sys/index.js';
import { makePlan } from '../../src/container/plan.js';
import { repoRoot } from '../../src/course/paths.js';
import { startContainer, type Container } from '../../src/container/runtime.js';
import { bundleUnderTest, importLesson, registryUnderTest } from '../helpers/impl.js';
import { describeAsRoot } from '../helpers/root.js';
import { eventually, isRunning } from '../helpers/processes.js';
import { inNetns, netnsExists, removeTestNetns, throwawayNetns } from '../helpers/netns.js';
import '../helpers/syscalls.js';

// The lessons' features as the implementation under test has them: host-side planning runs its code too.
const registry = await registryUnderTest();

type NetworkModule = typeof import('../../lessons/06-network/network.js');
type NetworkMode = import('../../lessons/06-network/network.js').NetworkMode;
const netns = await importLesson<typeof import('../../lessons/06-network/netns.js')>('06-network', 'netns.ts');
const ipam = await importLesson<typeof import('../../lessons/06-network/ipam.js')>('06-network', 'ipam.ts');
const ports = await importLesson<typeof import('../../lessons/06-network/ports.js')>('06-network', 'ports.ts');
const iproute = await importLesson<typeof import('../../lessons/06-network/iproute.js')>('06-network', 'iproute.ts');
const net = await importLesson<NetworkModule>('06-network', 'network.ts');
const containers = await importLesson<typeof import('../../lessons/06-network/containers.js')>('06-network', 'containers.ts');
const { NetworkHost } = await importLesson<typeof import('../../lessons/06-network/commands.js')>('06-network', 'commands.ts');
const { createOutside, OUTSIDE } = await importLesson<typeof import('../../lessons/06-network/sandbox.js')>('06-network', 'sandbox.ts');
// No exercise in it: always the reference (a workshop made before it existed has no copy).
const subnets = await import('../../lessons/06-network/subnets.js');
type NetworkHostType = InstanceType<typeof NetworkHost>;

const newId = () => randomBytes(32).toString('hex');
const tempDir = (prefix: string) => mkdtempSync(path.join(tmpdir(), prefix));

/** A command runner that runs nothing and records what it was asked: [where, argv]. */
/**
 * A script that imports lesson code, as one plain JavaScript file in dist/ (where node_modules and the
 * repository are found, as from the project's own bundles). Returns its path; the caller removes it.
 */
async function bundleScript(script: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = path.join(repoRoot, 'dist', `test-runtime-${process.pid}-${randomBytes(4).toString('hex')}.mjs`);
  await build({
    stdin: { contents: script, resolveDir: repoRoot, loader: 'ts', sourcefile: 'runtime.ts' },
    outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'silent',
  });
  return outfile;
}

function recordingRunner() {
  const calls: { where: 'host' | number; argv: string[] }[] = [];
  const ok = { stdout: '', stderr: '', exitCode: 0 };
  return {
    calls,
    run: async (argv: readonly string[]) => (calls.push({ where: 'host', argv: [...argv] }), ok),
    inContainer: async (pid: number, argv: readonly string[]) => (calls.push({ where: pid, argv: [...argv] }), ok),
  };
}

/** Does `argv` contain `words` as a contiguous run? */
function hasRun(argv: readonly string[], words: readonly string[]): boolean {
  return argv.some((_, start) => words.every((word, offset) => argv[start + offset] === word));
}

describe('lesson 06 · the code, on its own', () => {
  graded('net.unshare', 'newNetNamespace asks for a new network namespace', () => {
    const sys = new RecordingSyscalls();
    netns.newNetNamespace(sys);
    expect(sys.calls).toMakeSyscalls([{ call: 'unshare', args: [CLONE_NEWNET] }]);
  }, { requires: ['new network namespace'] });

  graded('net.ipam', 'nextFreeAddress gives the lowest free host address', () => {
    const [a, b] = [randomInt(1, 200), randomInt(0, 255)];
    const subnet = ipam.parseSubnet(`10.${a}.${b}.0/24`);
    const at = (host: number) => `10.${a}.${b}.${host}`;
    expect(ipam.nextFreeAddress(subnet, new Set())).toBe(at(1));
    expect(ipam.nextFreeAddress(subnet, new Set([at(1)]))).toBe(at(2));
    expect(ipam.nextFreeAddress(subnet, new Set([at(1), at(2), at(3)]))).toBe(at(4));
    expect(ipam.nextFreeAddress(subnet, new Set([at(1), at(3)]))).toBe(at(2));
    const upTo = randomInt(5, 250);
    expect(ipam.nextFreeAddress(subnet, new Set(Array.from({ length: upTo }, (_, index) => at(index + 1))))).toBe(at(upTo + 1));
  }, { requires: ['lowest usable address'] });

  graded('net.ipam', 'nextFreeAddress never gives the network or broadcast address, and says when the subnet is full', () => {
    const small = ipam.parseSubnet('192.168.77.8/29'); // .8 network, .9–.14 hosts, .15 broadcast
    const hosts = [9, 10, 11, 12, 13, 14].map((host) => `192.168.77.${host}`);
    expect(ipam.nextFreeAddress(small, new Set(hosts.slice(0, 5)))).toBe('192.168.77.14');
    expect(ipam.nextFreeAddress(small, new Set(hosts))).toBeNull();
    const tiny = ipam.parseSubnet('172.30.1.4/30');
    expect(ipam.nextFreeAddress(tiny, new Set(['172.30.1.5']))).toBe('172.30.1.6');
    expect(ipam.nextFreeAddress(tiny, new Set(['172.30.1.5', '172.30.1.6']))).toBeNull();
  }, { requires: ['null when there is none'] });

  it('commands run without the user’s ~/.bashrc, also where sudo left SHLVL unset', async () => {
    // bash reads ~/.bashrc for `bash -c` when stdin is a socket and SHLVL is unset (see commandEnv).
    const home = tempDir('lab-net-home-');
    const saved = { HOME: process.env.HOME, SHLVL: process.env.SHLVL };
    try {
      writeFileSync(path.join(home, '.bashrc'), 'echo "from .bashrc"\n');
      process.env.HOME = home;
      delete process.env.SHLVL;
      const result = await new NetworkHost({ stateDir: home }).runAsIs(['echo', 'from the command']);
      expect(result.stdout).toBe('from the command\n');
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      rmSync(home, { recursive: true, force: true });
    }
  });

  describe('leases on disk', () => {
    let dir: string;
    beforeEach(() => void (dir = tempDir('lab-ipam-')));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const pool = () => new ipam.AddressPool(dir, ipam.parseSubnet('172.29.0.0/24'), ['172.29.0.1']);

    graded('net.ipam', 'a pool hands out .2, .3, .4 …, takes addresses back and hands them out again', () => {
      const ids = [newId(), newId(), newId()];
      const leases = ids.map((containerId) => pool().allocate({ containerId, pid: process.pid }));
      expect(leases.map((lease) => lease.address)).toEqual(['172.29.0.2', '172.29.0.3', '172.29.0.4']);
      expect(readdirSync(path.join(dir, 'leases')).sort()).toEqual(['172.29.0.2', '172.29.0.3', '172.29.0.4']);
      expect(readFileSync(path.join(dir, 'leases', '172.29.0.3'), 'utf8')).toContain(ids[1]);
      expect(pool().release('172.29.0.3', ids[0]!)).toBe(false); // not its lease
      expect(pool().release('172.29.0.3', ids[1]!)).toBe(true);
      expect(pool().allocate({ containerId: newId(), pid: process.pid }).address).toBe('172.29.0.3');
      expect(pool().allocate({ containerId: newId(), pid: process.pid }).address).toBe('172.29.0.5');
    });

    graded('net.ipam', 'the lease of a container whose process is gone is reclaimed', () => {
      const gone = spawnSync('true').pid!; // a PID that is certainly not running any more
      pool().allocate({ containerId: newId(), pid: process.pid });
      const dead = pool().allocate({ containerId: newId(), pid: gone });
      expect(dead.address).toBe('172.29.0.3');
      expect(pool().leases()).toHaveLength(2);
      const reclaimed = pool().allocate({ containerId: newId(), pid: process.pid });
      expect(reclaimed.address).toBe('172.29.0.3');
      expect(pool().leases().map((lease) => lease.pid)).toEqual([process.pid, process.pid]);
    });

    graded('net.ipam', 'several processes allocating at the same moment never get the same address', async () => {
      const workers = 4;
      const each = 12;
      const startAt = Date.now() + 2500; // every worker waits for this moment, then allocates as fast as it can
      const moduleUrl = pathToFileURL(lessonFile('06-network', 'ipam.ts')).href;
      const script = `
        import { AddressPool, parseSubnet } from ${JSON.stringify(moduleUrl)};
        const pool = new AddressPool(${JSON.stringify(dir)}, parseSubnet('172.29.0.0/24'), ['172.29.0.1']);
        while (Date.now() < ${startAt}) {}
        const got = [];
        for (let i = 0; i < ${each}; i++) got.push(pool.allocate({ containerId: process.pid.toString(16).padStart(8, '0') + i, pid: ${process.pid} }).address);
        console.log(JSON.stringify(got));`;
      const results = await Promise.all(
        Array.from({ length: workers }, () =>
          new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
            const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
            child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
            child.on('close', (code) => resolve({ code, stdout, stderr }));
          }),
        ),
      );
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      const addresses = results.flatMap((result) => JSON.parse(result.stdout.trim().split('\n').at(-1)!) as string[]);
      expect(addresses).toHaveLength(workers * each);
      expect(new Set(addresses).size).toBe(workers * each);
      const expected = Array.from({ length: workers * each }, (_, index) => `172.29.0.${index + 2}`);
      expect([...addresses].sort()).toEqual(expected.sort());
      expect(readdirSync(path.join(dir, 'leases'))).toHaveLength(workers * each);
    }, 30_000);
  });

  graded('net.dnat', 'dnatRule sends the host port to the container address and port, with the comment', () => {
    const hostPort = randomInt(1024, 60000);
    const containerPort = randomInt(1, 1024);
    const address = `172.29.0.${randomInt(2, 250)}`;
    const comment = `mini-docker-lab:${randomBytes(6).toString('hex')}`;
    const rule = ports.dnatRule({ hostPort, containerPort, protocol: 'tcp' }, address, comment);
    expect(hasRun(rule, ['-p', 'tcp'])).toBe(true);
    expect(hasRun(rule, ['--dport', String(hostPort)])).toBe(true);
    expect(hasRun(rule, ['-j', 'DNAT'])).toBe(true);
    expect(hasRun(rule, ['--to-destination', `${address}:${containerPort}`])).toBe(true);
    expect(hasRun(rule, ['-m', 'comment', '--comment', comment])).toBe(true);
    const udp = ports.dnatRule({ hostPort, containerPort, protocol: 'udp' }, address, comment);
    expect(hasRun(udp, ['-p', 'udp'])).toBe(true);
  }, { requires: ['iptables', 'DNAT', 'comment'] });

  graded('net.parse-addr', 'parseIpAddr reads names, states, IPv4 addresses and bridge ports from `ip -j addr`', () => {
    const address = `172.29.0.${randomInt(2, 250)}`;
    const veth = `lab${randomBytes(4).toString('hex')}`;
    const json = JSON.stringify([
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, operstate: 'UNKNOWN', link_type: 'loopback',
        addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo' }, { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host' }] },
      { ifindex: 7, link_index: 8, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', link_netnsid: 0,
        addr_info: [{ family: 'inet', local: address, prefixlen: 24, broadcast: '172.29.0.255', scope: 'global', label: 'eth0' }, { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' }] },
      { ifindex: 9, ifname: veth, flags: ['BROADCAST', 'MULTICAST'], mtu: 1500, master: 'labbr0', operstate: 'DOWN', addr_info: [] },
      { ifindex: 10, ifname: 'dummy0', flags: ['BROADCAST', 'NOARP'], mtu: 1500, operstate: 'DOWN' },
    ]);
    expect(iproute.parseIpAddr(json)).toEqual([
      { name: 'lo', state: 'UNKNOWN', up: true, ipv4: ['127.0.0.1/8'] },
      { name: 'eth0', state: 'UP', up: true, ipv4: [`${address}/24`] },
      { name: veth, state: 'DOWN', up: false, ipv4: [], master: 'labbr0' },
      { name: 'dummy0', state: 'DOWN', up: false, ipv4: [] },
    ]);
  }, { requires: ['ip -j addr', 'IPv4 addresses only', 'ADDRESS/PREFIX'] });

  graded('net.veth', 'createVethPair: a veth pair on the host, one end moved into the container and renamed eth0', async () => {
    const runner = recordingRunner();
    const pid = randomInt(2, 4_000_000);
    const names = net.vethNames(newId());
    await net.createVethPair(runner, names, pid);
    const host = runner.calls.filter((call) => call.where === 'host').map((call) => call.argv);
    const inside = runner.calls.filter((call) => call.where === pid).map((call) => call.argv);
    const creates = host.findIndex((argv) => argv[0] === 'ip' && argv.includes('veth') && argv.includes(names.host) && argv.includes(names.peer) && hasRun(argv, ['link', 'add']));
    const moves = host.findIndex((argv) => argv[0] === 'ip' && hasRun(argv, [names.peer, 'netns', String(pid)]));
    expect(creates).toBeGreaterThanOrEqual(0);
    expect(moves).toBeGreaterThan(creates);
    expect(inside.some((argv) => argv[0] === 'ip' && hasRun(argv, [names.peer, 'name', 'eth0']))).toBe(true);
  }, { requires: ['veth pair', 'rename it eth0'] });

  graded('net.address', 'configureContainerInterface: address on eth0, eth0 up, then the default route, all inside', async () => {
    const runner = recordingRunner();
    const pid = randomInt(2, 4_000_000);
    const cidr = `172.29.0.${randomInt(2, 250)}/24`;
    await net.configureContainerInterface(runner, pid, cidr, '172.29.0.1');
    expect(runner.calls.every((call) => call.where === pid)).toBe(true);
    const argvs = runner.calls.map((call) => call.argv.join(' '));
    const address = argvs.findIndex((line) => /^ip (-4 )?addr(ess)? add /.test(line) && line.includes(cidr) && line.endsWith('dev eth0'));
    const up = argvs.findIndex((line) => line === 'ip link set eth0 up' || line === 'ip link set dev eth0 up');
    const route = argvs.findIndex((line) => /^ip (-4 )?route add default via 172\.29\.0\.1( dev eth0)?$/.test(line));
    expect(address).toBeGreaterThanOrEqual(0);
    expect(up).toBeGreaterThanOrEqual(0);
    expect(route).toBeGreaterThan(up);
  }, { requires: ['eth0', 'default route'] });
});

describe('lesson 06 · free subnets, as Docker picks them from its default address pools', () => {
  const subnet = (cidr: string) => ipam.parseSubnet(cidr);
  const host32 = (address: string) => ({ network: ipam.addressToNumber(address), prefix: 32 });

  it('two subnets overlap exactly when one contains the other', () => {
    expect(subnets.subnetsOverlap(subnet('172.29.0.0/24'), subnet('172.29.0.0/16'))).toBe(true);
    expect(subnets.subnetsOverlap(subnet('172.29.0.128/25'), subnet('172.29.0.0/24'))).toBe(true);
    expect(subnets.subnetsOverlap(subnet('172.29.0.0/24'), subnet('172.29.1.0/24'))).toBe(false);
    expect(subnets.subnetsOverlap(host32('192.0.2.7'), subnet('192.0.2.0/24'))).toBe(true);
    expect(subnets.subnetsOverlap(subnet('10.0.0.0/8'), subnet('172.29.0.0/24'))).toBe(false);
  });

  it('a pool yields its subnets in order; the first that no route overlaps is taken', () => {
    const pools = [{ base: '10.1.0.0/23', size: 24 }, { base: '10.9.0.0/24', size: 25 }];
    expect([...subnets.poolSubnets(pools)]).toEqual(['10.1.0.0/24', '10.1.1.0/24', '10.9.0.0/25', '10.9.0.128/25']);
    expect(subnets.firstFreeSubnet(pools, [])).toBe('10.1.0.0/24');
    expect(subnets.firstFreeSubnet(pools, [host32('10.1.0.5')])).toBe('10.1.1.0/24');
    expect(subnets.firstFreeSubnet(pools, [subnet('10.0.0.0/14')])).toBe('10.9.0.0/25');
    expect(subnets.firstFreeSubnet(pools, [subnet('10.0.0.0/8')])).toBeNull();
    expect(() => [...subnets.poolSubnets([{ base: '10.1.0.0/24', size: 16 }])]).toThrow(/cannot come from/);
  });

  it('the default route counts for nothing; a host route counts as a /32', () => {
    expect(subnets.routeSubnet({ destination: 'default', gateway: '192.0.2.1' })).toBeNull();
    expect(subnets.routeSubnet({ destination: '192.0.2.9' })).toEqual(host32('192.0.2.9'));
    expect(subnets.routeSubnet({ destination: '172.29.0.0/24' })).toEqual(subnet('172.29.0.0/24'));
  });

  it('the networks on a subnet: .1 is the bridge (the gateway) and the host’s end of the outside link, .2 the outside machine', () => {
    expect(subnets.bridgeNetworkOn('172.30.4.0/24')).toEqual({ bridge: 'labbr0', subnet: '172.30.4.0/24', gateway: '172.30.4.1' });
    expect(subnets.outsideNetworkOn('203.0.113.0/24')).toEqual({ hostVeth: 'labout0', hostAddress: '203.0.113.1', address: '203.0.113.2', prefix: 24 });
  });
});

describeAsRoot('lesson 06 · real containers on a bridge, in a throwaway host namespace', () => {
  const namespaces = throwawayNetns();
  let host: NetworkHostType;
  let stateDir: string;
  let www: string;
  const running: { destroy(): Promise<unknown> }[] = [];
  const outsides: { remove(): Promise<void> }[] = [];

  beforeEach(() => {
    stateDir = tempDir('lab-net-state-');
    www = tempDir('lab-net-www-');
    const sandbox = namespaces.create();
    // A new namespace starts with a copy of the machine's IPv4 settings (net.core.devconf_inherit_init_net
    // = 0): on a machine that forwards already (every Docker host), so would the sandbox. The value is
    // the sandbox's own: start it as a freshly booted host's.
    inNetns(sandbox, ['sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    host = new NetworkHost({ sandbox, stateDir });
  });
  afterEach(async () => {
    try {
      await Promise.allSettled(running.splice(0).map((container) => container.destroy()));
      await Promise.allSettled(outsides.splice(0).map((outside) => outside.remove()));
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(www, { recursive: true, force: true });
    }
  });

  /** The options of a test container: a UTS namespace of its own, and the network namespace its mode makes. */
  const options = () => ({ registry, namespaces: ['uts'], stdio: 'ignore' as const, bundle: bundleUnderTest() });
  async function start(mode: NetworkMode, args = ['sleep', '1000']) {
    const started = await containers.startNetworkedContainer(host, args, mode, options());
    running.push(started);
    return started;
  }
  /** A container serving `token` as its index page with busybox httpd on port 80. */
  async function startServer(mode: NetworkMode, token: string) {
    writeFileSync(path.join(www, 'index.html'), `${token}\n`);
    const server = await start(mode, ['busybox', 'httpd', '-f', '-p', '80', '-h', www]);
    return server;
  }
  async function outside() {
    const made = await createOutside(host);
    namespaces.track(made.netns);
    outsides.push(made);
    return made;
  }
  const get = (url: string) => ['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', url];
  /** Retries a fetch briefly: a server that was just exec'ed may not be listening yet. */
  async function fetchText(run: () => Promise<{ stdout: string; exitCode: number }>): Promise<string | null> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const result = await run();
      if (result.exitCode === 0) return result.stdout.trim();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return null;
  }
  const linksInContainer = async (pid: number) => iproute.parseIpAddr((await host.inContainer(pid, ['ip', '-j', 'addr'], { unrecorded: true })).stdout);
  const hostLinks = async () => iproute.parseIpAddr((await host.run(['ip', '-j', 'addr'], { unrecorded: true })).stdout);
  const ping = (run: (argv: string[]) => Promise<{ exitCode: number }>, address: string) => run(['busybox', 'ping', '-c', '1', '-W', '2', address]);
  const iptablesSave = async (command = 'iptables-save') => (await host.run([command], { unrecorded: true })).stdout;

  graded('net.unshare', 'a new network namespace holds only lo; the container gets eth0 once wired', async () => {
    const bare = await startContainer(makePlan({ id: newId(), namespaces: ['uts', 'net'], process: { args: ['sleep', '1000'] } }), { stdio: 'ignore', bundle: bundleUnderTest() });
    running.push(bare as Container);
    expect(readlinkSync(`/proc/${bare.pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
    expect((await linksInContainer(bare.pid)).map((link) => link.name)).toEqual(['lo']);
    const wired = await start({ mode: 'bridge' });
    expect((await linksInContainer(wired.container.pid)).map((link) => link.name)).toEqual(['lo', 'eth0']);
  });

  graded('net.veth', 'the host keeps one end of the veth pair, as a port of the bridge', async () => {
    const { container, endpoint } = await start({ mode: 'bridge' });
    const names = net.vethNames(container.plan.id);
    const port = (await hostLinks()).find((link) => link.name === names.host);
    expect(port?.master).toBe('labbr0');
    expect(port?.up).toBe(true);
    expect((await host.run(['brctl', 'show', 'labbr0'], { unrecorded: true })).stdout).toContain(names.host);
    // eth0 inside is the other end: its peer's interface index is the host end's.
    const peerIndex = JSON.parse((await host.inContainer(container.pid, ['ip', '-j', 'link', 'show', 'eth0'], { unrecorded: true })).stdout)[0].link_index;
    const hostIndex = JSON.parse((await host.run(['ip', '-j', 'link', 'show', names.host], { unrecorded: true })).stdout)[0].ifindex;
    expect(peerIndex).toBe(hostIndex);
    expect(endpoint?.hostVeth).toBe(names.host);
  });

  graded('net.address', 'the container has an address on the bridge subnet, the bridge as gateway, and host ↔ container ping', async () => {
    const { container, endpoint } = await start({ mode: 'bridge' });
    const eth0 = (await linksInContainer(container.pid)).find((link) => link.name === 'eth0');
    expect(eth0?.up).toBe(true);
    expect(eth0?.ipv4).toEqual([`${endpoint!.address}/24`]);
    expect(ipam.inSubnet(endpoint!.address, ipam.parseSubnet('172.29.0.0/24'))).toBe(true);
    const routes = iproute.parseIpRoute((await host.inContainer(container.pid, ['ip', '-j', 'route'], { unrecorded: true })).stdout);
    expect(routes).toContainEqual({ destination: 'default', gateway: '172.29.0.1', device: 'eth0' });
    expect((await ping((argv) => host.run(argv, { allowFailure: true }), endpoint!.address)).exitCode).toBe(0);
    expect((await ping((argv) => host.inContainer(container.pid, argv, { allowFailure: true }), '172.29.0.1')).exitCode).toBe(0);
  });

  graded('net.ipam', 'two containers on the bridge get different addresses and reach each other', async () => {
    const token = randomBytes(8).toString('hex');
    const server = await startServer({ mode: 'bridge' }, token);
    const client = await start({ mode: 'bridge' });
    expect(client.endpoint!.address).not.toBe(server.endpoint!.address);
    expect((await ping((argv) => host.inContainer(client.container.pid, argv, { allowFailure: true }), server.endpoint!.address)).exitCode).toBe(0);
    const body = await fetchText(() => host.inContainer(client.container.pid, get(`http://${server.endpoint!.address}/`), { allowFailure: true }));
    expect(body).toBe(token);
    expect((await hostLinks()).filter((link) => link.master === 'labbr0')).toHaveLength(2);
  });

  graded('net.address', 'outbound NAT: the outside world sees the host’s address, not the container’s', async () => {
    const machineForwarding = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    const world = await outside();
    world.serveWhoami();
    const { container } = await start({ mode: 'bridge' });
    const seen = await fetchText(() => host.inContainer(container.pid, get(`http://${OUTSIDE.address}/cgi-bin/whoami`), { allowFailure: true }));
    expect(seen).toBe(OUTSIDE.hostAddress);
    expect((await host.run(['sysctl', '-n', 'net.ipv4.ip_forward'], { unrecorded: true })).stdout.trim()).toBe('1');
    // The sandbox's ip_forward is its own: the machine's is untouched.
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(machineForwarding);
  });

  graded('net.dnat', 'a published port answers from the host itself and from another namespace', async () => {
    const token = randomBytes(8).toString('hex');
    const hostPort = randomInt(1024, 60000);
    await startServer({ mode: 'bridge', publish: [{ hostPort, containerPort: 80, protocol: 'tcp' }] }, token);
    const world = await outside();
    expect(await fetchText(() => world.run(get(`http://${OUTSIDE.hostAddress}:${hostPort}/`), { allowFailure: true }))).toBe(token);
    // From the host itself, to two of its own addresses (the OUTPUT chain's jump):
    expect(await fetchText(() => host.run(get(`http://${OUTSIDE.hostAddress}:${hostPort}/`), { allowFailure: true }))).toBe(token);
    expect(await fetchText(() => host.run(get(`http://172.29.0.1:${hostPort}/`), { allowFailure: true }))).toBe(token);
    expect(await iptablesSave()).toMatch(new RegExp(`-A LAB-DNAT .*--dport ${hostPort} .*-j DNAT --to-destination 172\\.29\\.0\\.\\d+:80`));
  });

  graded('net.dnat', 'PREROUTING alone misses the host’s own connections: the OUTPUT jump is what fixes them', async () => {
    const token = randomBytes(8).toString('hex');
    const hostPort = randomInt(1024, 60000);
    await startServer({ mode: 'bridge', publish: [{ hostPort, containerPort: 80, protocol: 'tcp' }] }, token);
    const world = await outside();
    const url = `http://${OUTSIDE.hostAddress}:${hostPort}/`;
    expect(await fetchText(() => world.run(get(url), { allowFailure: true }))).toBe(token);
    await net.enablePortPublishing(host, { fromOutput: false });
    expect((await host.run(get(url), { allowFailure: true })).exitCode).not.toBe(0); // nothing listens on the host itself
    expect(await fetchText(() => world.run(get(url), { allowFailure: true }))).toBe(token);
    await net.enablePortPublishing(host, { fromOutput: true });
    expect(await fetchText(() => host.run(get(url), { allowFailure: true }))).toBe(token);
  });

  graded('net.dnat', 'hairpin: a container reaches another container’s published port through the host’s address', async () => {
    const token = randomBytes(8).toString('hex');
    const hostPort = randomInt(1024, 60000);
    await startServer({ mode: 'bridge', publish: [{ hostPort, containerPort: 80, protocol: 'tcp' }] }, token);
    const client = await start({ mode: 'bridge' });
    expect(await fetchText(() => host.inContainer(client.container.pid, get(`http://172.29.0.1:${hostPort}/`), { allowFailure: true }))).toBe(token);
  });

  graded('net.unshare', 'the other modes: none has only lo; host shares the host’s stack; container:X shares X’s', async () => {
    const none = await start({ mode: 'none' });
    const noneLinks = await linksInContainer(none.container.pid);
    expect(noneLinks.map((link) => [link.name, link.up])).toEqual([['lo', true]]);
    expect(none.endpoint).toBeNull();

    const onHost = await start({ mode: 'host' });
    expect(statSync(`/proc/${onHost.container.pid}/ns/net`).ino).toBe(statSync(host.netnsPath!).ino);

    const token = randomBytes(8).toString('hex');
    const server = await startServer({ mode: 'bridge' }, token);
    const joined = await start({ mode: 'container', pid: server.container.pid });
    expect(readlinkSync(`/proc/${joined.container.pid}/ns/net`)).toBe(readlinkSync(`/proc/${server.container.pid}/ns/net`));
    expect((await linksInContainer(joined.container.pid)).find((link) => link.name === 'eth0')?.ipv4).toEqual([`${server.endpoint!.address}/24`]);
    // One stack: the joined container reaches the server's port on localhost.
    expect(await fetchText(() => host.inContainer(joined.container.pid, get('http://127.0.0.1/'), { allowFailure: true }))).toBe(token);
  });

  graded('net.veth', 'after the containers and the network are removed, nothing of the lab remains', async () => {
    const sandbox = host.sandbox!;
    const hostPort = randomInt(1024, 60000);
    await startServer({ mode: 'bridge', publish: [{ hostPort, containerPort: 80, protocol: 'tcp' }] }, 'x');
    await start({ mode: 'bridge' });
    expect(await iptablesSave()).toContain('mini-docker-lab:');
    await Promise.all(running.splice(0).map((container) => container.destroy()));
    expect(await net.removeNetwork(host)).toBe(true);
    expect((await hostLinks()).map((link) => link.name)).toEqual(['lo']);
    const rules = await iptablesSave();
    expect(rules).not.toMatch(/LAB-|mini-docker-lab/);
    expect((await host.run(['sysctl', '-n', 'net.ipv4.ip_forward'], { unrecorded: true })).stdout.trim()).toBe('0');
    const leaseDir = path.join(host.stateDir, 'labbr0', 'leases');
    expect(existsSync(leaseDir) ? readdirSync(leaseDir) : []).toEqual([]);
    inNetns(sandbox, ['true']);
    expect(netnsExists(sandbox)).toBe(true);
    removeTestNetns(sandbox);
    expect(netnsExists(sandbox)).toBe(false);
  });

  it('a host that forwarded already (Docker switched it on) still forwards after the network is removed', async () => {
    await host.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1'], { unrecorded: true });
    await start({ mode: 'bridge' });
    await Promise.all(running.splice(0).map((container) => container.destroy()));
    expect(await net.removeNetwork(host)).toBe(true);
    expect((await hostLinks()).map((link) => link.name)).toEqual(['lo']);
    expect((await host.run(['sysctl', '-n', 'net.ipv4.ip_forward'], { unrecorded: true })).stdout.trim()).toBe('1');
  });

  it('on a host whose own networks use 172.29.0.0/24 and 192.0.2.0/24, the lab takes the next free subnets, and they work', async () => {
    const fresh = await subnets.chooseNetworks(host);
    expect([fresh.network.subnet, fresh.outside.hostAddress]).toEqual([net.LAB_NETWORK.subnet, OUTSIDE.hostAddress]);
    // The host's LAN on 192.0.2.0/24 and a VPN route into 172.29.0.0/24; a route through labout0 is the lab's own (an earlier run's).
    await host.run(['ip', 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan0p']);
    await host.run(['ip', 'link', 'add', OUTSIDE.hostVeth, 'type', 'veth', 'peer', 'name', 'old0p']);
    for (const link of ['lan0', 'lan0p', OUTSIDE.hostVeth, 'old0p']) await host.run(['ip', 'link', 'set', link, 'up']);
    await host.run(['ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'lan0']);
    await host.run(['ip', 'route', 'add', '172.29.0.0/24', 'via', '192.0.2.1']);
    await host.run(['ip', 'route', 'add', '198.51.100.0/24', 'dev', OUTSIDE.hostVeth]);
    const chosen = await subnets.chooseNetworks(host);
    expect(chosen.network).toEqual({ bridge: 'labbr0', subnet: '172.29.1.0/24', gateway: '172.29.1.1' });
    expect(chosen.outside).toEqual({ hostVeth: OUTSIDE.hostVeth, hostAddress: '198.51.100.1', address: '198.51.100.2', prefix: 24 });
    await host.run(['ip', 'link', 'del', OUTSIDE.hostVeth]);

    // The whole way out and back in on those subnets: NAT to the outside, a published port from it.
    const made = await createOutside(host, undefined, chosen.outside);
    namespaces.track(made.netns);
    outsides.push(made);
    made.serveWhoami();
    const client = await containers.startNetworkedContainer(host, ['sleep', '1000'], { mode: 'bridge' }, { ...options(), network: chosen.network });
    running.push(client);
    expect(ipam.inSubnet(client.endpoint!.address, ipam.parseSubnet('172.29.1.0/24'))).toBe(true);
    expect(await fetchText(() => host.inContainer(client.container.pid, get('http://198.51.100.2/cgi-bin/whoami'), { allowFailure: true }))).toBe('198.51.100.1');
    // The host's own route into 172.29.0.0/24 is still there, untouched.
    expect((await host.run(['ip', 'route', 'show', '172.29.0.0/24'], { unrecorded: true })).stdout).toContain('via 192.0.2.1');
  });

  graded('net.dnat', 'after the runtime is killed with SIGKILL, the next start removes the dead container’s rules and lease', async () => {
    const hostPort = randomInt(1024, 60000);
    const id = newId();
    // A separate runtime: starts a container with a published port, prints its PID, and waits to be killed.
    const script = `
      import { startNetworkedContainer } from ${JSON.stringify(lessonFile('06-network', 'containers.ts'))};
      import { NetworkHost } from ${JSON.stringify(lessonFile('06-network', 'commands.ts'))};
      import { registry } from ${JSON.stringify(path.join(repoRoot, 'lessons/registry.ts'))};
      const host = new NetworkHost({ sandbox: ${JSON.stringify(host.sandbox)}, stateDir: ${JSON.stringify(host.labStateDir)} });
      const { container } = await startNetworkedContainer(host, ['sleep', '600'], { mode: 'bridge', publish: [{ hostPort: ${hostPort}, containerPort: 80, protocol: 'tcp' }] },
        { id: ${JSON.stringify(id)}, namespaces: ['uts'], registry, stdio: 'ignore', bundle: ${JSON.stringify(bundleUnderTest())} });
      console.log(container.pid);
      setInterval(() => {}, 1000);`;
    // Bundled into one plain JavaScript file first, as bin/minidocker.js is: no TypeScript loader in the
    // runtime's Node. (Under QEMU's software CPU, that loader's extra threads and code were where it crashed.)
    const program = await bundleScript(script);
    const runtime = spawn(process.execPath, [program], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    runtime.on('close', () => rmSync(program, { force: true }));
    let stderr = '';
    runtime.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
    const pid = await new Promise<number>((resolve, reject) => {
      runtime.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim())));
      // A signal says the runtime's Node itself died (under QEMU's software CPU: SIGILL, SIGSEGV), not the lesson.
      runtime.on('close', (code, signal) => reject(new Error(`the runtime ended (${signal ?? `exit ${code}`}) before starting the container: ${stderr}`)));
    });
    expect(isRunning(pid)).toBe(true);
    runtime.kill('SIGKILL');
    await eventually(() => !isRunning(pid), 5000, 'the container killed with its runtime');

    // The kernel removed the veth pair with the container's namespace; the rules and the lease are left.
    const names = net.vethNames(id);
    await eventually(() => !inNetns(host.sandbox!, ['ip', '-br', 'link']).includes(names.host), 5000, 'the veth gone with the namespace');
    expect(await iptablesSave()).toContain(net.containerComment(id));
    expect(net.addressPool(host).leases().map((lease) => lease.containerId)).toEqual([id]);

    const report = await net.cleanUpStale(host);
    expect(report.leases.map((lease) => lease.containerId)).toEqual([id]);
    expect(report.rules.length).toBeGreaterThanOrEqual(2); // the DNAT and the FORWARD accept
    expect(await iptablesSave()).not.toContain(net.containerComment(id));
    expect(net.addressPool(host).leases()).toEqual([]);
    // And the address is free again.
    const next = await start({ mode: 'bridge' });
    expect(next.endpoint!.address).toBe('172.29.0.2');
  });

  for (const backend of ['iptables-nft', 'iptables-legacy']) {
    const installed = ['/usr/sbin', '/sbin', '/usr/bin'].some((dir) => existsSync(path.join(dir, backend)));
    graded('net.dnat', `published ports work with the ${backend} backend, and removing the network leaves it clean${installed ? '' : ` (${backend} not installed: checks the default iptables)`}`, async () => {
      host = new NetworkHost({ sandbox: host.sandbox, stateDir, iptables: installed ? backend : 'iptables' });
      const token = randomBytes(8).toString('hex');
      const hostPort = randomInt(1024, 60000);
      await startServer({ mode: 'bridge', publish: [{ hostPort, containerPort: 80, protocol: 'tcp' }] }, token);
      const world = await outside();
      expect(await fetchText(() => world.run(get(`http://${OUTSIDE.hostAddress}:${hostPort}/`), { allowFailure: true }))).toBe(token);
      expect(await fetchText(() => host.run(get(`http://172.29.0.1:${hostPort}/`), { allowFailure: true }))).toBe(token);
      const save = installed ? `${backend}-save` : 'iptables-save';
      expect(await iptablesSave(save)).toContain('LAB-DNAT');
      await Promise.all(running.splice(0).map((container) => container.destroy()));
      expect(await net.removeNetwork(host)).toBe(true);
      expect(await iptablesSave(save)).not.toMatch(/LAB-|mini-docker-lab/);
    });
  }
});
