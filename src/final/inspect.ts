/**
 * How minidocker shows a container, shared by the CLI (`ps`, `inspect`) and the Engine API service
 * (GET /containers/json and /containers/{id}/json), so both say the same thing about the same state.
 */
import { resourcesOf } from '../../lessons/04-cgroups/feature.js';
import { LAB_PARENT } from '../../lessons/04-cgroups/manager.js';
import { readEndpoint } from '../../lessons/06-network/feature.js';
import { LAB_NETWORK } from '../../lessons/06-network/network.js';
import { configOf, USER_ANNOTATION, type ContainerInfo } from './docker.js';
import { containerDir as runtimeDirOf, type ContainerRecord } from './oci/state.js';
import { securityOfConfig } from './security.js';

/** Docker's "About a minute", "5 minutes": how `docker ps` says how long ago (go-units HumanDuration). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  const hours = Math.floor(minutes / 60);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** STATUS as `docker ps` prints it: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created". */
export function statusText(state: ContainerRecord | null, now = Date.now()): string {
  if (!state) return 'Created';
  if (state.status === 'created') return 'Created';
  if (state.status === 'running') return `Up ${humanDuration(now - Date.parse(state.created))}`;
  if (state.status === 'paused') return `Up ${humanDuration(now - Date.parse(state.created))} (Paused)`;
  const ago = state.finished ? ` ${humanDuration(now - Date.parse(state.finished))} ago` : '';
  return `Exited (${state.exitCode ?? 'unknown'})${ago}`;
}

/** Docker's generated files and --init's tini: bind mounts of config.json that are not the user's -v. */
const GENERATED = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/sbin/docker-init']);

/** `docker inspect`'s fields, read from container.json (Docker's own facts) and config.json (the container). */
export function inspect(info: ContainerInfo, state: ContainerRecord | null, stateDir: string) {
  const config = configOf(info, stateDir);
  const resources = config ? resourcesOf(config) : {};
  const mounts = config?.mounts ?? [];
  const endpoint = readEndpoint(runtimeDirOf(info.id, stateDir));
  const ports = info.claimedPorts.ports;
  return {
    Id: info.id,
    Name: `/${info.name}`,
    Created: info.created,
    Path: info.args[0],
    Args: info.args.slice(1),
    State: {
      Status: state?.status === 'stopped' ? 'exited' : (state?.status ?? 'dead'),
      Running: state?.status === 'running' || state?.status === 'paused', // Docker: a paused container is running, frozen
      Paused: state?.status === 'paused',
      Pid: state && state.status !== 'stopped' ? state.pid : 0,
      ExitCode: state?.exitCode ?? 0,
      FinishedAt: state?.finished ?? null,
    },
    Image: info.imageId,
    LogPath: info.logPath,
    HostnamePath: `${info.layerDir}/hostname`,
    HostsPath: `${info.layerDir}/hosts`,
    ResolvConfPath: `${info.layerDir}/resolv.conf`,
    Config: {
      Hostname: config?.hostname ?? '', User: config?.annotations?.[USER_ANNOTATION] ?? '', Env: config?.process.env ?? [], Cmd: info.args, Image: info.image, WorkingDir: config?.process.cwd ?? '/',
      // The docker CLI reads Tty to know whether `logs` and `attach` come as raw bytes or as stdcopy frames.
      Tty: info.tty ?? false, OpenStdin: info.openStdin ?? false, StdinOnce: info.stdinOnce ?? false, Labels: info.labels ?? {},
    },
    HostConfig: {
      AutoRemove: info.autoRemove, ReadonlyRootfs: config?.root?.readonly ?? false, Init: mounts.some((mount) => mount.destination === '/sbin/docker-init'),
      NetworkMode: info.networkMode,
      PortBindings: Object.fromEntries(ports.map((port) => [`${port.containerPort}/${port.protocol}`, [{ HostIp: '', HostPort: String(port.hostPort) }]])),
      Binds: mounts.filter((mount) => mount.type === 'bind' && !GENERATED.has(mount.destination)).map((mount) => `${mount.source}:${mount.destination}${mount.options?.includes('ro') ? ':ro' : ''}`),
      Memory: resources.memory?.limit ?? 0, MemorySwap: resources.memory?.swap ?? 0,
      NanoCpus: resources.cpu?.quota ? Math.round((resources.cpu.quota / (resources.cpu.period ?? 100_000)) * 1e9) : 0,
      CpuShares: resources.cpu?.shares ?? 0, PidsLimit: resources.pids?.limit ?? null,
      CgroupParent: config?.linux?.cgroupsPath ? LAB_PARENT : '',
      ...securityOfConfig(config),
    },
    GraphDriver: { Name: 'overlay2', Data: { UpperDir: `${info.layerDir}/upper`, WorkDir: `${info.layerDir}/work`, MergedDir: `${info.layerDir}/rootfs` } },
    NetworkSettings: {
      IPAddress: endpoint?.address ?? '',
      Gateway: endpoint ? LAB_NETWORK.gateway : '',
      Bridge: endpoint ? LAB_NETWORK.bridge : '',
      SandboxKey: state?.status === 'running' && info.networkMode !== 'host' ? `/proc/${state.pid}/ns/net` : '',
      HostNetns: info.claimedPorts.hostNetns,
      Ports: Object.fromEntries(ports.map((port) => [`${port.containerPort}/${port.protocol}`, [{ HostIp: '0.0.0.0', HostPort: String(port.hostPort) }]])),
    },
    Bundle: state?.bundle ?? null,
  };
}

