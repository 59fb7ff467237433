/**
 * `docker run --network MODE -p …` with lesson 06's network: a container whose config.json asks for
 * the network namespace its mode needs and, for bridge and none, says in the network annotation how
 * to wire it. The network feature (feature.ts) then wires it while init waits at "ready" — create,
 * connect, start: the order Docker follows too — and unwires it when the container is destroyed.
 */
import type { OciConfig } from '../../src/container/config.js';
import { newContainerId } from '../../src/container/id.js';
import { labConfig, LAB_NAMESPACES, startLabContainer, type LabContainer, type LabContainerOptions } from '../03-mount/folders.js';
import type { NetworkHost } from './commands.js';
import { NETWORK_ANNOTATION, readEndpoint, type NetworkWiring } from './feature.js';
import { LAB_NETWORK, networkNamespaceEntry, type BridgeNetwork, type Endpoint, type NetworkMode } from './network.js';

export interface NetworkOptions {
  network?: BridgeNetwork;
  /** Set up the bridge network first if needed (default). Lesson 06 builds it step by step instead. */
  setUpNetwork?: boolean;
}

/**
 * Lesson 06's part of a config.json: the network namespace of `mode` — a new one (bridge, none), the
 * host's (none of its own; in a sandbox, the sandbox's by path), another container's by path — and,
 * for a new one, the wiring it wants.
 */
export function withNetwork(config: OciConfig, host: NetworkHost, mode: NetworkMode, options: NetworkOptions = {}): OciConfig {
  const entry = networkNamespaceEntry(mode, host.netnsPath);
  const namespaces = [...(config.linux?.namespaces ?? []).filter(({ type }) => type !== 'network'), ...(entry ? [entry] : [])];
  const annotations = { ...config.annotations };
  if (mode.mode === 'bridge' || mode.mode === 'none') {
    const wiring: NetworkWiring = {
      mode: mode.mode,
      publish: mode.mode === 'bridge' ? (mode.publish ?? []) : [],
      hostNetns: host.sandbox,
      ...(options.network && options.network !== LAB_NETWORK ? { network: options.network } : {}),
      ...(host.iptablesCommand !== 'iptables' ? { iptables: host.iptablesCommand } : {}),
      ...(options.setUpNetwork === false ? { setUpNetwork: false } : {}),
    };
    annotations[NETWORK_ANNOTATION] = JSON.stringify(wiring);
  }
  return { ...config, annotations, linux: { ...config.linux, namespaces } };
}

/** A running container and its connection, which destroy() removes together. */
export interface NetworkedContainer extends LabContainer {
  /** Its bridge connection; null for none, host and container:X. */
  endpoint: Endpoint | null;
}

/** Starts `args` in a container of lessons 01–02's namespaces (or `namespaces`), networked as `mode` asks. */
export async function startNetworkedContainer(
  host: NetworkHost,
  args: string[],
  mode: NetworkMode,
  options: Omit<LabContainerOptions, 'stateDir'> & NetworkOptions & { id?: string; namespaces?: string[] },
): Promise<NetworkedContainer> {
  const { id = newContainerId(), namespaces = LAB_NAMESPACES, network, setUpNetwork, ...labOptions } = options;
  const config = withNetwork(labConfig(id, args, { namespaces }), host, mode, { network, setUpNetwork });
  // The feature finds the host's leases and lock in the same state folder as the host does.
  const started = await startLabContainer(id, config, { ...labOptions, stateDir: host.labStateDir });
  return { ...started, endpoint: readEndpoint(started.context.runtimeDir) };
}
