/**
 * GET /networks and /networks/{id}: minidocker's three networks, as Docker lists its predefined ones —
 * bridge (lesson 06's labbr0, Docker's docker0), host and none. They are fixed (no `network create`), so
 * the answer is built here; which containers are on the bridge comes from the state folder.
 */
import { createHash } from 'node:crypto';
import { LAB_NETWORK } from '../../../lessons/06-network/network.js';
import { readEndpoint } from '../../../lessons/06-network/feature.js';
import { containerDir as runtimeDirOf } from '../oci/state.js';
import { listInfos } from '../docker.js';
import type { Engine } from './engine.js';
import type { Exchange } from './exchange.js';
import { notFound } from './http.js';

const NAMES = ['bridge', 'host', 'none'] as const;

/** A stable 64-hex ID per network name, as Docker's network IDs look. */
const networkId = (name: string) => createHash('sha256').update(`minidocker-network-${name}`).digest('hex');

function describe(engine: Engine, name: (typeof NAMES)[number]) {
  const bridge = name === 'bridge';
  const containers = Object.fromEntries(
    listInfos(engine.stateDir)
      .filter((info) => info.networkMode === name)
      .flatMap((info) => {
        const endpoint = bridge ? readEndpoint(runtimeDirOf(info.id, engine.stateDir)) : null;
        return bridge && !endpoint ? [] : [[info.id, { Name: info.name, IPv4Address: endpoint ? `${endpoint.address}/${LAB_NETWORK.subnet.split('/')[1]}` : '', IPv6Address: '' }]];
      }),
  );
  return {
    Name: name,
    Id: networkId(name),
    Created: '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: bridge ? 'bridge' : name === 'host' ? 'host' : 'null',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: bridge ? [{ Subnet: LAB_NETWORK.subnet, Gateway: LAB_NETWORK.gateway }] : [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigOnly: false,
    Containers: containers,
    Options: bridge ? { 'com.docker.network.bridge.name': LAB_NETWORK.bridge } : {},
    Labels: {},
  };
}

export async function listNetworks(engine: Engine, exchange: Exchange): Promise<void> {
  exchange.json(200, NAMES.map((name) => describe(engine, name)));
}

export async function inspectNetwork(engine: Engine, exchange: Exchange): Promise<void> {
  const ref = exchange.params.name!;
  const name = NAMES.find((known) => known === ref || (ref.length >= 3 && networkId(known).startsWith(ref)));
  if (!name) throw notFound(`network ${ref} not found`);
  exchange.json(200, describe(engine, name));
}
