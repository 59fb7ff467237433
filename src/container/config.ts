/**
 * config.json: the OCI runtime spec's description of a container (runtime-spec config.md and
 * config-linux.md), and the whole truth about one. Every container the lab starts is described by one;
 * what the lab adds beyond the spec travels in its annotations (lab.mini-docker.*), so any process can
 * read a bundle and know — or clean up — everything about its container.
 *
 * The core reads the parts every container has (process, root, namespaces); each lesson's feature
 * reads its own part (hostname, mounts, linux.resources, its annotations): see features.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { NamespaceKind } from './plan.js';

export const OCI_VERSION = '1.0.2';

/** One entry of "mounts" (config.md "Mounts"). */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** process.capabilities (config.md "Linux Process"): capability names such as "CAP_CHOWN", per set. */
export interface OciCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** One entry of process.rlimits: "RLIMIT_NOFILE" and its soft and hard values. */
export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

/**
 * One line of a user namespace's uid_map or gid_map (user_namespaces(7)): the `size` IDs from
 * `containerID` inside are the host's IDs from `hostID`.
 */
export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** process.user: who the command runs as (config.md "User"). */
export interface OciUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

/** linux.seccomp (config-linux.md "Seccomp"): Docker's and podman's profiles are in this format. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  syscalls?: {
    names: string[];
    action: string;
    errnoRet?: number;
    args?: { index: number; value: number; valueTwo?: number; op: string }[];
  }[];
}

/** One entry of linux.devices: a device node the container gets in its /dev. */
export interface OciDevice {
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** One hook (config.md "POSIX-platform Hooks"): a program the runtime runs at a point of the lifecycle. */
export interface OciHook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds; the hook is killed and counts as failed after it. */
  timeout?: number;
}

export type OciHookKind = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';

export interface OciConfig {
  ociVersion: string;
  hooks?: Partial<Record<OciHookKind, OciHook[]>>;
  process: {
    terminal?: boolean;
    user?: OciUser;
    args: string[];
    env?: string[];
    cwd: string;
    capabilities?: OciCapabilities;
    noNewPrivileges?: boolean;
    rlimits?: OciRlimit[];
    oomScoreAdj?: number;
  };
  /**
   * The container's root file system. The OCI runtime requires it (checkConfig); a lesson's container may
   * go without one and see the host's files, as the containers of lessons 01–02 do.
   */
  root?: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  linux?: {
    namespaces?: { type: string; path?: string }[];
    /** config-linux.md "User namespace mappings": a new user namespace's IDs, in runs (lesson 08). */
    uidMappings?: OciIdMapping[];
    gidMappings?: OciIdMapping[];
    /** linux.resources: read by the cgroup feature (lesson 04), which knows its shape. */
    resources?: Record<string, unknown>;
    cgroupsPath?: string;
    devices?: OciDevice[];
    seccomp?: OciSeccomp;
    maskedPaths?: string[];
    readonlyPaths?: string[];
    sysctl?: Record<string, string>;
    rootfsPropagation?: string;
  };
}

/** A config.json value that asks for nothing: absent, null, "", [], {} (or an object of such). Engines write them all out. */
export function asksForNothing(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value).every(asksForNothing);
  return false;
}

/** A config.json that cannot be run: one line naming the field and what is wrong with it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** config-linux.md's namespace names → the lab's (the names of /proc/PID/ns/ files). */
export const OCI_NAMESPACES: Record<string, NamespaceKind> = { pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', mount: 'mnt', user: 'user' };

/**
 * Namespace types that init does not create with the others, up front: a setup step makes each at its
 * moment. A cgroup namespace's root is the cgroup its creator is in, so it comes after the cgroup join
 * (runc unshares it last, for the same reason). A feature of the registry must say it handles one.
 */
export const STEP_NAMESPACES: readonly string[] = ['cgroup'];

/**
 * Reads <bundle>/config.json and checks what every container needs. `check: false` only parses it: for
 * cleaning up after a container, whose root file system may be gone already.
 */
export function readConfig(bundle: string, options: { check?: boolean } = {}): OciConfig {
  const file = path.join(bundle, 'config.json');
  if (!existsSync(file)) throw new ConfigError(`bundle ${bundle}: no config.json`);
  let config: OciConfig;
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as OciConfig;
  } catch (error) {
    throw new ConfigError(`bundle ${bundle}: config.json is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  return options.check === false ? config : checkConfig(config, bundle);
}

export function checkConfig(config: OciConfig, bundle: string): OciConfig {
  const where = `bundle ${bundle}`;
  if (typeof config !== 'object' || config === null) throw new ConfigError(`${where}: config.json is not an object`);
  if (!config.process?.args?.length) throw new ConfigError(`${where}: process.args is empty`);
  if (!config.process.cwd?.startsWith('/')) throw new ConfigError(`${where}: process.cwd must be an absolute path`);
  if (!config.root?.path) throw new ConfigError(`${where}: root.path is missing`);
  const rootfs = rootPath(bundle, config);
  if (!existsSync(rootfs) || !statSync(rootfs).isDirectory()) throw new ConfigError(`${where}: root.path ${rootfs} is not a directory`);
  for (const namespace of config.linux?.namespaces ?? []) {
    if (!OCI_NAMESPACES[namespace.type] && !STEP_NAMESPACES.includes(namespace.type)) throw new ConfigError(`${where}: the ${namespace.type} namespace is not supported`);
    if (namespace.path && !existsSync(namespace.path)) throw new ConfigError(`${where}: namespace path ${namespace.path} does not exist`);
  }
  return config;
}

/** root.path is relative to the bundle when it is not absolute (config.md "Root"). */
export function rootPath(bundle: string, config: OciConfig): string {
  if (!config.root) throw new ConfigError('config.json: root.path is missing');
  return path.resolve(bundle, config.root.path);
}

/**
 * Does the container get a namespace of this kind that is not the runtime's own — a new one, or one
 * joined by path that is another's? What it changes there (a host name, a sysctl) then stays out of the
 * host's. (Namespaces are the same when their /proc/PID/ns files have the same inode.)
 */
export function hasOwnNamespace(config: OciConfig, kind: NamespaceKind): boolean {
  const { create, join } = namespacesOf(config);
  if (create.includes(kind)) return true;
  const ours = statSync(`/proc/self/ns/${kind}`).ino;
  return join.some((entry) => entry.kind === kind && statSync(entry.path).ino !== ours);
}

/** The namespaces config.json asks for: the ones to create and the ones to join (those with a path). */
export function namespacesOf(config: OciConfig): { create: NamespaceKind[]; join: { kind: NamespaceKind; path: string }[] } {
  const create: NamespaceKind[] = [];
  const join: { kind: NamespaceKind; path: string }[] = [];
  for (const namespace of config.linux?.namespaces ?? []) {
    const kind = OCI_NAMESPACES[namespace.type];
    if (!kind) continue; // made by a setup step (STEP_NAMESPACES)
    if (namespace.path) join.push({ kind, path: namespace.path });
    else create.push(kind);
  }
  return { create, join };
}
