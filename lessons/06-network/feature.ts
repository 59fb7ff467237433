/**
 * What lesson 06 adds to a container's life (see lessons/registry.ts): a network namespace with its
 * `lo` switched on by init, and its wiring from outside while init waits at "ready" — for a bridge container an address
 * from the IPAM, a veth pair into the bridge, the published ports' rules — then all of it given back
 * when the container has gone. In a docker-like engine this is the network's job, run as an OCI
 * createRuntime hook (libnetwork's "setkey"); here it is the feature's connect and release.
 *
 * config.json says which namespace the container gets (linux.namespaces "network", new or joined by
 * path); the wiring it wants travels in the annotation below. What connect made is remembered in the
 * runtime's folder for the container (network.json), so that any later process can undo it.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { OciConfig } from '../../src/container/config.js';
import { defineFeature, type HostContext } from '../../src/container/features.js';
import type { Syscalls } from '../../src/sys/index.js';
import { readJsonFile } from '../../src/sys/json.js';
import { withLock } from '../../src/sys/lock.js';
import { NetworkHost } from './commands.js';
import { bringUpLoopbackInside, newNetNamespace } from './netns.js';
import { cleanUpStale, connectContainer, disconnectContainer, LAB_NETWORK, setUpNetwork, type BridgeNetwork, type Endpoint } from './network.js';
import type { PublishedPort } from './ports.js';
import { startSlirp, stopSlirp } from './slirp.js';

/** config.json annotation: how to wire the container's new network namespace (JSON). */
export const NETWORK_ANNOTATION = 'lab.mini-docker.network';

export interface NetworkWiring {
  /** bridge: veth + address + NAT on the lab's bridge; none: only `lo`; slirp4netns: user-mode networking (slirp.ts), for a runtime without root. */
  mode: 'bridge' | 'none' | 'slirp4netns';
  publish: PublishedPort[];
  /** A named network namespace that plays the host (`ip netns add NAME`), or null for the machine's own. */
  hostNetns: string | null;
  /** The bridge network; default the lab's (labbr0, 172.29.0.0/24). */
  network?: BridgeNetwork;
  /** The host's iptables command (iptables-nft, iptables-legacy); default `iptables`. */
  iptables?: string;
  /**
   * Make the bridge network first when it is missing (default), as docker0 is there before any
   * container. Lesson 06 builds it step by step instead, and says false.
   */
  setUpNetwork?: boolean;
  /** Published ports answer on the host's localhost too (enableLocalhostPorts): minidocker's choice, not the lesson's. */
  localhostPorts?: boolean;
}

export function wiringOf(config: OciConfig): NetworkWiring | null {
  const text = config.annotations?.[NETWORK_ANNOTATION];
  return text ? (JSON.parse(text) as NetworkWiring) : null;
}

/** The bridge connection connect made for a container, while it has one. */
export function readEndpoint(runtimeDir: string): Endpoint | null {
  return readJsonFile(path.join(runtimeDir, 'network.json'), checkEndpoint);
}

/** network.json as connect writes it; a broken one names itself (readJsonFile) instead of failing later. */
function checkEndpoint(value: unknown): Endpoint {
  const endpoint = value as Partial<Endpoint> | null;
  for (const field of ['containerId', 'address', 'hostVeth'] as const) {
    if (typeof endpoint?.[field] !== 'string') throw new Error(`${field} is missing`);
  }
  if (!Number.isInteger(endpoint!.pid) || !Array.isArray(endpoint!.published)) throw new Error('pid or published is missing');
  return endpoint as Endpoint;
}

/** config.json asks for a new network namespace (not one joined by path): init switches its `lo` on. */
function newNetworkNamespace(config: OciConfig): boolean {
  return config.linux?.namespaces?.some((namespace) => namespace.type === 'network' && !namespace.path) ?? false;
}

function hostOf(wiring: NetworkWiring, context: HostContext): NetworkHost {
  return new NetworkHost({
    sandbox: wiring.hostNetns,
    stateDir: context.stateDir,
    onCommand: context.onCommand?.bind(context),
    ...(wiring.iptables ? { iptables: wiring.iptables } : {}),
  });
}

/** Setting up the bridge and connecting or disconnecting a container happen one runtime at a time. */
function withNetworkLock<T>(host: NetworkHost, work: () => Promise<T>): Promise<T> {
  return withLock(path.join(host.stateDir, 'minidocker.lock'), work);
}

/**
 * The bridge's set-up check of each container still being created, started by prepare: it runs while
 * init starts (a Node process, ~0.15 s), and connect waits for it. Keyed by container ID.
 */
const settingUp = new Map<string, Promise<void>>();

/** Waits for prepare's set-up check, if one is pending; its error is connect's to report. */
async function setUpStarted(id: string): Promise<void> {
  const pending = settingUp.get(id);
  settingUp.delete(id);
  await pending;
}

export const networkFeature = defineFeature({
  name: 'lesson 06 (network)',
  namespaces: { net: newNetNamespace },
  steps: { loopback: (sys: Syscalls, _nothing: Record<string, never>) => bringUpLoopbackInside(sys) },
  plan(config, _context, step) {
    return newNetworkNamespace(config) ? [step('loopback', {})] : [];
  },
  async prepare(config, context) {
    const wiring = wiringOf(config);
    if (wiring?.mode !== 'bridge' || wiring.setUpNetwork === false) return;
    // No daemon made the network at boot: the first bridge container does (docker0's job), and every
    // later one checks it (one command). Not awaited here: it overlaps init's start; connect waits for it.
    const host = hostOf(wiring, context);
    const pending = withNetworkLock(host, () => setUpNetwork(host, wiring.network ?? LAB_NETWORK, { localhostPorts: Boolean(wiring.publish.length && wiring.localhostPorts) }));
    pending.catch(() => {}); // reported by connect (or, if init fails first, dropped by release)
    settingUp.set(context.id, pending);
  },
  async connect(config, context) {
    await setUpStarted(context.id);
    const wiring = wiringOf(config);
    if (!wiring) return;
    if (wiring.mode === 'none' && newNetworkNamespace(config)) return; // nothing to wire: init switched lo on
    if (wiring.mode === 'slirp4netns') return startSlirp(context.pid, wiring.publish, context.runtimeDir);
    const host = hostOf(wiring, context);
    const network = wiring.network ?? LAB_NETWORK;
    const endpoint = await withNetworkLock(host, async () => {
      const mode = wiring.mode === 'bridge' ? { mode: 'bridge' as const, publish: wiring.publish } : { mode: 'none' as const };
      return connectContainer(host, { id: context.id, pid: context.pid }, mode, network, { loopbackUp: newNetworkNamespace(config) });
    });
    if (endpoint) writeFileSync(path.join(context.runtimeDir, 'network.json'), `${JSON.stringify(endpoint)}\n`);
  },
  async release(config, context) {
    await setUpStarted(context.id).catch(() => {}); // a create that failed before connect: its check, done first
    const wiring = wiringOf(config);
    if (wiring?.mode === 'slirp4netns') return stopSlirp(context.runtimeDir);
    if (wiring?.mode !== 'bridge') return; // none: `lo` went with the namespace
    if (wiring.hostNetns && !existsSync(`/run/netns/${wiring.hostNetns}`)) return; // the namespace took everything with it
    const host = hostOf(wiring, context);
    const endpoint = readEndpoint(context.runtimeDir);
    await withNetworkLock(host, async () => {
      // Without a record the runtime was killed while connecting: what it made, if anything, belongs to
      // a container whose process is gone, and lesson 06's sweep removes exactly that.
      const network = wiring.network ?? LAB_NETWORK;
      if (endpoint) await disconnectContainer(host, endpoint, network);
      else await cleanUpStale(host, network);
    });
    rmSync(path.join(context.runtimeDir, 'network.json'), { force: true });
  },
});
