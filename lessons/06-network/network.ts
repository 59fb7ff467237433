/**
 * Lesson 06 — docker0 rebuilt: a bridge, veth pairs, NAT and published ports.
 *
 * libnetwork, Docker's networking library, names three things, and so does this file:
 *   - a NETWORK: here one Linux bridge, `labbr0` (Docker's docker0), with the subnet 172.29.0.0/24; the
 *     bridge's own address, 172.29.0.1, is every container's gateway. Plus the iptables rules that let
 *     containers out (MASQUERADE) and in (DNAT);
 *   - an ENDPOINT: a container's connection to a network: a veth pair, one end in the container as
 *     eth0, the other plugged into the bridge; its address; its published ports;
 *   - a SANDBOX: the container's network stack: its network namespace (see netns.ts).
 *
 * The network commands run after init has reported "ready" and before the command starts (see
 * src/container/runtime.ts): the namespace exists, so the host can wire it; nothing runs in it yet.
 * runc does no networking at all; containerd and Docker do this step, or CNI plugins do it for them.
 *
 * Everything the lab creates has a lab-owned name: the bridge `labbr0`, veths `lab<first 8 hex digits of
 * the container ID>`, the chains `LAB-DNAT`, `LAB-SNAT`, `LAB-FORWARD`, rule comments starting with
 * `mini-docker-lab`. That is how cleanUpStale finds what a killed runtime left behind, and how you can.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type CommandRunner, type NetworkHost } from './commands.js';
import { AddressPool, parseSubnet, type Lease } from './ipam.js';
import { parseLinkNames } from './iproute.js';
import { DNAT_CHAIN, dnatRule, type PublishedPort } from './ports.js';

/** The lab's bridge network: Docker's docker0 is 172.17.0.1/16; the lab keeps out of its way. */
export interface BridgeNetwork {
  bridge: string;
  subnet: string;
  /** The bridge's own address: the containers' default gateway. */
  gateway: string;
}

export const LAB_NETWORK: BridgeNetwork = { bridge: 'labbr0', subnet: '172.29.0.0/24', gateway: '172.29.0.1' };

/** Every rule the lab adds carries this comment; a container's rules add ":" and its short ID. */
export const LAB_COMMENT = 'mini-docker-lab';
/** nat table: MASQUERADE for traffic from the containers (Docker puts these straight into POSTROUTING). */
export const SNAT_CHAIN = 'LAB-SNAT';
/** filter table: what may be forwarded to and from the bridge (Docker: DOCKER-FORWARD, DOCKER). */
export const FORWARD_CHAIN = 'LAB-FORWARD';

/** The comment that marks a container's own rules: "mini-docker-lab:3f2a9c01b7e4". */
export function containerComment(containerId: string): string {
  return `${LAB_COMMENT}:${containerId.slice(0, 12)}`;
}

/** How a container is networked: Docker's --network bridge | none | host | container:NAME. */
export type NetworkMode =
  | { mode: 'bridge'; publish?: PublishedPort[] }
  | { mode: 'none' }
  | { mode: 'host' }
  | { mode: 'container'; pid: number };

/**
 * config.json's entry for a network mode: which network namespace the container gets.
 *   bridge, none     a new one (bridge then gets wired from outside; none stays with `lo` only);
 *   host             none of its own on the real host; in a sandbox, the sandbox's by path (it plays the host);
 *   container:OTHER  the other container's, by its /proc/PID/ns/net file — the same stack, same eth0.
 */
export function networkNamespaceEntry(mode: NetworkMode, hostNetnsPath: string | null): { type: 'network'; path?: string } | null {
  switch (mode.mode) {
    case 'bridge':
    case 'none':
      return { type: 'network' };
    case 'host':
      return hostNetnsPath ? { type: 'network', path: hostNetnsPath } : null;
    case 'container':
      return { type: 'network', path: `/proc/${mode.pid}/ns/net` };
  }
}

/** The names of a container's veth pair: `lab3f2a9c01` stays on the host, `lab3f2a9c01p` goes in. */
export function vethNames(containerId: string): { host: string; peer: string } {
  const short = containerId.slice(0, 8);
  if (!/^[0-9a-f]{8}$/.test(short)) throw new Error(`a container ID starts with 8 hex digits, got "${containerId}"`);
  // Interface names have at most 15 characters (IFNAMSIZ 16, with the final NUL).
  return { host: `lab${short}`, peer: `lab${short}p` };
}

const LAB_VETH = /^lab([0-9a-f]{8})p?$/;

// ---- the network: bridge, forwarding, NAT ------------------------------------------------------

/**
 * The host's network as it is now — the bridge, ip_forward, route_localnet and every iptables chain and
 * rule — read by one command, so that a run on a host whose network is set up already costs one process
 * instead of a check per part (Docker's daemon keeps this in memory; a daemon-less runtime reads it).
 * iptables-save prints each rule as `-A CHAIN …`, in the words the rules here are written in; a rule not
 * found so is asked about once more with `iptables -C` before it is added, so a spelling of iptables'
 * own never makes copies pile up.
 */
export interface HostSnapshot {
  bridge: BridgeState | undefined;
  forwarding: boolean;
  routeLocalnet: boolean;
  /** "TABLE CHAIN" for every chain there is. */
  chains: Set<string>;
  /** "TABLE -A CHAIN RULE…" for every rule there is. */
  rules: Set<string>;
}

interface BridgeState {
  flags: string[];
  addr_info: { local: string; prefixlen: number }[];
}

export async function readHostSnapshot(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK): Promise<HostSnapshot> {
  const save = `${host.iptablesCommand}-save`;
  const parts = [
    `ip -j addr show dev ${network.bridge} 2>/dev/null || echo '[]'`,
    'sysctl -n net.ipv4.ip_forward',
    `sysctl -n net.ipv4.conf.${network.bridge}.route_localnet 2>/dev/null || echo 0`,
    `${save} -t nat`,
    `${save} -t filter`,
  ];
  const { stdout } = await host.run(['sh', '-c', parts.join('; echo @@; ')], { unrecorded: true });
  const [bridge, forwarding, routeLocalnet, nat, filter] = stdout.split('@@\n');
  const chains = new Set<string>();
  const rules = new Set<string>();
  for (const [table, text] of [['nat', nat], ['filter', filter]] as const) {
    for (const line of (text ?? '').split('\n')) {
      if (line.startsWith(':')) chains.add(`${table} ${line.slice(1).split(' ')[0]}`);
      else if (line.startsWith('-A ')) rules.add(`${table} ${line.trim()}`);
    }
  }
  return {
    bridge: (JSON.parse(bridge || '[]') as BridgeState[])[0],
    forwarding: forwarding?.trim() === '1',
    routeLocalnet: routeLocalnet?.trim() === '1',
    chains,
    rules,
  };
}

/** `ip link add labbr0 type bridge`, its address, up. Does nothing that is done already. */
export async function createBridge(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK, known?: HostSnapshot): Promise<void> {
  const prefix = parseSubnet(network.subnet).prefix;
  const isReady = (state: BridgeState | undefined) => state?.flags.includes('UP') && state.addr_info.some((address) => address.local === network.gateway && address.prefixlen === prefix);
  if (isReady(known?.bridge)) return;
  const exists = await host.run(['ip', 'link', 'show', 'dev', network.bridge], { allowFailure: true, unrecorded: true });
  if (exists.exitCode !== 0) await host.run(['ip', 'link', 'add', network.bridge, 'type', 'bridge']);
  const [bridge] = JSON.parse((await host.run(['ip', '-j', 'addr', 'show', 'dev', network.bridge], { unrecorded: true })).stdout) as BridgeState[];
  if (!bridge?.addr_info.some((address) => address.local === network.gateway && address.prefixlen === prefix)) {
    await host.run(['ip', 'addr', 'add', `${network.gateway}/${prefix}`, 'dev', network.bridge]);
  }
  if (!bridge?.flags.includes('UP')) await host.run(['ip', 'link', 'set', network.bridge, 'up']);
}

/** Creates the chains that do not exist yet (those the snapshot lists are not asked about). */
async function ensureChains(host: NetworkHost, wanted: readonly (readonly [table: string, chain: string])[], known?: HostSnapshot): Promise<void> {
  const chains = wanted.filter(([table, chain]) => !known?.chains.has(`${table} ${chain}`));
  const listed = await Promise.all(chains.map(([table, chain]) => host.iptables(['-t', table, '-S', chain], { allowFailure: true, unrecorded: true })));
  for (const [index, [table, chain]] of chains.entries()) if (listed[index]!.exitCode !== 0) await host.iptables(['-t', table, '-N', chain]);
}

interface RuleSpec {
  table: string;
  chain: string;
  rule: readonly string[];
  /** Append (default), or insert as the chain's first rule. */
  at?: 'append' | 'top';
}

/**
 * Adds the rules that `iptables -C` does not find: the lab's rules must never pile up, however often
 * this runs. The checks only read, so they run side by side; the additions then go in order.
 */
async function ensureRules(host: NetworkHost, wanted: readonly RuleSpec[], known?: HostSnapshot): Promise<void> {
  const rules = wanted.filter(({ table, chain, rule }) => !known?.rules.has(`${table} -A ${chain} ${rule.join(' ')}`));
  const present = await Promise.all(rules.map(({ table, chain, rule }) => host.iptables(['-t', table, '-C', chain, ...rule], { allowFailure: true, unrecorded: true })));
  for (const [index, { table, chain, rule, at }] of rules.entries()) {
    if (present[index]!.exitCode === 0) continue;
    await host.iptables(at === 'top' ? ['-t', table, '-I', chain, '1', ...rule] : ['-t', table, '-A', chain, ...rule]);
  }
}

/** Deletes every copy of a rule; no error if there is none. */
async function deleteRule(host: NetworkHost, table: string, chain: string, rule: readonly string[]): Promise<void> {
  for (let tries = 0; tries < 10; tries++) {
    const present = await host.iptables(['-t', table, '-C', chain, ...rule], { allowFailure: true, unrecorded: true });
    if (present.exitCode !== 0) return;
    await host.iptables(['-t', table, '-D', chain, ...rule]);
  }
}

const tagged = ['-m', 'comment', '--comment', LAB_COMMENT];

/** The rules that make the bridge a router to the world; see enableOutboundNat. */
function outboundRules(network: BridgeNetwork) {
  return {
    /** POSTROUTING → LAB-SNAT. */
    snatJump: [...tagged, '-j', SNAT_CHAIN],
    /** Traffic from the containers that leaves by another interface gets the host's address as source. */
    masquerade: ['-s', network.subnet, '!', '-o', network.bridge, ...tagged, '-j', 'MASQUERADE'],
    /**
     * Hairpin: a container that reaches a published port through the host's address is DNAT'ed back
     * onto the bridge; without a new source address the reply would go straight to it over the bridge,
     * from an address it never talked to. Docker does the same when its userland proxy is off.
     */
    hairpin: ['-s', network.subnet, '-o', network.bridge, '-m', 'conntrack', '--ctstate', 'DNAT', ...tagged, '-j', 'MASQUERADE'],
    /** FORWARD → LAB-FORWARD, first, so a host whose FORWARD policy is DROP (Docker sets that) lets us through. */
    forwardJump: [...tagged, '-j', FORWARD_CHAIN],
    /** Replies to connections the containers made. */
    repliesIn: ['-o', network.bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tagged, '-j', 'ACCEPT'],
    /** Anything the containers send. Nothing else is accepted towards the bridge except published ports. */
    fromBridge: ['-i', network.bridge, ...tagged, '-j', 'ACCEPT'],
  };
}

const FORWARDING_MARK = 'ip_forward.enabled-by-lab';

/**
 * Lets the containers out: the host forwards packets between interfaces (net.ipv4.ip_forward — off by
 * default on a plain Linux host; per network namespace, so a sandbox has its own), and traffic from the
 * containers' subnet leaving by any other interface is MASQUERADEd: its source becomes the host's
 * address on that interface, so replies find their way back to the host, which conntrack un-NATs.
 *
 * Returns whether it had to switch forwarding on (the lab then switches it off again in removeNetwork).
 */
export async function enableOutboundNat(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK, known?: HostSnapshot): Promise<{ enabledForwarding: boolean }> {
  let enabledForwarding = false;
  const forwarding = known?.forwarding ? '1' : (await host.run(['sysctl', '-n', 'net.ipv4.ip_forward'], { unrecorded: true })).stdout;
  if (forwarding.trim() !== '1') {
    await host.run(['sysctl', '-w', 'net.ipv4.ip_forward=1']);
    mkdirSync(host.stateDir, { recursive: true });
    writeFileSync(path.join(host.stateDir, FORWARDING_MARK), 'the lab set net.ipv4.ip_forward=1; removing the lab network sets it back to 0\n');
    enabledForwarding = true;
  }
  const rules = outboundRules(network);
  await ensureChains(host, [['nat', SNAT_CHAIN], ['filter', FORWARD_CHAIN]], known);
  await ensureRules(host, [
    { table: 'nat', chain: SNAT_CHAIN, rule: rules.masquerade },
    { table: 'nat', chain: SNAT_CHAIN, rule: rules.hairpin },
    { table: 'nat', chain: 'POSTROUTING', rule: rules.snatJump },
    { table: 'filter', chain: FORWARD_CHAIN, rule: rules.repliesIn },
    { table: 'filter', chain: FORWARD_CHAIN, rule: rules.fromBridge },
    { table: 'filter', chain: 'FORWARD', rule: rules.forwardJump, at: 'top' },
  ], known);
  return { enabledForwarding };
}

/** The jumps into LAB-DNAT: one for arriving packets, one for the host's own. */
export function dnatJumps(): { prerouting: string[]; output: string[] } {
  return {
    // addrtype LOCAL: only packets for one of the host's own addresses; traffic passing through is not ours to rewrite.
    prerouting: ['-m', 'addrtype', '--dst-type', 'LOCAL', ...tagged, '-j', DNAT_CHAIN],
    // Not for 127.0.0.0/8: a packet from 127.0.0.1 may not leave the loopback interface (unless
    // net.ipv4.conf.*.route_localnet=1), so `curl localhost:8080` cannot be DNAT'ed onto the bridge.
    // Docker answers localhost with a userland proxy (docker-proxy) instead; see the README.
    output: ['!', '-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', ...tagged, '-j', DNAT_CHAIN],
  };
}

/**
 * Makes published ports possible: the LAB-DNAT chain and the jumps to it. `fromOutput: false` leaves out
 * the OUTPUT jump — the lesson shows what breaks then (the host itself can no longer reach the port).
 */
export async function enablePortPublishing(host: NetworkHost, options: { fromOutput?: boolean } = {}, known?: HostSnapshot): Promise<void> {
  const jumps = dnatJumps();
  await ensureChains(host, [['nat', DNAT_CHAIN]], known);
  const fromOutput = options.fromOutput ?? true;
  await ensureRules(host, [
    { table: 'nat', chain: 'PREROUTING', rule: jumps.prerouting },
    ...(fromOutput ? [{ table: 'nat', chain: 'OUTPUT', rule: jumps.output }] : []),
  ], known);
  if (!fromOutput) await deleteRule(host, 'nat', 'OUTPUT', jumps.output);
}

/** The rules that let `localhost:PORT` reach a published port without a proxy; see enableLocalhostPorts. */
function localhostRules(network: BridgeNetwork) {
  return {
    /** OUTPUT → LAB-DNAT for the loopback addresses too (dnatJumps leaves them out). */
    outputJump: ['-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', ...tagged, '-j', DNAT_CHAIN],
    /** A container must not see 127.0.0.1 as its peer (it would answer itself): the bridge's address instead. */
    masquerade: ['-s', '127.0.0.0/8', '-o', network.bridge, '-m', 'addrtype', '--src-type', 'LOCAL', ...tagged, '-j', 'MASQUERADE'],
  };
}

/**
 * `curl localhost:8080` on the host, without docker-proxy: what Docker does with --userland-proxy=false.
 * route_localnet=1 on the bridge lets packets from and to 127.0.0.0/8 cross it (the kernel drops them
 * as "martians" otherwise); OUTPUT DNATs the loopback addresses too; and the source 127.0.0.1 is
 * masqueraded to the bridge's address on the way out. The final runtime turns this on; the lesson
 * keeps the plain rules, so you can see why localhost needs something extra.
 */
export async function enableLocalhostPorts(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK, known?: HostSnapshot): Promise<void> {
  if (!known?.routeLocalnet) await host.run(['sysctl', '-w', `net.ipv4.conf.${network.bridge}.route_localnet=1`]);
  const rules = localhostRules(network);
  await ensureChains(host, [['nat', DNAT_CHAIN], ['nat', SNAT_CHAIN]], known);
  await ensureRules(host, [
    { table: 'nat', chain: 'OUTPUT', rule: rules.outputJump },
    { table: 'nat', chain: SNAT_CHAIN, rule: rules.masquerade },
  ], known);
}

/**
 * The whole network: bridge, outbound NAT, published-port chain (and with `localhostPorts`, what lets
 * localhost reach published ports). Idempotent: a second call changes nothing, and costs one command
 * (readHostSnapshot). The parts touch different things, so they run side by side.
 */
export async function setUpNetwork(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK, options: { localhostPorts?: boolean } = {}): Promise<void> {
  const known = await readHostSnapshot(host, network).catch(() => undefined); // without it, each part checks for itself
  await Promise.all([createBridge(host, network, known), enableOutboundNat(host, network, known), enablePortPublishing(host, {}, known)]);
  if (options.localhostPorts) await enableLocalhostPorts(host, network, known);
}

/** The pool of addresses of `network` on `host`. */
export function addressPool(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK): AddressPool {
  return new AddressPool(path.join(host.stateDir, network.bridge), parseSubnet(network.subnet), [network.gateway]);
}

/**
 * Removes the network: the jumps, the lab's chains, the bridge, and ip_forward if the lab switched it
 * on. Refuses while a live container still holds an address, unless `force`. Returns whether it removed it.
 */
export async function removeNetwork(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK, options: { force?: boolean } = {}): Promise<boolean> {
  await cleanUpStale(host, network);
  if (!options.force && addressPool(host, network).leases().length > 0) return false;
  const rules = outboundRules(network);
  const jumps = dnatJumps();
  await deleteRule(host, 'nat', 'PREROUTING', jumps.prerouting);
  await deleteRule(host, 'nat', 'OUTPUT', jumps.output);
  await deleteRule(host, 'nat', 'OUTPUT', localhostRules(network).outputJump);
  await deleteRule(host, 'nat', 'POSTROUTING', rules.snatJump);
  await deleteRule(host, 'filter', 'FORWARD', rules.forwardJump);
  for (const [table, chain] of [['nat', DNAT_CHAIN], ['nat', SNAT_CHAIN], ['filter', FORWARD_CHAIN]] as const) {
    const listed = await host.iptables(['-t', table, '-S', chain], { allowFailure: true, unrecorded: true });
    if (listed.exitCode !== 0) continue;
    await host.iptables(['-t', table, '-F', chain]);
    await host.iptables(['-t', table, '-X', chain]);
  }
  const bridge = await host.run(['ip', 'link', 'show', 'dev', network.bridge], { allowFailure: true, unrecorded: true });
  if (bridge.exitCode === 0) await host.run(['ip', 'link', 'del', network.bridge]);
  const mark = path.join(host.stateDir, FORWARDING_MARK);
  if (existsSync(mark)) {
    await host.run(['sysctl', '-w', 'net.ipv4.ip_forward=0']);
    rmSync(mark, { force: true });
  }
  rmSync(path.join(host.stateDir, network.bridge), { recursive: true, force: true });
  return true;
}

// ---- endpoints: one container's connection -----------------------------------------------------

/** A container's connection to the bridge network. */
export interface Endpoint {
  containerId: string;
  pid: number;
  /** "172.29.0.2" */
  address: string;
  /** The host's end of the veth pair, a port of the bridge. */
  hostVeth: string;
  published: PublishedPort[];
}

/**
 * Creates a veth pair on the host and moves one end into the container's network namespace, where it
 * is renamed eth0. A veth pair is two interfaces joined back to back: a packet sent into one comes
 * out of the other, copied in kernel memory — no wire, no hardware.
 */
export async function createVethPair(host: CommandRunner, names: { host: string; peer: string }, containerPid: number): Promise<void> {
  // EXERCISE(net.veth): Create the veth pair names.host/names.peer on the host, move names.peer into the container's network namespace, and rename it eth0 there.
  // HINT: Three `ip` commands: create the pair on the host, move one end into the container's namespace, rename it there.
  // HINT: A PID names that process's network namespace (`ip link set PEER netns PID`); the rename runs inside the container, through host.inContainer(pid, argv).
  // HINT: man 4 veth; man 8 ip-link ("type veth", "netns", "name").
  await host.run(['ip', 'link', 'add', names.host, 'type', 'veth', 'peer', 'name', names.peer]);
  await host.run(['ip', 'link', 'set', names.peer, 'netns', String(containerPid)]);
  await host.inContainer(containerPid, ['ip', 'link', 'set', names.peer, 'name', 'eth0']);
  // END EXERCISE
}

/**
 * Inside the container: give eth0 its address (with the prefix length, so the kernel adds the route
 * to the bridge's subnet by itself), switch it on, and send everything else to the gateway.
 */
export async function configureContainerInterface(host: CommandRunner, containerPid: number, cidr: string, gateway: string): Promise<void> {
  // EXERCISE(net.address): Inside the container: add the address `cidr` to eth0, bring eth0 up, and add a default route via `gateway`.
  // HINT: Three `ip` commands, all inside the container: an address on eth0, eth0 up, a default route.
  // HINT: host.inContainer(pid, argv) runs one. The default route needs eth0 up first: the gateway must be reachable through an interface that is up.
  // HINT: man 8 ip-address, man 8 ip-link and man 8 ip-route.
  await host.inContainer(containerPid, ['ip', 'addr', 'add', cidr, 'dev', 'eth0']);
  await host.inContainer(containerPid, ['ip', 'link', 'set', 'eth0', 'up']);
  await host.inContainer(containerPid, ['ip', 'route', 'add', 'default', 'via', gateway]);
  // END EXERCISE
}

/** A new network namespace's `lo` is down: even 127.0.0.1 does not answer. CNI has a plugin just for this ("loopback"). */
export async function bringUpLoopback(host: CommandRunner, containerPid: number): Promise<void> {
  await host.inContainer(containerPid, ['ip', 'link', 'set', 'lo', 'up']);
}

/** The filter rule that lets traffic for a published port through to the container (Docker's DOCKER chain). */
function acceptPublishedRule(network: BridgeNetwork, endpoint: Endpoint, published: PublishedPort): string[] {
  return ['-d', `${endpoint.address}/32`, '!', '-i', network.bridge, '-o', network.bridge, '-p', published.protocol, '--dport', String(published.containerPort),
    '-m', 'comment', '--comment', containerComment(endpoint.containerId), '-j', 'ACCEPT'];
}

/** `-p HOST:CONTAINER`: the DNAT rule in LAB-DNAT and the ACCEPT in LAB-FORWARD. */
export async function publishPort(host: NetworkHost, endpoint: Endpoint, published: PublishedPort, network: BridgeNetwork = LAB_NETWORK): Promise<void> {
  await host.iptables(['-t', 'nat', '-A', DNAT_CHAIN, ...dnatRule(published, endpoint.address, containerComment(endpoint.containerId))]);
  await ensureRules(host, [{ table: 'filter', chain: FORWARD_CHAIN, rule: acceptPublishedRule(network, endpoint, published) }]);
  endpoint.published.push(published);
}

async function unpublishPort(host: NetworkHost, endpoint: Endpoint, published: PublishedPort, network: BridgeNetwork): Promise<void> {
  await deleteRule(host, 'nat', DNAT_CHAIN, dnatRule(published, endpoint.address, containerComment(endpoint.containerId)));
  await deleteRule(host, 'filter', FORWARD_CHAIN, acceptPublishedRule(network, endpoint, published));
}

/**
 * Wires a container that was created (init is "ready", the command not yet running) for its mode:
 *   none, bridge  `lo` up; bridge also: an address, a veth pair, its ports;
 *   host, container:X  nothing to do: the stack it joined is wired already.
 * Returns the endpoint for bridge mode (disconnectContainer undoes it), else null.
 */
export async function connectContainer(
  host: NetworkHost,
  container: { id: string; pid: number },
  mode: NetworkMode,
  network: BridgeNetwork = LAB_NETWORK,
  /** loopbackUp: init has switched `lo` on itself (the network feature's "loopback" step). */
  options: { loopbackUp?: boolean } = {},
): Promise<Endpoint | null> {
  if (mode.mode === 'host' || mode.mode === 'container') return null;
  if (!options.loopbackUp) await bringUpLoopback(host, container.pid);
  if (mode.mode === 'none') return null;

  await cleanUpStale(host, network); // no daemon to do it at start-up: each new container tidies up after dead ones
  const pool = addressPool(host, network);
  const lease = pool.allocate({ containerId: container.id, pid: container.pid });
  const names = vethNames(container.id);
  const endpoint: Endpoint = { containerId: container.id, pid: container.pid, address: lease.address, hostVeth: names.host, published: [] };
  try {
    // Eight commands whose output nobody reads: one shell runs them all (each still recorded).
    await host.batched(async () => {
      await createVethPair(host, names, container.pid);
      await host.run(['ip', 'link', 'set', names.host, 'master', network.bridge]);
      await host.run(['ip', 'link', 'set', names.host, 'up']);
      await configureContainerInterface(host, container.pid, `${lease.address}/${parseSubnet(network.subnet).prefix}`, network.gateway);
    });
    for (const published of mode.publish ?? []) await publishPort(host, endpoint, published, network);
  } catch (error) {
    await disconnectContainer(host, endpoint, network).catch(() => {});
    throw error;
  }
  return endpoint;
}

/**
 * Undoes connectContainer: the port rules, the host's veth end (if the kernel has not removed it with
 * the container's namespace already: deleting either end of a veth pair deletes both), the lease.
 */
export async function disconnectContainer(host: NetworkHost, endpoint: Endpoint, network: BridgeNetwork = LAB_NETWORK): Promise<void> {
  for (const published of endpoint.published) await unpublishPort(host, endpoint, published, network);
  endpoint.published = [];
  await removeLink(host, endpoint.hostVeth);
  addressPool(host, network).release(endpoint.address, endpoint.containerId);
}

/**
 * Deletes a link unless it is gone already. The kernel dismantles a dead namespace a moment after its
 * last process exits (in a work queue), so a veth may vanish between "show" and "del": that is fine.
 */
async function removeLink(host: NetworkHost, name: string): Promise<boolean> {
  const exists = async () => (await host.run(['ip', 'link', 'show', 'dev', name], { allowFailure: true, unrecorded: true })).exitCode === 0;
  if (!(await exists())) return false;
  const removed = await host.run(['ip', 'link', 'del', name], { allowFailure: true });
  if (removed.exitCode !== 0 && (await exists())) throw new Error(`could not remove ${name}: ${removed.stderr.trim()}`);
  return removed.exitCode === 0;
}

/** What cleanUpStale removed. */
export interface StaleReport {
  leases: Lease[];
  links: string[];
  /** The rules, as `iptables -S` printed them. */
  rules: string[];
}

/** The lab's per-container rules in one chain, as `-A CHAIN …` lines with the container's short ID. */
async function containerRules(host: NetworkHost, table: string, chain: string): Promise<{ line: string; shortId: string }[]> {
  const listed = await host.iptables(['-t', table, '-S', chain], { allowFailure: true, unrecorded: true });
  if (listed.exitCode !== 0) return [];
  const ownRule = new RegExp(`--comment "?${LAB_COMMENT}:([0-9a-f]{12})"?`);
  return listed.stdout
    .split('\n')
    .map((line) => ({ line, shortId: ownRule.exec(line)?.[1] }))
    .filter((rule): rule is { line: string; shortId: string } => rule.line.startsWith('-A ') && rule.shortId !== undefined);
}

/**
 * Removes what containers that are gone left behind — after a `kill -9` of the runtime, nobody ran
 * disconnectContainer. Their veths have usually gone with their namespaces (the kernel deletes a veth
 * pair when either end's namespace dies), but leases and iptables rules stay until someone removes them.
 *
 * The order matters with other runtimes starting containers at the same time: first list the links
 * and rules, THEN read the live leases. A container's lease is written before its veth and rules
 * exist, so anything listed belongs to a lease we will see — or to a container that is really gone.
 */
export async function cleanUpStale(host: NetworkHost, network: BridgeNetwork = LAB_NETWORK): Promise<StaleReport> {
  // A container's lease is written before its veth and rules and removed after them, so whatever a dead
  // container left has a dead lease beside it: with none, there is nothing to look for (most starts).
  if (!addressPool(host, network).hasStale()) return { leases: [], links: [], rules: [] };
  const [links, dnatRules, forwardRules] = await Promise.all([
    host.run(['ip', '-j', 'link'], { unrecorded: true }),
    containerRules(host, 'nat', DNAT_CHAIN),
    containerRules(host, 'filter', FORWARD_CHAIN),
  ]);
  const labLinks = parseLinkNames(links.stdout).filter((name) => LAB_VETH.test(name));
  const rules = [...dnatRules.map((rule) => ({ ...rule, table: 'nat' })), ...forwardRules.map((rule) => ({ ...rule, table: 'filter' }))];

  const pool = addressPool(host, network);
  const staleLeases = pool.reclaimStale();
  const live = pool.leases().map((lease) => lease.containerId);
  const isLive = (prefix: string) => live.some((id) => id.startsWith(prefix));

  const report: StaleReport = { leases: staleLeases, links: [], rules: [] };
  for (const name of labLinks) {
    if (isLive(LAB_VETH.exec(name)![1]!)) continue;
    if (await removeLink(host, name)) report.links.push(name);
  }
  for (const rule of rules) {
    if (isLive(rule.shortId)) continue;
    // `iptables -S` prints rules as the words that added them: "-A" becomes "-D" to delete exactly that rule.
    const words = rule.line.split(/\s+/).map((word) => word.replace(/^"(.*)"$/, '$1'));
    const removed = await host.iptables(['-t', rule.table, '-D', ...words.slice(1)], { allowFailure: true });
    if (removed.exitCode === 0) report.rules.push(rule.line);
  }
  return report;
}
