/**
 * The container's /etc/resolv.conf: which name servers a container can reach depends on its network.
 *
 * The host's file often names a resolver on the host's own loopback: systemd-resolved's stub,
 * 127.0.0.53 (Ubuntu), or a local dnsmasq. A container with a network namespace of its own has a
 * loopback of its own, where nothing answers. So Docker (libnetwork's resolvconf package) gives it the
 * host's file without those entries, and
 *   - reads systemd-resolved's list of the real servers (/run/systemd/resolve/resolv.conf) when the
 *     host's file names only the stub;
 *   - leaves out IPv6 servers (the bridge network here has no IPv6);
 *   - falls back to Google's public servers when no server is left.
 * With slirp4netns (podman's rule), the first server is slirp4netns's own forwarder, 10.0.2.3: it asks
 * the host's servers from the host's side, loopback ones included.
 * --network host shares the host's loopback, and so the host's file as it is.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SLIRP_DNS } from './slirp.js';

/** The network modes whose resolv.conf differs (network.ts's, and slirp4netns's). */
export type ResolvMode = 'bridge' | 'none' | 'host' | 'container' | 'slirp4netns';

/** Docker's fallback when no server of the host's is left (libnetwork/resolvconf: defaultIPv4Dns). */
export const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

/** systemd-resolved's stub on the host's loopback, and the file where it lists the servers it forwards to. */
const RESOLVED_STUB = '127.0.0.53';
const RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';

/**
 * The resolv.conf a container of `mode` gets, made from the host's. `read` reads a file (null if it
 * has none): the host's files, unless a test gives others.
 */
export function containerResolvConf(mode: ResolvMode, read: (file: string) => string | null = readText): string {
  const own = read('/etc/resolv.conf') ?? '';
  if (mode === 'host') return own;
  const ownServers = nameservers(own);
  const host = ownServers.length && ownServers.every((server) => server === RESOLVED_STUB) ? (read(RESOLVED_UPSTREAM) ?? own) : own;
  // Not the servers the container cannot reach: its loopback is not the host's, and it has no IPv6 route.
  const kept = host.split('\n').filter((line) => {
    const server = nameserverOf(line);
    return server === null || !(isLoopback(server) || server.includes(':'));
  });
  const extra = mode === 'slirp4netns' ? [SLIRP_DNS] : nameservers(kept.join('\n')).length ? [] : DEFAULT_NAMESERVERS;
  return [...extra.map((server) => `nameserver ${server}`), ...kept].join('\n').replace(/\n*$/, '\n');
}

function nameservers(text: string): string[] {
  return text.split('\n').map(nameserverOf).filter((server): server is string => server !== null);
}

/** The address of a `nameserver ADDRESS` line (resolv.conf(5)), else null. */
function nameserverOf(line: string): string | null {
  const match = /^\s*nameserver\s+(\S+)/.exec(line);
  return match ? match[1]! : null;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

function readText(file: string): string | null {
  try {
    return existsSync(file) ? readFileSync(file, 'utf8') : null;
  } catch {
    return null;
  }
}
