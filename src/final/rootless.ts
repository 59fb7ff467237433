/**
 * minidocker without root: every command runs as root of the user's own user namespace (lesson 08's
 * rootless.ts), with what that root may do and what it may not.
 *
 *   state      the user's: $XDG_DATA_HOME/mini-docker-lab (~/.local/share/mini-docker-lab), images too
 *   network    no bridge (a veth into the host's network needs the host's root): each container gets
 *              slirp4netns, a network stack in an ordinary process, and -p is its port forwarding
 *   cgroups    only in a cgroup the user owns: on cgroup v2, a systemd user scope with Delegate=yes
 *              (podman does the same). Without one — cgroup v1, no user session — limits are skipped
 *              with one line, as podman does
 *   devices    no device cgroup (runc rootless has none either); /dev's nodes are the host's, bound
 *
 * The command itself starts as the user (outside) and re-runs itself inside: `enterRootless`.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { currentUser, enterCommand, pauseProcess, rootlessPlaces, RootlessError } from '../../lessons/08-userns/rootless.js';
import type { OciConfig } from '../container/config.js';
import { CGROUP_ROOT, LAB_CONTROLLERS, ownV2Cgroup, parseControllerList } from '../sys/cgroupfs.js';
import { inUserNamespace, runInForeground } from '../sys/process.js';
import { findProgram } from '../sys/programs.js';

/** Is this minidocker rootless: root of a user namespace, not of the machine? */
export function isRootless(): boolean {
  return inUserNamespace();
}

/** Commands that start processes in a container: inside a cgroup the user owns, when there is one. */
const STARTS_PROCESSES = new Set(['run', 'create', 'start', 'restart', 'exec']);

/**
 * Runs this command line again inside the user's namespace (made on first use), and returns its exit
 * status. Run when minidocker starts as an ordinary user.
 */
export async function enterRootless(argv: readonly string[]): Promise<number> {
  const user = currentUser();
  const places = rootlessPlaces(process.env, user);
  let pause: number;
  try {
    pause = await pauseProcess(places, user);
  } catch (error) {
    if (!(error instanceof RootlessError)) throw error;
    process.stderr.write(`minidocker: ${error.message}\n`);
    return 125;
  }
  const again = [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  let command = enterCommand(pause, again);
  if (STARTS_PROCESSES.has(argv[0] ?? '') && userSystemdScopes()) {
    // A scope of the user's own systemd, delegated: the user may make cgroups in it (see delegatedCgroup).
    command = ['systemd-run', '--user', '--scope', '--quiet', '--collect', '--property=Delegate=yes', '--', ...command];
  }
  return runInForeground(command, { ...process.env, LAB_STATE_DIR: places.stateDir });
}

/**
 * Can the user's systemd make a delegated scope? cgroup v2, systemd-run, and a user manager to ask
 * (its socket in $XDG_RUNTIME_DIR: a login session, or `loginctl enable-linger`).
 */
function userSystemdScopes(): boolean {
  const runtimeDir = process.env.XDG_RUNTIME_DIR;
  return existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers')) && !!findProgram('systemd-run') &&
    !!runtimeDir && existsSync(path.join(runtimeDir, 'systemd', 'private')) &&
    (!!process.env.DBUS_SESSION_BUS_ADDRESS || existsSync(path.join(runtimeDir, 'bus')));
}

// --- inside: what the rootless runtime does differently ----------------------------------------------

/**
 * The cgroup v2 folder this command may make containers' cgroups in (relative to /sys/fs/cgroup), or
 * the reason it has none. It is the delegated scope enterRootless started the command in. cgroup v2's
 * "no internal processes" rule: the scope may hand controllers to children only once no process sits
 * in it, so the runtime's own processes move into a leaf first (`supervisor`, as podman's conmon sits
 * beside its container). Moving a process needs the common ancestor's cgroup.procs: here the scope's.
 */
export function delegatedCgroup(): { parent: string } | { reason: string } {
  if (!existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'))) return { reason: 'cgroup v1: a user may not write its files' };
  let own = ownV2Cgroup(readFileSync('/proc/self/cgroup', 'utf8')) ?? '/';
  if (path.basename(own) === SUPERVISOR) own = path.dirname(own);
  const scope = path.join(CGROUP_ROOT, own);
  try {
    accessSync(path.join(scope, 'cgroup.subtree_control'), constants.W_OK);
    accessSync(path.join(scope, 'cgroup.procs'), constants.W_OK);
  } catch {
    return { reason: 'no cgroup is delegated to this user (cgroup v2 needs a systemd user session: `loginctl enable-linger`)' };
  }
  const available = parseControllerList(readText(path.join(scope, 'cgroup.controllers'))) ?? [];
  const missing = LAB_CONTROLLERS.filter((controller) => !available.includes(controller));
  if (missing.length) return { reason: `the user's systemd does not delegate ${missing.join(', ')} (systemctl edit user@.service: Delegate=${LAB_CONTROLLERS.join(' ')})` };
  const leaf = path.join(scope, SUPERVISOR);
  mkdirSync(leaf, { recursive: true });
  for (const pid of (readText(path.join(scope, 'cgroup.procs')) ?? '').split('\n').filter(Boolean)) {
    try {
      writeFileSync(path.join(leaf, 'cgroup.procs'), pid);
    } catch {
      // ended meanwhile
    }
  }
  return { parent: own };
}

const SUPERVISOR = 'supervisor';

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * config.json for a rootless container: no device cgroup (its rules are a host root's), and limits
 * only where a cgroup is delegated — else skipped, in one line on stderr.
 */
export function applyRootless(config: OciConfig, fullId: string): void {
  const resources = config.linux?.resources as Record<string, unknown> | undefined;
  if (!resources) return;
  delete resources.devices;
  delete config.linux!.cgroupsPath;
  if (!Object.keys(resources).length) {
    delete config.linux!.resources;
    return;
  }
  const cgroup = delegatedCgroup();
  if ('reason' in cgroup) {
    process.stderr.write(`WARNING: resource limits are not applied without root here: ${cgroup.reason}\n`);
    delete config.linux!.resources;
    return;
  }
  config.linux!.cgroupsPath = path.join(cgroup.parent, fullId);
}
