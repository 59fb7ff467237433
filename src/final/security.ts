/**
 * minidocker's security flags and defaults — Docker's: a container gets 14 capabilities, a seccomp
 * profile, masked and read-only /proc paths (lesson 07); `--privileged` gives them all back. Everything
 * ends up in config.json, which lesson 07's feature applies, so the bundle says what a container may do.
 */
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { OciConfig, OciDevice, OciRlimit, OciSeccomp } from '../container/config.js';
import { DENY_ALL_DEVICES, type DeviceRule } from '../../lessons/07-security/devices.js';
import { CAPABILITIES, lastCapability } from '../../lessons/07-security/capabilities.js';
import { DOCKER_DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, defaultSeccompProfile } from '../../lessons/07-security/defaults.js';
import { RLIMITS } from '../../lessons/07-security/process.js';
import { resolveProfile } from '../../lessons/07-security/seccomp.js';
import { release } from 'node:os';
import { OciError } from './oci/spec.js';

export interface SecurityOptions {
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  noNewPrivileges?: boolean;
  /** --security-opt seccomp=…: unconfined, or the profile read from a file. Absent: the default profile. */
  seccomp?: 'unconfined' | OciSeccomp;
  /** --ulimit, as process.rlimits entries. */
  ulimits?: OciRlimit[];
  /** --sysctl KEY=VALUE: kernel settings of the container's own namespaces (linux.sysctl). */
  sysctls?: Record<string, string>;
  /** --device: host device nodes the container gets, with what it may do with them. */
  devices?: DeviceMapping[];
}

/** `--sysctl net.ipv4.ip_forward=1` into the options (which ones a container may set, lesson 07's sysctl.ts decides). */
export function addSysctl(text: string, options: SecurityOptions): void {
  const match = /^([^=\s]+)=(.*)$/s.exec(text);
  if (!match) throw new OciError(`invalid --sysctl "${text}": use KEY=VALUE, e.g. net.ipv4.ip_forward=1`);
  (options.sysctls ??= {})[match[1]!] = match[2]!;
}

/** One --device HOST[:CONTAINER][:PERMISSIONS]: the node to make in the container, the rule that lets it through. */
export interface DeviceMapping {
  node: OciDevice;
  rule: DeviceRule;
}

type Stat = (file: string) => { rdev: number; mode: number; uid?: number; gid?: number };
type ListDir = (dir: string) => string[];
const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFCHR = 0o020000, S_IFBLK = 0o060000;

/**
 * `--device /dev/fuse`, `--device /dev/sdb:/dev/xvdb:r`, `--device /dev/snd` (a folder: every device node
 * under it, at the same place under CONTAINER): each host node's type and numbers, read with stat(2),
 * become a linux.devices entry and an allow rule (Docker's parseDevice and DevicesFromPath).
 */
export function parseDevice(text: string, stat: Stat = statSync, lstat: Stat = lstatSync, list: ListDir = readdirSync): DeviceMapping[] {
  const parts = text.split(':');
  const permissions = parts.length > 1 && /^[rwm]+$/.test(parts.at(-1)!) ? parts.pop()! : 'rwm';
  if (parts.length > 2 || !parts[0]) throw new OciError(`invalid --device "${text}": use HOST[:CONTAINER][:PERMISSIONS], e.g. /dev/fuse or /dev/sdb:/dev/xvdb:r`);
  const [host, inContainer = host] = parts as [string, string?];
  if (!path.isAbsolute(host) || !path.isAbsolute(inContainer)) throw new OciError(`invalid --device "${text}": both paths must be absolute`);
  let info: ReturnType<Stat>;
  try {
    info = stat(host);
  } catch (error) {
    throw new OciError(`--device ${host}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such device on this machine' : (error as Error).message}`);
  }
  if ((info.mode & S_IFMT) === S_IFDIR) {
    const found = devicesUnder(host, lstat, list).map(({ file, node }) => mapping({ ...node, path: path.join(inContainer, path.relative(host, file)) }, permissions));
    if (!found.length) throw new OciError(`--device ${host}: no device nodes in that folder`);
    return found;
  }
  const node = deviceNode(host, info);
  if (!node) throw new OciError(`--device ${host}: not a device node`);
  return [mapping({ ...node, path: inContainer }, permissions)];
}

function mapping(node: OciDevice, access: string): DeviceMapping {
  return { node, rule: { allow: true, type: node.type as 'b' | 'c', major: node.major, minor: node.minor, access } };
}

/** A node's linux.devices entry (its path on the host), or null for anything that is not a device. */
function deviceNode(file: string, info: ReturnType<Stat>): OciDevice | null {
  const kind = info.mode & S_IFMT;
  if (kind !== S_IFCHR && kind !== S_IFBLK) return null;
  // glibc's major(3) and minor(3) of a dev_t (the inverse of lessons/03-mount's makedev).
  const major = (Math.floor(info.rdev / 2 ** 8) & 0xfff) | (Math.floor(info.rdev / 2 ** 32) & ~0xfff);
  const minor = (info.rdev & 0xff) | (Math.floor(info.rdev / 2 ** 12) & ~0xff);
  return { path: file, type: kind === S_IFBLK ? 'b' : 'c', major, minor, fileMode: info.mode & 0o777, uid: info.uid ?? 0, gid: info.gid ?? 0 };
}

/**
 * Every device node under a folder, symbolic links not followed (runc's GetDevices). In /dev it leaves
 * out what the container has its own of (pts, shm, mqueue), fd's links, and the host's console.
 */
function devicesUnder(dir: string, lstat: Stat, list: ListDir): { file: string; node: OciDevice }[] {
  const found: { file: string; node: OciDevice }[] = [];
  let names: string[];
  try {
    names = list(dir).sort();
  } catch {
    return found; // gone meanwhile, or not readable: as runc, skip it
  }
  for (const name of names) {
    const file = path.join(dir, name);
    let info: ReturnType<Stat>;
    try {
      info = lstat(file);
    } catch {
      continue;
    }
    if ((info.mode & S_IFMT) === S_IFDIR) {
      if (!['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev'].includes(name)) found.push(...devicesUnder(file, lstat, list));
      continue;
    }
    const node = name === 'console' ? null : deviceNode(file, info);
    if (node) found.push({ file, node });
  }
  return found;
}

/**
 * `--privileged`: the host's /dev, node for node, as Docker gives it (runc's HostDevices) — but
 * /dev/ptmx, which runc replaces with the link to the container's own pts/ptmx all the same.
 */
export function hostDevices(lstat: Stat = lstatSync, list: ListDir = readdirSync): OciDevice[] {
  return devicesUnder('/dev', lstat, list).map(({ node }) => node).filter((node) => node.path !== '/dev/ptmx');
}

/** The capabilities this kernel has (cap_last_cap): --privileged and --cap-add ALL give exactly these. */
function kernelCapabilities(): string[] {
  const last = lastCapability(() => readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  return CAPABILITIES.slice(0, last + 1);
}

/** "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; "all" → "ALL" (Docker accepts them all). */
export function capabilityName(text: string, flag: string): string {
  const upper = text.trim().toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(CAPABILITIES as readonly string[]).includes(name)) throw new OciError(`invalid ${flag} value "${text}": unknown capability (see capabilities(7); e.g. NET_ADMIN)`);
  return name;
}

/** Docker's rule: start from the defaults (or nothing with --cap-drop ALL, everything with --cap-add ALL), add, then drop. */
export function effectiveCapabilities(options: SecurityOptions, all = kernelCapabilities()): string[] {
  if (options.privileged) return all;
  const add = options.capAdd ?? [];
  const drop = options.capDrop ?? [];
  let caps = drop.includes('ALL') ? [] : [...DOCKER_DEFAULT_CAPABILITIES];
  if (add.includes('ALL')) caps = [...all];
  caps = [...new Set([...caps, ...add.filter((name) => name !== 'ALL')])];
  return caps.filter((name) => !drop.includes(name) || add.includes(name));
}

/** `--ulimit nofile=1024:2048` (soft[:hard]; one number sets both) → a process.rlimits entry. */
export function parseUlimit(text: string): OciRlimit {
  const match = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text.trim());
  if (!match) throw new OciError(`invalid --ulimit "${text}": use NAME=SOFT[:HARD], e.g. nofile=1024:2048`);
  const [, name, soft, hard = soft] = match as unknown as [string, string, string, string];
  const type = `RLIMIT_${name.toUpperCase()}`;
  if (RLIMITS[type] === undefined) throw new OciError(`invalid --ulimit "${text}": unknown limit "${name}" (nofile, nproc, core, memlock, stack ...)`);
  if (Number(soft) > Number(hard)) throw new OciError(`invalid --ulimit "${text}": the soft limit is above the hard limit`);
  return { type, soft: Number(soft), hard: Number(hard) };
}

/** `--security-opt no-new-privileges[:true|=true|:false]` or `seccomp=unconfined|FILE`, into the options. */
export function applySecurityOpt(text: string, options: SecurityOptions): void {
  const [key, value] = text.split(/[=:](.*)/s, 2) as [string, string | undefined];
  if (key === 'no-new-privileges') {
    if (value !== undefined && value !== 'true' && value !== 'false') throw new OciError(`invalid --security-opt "${text}": no-new-privileges takes true or false`);
    options.noNewPrivileges = value !== 'false';
  } else if (key === 'seccomp' && value) {
    options.seccomp = value === 'unconfined' ? 'unconfined' : readProfile(value);
  } else {
    throw new OciError(`invalid --security-opt "${text}": use no-new-privileges or seccomp=unconfined|PROFILE.json (apparmor, label are not supported)`);
  }
}

function readProfile(file: string): OciSeccomp {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new OciError(`--security-opt seccomp=${file}: cannot read the profile (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const profile = JSON.parse(text) as OciSeccomp;
    if (typeof profile?.defaultAction !== 'string') throw new Error('it has no defaultAction');
    return profile;
  } catch (error) {
    throw new OciError(`--security-opt seccomp=${file}: not a seccomp profile: ${(error as Error).message}`);
  }
}

/** Writes the security part of a container's config.json. */
export function applySecurity(config: OciConfig, options: SecurityOptions): void {
  const caps = effectiveCapabilities(options);
  config.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [] };
  config.process.noNewPrivileges = options.noNewPrivileges ?? false;
  config.process.rlimits = options.ulimits ?? [];
  config.linux ??= {};
  config.linux.sysctl = { ...options.sysctls };
  const devices = options.devices ?? [];
  config.linux.devices = devices.map((device) => device.node);
  const resources = (config.linux.resources ??= {});
  if (options.privileged) {
    // Docker's --privileged: every capability, no seccomp filter, /proc and /sys as they are, every device.
    delete config.linux.seccomp;
    config.linux.maskedPaths = [];
    config.linux.readonlyPaths = [];
    resources.devices = [{ allow: true, access: 'rwm' }];
    const named = new Set(config.linux.devices.map((device) => device.path));
    config.linux.devices.push(...hostDevices().filter((device) => !named.has(device.path)));
    return;
  }
  // Docker's device cgroup: nothing, then what --device names (the runtime adds /dev's default nodes).
  resources.devices = [DENY_ALL_DEVICES, ...devices.map((device) => device.rule)];
  const seccomp = options.seccomp ?? defaultSeccompProfile();
  // As Docker's engine: the profile's rules for this container's capabilities only (Docker's
  // includes/excludes), written as plain linux.seccomp.
  if (seccomp === 'unconfined') delete config.linux.seccomp;
  else config.linux.seccomp = resolveProfile(seccomp, { capabilities: caps, kernel: release() });
  config.linux.maskedPaths = [...MASKED_PATHS];
  config.linux.readonlyPaths = [...READONLY_PATHS];
}

/** A linux.devices entry that is the host's own node at the same place (as --privileged copies them). */
function isHostNode(device: OciDevice): boolean {
  try {
    const node = deviceNode(device.path, lstatSync(device.path));
    return !!node && node.type === device.type && node.major === device.major && node.minor === device.minor;
  } catch {
    return false;
  }
}

/** What `inspect` shows in HostConfig, read back from config.json (the bundle is the whole truth). */
export function securityOfConfig(config: OciConfig | null) {
  const caps = config?.process.capabilities?.bounding ?? [];
  const all = kernelCapabilities();
  const privileged = !!config && !config.linux?.seccomp && !config.linux?.maskedPaths?.length && all.every((name) => caps.includes(name));
  const rlimits = config?.process.rlimits ?? [];
  return {
    Privileged: privileged,
    CapAdd: privileged ? null : caps.filter((name) => !DOCKER_DEFAULT_CAPABILITIES.includes(name)).map((name) => name.slice(4)),
    CapDrop: privileged ? null : DOCKER_DEFAULT_CAPABILITIES.filter((name) => !caps.includes(name)).map((name) => name.slice(4)),
    SecurityOpt: [
      ...(config?.process.noNewPrivileges ? ['no-new-privileges'] : []),
      ...(!privileged && config && !config.linux?.seccomp ? ['seccomp=unconfined'] : []),
    ],
    Ulimits: rlimits.map((limit) => ({ Name: limit.type.replace(/^RLIMIT_/, '').toLowerCase(), Soft: limit.soft, Hard: limit.hard })),
    Sysctls: config?.linux?.sysctl && Object.keys(config.linux.sysctl).length ? config.linux.sysctl : null,
    // Docker's HostConfig.Devices: what --device named, not the host's /dev that --privileged copies in.
    Devices: (config?.linux?.devices ?? []).filter((device) => !(privileged && isHostNode(device))).map((device) => {
      const rule = ((config?.linux?.resources as { devices?: DeviceRule[] } | undefined)?.devices ?? [])
        .find((entry) => entry.allow && entry.major === device.major && entry.minor === device.minor);
      return { PathInContainer: device.path, CgroupPermissions: rule?.access ?? 'rwm' };
    }),
    MaskedPaths: config?.linux?.maskedPaths ?? [],
    ReadonlyPaths: config?.linux?.readonlyPaths ?? [],
  };
}
