/**
 * Lesson 06 — which subnets the lab's networks use: free ones, picked from pools, as Docker does.
 *
 * `docker network create` without --subnet walks its default address pools (172.17.0.0/16 …
 * 172.31.0.0/16, then 192.168.0.0/16 in /20s) and takes the first subnet that overlaps no route on the
 * host: a machine whose LAN, VPN or other bridge already uses an address range keeps it. The lab does
 * the same for its two networks, each from a pool of its own:
 *   - the bridge: 172.29.0.0/24 if it is free, else the next free /24 of 172.29–31.0.0/16, then 10.229.0.0/16;
 *   - the outside: the documentation ranges TEST-NET-1, -2, -3 (RFC 5737), then the benchmarking range
 *     198.18.0.0/15 (RFC 2544). No network on the Internet uses them; a machine's LAN still may.
 * A route through the lab's own interfaces (labbr0, labout0: an earlier run's) does not count: the
 * network it leads to is the lab's.
 */
import type { NetworkHost } from './commands.js';
import { parseIpRoute, type RouteInfo } from './iproute.js';
import { addressToNumber, numberToAddress, parseSubnet, type Subnet } from './ipam.js';
import { LAB_NETWORK, type BridgeNetwork } from './network.js';
import { OUTSIDE, type OutsideNetwork } from './sandbox.js';

/** A range split into subnets of one size, in order: Docker's `{"base": "172.80.0.0/16", "size": 24}`. */
export interface AddressPoolRange {
  base: string;
  size: number;
}

export const BRIDGE_POOLS: readonly AddressPoolRange[] = [
  { base: '172.29.0.0/16', size: 24 },
  { base: '172.30.0.0/16', size: 24 },
  { base: '172.31.0.0/16', size: 24 },
  { base: '10.229.0.0/16', size: 24 },
];

export const OUTSIDE_POOLS: readonly AddressPoolRange[] = [
  { base: '192.0.2.0/24', size: 24 },
  { base: '198.51.100.0/24', size: 24 },
  { base: '203.0.113.0/24', size: 24 },
  { base: '198.18.0.0/15', size: 24 },
];

/** Do two subnets share an address? Then one contains the other: compare them under the shorter prefix. */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (a.network & mask) >>> 0 === (b.network & mask) >>> 0;
}

/** Every subnet of the pools, in order: "172.29.0.0/24", "172.29.1.0/24", … */
export function* poolSubnets(pools: readonly AddressPoolRange[]): Generator<string> {
  for (const { base, size } of pools) {
    const range = parseSubnet(base);
    if (size < range.prefix || size > 30) throw new Error(`a pool of /${size} subnets cannot come from ${base}`);
    const step = 2 ** (32 - size);
    for (let network = range.network; network < range.network + 2 ** (32 - range.prefix); network += step) {
      yield `${numberToAddress(network)}/${size}`;
    }
  }
}

/** The first subnet of the pools that overlaps none of `taken`, or null when all do. */
export function firstFreeSubnet(pools: readonly AddressPoolRange[], taken: readonly Subnet[]): string | null {
  for (const candidate of poolSubnets(pools)) {
    const subnet = parseSubnet(candidate);
    if (!taken.some((used) => subnetsOverlap(subnet, used))) return candidate;
  }
  return null;
}

/** A route's destination as a subnet; null for the default route, which overlaps everything and so counts for nothing (Docker skips it too). */
export function routeSubnet(route: RouteInfo): Subnet | null {
  if (route.destination === 'default') return null;
  const [address, prefix = '32'] = route.destination.split('/');
  try {
    return { network: addressToNumber(address!), prefix: Number(prefix) };
  } catch {
    return null; // not IPv4 (`ip -j route` lists IPv4 only; be safe anyway)
  }
}

/** The lab's bridge network on `subnet`: the bridge is .1, every container's gateway. */
export function bridgeNetworkOn(subnet: string): BridgeNetwork {
  return { bridge: LAB_NETWORK.bridge, subnet, gateway: numberToAddress(parseSubnet(subnet).network + 1) };
}

/** The outside network on `subnet`: the host's end is .1, the outside machine .2. */
export function outsideNetworkOn(subnet: string): OutsideNetwork {
  const { network, prefix } = parseSubnet(subnet);
  return { hostVeth: OUTSIDE.hostVeth, hostAddress: numberToAddress(network + 1), address: numberToAddress(network + 2), prefix };
}

/**
 * The subnets the two networks use on `host`: the first of each pool that no route on the host
 * overlaps, not counting routes through the lab's own interfaces. In a sandbox (a new namespace has
 * no routes) that is always 172.29.0.0/24 and 192.0.2.0/24.
 */
export async function chooseNetworks(host: NetworkHost): Promise<{ network: BridgeNetwork; outside: OutsideNetwork }> {
  const routes = parseIpRoute((await host.run(['ip', '-j', 'route'], { unrecorded: true })).stdout);
  const ours = new Set([LAB_NETWORK.bridge, OUTSIDE.hostVeth]);
  const taken = routes
    .filter((route) => !route.device || !ours.has(route.device))
    .map(routeSubnet)
    .filter((subnet): subnet is Subnet => subnet !== null);
  const bridge = firstFreeSubnet(BRIDGE_POOLS, taken);
  const outside = firstFreeSubnet(OUTSIDE_POOLS, taken);
  if (!bridge || !outside) {
    const pools = (bridge ? OUTSIDE_POOLS : BRIDGE_POOLS).map((pool) => pool.base).join(', ');
    throw new Error(`every subnet of ${pools} overlaps a route on this machine: run the lesson in a sandbox instead (npm run lesson 6 -- --sandbox)`);
  }
  return { network: bridgeNetworkOn(bridge), outside: outsideNetworkOn(outside) };
}
