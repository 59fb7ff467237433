/**
 * The docker-like layer: what dockerd + containerd do before they call runc, done in the command's own
 * process (daemon-less, like podman). An image of lesson 05's store and the `run` flags become an OCI
 * bundle — config.json plus an overlay root file system — which the low-level runtime (oci/) runs.
 *
 *   <state>/minidocker/lock               taken while names are chosen
 *   <state>/minidocker/<id>/container.json  the container as `docker inspect` knows it
 *   <state>/minidocker/<id>/container.log   a detached container's stdout and stderr
 *   <state>/minidocker/<id>/bundle/config.json
 *   <state>/containers/<id>/              lesson 05's layer folder (upper/, work/, rootfs/, /etc files)
 *   <state>/runtime/<id>/                 the OCI runtime's record (oci/state.ts)
 *   <state>/network/<host>/               lesson 06's IP leases (see network.ts)
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { releaseFeatures } from '../container/builder.js';
import { readConfig, type OciConfig, type OciIdMapping, type OciMount } from '../container/config.js';
import { newContainerId, shortId } from '../container/id.js';
import { startInitEarly, type Container, type EarlyInit, type StdioTarget } from '../container/runtime.js';
import { discardEarlyInit, takeEarlyInit } from './early-init.js';
import { BadJsonFileError, readJsonFile, writeJsonFile } from '../sys/json.js';
import { formatErrorLine } from '../sys/errors.js';
import { withLockSync } from '../sys/lock.js';
import { processIdentity, processIsAlive } from '../sys/process.js';
import { registry } from '../../lessons/registry.js';
import { defaultHostname } from '../../lessons/01-uts/uts.js';
import { stopContainer, withInit } from '../../lessons/02-pid/pid.js';
import { removeContainerDir } from '../../lessons/03-mount/containers.js';
import { cgroupOfConfig } from '../../lessons/04-cgroups/feature.js';
import { readCgroupFacts } from '../../lessons/04-cgroups/cgroups.js';
import type { Resources } from '../../lessons/04-cgroups/limits.js';
import type { CgroupManager } from '../../lessons/04-cgroups/manager.js';
import { DEFAULT_IMAGE, defaultImage, overlayMountFor, prepareOverlayContainerDir, type OverlayContainerDir } from '../../lessons/05-overlay/containers.js';
import { OVERLAY_ANNOTATION } from '../../lessons/05-overlay/feature.js';
import { getImage, openImageStore, UnknownImageError, type ImageStore, type StoredImage } from '../../lessons/05-overlay/store.js';
import { containerResolvConf } from '../../lessons/06-network/dns.js';
import { NETWORK_ANNOTATION, wiringOf, type NetworkWiring } from '../../lessons/06-network/feature.js';
import type { PublishedPort } from '../../lessons/06-network/ports.js';
import { defaultConfig, OciError } from './oci/spec.js';
import { applySecurity, type SecurityOptions } from './security.js';
import { applyUser, imageUserFiles, resolveUser } from './user.js';
import { allocateAuto, applyUserNamespace, readSubordinateFiles, type UsernsOption } from './userns.js';
import { hostContext, ociCreate, ociDelete, ociKill, ociResume, ociState, ociUpdate } from './oci/runtime.js';
import { containerDir, readRecord, refresh, type ContainerRecord } from './oci/state.js';
import { checkOperation } from './oci/status.js';
import { conmonShim, createUnderConmon } from './conmon.js';
import { applyRootless, isRootless } from './rootless.js';
import { checkNetworkTools, hostNetnsFromEnv, networkNamespaceOf, portInUseOnHost, type NetworkModeName, type NetworkSettings } from './network.js';

/** Where --init's tini comes from on the host; bind-mounted in as /sbin/docker-init, as Docker does. */
export const TINI = '/usr/bin/tini-static';

export interface RunOptions {
  image: string;
  args: string[];
  name?: string;
  detach?: boolean;
  autoRemove?: boolean;
  hostname?: string;
  env?: string[];
  workdir?: string;
  init?: boolean;
  readOnly?: boolean;
  /** -m, --memory-swap, --cpus, --cpu-shares, --pids-limit, parsed by lesson 04's parseLimitFlags. */
  resources?: Resources;
  /** -v HOST:CTR[:ro], checked by parseVolume. */
  volumes?: OciMount[];
  /** --network (default bridge); container: names the other container. */
  network?: { mode: NetworkModeName; container?: string };
  /** -p HOST:CTR[/proto]. */
  publish?: PublishedPort[];
  /** -i: the command reads this process's stdin (without it, nothing: Docker gives it /dev/null). */
  interactive?: boolean;
  /** -t: the command gets a terminal (a console, see src/container/console.ts) instead of our streams. */
  tty?: boolean;
  /** --privileged, --cap-add, --cap-drop, --security-opt, --ulimit: see security.ts. */
  security?: SecurityOptions;
  /** -u USER[:GROUP]: names or numbers, looked up in the image (user.ts). Absent: the image's User, or root. */
  user?: string;
  /** --userns, --uidmap, --gidmap (userns.ts). Absent: the host's user namespace, as Docker's default. */
  userns?: UsernsOption;
  /** --label KEY=VALUE (the Engine API's Config.Labels): kept in container.json, shown by inspect, filtered by ps. */
  labels?: Record<string, string>;
  /**
   * The caller keeps the command's stdio as pipes (stdin too when interactive) and copies its output into
   * container.log itself: the Engine API service, which hands the streams to `docker attach` (api/streams.ts).
   * The container does not die with the caller, as with detach.
   */
  heldStreams?: boolean;
  /** The Engine API's Config.StdinOnce: the first attached client's end of input closes the command's stdin. */
  stdinOnce?: boolean;
}

/**
 * container.json: what this layer knows that config.json does not — Docker's own facts about a container
 * (its name, its image, how it was run). Everything about what the container IS — its command line,
 * environment, mounts, limits, network — is in its bundle's config.json, read with configOf().
 */
export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  imageId: string;
  /** The command as given or taken from the image (Docker's Config.Cmd); with --init, config.json runs tini first. */
  args: string[];
  created: string;
  autoRemove: boolean;
  detached: boolean;
  logPath: string | null;
  layerDir: string;
  /** Docker's HostConfig.NetworkMode: bridge, none, host or container:<ID>. */
  networkMode: string;
  /**
   * The host ports it publishes, and in which host's network (MINIDOCKER_NETNS, or null): claimed under
   * the name lock before its bundle exists, so that a second `run -p` with the same port sees them.
   */
  claimedPorts: { hostNetns: string | null; ports: PublishedPort[] };
  /** The runtime process that created it (processIdentity): a record without a runtime state whose creator is gone was a create killed half-way. */
  creator?: string | null;
  /** Docker's Config.Tty and Config.OpenStdin, for inspect (clients choose raw or multiplexed streams by Tty). */
  tty?: boolean;
  openStdin?: boolean;
  stdinOnce?: boolean;
  labels?: Record<string, string>;
  /** Its user namespace's mappings (--userns=auto picks them under the name lock: written here, others see them). */
  idMappings?: { uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] };
}

/**
 * `-v HOST:CTR[:ro|rw]` → a config.json bind mount. Unlike Docker (which creates a missing host folder),
 * a host path that does not exist is an error, found before anything is created.
 */
export function parseVolume(spec: string): OciMount {
  const parts = spec.split(':');
  const [source, destination, mode = 'rw'] = parts as [string, string | undefined, string | undefined];
  if (parts.length < 2 || parts.length > 3 || !source || !destination) throw new OciError(`invalid volume specification: "${spec}": use HOST:CONTAINER[:ro]`);
  if (!path.isAbsolute(source)) throw new OciError(`invalid volume specification: "${spec}": the host path must be absolute (named volumes are not supported)`);
  if (!path.isAbsolute(destination)) throw new OciError(`invalid volume specification: "${spec}": the container path must be absolute`);
  if (mode !== 'ro' && mode !== 'rw') throw new OciError(`invalid volume specification: "${spec}": invalid mode "${mode}" (ro or rw)`);
  if (!existsSync(source)) throw new OciError(`invalid volume specification: "${spec}": bind source path does not exist: ${source}`);
  return { destination: path.posix.normalize(destination), type: 'bind', source: realpathSync(source), options: ['rbind', mode] };
}

function hasLimits(resources: Resources | undefined): resources is Resources {
  return !!resources && Object.keys(resources).length > 0;
}

export function dockerDir(stateDir: string): string {
  return path.join(stateDir, 'minidocker');
}

function infoPath(id: string, stateDir: string): string {
  return path.join(dockerDir(stateDir), id, 'container.json');
}

/** The container's OCI bundle: config.json, the whole truth about it. */
export function bundleDir(id: string, stateDir: string): string {
  return path.join(dockerDir(stateDir), id, 'bundle');
}

/** container.json, checked; null when there is none (or it is not a container's record). */
export function readInfo(id: string, stateDir: string): ContainerInfo | null {
  try {
    return readJsonFile(infoPath(id, stateDir), checkInfo);
  } catch (error) {
    // Edited by hand or written by another version: not listed, with one line that says why.
    if (error instanceof BadJsonFileError) process.stderr.write(`WARNING: skipping container ${id}: ${formatErrorLine(error)}\n`);
    return null;
  }
}

function checkInfo(value: unknown): ContainerInfo {
  const info = value as ContainerInfo;
  for (const field of ['id', 'name', 'image', 'created', 'layerDir', 'networkMode'] as const) {
    if (typeof info?.[field] !== 'string') throw new Error(`${field} is missing`);
  }
  if (!Array.isArray(info.args)) throw new Error('args is missing');
  return info;
}

/** The container's config.json (not checked: for reading what it says, also after its root file system is gone). */
export function configOf(info: Pick<ContainerInfo, 'id'>, stateDir: string): OciConfig | null {
  try {
    return readConfig(bundleDir(info.id, stateDir), { check: false });
  } catch {
    return null;
  }
}

/** The container's cgroup (lesson 04), or null if it has none. */
export function cgroupOf(info: ContainerInfo, stateDir: string): CgroupManager | null {
  const config = configOf(info, stateDir);
  return config ? cgroupOfConfig(config, info.id) : null;
}

/** How the container's network namespace is wired (lesson 06), or null for host and container:X. */
export function networkWiringOf(info: ContainerInfo, stateDir: string): NetworkWiring | null {
  const config = configOf(info, stateDir);
  return config ? wiringOf(config) : null;
}

export function listInfos(stateDir: string): ContainerInfo[] {
  const root = dockerDir(stateDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((id) => readInfo(id, stateDir))
    .filter((info): info is ContainerInfo => info !== null)
    .sort((a, b) => b.created.localeCompare(a.created));
}

/** A container by name, full ID or ID prefix, as docker accepts them. */
export function findContainer(ref: string, stateDir: string): ContainerInfo {
  const all = listInfos(stateDir);
  const found = all.find((info) => info.name === ref) ?? all.filter((info) => info.id.startsWith(ref));
  if (!Array.isArray(found)) return found;
  if (found.length === 1) return found[0]!;
  throw new OciError(found.length ? `multiple containers match "${ref}"` : `No such container: ${ref}`);
}

/** The docker-like layer's own lock (never held together with the runtime's: flock does not nest). */
function withNameLock<T>(stateDir: string, work: () => T): T {
  return withLockSync(path.join(dockerDir(stateDir), 'lock'), work);
}

export async function resolveImage(store: ImageStore, reference: string): Promise<StoredImage> {
  // The lab's busybox is imported on first use, as `docker run` pulls a missing image.
  if (reference === 'busybox' || reference === DEFAULT_IMAGE) return (await defaultImage(store)).image;
  try {
    return getImage(store, reference);
  } catch (error) {
    // Only a name the store does not know is "not found"; a damaged image says what is wrong with it.
    if (error instanceof UnknownImageError) throw new OciError(`Unable to find image '${reference}' locally`);
    throw new OciError(`image ${reference}`, { cause: error });
  }
}

/** The annotation that keeps -u (or the image's User) as it was written. */
export const USER_ANNOTATION = 'lab.mini-docker.user';

/** What a container's config.json is made of: the run flags, the image, and what was prepared for it. */
interface BundleInput {
  options: RunOptions;
  image: StoredImage;
  args: string[];
  name: string;
  hostname: string;
  layer: OverlayContainerDir;
  store: ImageStore;
  network: NetworkSettings;
  networkPeerPid?: number;
  /** Docker's 64-hex ID: the container's cgroup is named after it. */
  fullId: string;
  /** Its user namespace's mappings (idMappingsFor), if it has one of its own. */
  idMappings?: ContainerInfo['idMappings'];
}

/**
 * The user namespace's mappings a run asks for: none for the host's (the default), the flags' own,
 * or --userns=auto's pick among the ranges no other container (`others`, under the name lock) holds.
 */
function idMappingsFor(userns: UsernsOption | undefined, others: readonly ContainerInfo[]): ContainerInfo['idMappings'] {
  if (!userns || userns.mode === 'host') return undefined;
  if (isRootless()) throw new OciError('--userns, --uidmap and --gidmap need root: without root every container is in your own user namespace already (root inside is you)');
  if (userns.mode === 'map') return { uidMappings: userns.uidMappings, gidMappings: userns.gidMappings };
  const taken = { uid: others.flatMap((other) => other.idMappings?.uidMappings ?? []), gid: others.flatMap((other) => other.idMappings?.gidMappings ?? []) };
  return allocateAuto(userns.size, readSubordinateFiles((file) => readFileSync(file, 'utf8')), taken);
}

/**
 * The bundle's config.json: `runc spec`'s defaults, with the image's config and the flags applied —
 * everything the runtime and the lessons' features need to build (and later clean up) the container.
 */
export function bundleConfig({ options, image, args, name, hostname, layer, store, network, networkPeerPid, fullId, idMappings }: BundleInput): OciConfig {
  const config = defaultConfig(options.init ? withInit(args, '/sbin/docker-init') : args);
  config.process.env = mergeEnv(image.config.config?.Env ?? [], options.env ?? []);
  config.process.cwd = options.workdir ?? (image.config.config?.WorkingDir || '/');
  config.root = { path: layer.rootfs, readonly: options.readOnly ?? false };
  config.hostname = hostname;
  const namespace = networkNamespaceOf(network, networkPeerPid);
  // Docker's default cgroup namespace: private on cgroup v2 (the container sees its cgroup as "/"), the host's on v1.
  const cgroupns = readCgroupFacts().layout.active === 'v2' ? [{ type: 'cgroup' }] : [];
  config.linux = { namespaces: [{ type: 'pid' }, ...(namespace ? [namespace] : []), { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...cgroupns] };
  // Lesson 04: the flags' limits, passed on as they are — they are already linux.resources' shape.
  if (hasLimits(options.resources)) Object.assign(config.linux, { resources: options.resources, cgroupsPath: fullId });
  // As Docker: a net.* value with --network host or container:X would change a network that is not the container's own.
  const netSysctl = Object.keys(options.security?.sysctls ?? {}).find((key) => key.startsWith('net.'));
  if (netSysctl && (network.mode === 'host' || network.mode === 'container')) throw new OciError(`--sysctl ${netSysctl} is not allowed with --network ${network.mode}: that network is not the container's own`);
  // Lesson 07: what the container's root may do — Docker's defaults, or what the flags asked for.
  applySecurity(config, options.security ?? {});
  // Without root: no device cgroup, no host devices, and limits only in a delegated cgroup (rootless.ts).
  if (isRootless()) {
    if (options.security?.privileged || options.security?.devices?.length) {
      throw new OciError(`--${options.security.privileged ? 'privileged' : 'device'} needs root: a device node is the host root's to give`);
    }
    applyRootless(config, fullId);
  }
  // Who the command runs as: -u, else the image's own User; names as the image's /etc/passwd has them.
  const user = options.user ?? image.config.config?.User ?? '';
  applyUser(config, resolveUser(user, imageUserFiles(image)));
  // Lesson 08: a user namespace of its own, with the mappings picked under the name lock. Not with the
  // host's powers (Docker says the same), nor with a network namespace it does not own: it could not
  // mount a /sys for one.
  if (idMappings) {
    if (options.security?.privileged) throw new OciError('--privileged cannot go with a user namespace of its own: the host\'s powers are the host\'s root\'s; use --userns=host');
    if (network.mode === 'host' || network.mode === 'container') throw new OciError(`--network ${network.mode === 'host' ? 'host' : `container:${network.container}`} cannot go with a user namespace of its own: that network namespace is not the container's; use --userns=host`);
    applyUserNamespace(config, idMappings);
  }
  // Docker's /sys/fs/cgroup: the container's own cgroups, read-only unless --privileged (lesson 03's cgroup-mount.ts).
  const afterSys = config.mounts!.findIndex((mount) => mount.destination === '/sys') + 1;
  config.mounts!.splice(afterSys, 0, { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [options.security?.privileged ? 'rw' : 'ro', 'nosuid', 'noexec', 'nodev'] });
  if (options.init) config.mounts!.push({ destination: '/sbin/docker-init', type: 'bind', source: TINI, options: ['rbind', 'ro'] });
  config.mounts!.push(...(options.volumes ?? []));
  // Docker's generated /etc/hostname, hosts and resolv.conf: bind mounts like any other, last.
  config.mounts!.push(...layer.files.map((file) => ({ destination: file.destination, type: 'bind', source: file.source, options: ['bind'] })));
  config.annotations = {
    'org.opencontainers.image.ref.name': options.image,
    'lab.mini-docker.name': name,
    // As typed (`inspect` shows it so: Config.User); process.user holds the numbers it stands for.
    ...(user ? { [USER_ANNOTATION]: user } : {}),
    [OVERLAY_ANNOTATION]: JSON.stringify(overlayMountFor(layer, store)),
  };
  if (network.mode === 'bridge' || network.mode === 'none' || network.mode === 'slirp4netns') {
    const wiring: NetworkWiring = { mode: network.mode, publish: network.publish, hostNetns: network.hostNetns, localhostPorts: true };
    config.annotations[NETWORK_ANNOTATION] = JSON.stringify(wiring);
  }
  return config;
}

/** Docker's env: the image's, then -e (a later KEY replaces an earlier one). */
export function mergeEnv(base: string[], extra: string[]): string[] {
  const map = new Map<string, string>();
  for (const entry of [...base, ...extra]) {
    const key = entry.split('=')[0]!;
    map.set(key, entry.includes('=') ? entry : `${key}=${process.env[key] ?? ''}`);
  }
  return [...map.values()];
}

export interface Created {
  info: ContainerInfo;
  /** The container as the lab's runtime keeps it (console, streams, wait), or null when conmon is its shim. */
  container: Container | null;
}

/**
 * `docker create` (+ the runtime's create): image → bundle → container waiting to start.
 * The monitor becomes the container's owner of lesson 05's layer folder (its "owner" file), so that
 * lesson 03's stale-folder sweep leaves a running detached container alone.
 */
export async function createFromImage(options: RunOptions, stateDir: string): Promise<Created> {
  // A foreground run starts init first: Node's start (~0.1 s) then overlaps the work below instead of
  // following it (src/container/runtime.ts, startInitEarly) — or takes the one minidocker's entry point
  // started before it had even loaded this (early-init.ts). Its config always has a new PID namespace.
  const direct = !options.detach && !options.heldStreams;
  const stdio = stdioFor(options, undefined);
  if (!direct) discardEarlyInit();
  // Not rootless: an early init is started before its PID namespace is known, by stepping into a new
  // one and back, and a rootless runtime may not step back (namespaces.ts: initIsAdopted).
  const early = direct && !isRootless() ? (takeEarlyInit(stdio) ?? (await startInitEarly({ stdio, direct: { registry }, newPidNamespace: true }))) : undefined;
  try {
    return await createWith(options, stateDir, early);
  } catch (error) {
    early?.discard();
    throw error;
  }
}

async function createWith(options: RunOptions, stateDir: string, early: EarlyInit | undefined): Promise<Created> {
  const store = openImageStore(stateDir);
  const image = await resolveImage(store, options.image);
  const args = options.args.length ? options.args : (image.config.config?.Cmd ?? []);
  if (!args.length) throw new OciError('No command specified');
  const network = await networkFor(options, stateDir);
  const fullId = newContainerId(); // Docker's 64 hex digits: the cgroup's name
  const id = shortId(fullId); // the short ID: sun_path has room for no more (see oci/runtime.ts)
  const dir = path.join(dockerDir(stateDir), id);
  const hostname = options.hostname ?? defaultHostname(id);
  const info: ContainerInfo = {
    id, name: '', image: options.image, imageId: image.id, args, created: new Date().toISOString(),
    autoRemove: options.autoRemove ?? false, detached: options.detach ?? false,
    logPath: options.detach || options.heldStreams ? path.join(dir, 'container.log') : null, layerDir: path.join(stateDir, 'containers', id),
    networkMode: network.settings.mode === 'container' ? `container:${network.settings.container}` : network.settings.mode,
    claimedPorts: { hostNetns: network.settings.hostNetns, ports: network.settings.publish },
    creator: processIdentity(process.pid),
    tty: options.tty ?? false, openStdin: options.interactive ?? false, ...(options.stdinOnce ? { stdinOnce: true } : {}), ...(options.labels ? { labels: options.labels } : {}),
  };
  // The name and the host ports are claimed under one lock, by writing the record: a second `run`
  // with the same name or port waits, then sees the first one's record.
  withNameLock(stateDir, () => {
    const chosen = options.name ?? `mdl_${id.slice(0, 6)}`;
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(chosen)) throw new OciError(`Invalid container name "${chosen}": use letters, digits and _ . -`);
    const others = listInfos(stateDir);
    if (others.some((other) => other.name === chosen)) throw new OciError(`Conflict. The container name "/${chosen}" is already in use: choose another --name, or remove that container`);
    for (const port of network.settings.publish) {
      const holder = others.find((other) => isActive(other, stateDir) && publishes(other, port, network.settings.hostNetns));
      if (holder) throw new OciError(`Bind for 0.0.0.0:${port.hostPort} failed: port is already allocated by container ${holder.name}: publish another host port, or stop ${holder.name}`);
    }
    info.name = chosen;
    const mappings = idMappingsFor(options.userns, others);
    if (mappings) info.idMappings = mappings;
    mkdirSync(bundleDir(id, stateDir), { recursive: true });
    writeInfo(info, stateDir);
  });
  let logFd: number | undefined;
  let created: Container | undefined;
  let conmon: string | null = null;
  try {
    const layer = prepareOverlayContainerDir(id, image, hostname, store);
    info.layerDir = layer.path;
    // Name servers its network can reach (lesson 06's dns.ts): not one on the host's loopback, unless it shares it.
    const resolvConf = layer.files.find((file) => file.destination === '/etc/resolv.conf');
    if (resolvConf) writeFileSync(resolvConf.source, containerResolvConf(network.settings.mode));
    writeInfo(info, stateDir);
    const config = bundleConfig({ options, image, args, name: info.name, hostname, layer, store, network: network.settings, networkPeerPid: network.peerPid, fullId, idMappings: info.idMappings });
    writeJsonFile(path.join(bundleDir(id, stateDir), 'config.json'), config);
    if (info.logPath && !options.heldStreams) logFd = openSync(info.logPath, 'a');
    // The runtime builds it from config.json: cgroup, namespaces, overlay, mounts, network — the lessons' features.
    conmon = conmonFor(info, options);
    let shimPid: number;
    if (conmon) {
      shimPid = await createUnderConmon(conmon, { id, bundle: bundleDir(id, stateDir), stateDir, logFd: logFd!, dir });
    } else {
      const { container } = await ociCreate(id, bundleDir(id, stateDir), {
        stateDir,
        // With -t, init gives these up for the console; the monitor keeps them for its own messages.
        stdio: stdioFor(options, logFd),
        // A foreground run ends with this process, as the test of kill -9 shows; the service's containers outlive it.
        dieWithRuntime: !info.detached && !options.heldStreams,
        // A foreground run waits for the command itself: no monitor between (one Node process fewer). A
        // detached one, and one whose streams the API service holds, keep the monitor as their shim.
        direct: !info.detached && !options.heldStreams,
        ...(early ? { early } : {}),
      });
      created = container;
      shimPid = container.monitorPid;
    }
    // Whoever outlives the command and cleans up: this process in the foreground, the shim for -d and for
    // a container whose streams the API service holds.
    writeFileSync(path.join(layer.path, 'owner'), `${processIdentity(info.detached || options.heldStreams ? shimPid : process.pid)}\n`);
    return { info, container: created ?? null };
  } catch (error) {
    await created?.destroy();
    if (conmon) await ociDelete(id, { stateDir, force: true }).catch(() => {}); // the container conmon waits for, if it got that far
    // The create's own error is the one to report; one that cleaning up hit as well is only a warning.
    await removeAll(id, stateDir).catch((cleanup) => process.stderr.write(`WARNING: cleaning up container ${id}: ${formatErrorLine(cleanup)}\n`));
    throw error;
  } finally {
    if (logFd !== undefined) closeSync(logFd);
  }
}

/**
 * `docker start` of an exited container, and `docker restart`'s second half: Docker runs the same
 * container again — its name, config and writable layer (what it wrote is still there), a new process.
 * The runtime's record is of a process that has ended, and a runtime container is never started twice
 * (runtime.md), so the record goes (`delete`: its cgroup and network are released) and the same bundle is
 * created again. Returns the new runtime container, waiting for start. `holdStreams`: as at create.
 */
export async function recreateStopped(info: ContainerInfo, stateDir: string, options: { holdStreams?: boolean; interactive?: boolean } = {}): Promise<Container | null> {
  const state = await runtimeState(info.id, stateDir);
  if (state && state.status !== 'stopped') throw new OciError(`container ${info.name} is ${state.status}: only an exited container can be started again`);
  // Its host ports were free when it was made; another container may have taken one since (Docker: the same refusal at start).
  withNameLock(stateDir, () => {
    for (const port of info.claimedPorts.ports) {
      const holder = listInfos(stateDir).find((other) => other.id !== info.id && isActive(other, stateDir) && publishes(other, port, info.claimedPorts.hostNetns));
      if (holder) throw new OciError(`Bind for 0.0.0.0:${port.hostPort} failed: port is already allocated by container ${holder.name}: stop ${holder.name} first`);
    }
  });
  if (!existsSync(path.join(info.layerDir, 'upper'))) {
    throw new OciError(`container ${info.name} cannot be started again: its writable layer is gone (an exited container of the CLI is swept when the next one is created); run a new one`);
  }
  if (state) await ociDelete(info.id, { stateDir, force: true });
  const logFd = info.logPath && !options.holdStreams ? openSync(info.logPath, 'a') : undefined;
  try {
    const conmon = conmonFor(info, { tty: info.tty, interactive: options.interactive, heldStreams: options.holdStreams });
    if (conmon) {
      const shimPid = await createUnderConmon(conmon, { id: info.id, bundle: bundleDir(info.id, stateDir), stateDir, logFd: logFd!, dir: path.join(dockerDir(stateDir), info.id) });
      writeFileSync(path.join(info.layerDir, 'owner'), `${processIdentity(shimPid)}\n`);
      return null;
    }
    const { container } = await ociCreate(info.id, bundleDir(info.id, stateDir), {
      stateDir,
      stdio: stdioFor({ image: info.image, args: [], heldStreams: options.holdStreams, interactive: options.interactive, tty: info.tty }, logFd),
      dieWithRuntime: false,
    });
    writeFileSync(path.join(info.layerDir, 'owner'), `${processIdentity(container.monitorPid)}\n`);
    return container;
  } finally {
    if (logFd !== undefined) closeSync(logFd);
  }
}

/**
 * An exited container keeps its writable layer until it is removed, as Docker's does, so that `start`
 * and `restart` find its files. Its owner file names its monitor, which is gone now, and lesson 03's
 * stale-folder sweep (run by every create) would take a folder whose owner is gone: without the file the
 * sweep leaves it alone, and `rm` (removeAll) still removes it. The API service calls this for the
 * containers it watches end; the CLI's own exited containers are swept as before.
 */
export function keepLayerOfExited(info: Pick<ContainerInfo, 'layerDir'>): void {
  rmSync(path.join(info.layerDir, 'owner'), { force: true });
}

/**
 * conmon's path when it is to be this container's shim: a detached one with neither a terminal nor
 * stdin, whose output goes straight into its log (conmon.ts). Any other keeps the lab's monitor.
 */
function conmonFor(info: Pick<ContainerInfo, 'detached'>, options: { tty?: boolean; interactive?: boolean; heldStreams?: boolean }): string | null {
  if (!info.detached || options.tty || options.interactive || options.heldStreams) return null;
  return conmonShim();
}

/** The command's stdio: the log file (-d), pipes the caller holds (the API service), or this process's own. */
function stdioFor(options: RunOptions, logFd: number | undefined): [StdioTarget, StdioTarget, StdioTarget] {
  if (logFd !== undefined) return ['ignore', logFd, logFd];
  const stdin = options.interactive && !options.tty ? (options.heldStreams ? 'pipe' : 'inherit') : 'ignore';
  return options.heldStreams ? [stdin, 'pipe', 'pipe'] : [stdin, 'inherit', 'inherit'];
}

function writeInfo(info: ContainerInfo, stateDir: string): void {
  writeJsonFile(infoPath(info.id, stateDir), info);
}

/** Is a container (still, or about to be) running? A record without runtime state belongs to a `run` in progress, if its creator lives. */
function isActive(info: ContainerInfo, stateDir: string): boolean {
  try {
    const record = readRecord(info.id, stateDir);
    if (!record) return !!info.creator && processIsAlive(info.creator);
    return refresh(record, stateDir).status !== 'stopped';
  } catch (error) {
    if (error instanceof BadJsonFileError) return false; // unknowable: `ps` warns about it, a new run need not wait for it
    throw error;
  }
}

function publishes(info: ContainerInfo, port: PublishedPort, hostNetns: string | null): boolean {
  return info.claimedPorts.hostNetns === hostNetns && info.claimedPorts.ports.some((p) => p.hostPort === port.hostPort && p.protocol === port.protocol);
}

/**
 * --network and -p, checked before anything is created: the other container of container:X must run,
 * ports are for bridge mode only, the tools must be there, and no program on the host may hold a port.
 */
async function networkFor(options: RunOptions, stateDir: string): Promise<{ settings: NetworkSettings; peerPid?: number }> {
  const rootless = isRootless();
  const mode = options.network?.mode ?? (rootless ? 'slirp4netns' : 'bridge');
  if (rootless && (mode === 'bridge' || mode === 'host')) {
    throw new OciError(`--network ${mode} needs root: the host's network is the host root's to change; without root use the default (slirp4netns), none or container:NAME`);
  }
  // Without root the host's network is the one this command runs in: no MINIDOCKER_NETNS to enter.
  const settings: NetworkSettings = { mode, publish: options.publish ?? [], hostNetns: rootless ? null : hostNetnsFromEnv() };
  let peerPid: number | undefined;
  if (mode === 'container') {
    const other = findContainer(options.network!.container!, stateDir);
    const state = await runtimeState(other.id, stateDir);
    checkOperation('join network', other.name, state?.status ?? null);
    if (settings.publish.length) throw new OciError('conflicting options: port publishing and the container type network mode');
    settings.container = other.id;
    peerPid = state!.pid;
  } else if (mode !== 'bridge' && mode !== 'slirp4netns' && settings.publish.length) {
    process.stderr.write(`WARNING: Published ports are discarded when using ${mode} network mode\n`);
    settings.publish = [];
  }
  checkNetworkTools(settings);
  for (const port of settings.publish) {
    if (portInUseOnHost(settings, port)) {
      throw new OciError(`port ${port.hostPort}/${port.protocol} is already in use on the host: publish another host port (-p OTHER:${port.containerPort}), or stop the program that listens on it`);
    }
  }
  return { settings, peerPid };
}

/**
 * A stopped container gives its network and cgroup back, as Docker does when a container exits: the
 * lessons' features release what they made, by its bundle's config.json. Safe to call again.
 */
export async function releaseResources(info: Pick<ContainerInfo, 'id'>, stateDir: string): Promise<void> {
  const config = configOf(info, stateDir);
  if (config) await releaseFeatures(config, registry, hostContext(info.id, bundleDir(info.id, stateDir), stateDir));
}

/**
 * Everything a container leaves: its cgroup and network, the runtime's folder, its layer, its record.
 * `released`: the runtime's delete has already given the cgroup and network back.
 */
export async function removeAll(id: string, stateDir: string, options: { released?: boolean } = {}): Promise<void> {
  if (!options.released) await releaseResources({ id }, stateDir);
  // A shim that is ending may still write its exit record into the runtime's folder: rmdir then finds it
  // not empty (ENOTEMPTY), and a retry finishes the job (as ociCreate's own cleanup does).
  rmSync(containerDir(id, stateDir), { recursive: true, force: true, maxRetries: 5 });
  removeContainerDir(path.join(stateDir, 'containers', id));
  rmSync(path.join(dockerDir(stateDir), id), { recursive: true, force: true });
}

/** The runtime's view, refreshed; null if the runtime has no record (a create that was killed). */
export async function runtimeState(id: string, stateDir: string): Promise<ContainerRecord | null> {
  if (!readRecord(id, stateDir)) return null;
  return ociState(id, stateDir);
}

/**
 * `docker ps -a`'s repair, which dockerd would have done as each container ended: a stopped container
 * releases its address, rules and cgroup; a --rm container whose process is gone is removed (its runtime
 * was killed before it could); a record whose `run` was killed before the runtime had it is removed.
 * Returns the containers that remain, with states.
 */
export async function listWithState(stateDir: string): Promise<{ info: ContainerInfo; state: ContainerRecord | null }[]> {
  const result: { info: ContainerInfo; state: ContainerRecord | null }[] = [];
  for (const info of listInfos(stateDir)) {
    let state: ContainerRecord | null;
    try {
      state = await runtimeState(info.id, stateDir);
    } catch (error) {
      // A broken state file hides one container, not the list (Docker skips a container it cannot load).
      if (!(error instanceof BadJsonFileError)) throw error;
      process.stderr.write(`WARNING: skipping container ${info.name}: ${formatErrorLine(error)}\n`);
      continue;
    }
    const abandoned = state === null && !(info.creator && processIsAlive(info.creator));
    if (abandoned || (info.autoRemove && state?.status === 'stopped')) {
      if (state) await ociDelete(info.id, { stateDir, force: true });
      await removeAll(info.id, stateDir);
      continue;
    }
    if (state?.status === 'stopped') await releaseResources(info, stateDir);
    result.push({ info, state });
  }
  return result;
}

/** `docker stop`: lesson 02's stopContainer, driving the runtime's kill and watching its state. */
export async function stopById(id: string, graceMs: number, stateDir: string): Promise<number | null> {
  const state = await runtimeState(id, stateDir);
  if (!state || state.status === 'stopped') return state?.exitCode ?? null;
  // A frozen process cannot act on SIGTERM: thawed first, it gets its grace period as any other.
  if (state.status === 'paused') await ociResume(id, stateDir);
  return stopContainer(
    {
      kill: (signal) => {
        ociKill(id, signal, stateDir).catch(() => {});
        return true;
      },
      async wait() {
        for (;;) {
          const now = await ociState(id, stateDir);
          if (now.status === 'stopped') return { exitCode: now.exitCode ?? -1 };
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      },
    },
    graceMs,
  );
}

/**
 * `docker update`: the runtime's update, then the new resources kept in the container's config.json (our
 * own bundle), as dockerd keeps them in hostconfig.json — inspect shows them, a restart would use them.
 * Returns the warnings of limits this machine cannot enforce.
 */
export async function updateById(id: string, changes: Record<string, Record<string, number>>, stateDir: string): Promise<string[]> {
  const { resources, warnings } = await ociUpdate(id, stateDir, changes);
  const config = configOf({ id }, stateDir);
  if (config) writeJsonFile(path.join(bundleDir(id, stateDir), 'config.json'), { ...config, linux: { ...config.linux, resources } });
  return warnings;
}

/**
 * `docker rename`: a new name, claimed under the same lock and by the same rules as at create. Only
 * container.json changes: the name is Docker's fact about the container, not the container's own
 * (config.json's annotation keeps the name it was created with, as runc's state keeps its ID).
 */
export function renameById(id: string, name: string, stateDir: string): void {
  withNameLock(stateDir, () => {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new OciError(`Invalid container name "${name}": use letters, digits and _ . -`);
    const others = listInfos(stateDir);
    const info = others.find((other) => other.id === id);
    if (!info) throw new OciError(`No such container: ${id}`);
    if (info.name === name) throw new OciError(`Renaming a container with the same name as its current name`);
    if (others.some((other) => other.name === name)) throw new OciError(`Conflict. The container name "/${name}" is already in use: choose another name, or remove that container`);
    writeInfo({ ...info, name }, stateDir);
  });
}

export async function removeById(id: string, force: boolean, stateDir: string): Promise<void> {
  const state = await runtimeState(id, stateDir);
  if (state) {
    checkOperation(force ? 'delete --force' : 'rm', id, state.status);
    await ociDelete(id, { stateDir, force: true }); // which releases the lessons' host-side resources
  }
  await removeAll(id, stateDir, { released: state !== null });
}

export { ociKill as killById };
