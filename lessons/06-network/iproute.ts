/**
 * Lesson 06 — reading the network's state the robust way: `ip -j` prints JSON.
 *
 * `ip addr` output is for people, and its layout has changed between iproute2 versions; scripts that
 * cut columns out of it break. `ip -json` (iproute2 4.13+) prints the same netlink answers as JSON:
 * one object per interface, with its addresses in `addr_info`.
 */

/** One interface, as `ip -j addr` describes it (trimmed to what the lab needs). */
export interface InterfaceInfo {
  /** "eth0", "labbr0", "lo" — without the "@if7" that the human-readable output appends to veths. */
  name: string;
  /** The kernel's operational state: "UP", "DOWN", "UNKNOWN" (lo and bridges without ports say UNKNOWN). */
  state: string;
  /** Administratively up (`ip link set X up`): the "UP" flag. */
  up: boolean;
  /** IPv4 addresses with their prefix length, e.g. ["172.29.0.2/24"]. */
  ipv4: string[];
  /** The bridge this interface is a port of, if any ("labbr0"). */
  master?: string;
}

/** The JSON objects of `ip -j addr`, with the fields the lab reads. */
interface IpAddrEntry {
  ifname: string;
  flags?: string[];
  operstate?: string;
  master?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

/** Parses the output of `ip -j addr` (or `ip -j addr show dev X`). */
export function parseIpAddr(json: string): InterfaceInfo[] {
  // EXERCISE(net.parse-addr): Turn the JSON array that `ip -j addr` prints into InterfaceInfo objects (IPv4 addresses only, as "ADDRESS/PREFIX").
  // HINT: JSON.parse(json) gives an array; each entry has ifname, operstate, flags (an array of words), master (for bridge ports) and addr_info.
  // HINT: Keep only the addresses of family "inet" (IPv4), as local/prefixlen; an interface is up when its flags include "UP"; a missing field means empty, and master is there only for ports.
  // HINT: man 8 ip-address; run `ip -j addr | python3 -m json.tool` on your machine to see the shape.
  const entries = JSON.parse(json) as IpAddrEntry[];
  return entries.map((entry) => ({
    name: entry.ifname,
    state: entry.operstate ?? 'UNKNOWN',
    up: (entry.flags ?? []).includes('UP'),
    ipv4: (entry.addr_info ?? []).filter((address) => address.family === 'inet').map((address) => `${address.local}/${address.prefixlen}`),
    ...(entry.master ? { master: entry.master } : {}),
  }));
  // END EXERCISE
}

/** One route of `ip -j route`. */
export interface RouteInfo {
  /** "default" or a prefix such as "172.29.0.0/24". */
  destination: string;
  gateway?: string;
  device?: string;
}

/** Parses `ip -j route`. */
export function parseIpRoute(json: string): RouteInfo[] {
  const entries = JSON.parse(json) as { dst: string; gateway?: string; dev?: string }[];
  return entries.map((entry) => ({
    destination: entry.dst,
    ...(entry.gateway ? { gateway: entry.gateway } : {}),
    ...(entry.dev ? { device: entry.dev } : {}),
  }));
}

/** Interface names in `ip -j link` output. */
export function parseLinkNames(json: string): string[] {
  return (JSON.parse(json) as { ifname: string }[]).map((entry) => entry.ifname);
}
