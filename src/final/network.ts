/**
 * `--network` and `-p` for the final runtime: lesson 06's bridge network, composed — what Docker's
 * libnetwork does for dockerd, done by the command itself (there is no daemon to do it at boot).
 *
 *   bridge           (default) a network namespace of its own, a veth into `labbr0`, an address from the
 *                    lab's IPAM, published ports as DNAT rules;
 *   none             a network namespace with only `lo`;
 *   host             the host's network stack: no network namespace at all;
 *   container:OTHER  OTHER's network namespace, joined by its /proc/PID/ns/net (Kubernetes pods do this);
 *   slirp4netns      (default without root) a network namespace of its own, wired by slirp4netns, a
 *                    process of the user's (lesson 06's slirp.ts); -p is its port forwarding.
 *
 * The "host" can be a named network namespace instead of the machine's own: with MINIDOCKER_NETNS=NAME
 * (made with `ip netns add NAME`) the bridge, the veths and the iptables rules all go into NAME and
 * vanish with it. The tests and the benchmark run that way, so they never touch the machine's network.
 *
 * The network outlives the containers, as docker0 does: the first bridge container creates it; each
 * container's veth, address and rules go when the container stops (or when a later command finds it
 * stopped: a runtime killed with kill -9 never got to do it). That wiring is lesson 06's feature
 * (lessons/06-network/feature.ts), which the runtime runs from config.json; this file turns the flags
 * into config.json's part and checks them before anything is created.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { networkNamespaceEntry, type NetworkMode } from '../../lessons/06-network/network.js';
import { parsePublish, type PublishedPort } from '../../lessons/06-network/ports.js';
import { OciError } from './oci/spec.js';
import { ROOT_SEARCH_PATH, findProgram } from '../sys/programs.js';

/** Names the network namespace that plays the host (see the top of this file). */
export const HOST_NETNS_ENV = 'MINIDOCKER_NETNS';

export type NetworkModeName = 'bridge' | 'none' | 'host' | 'container' | 'slirp4netns';

/** --network and -p, as a run asks for them. */
export interface NetworkSettings {
  mode: NetworkModeName;
  /** container:OTHER — OTHER's ID. */
  container?: string;
  publish: PublishedPort[];
  /** The named network namespace that plays the host, or null for the machine's own. */
  hostNetns: string | null;
}

/** `--network VALUE` → mode (+ the other container's reference). Docker also calls bridge "default". */
export function parseNetworkFlag(value: string): { mode: NetworkModeName; container?: string } {
  if (value === 'bridge' || value === 'default') return { mode: 'bridge' };
  if (value === 'none' || value === 'host' || value === 'slirp4netns') return { mode: value };
  if (value.startsWith('container:') && value.length > 'container:'.length) return { mode: 'container', container: value.slice('container:'.length) };
  throw new OciError(`invalid --network "${value}": use bridge, host, none, slirp4netns or container:NAME`);
}

/** `-p` values, as lesson 06's parsePublish reads them; "0.0.0.0:8080:80" is accepted too (the only address we bind). */
export function parsePublishFlag(spec: string): PublishedPort {
  const withoutAddress = spec.replace(/^(0\.0\.0\.0|\[::\]):/, '');
  try {
    return parsePublish(withoutAddress);
  } catch (error) {
    throw new OciError((error as Error).message);
  }
}

/** "0.0.0.0:8080->80/tcp", as `docker ps` prints a published port. */
export function formatPort(port: PublishedPort): string {
  return `0.0.0.0:${port.hostPort}->${port.containerPort}/${port.protocol}`;
}

/** The namespace named by MINIDOCKER_NETNS, checked; null when unset. */
export function hostNetnsFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const name = env[HOST_NETNS_ENV];
  if (!name) return null;
  if (!existsSync(`/run/netns/${name}`)) throw new OciError(`${HOST_NETNS_ENV}=${name}: there is no network namespace "${name}": create it with \`ip netns add ${name}\`, or unset ${HOST_NETNS_ENV}`);
  return name;
}

/** config.json's network namespace for these settings: lesson 06's rule (network.ts: networkNamespaceEntry). */
export function networkNamespaceOf(settings: NetworkSettings, otherPid?: number): { type: 'network'; path?: string } | null {
  // slirp4netns wires a new namespace of the container's own, as bridge does: only its far end differs.
  const mode: NetworkMode = settings.mode === 'container' ? { mode: 'container', pid: otherPid! } : settings.mode === 'slirp4netns' ? { mode: 'none' } : { mode: settings.mode };
  return networkNamespaceEntry(mode, settings.hostNetns ? `/run/netns/${settings.hostNetns}` : null);
}

/** The programs bridge networking shells out to (lesson 06 types them as you would). */
export function checkNetworkTools(settings: NetworkSettings): void {
  if (settings.mode === 'slirp4netns') {
    if (!findProgram('slirp4netns')) throw new OciError('--network slirp4netns needs `slirp4netns`, which is not installed: apt install slirp4netns (or use --network none)');
    // Its TAP device comes from /dev/net/tun, which udev makes usable by everyone (crw-rw-rw-); some machines keep it root's.
    try {
      accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
    } catch {
      throw new OciError('--network slirp4netns needs /dev/net/tun, which this user may not open (udev makes it crw-rw-rw-; here it is not): ask an administrator to `chmod 0666 /dev/net/tun`, or use --network none');
    }
  }
  if (settings.mode !== 'bridge' && settings.mode !== 'none') return;
  const tools: [string, string][] = [['ip', 'iproute2'], ['nsenter', 'util-linux'], ...(settings.mode === 'bridge' ? [['iptables', 'iptables'] as [string, string]] : [])];
  for (const [tool, pkg] of tools) {
    if (!findProgram(tool)) throw new OciError(`--network ${settings.mode} needs \`${tool}\`, which is not installed: apt install ${pkg} (or use --network host)`);
  }
}

/**
 * Is the host port taken by a program on the host? docker-proxy finds out by binding it; we ask the
 * kernel's socket table with `ss` (in the namespace that plays the host), which binds nothing.
 */
export function portInUseOnHost(settings: NetworkSettings, port: PublishedPort): boolean {
  const argv = ['ss', '-Hln', port.protocol === 'tcp' ? '-t' : '-u', `sport = :${port.hostPort}`];
  const full = settings.hostNetns ? ['ip', 'netns', 'exec', settings.hostNetns, ...argv] : argv;
  const result = spawnSync(full[0]!, full.slice(1), { encoding: 'utf8', env: { ...process.env, PATH: ROOT_SEARCH_PATH } });
  return result.status === 0 && result.stdout.trim() !== '';
}
