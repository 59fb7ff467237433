/**
 * config.json, the OCI runtime spec's description of a container (github.com/opencontainers/runtime-spec,
 * config.md and config-linux.md), and how this runtime turns it into the lab's ContainerPlan: the same
 * plan + steps every lesson's container is made of. Only the fields below are understood; the rest of a
 * `runc spec` file (capabilities, rlimits, seccomp, masked paths ...) is not applied — see README.md.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { makePlan, type ContainerPlan, type NamespaceKind } from '../../container/plan.js';
import type { StepCall } from '../../container/steps.js';
import type { OciMount } from './rootfs.js';
import type { BindFile } from '../../../lessons/03-mount/mount.js';

export const OCI_VERSION = '1.0.2';

export interface OciConfig {
  ociVersion: string;
  process: { terminal?: boolean; user?: { uid: number; gid: number }; args: string[]; env?: string[]; cwd: string };
  root: { path: string; readonly?: boolean };
  hostname?: string;
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  linux?: { namespaces?: { type: string; path?: string }[] };
}

/** An error the CLI prints as one line and exits 1 with, having changed nothing. */
export class OciError extends Error {
  override name = 'OciError';
}

/** config-linux.md's namespace names → the lab's (the names of /proc/PID/ns/ files). */
const NAMESPACES: Record<string, NamespaceKind> = { pid: 'pid', network: 'net', ipc: 'ipc', uts: 'uts', mount: 'mnt' };

/** Reads and checks <bundle>/config.json. */
export function loadBundle(bundle: string): OciConfig {
  const file = path.join(bundle, 'config.json');
  if (!existsSync(file)) throw new OciError(`bundle ${bundle}: no config.json`);
  let config: OciConfig;
  try {
    config = JSON.parse(readFileSync(file, 'utf8')) as OciConfig;
  } catch (error) {
    throw new OciError(`bundle ${bundle}: config.json is not valid JSON (${(error as Error).message})`);
  }
  if (!config.process?.args?.length) throw new OciError(`bundle ${bundle}: process.args is empty`);
  if (!config.process.cwd?.startsWith('/')) throw new OciError(`bundle ${bundle}: process.cwd must be an absolute path`);
  if (config.process.terminal) throw new OciError(`bundle ${bundle}: process.terminal is not supported (no console socket); set it to false`);
  if (config.process.user && (config.process.user.uid !== 0 || config.process.user.gid !== 0)) {
    throw new OciError(`bundle ${bundle}: only process.user 0:0 is supported`);
  }
  const rootfs = rootPath(bundle, config);
  if (!existsSync(rootfs) || !statSync(rootfs).isDirectory()) throw new OciError(`bundle ${bundle}: root.path ${rootfs} is not a directory`);
  for (const namespace of config.linux?.namespaces ?? []) {
    if (!NAMESPACES[namespace.type]) throw new OciError(`bundle ${bundle}: the ${namespace.type} namespace is not supported`);
    if (namespace.path && !existsSync(namespace.path)) throw new OciError(`bundle ${bundle}: namespace path ${namespace.path} does not exist`);
  }
  return config;
}

/** root.path is relative to the bundle when it is not absolute (config.md "Root"). */
export function rootPath(bundle: string, config: OciConfig): string {
  return path.resolve(bundle, config.root.path);
}

/** What a caller in this process may add to what config.json says (the docker-like layer uses it). */
export interface PlanExtras {
  /** Steps that run before the root file system is set up: lesson 05's overlay mount. */
  before?: StepCall[];
  /** Generated files to bind-mount in: Docker's /etc/hostname, hosts, resolv.conf. */
  files?: BindFile[];
}

/**
 * config.json → ContainerPlan. A namespace with a `path` is joined (setns), one without is created;
 * the mounts become lesson 03's root file system sequence (the ociRootfs step), the hostname lesson 01's.
 */
export function planFromConfig(id: string, bundle: string, config: OciConfig, extras: PlanExtras = {}): { plan: ContainerPlan; skipped: string[] } {
  const namespaces: NamespaceKind[] = [];
  const join: { kind: NamespaceKind; path: string }[] = [];
  for (const namespace of config.linux?.namespaces ?? []) {
    const kind = NAMESPACES[namespace.type]!;
    if (namespace.path) join.push({ kind, path: namespace.path });
    else namespaces.push(kind);
  }
  const steps: StepCall[] = [];
  // sethostname needs a UTS namespace of our own (runc refuses the same way).
  if (config.hostname) {
    if (!namespaces.includes('uts')) throw new OciError('config.json: hostname needs a new uts namespace');
    steps.push({ step: 'hostname', config: { hostname: config.hostname } });
  }
  steps.push(...(extras.before ?? []));
  // cgroup mounts need lesson 04's cgroups, which this runtime does not set up yet: leave them out, say so.
  const skipped = (config.mounts ?? []).filter((mount) => mount.type === 'cgroup' || mount.type === 'cgroup2').map((mount) => mount.destination);
  const mounts = (config.mounts ?? []).filter((mount) => !skipped.includes(mount.destination));
  if (namespaces.includes('mnt')) {
    steps.push({ step: 'ociRootfs', config: { rootfs: rootPath(bundle, config), readonly: config.root.readonly ?? false, mounts, files: extras.files } });
  } else if (!join.some((entry) => entry.kind === 'mnt')) {
    throw new OciError('config.json: a mount namespace is required (this runtime pivots into root.path)');
  }
  const plan = makePlan({
    id,
    namespaces,
    join,
    steps,
    process: { args: config.process.args, env: config.process.env ?? [], cwd: config.process.cwd },
  });
  return { plan, skipped };
}

/** A config.json like `runc spec` writes (terminal off, as for a detached container; no cgroup mount). */
export function defaultConfig(args: string[] = ['sh']): OciConfig {
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] },
  };
}
