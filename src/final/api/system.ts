/**
 * /_ping, /version, /info, /events: how a client learns what it talks to. Version negotiation (Engine API
 * "Versioning"): the client reads API-Version from /_ping and sends min(its own, ours) in every path.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { readCgroupFacts } from '../../../lessons/04-cgroups/cgroups.js';
import { listImages, openImageStore } from '../../../lessons/05-overlay/store.js';
import { listWithState } from '../docker.js';
import { isRootless } from '../rootless.js';
import type { Engine } from './engine.js';
import { matchesFilters } from './events.js';
import type { Exchange } from './exchange.js';
import { parseFilters } from './http.js';
import { imageSummaries } from './images.js';
import { containerSummaries } from './containers.js';

/**
 * The API version spoken: 1.43 (Docker 24). The docker CLI 28 negotiates down to it; dockerode sends
 * unversioned paths. What 1.44+ added (multiple networks at create, Healthcheck.StartInterval …) is
 * nothing minidocker has.
 */
export const API_VERSION = '1.43';
/** The oldest version accepted: what moby 28 still accepts (api/common.go MinSupportedAPIVersion). */
export const MIN_API_VERSION = '1.24';
const VERSION = '28.0.0-minidocker';

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 - b1 || a2 - b2;
}

/** Headers on every answer, as dockerd sets them (the docker CLI reads API-Version from /_ping). */
export const PING_HEADERS = {
  'API-Version': API_VERSION,
  'Docker-Experimental': 'false',
  OSType: 'linux',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
};

const architecture = () => ({ x64: 'x86_64', arm64: 'aarch64' })[process.arch as string] ?? process.arch;

export async function version(_engine: Engine, exchange: Exchange): Promise<void> {
  exchange.json(200, {
    Platform: { Name: 'minidocker (mini-docker lab)' },
    Components: [{ Name: 'Engine', Version: VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: os.release(), Node: process.version } }],
    Version: VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: 'minidocker',
    GoVersion: `node ${process.version}`,
    Os: 'linux',
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
    KernelVersion: os.release(),
    BuildTime: '',
  });
}

function operatingSystem(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export async function info(engine: Engine, exchange: Exchange): Promise<void> {
  const containers = await listWithState(engine.stateDir);
  const count = (status: string) => containers.filter(({ state }) => state?.status === status).length;
  const layout = readCgroupFacts().layout;
  exchange.json(200, {
    ID: 'minidocker',
    Containers: containers.length,
    ContainersRunning: count('running'),
    ContainersPaused: count('paused'),
    ContainersStopped: containers.length - count('running') - count('paused'),
    Images: listImages(openImageStore(engine.stateDir)).length,
    Driver: 'overlay2',
    DockerRootDir: engine.stateDir,
    Name: os.hostname(),
    OperatingSystem: operatingSystem(),
    OSType: 'linux',
    OSVersion: '',
    Architecture: architecture(),
    KernelVersion: os.release(),
    NCPU: os.availableParallelism(),
    MemTotal: os.totalmem(),
    ServerVersion: VERSION,
    CgroupDriver: 'cgroupfs',
    CgroupVersion: layout.active === 'v2' ? '2' : '1',
    DefaultRuntime: 'minidocker-oci',
    Runtimes: { 'minidocker-oci': { path: 'bin/oci.js' } },
    // dockerd says name=rootless when it runs in a user namespace of its own: `docker info` prints it.
    SecurityOptions: ['name=seccomp,profile=builtin', ...(isRootless() ? ['name=rootless'] : [])],
    LoggingDriver: 'minidocker-log',
    Plugins: { Volume: [], Network: ['bridge', 'host', 'none', 'slirp4netns'], Log: [] },
    Swarm: { LocalNodeState: 'inactive' },
    Experimental: false,
    Warnings: [],
  });
}

/** GET /system/df: what the images' layers and the containers take (no volumes, no build cache here). */
export async function diskUsage(engine: Engine, exchange: Exchange): Promise<void> {
  const images = imageSummaries(engine);
  exchange.json(200, {
    LayersSize: images.reduce((sum, image) => sum + image.Size, 0),
    Images: images,
    Containers: (await containerSummaries(engine, true)).map((row) => ({ ...row, SizeRw: 0, SizeRootFs: 0 })),
    Volumes: [],
    BuildCache: [],
  });
}

/** GET /events[?filters=…]: the events from now on, one JSON object a line, until the client leaves. */
export async function events(engine: Engine, exchange: Exchange): Promise<void> {
  const filters = parseFilters(exchange.query);
  const stream = exchange.openJsonStream();
  const until = Number(exchange.query.get('until') ?? 0);
  const stop = engine.events.subscribe((event) => {
    if (matchesFilters(event, filters)) stream.write(event);
  });
  // Docker: with until, the stream ends then; without it, when the client goes.
  const timer = until > 0 ? setTimeout(() => stream.end(), Math.max(0, until * 1000 - Date.now())) : undefined;
  await stream.closed;
  if (timer) clearTimeout(timer);
  stop();
}
