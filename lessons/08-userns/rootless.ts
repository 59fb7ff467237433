/**
 * Rootless: one user namespace per user, held open by a pause process, that every command enters.
 *
 * An ordinary user may create a user namespace, but may map only its own ID into it; the 65536 IDs an
 * image's files need come from the user's ranges in /etc/subuid and /etc/subgid, written by the setuid
 * helpers newuidmap and newgidmap (subid.ts). Doing that for every command would cost two helpers and
 * give each command a namespace of its own — and a container made by `run -d` must still be there for
 * `exec` and `rm`, in the same namespace. So, as rootless podman does, the first command makes one:
 *
 *   unshare --user --mount sleep infinity     the pause process: holds the namespaces while it lives
 *   newuidmap PID 0 UID 1 SUBUID COUNT        root inside is the user; 1… are the user's range
 *   newgidmap PID 0 GID 1 SUBGID COUNT
 *
 * and every command then runs inside it (`nsenter --user --mount --target PID`), as its root: the
 * lessons' code builds containers there as it does on the host, with the powers that root has over its
 * own namespaces. The mount namespace comes along so that the runtime's mounts stay out of the host's.
 * Node cannot enter a user namespace itself (setns(2) refuses a multi-threaded process), so nsenter
 * does, before Node starts.
 *
 * The namespaces live as long as any process is in them. If the pause process dies while containers
 * run (killed, or the user logged out and systemd ended the session's processes), the next command
 * finds a container's runtime or monitor still inside and starts the new pause process there
 * (nsenter into its user and mount namespaces), as podman joins a running conmon's; a fresh namespace would
 * leave those containers out of reach.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { withLock } from '../../src/sys/lock.js';
import { processIdentity, processIsAlive } from '../../src/sys/process.js';
import { livingOwners } from '../03-mount/folders.js';
import { mapHelpers, rangesFor, readSubordinateIds, rootlessMappings, type UserName } from './subid.js';
import type { OciIdMapping } from '../../src/container/config.js';

/** A failure of the rootless set-up, in one line with its fix. */
export class RootlessError extends Error {
  override name = 'RootlessError';
}

/** The user a rootless command runs for. */
export interface RootlessUser extends UserName {
  gid: number;
  home: string;
}

/** The user this process runs as, as the pause process needs it. */
export function currentUser(): RootlessUser {
  const info = userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid, home: info.homedir };
}

/** Where a rootless user's runtime keeps things: XDG's folders, as podman's. */
export interface RootlessPlaces {
  /** Runtime files that go at logout: the pause process's PID ($XDG_RUNTIME_DIR/mini-docker-lab). */
  runDir: string;
  /** Images and containers ($XDG_DATA_HOME/mini-docker-lab, ~/.local/share/mini-docker-lab), unless $LAB_STATE_DIR says. */
  stateDir: string;
}

export function rootlessPlaces(env: NodeJS.ProcessEnv, user: RootlessUser): RootlessPlaces {
  // Without a login session (su, cron) there is no $XDG_RUNTIME_DIR: podman falls back to /tmp too.
  const runtimeDir = env.XDG_RUNTIME_DIR || `/tmp/mini-docker-lab-run-${user.uid}`;
  const dataHome = env.XDG_DATA_HOME || path.join(user.home, '.local', 'share');
  return { runDir: path.join(runtimeDir, 'mini-docker-lab'), stateDir: env.LAB_STATE_DIR || path.join(dataHome, 'mini-docker-lab') };
}

/** The pause process of `places`, made (and mapped) if there is none: its PID. */
export async function pauseProcess(places: RootlessPlaces, user: RootlessUser): Promise<number> {
  const pidFile = path.join(places.runDir, 'pause.pid');
  const running = () => {
    const recorded = readRecorded(pidFile);
    return recorded && processIsAlive(recorded.identity) ? recorded.pid : null;
  };
  const found = running();
  if (found) return found;
  const mappings = pauseMappings(user); // a user without ranges is told so before anything is made
  mkdirSync(places.runDir, { recursive: true, mode: 0o700 });
  return withLock(path.join(places.runDir, 'pause.lock'), async () => {
    // Another command may have made it meanwhile. Or the pause process is gone (killed; a logout without
    // linger) while containers live on: a new one joins their namespaces, or exec and rm could not reach them.
    const pid = running() ?? (await rejoinNamespaces(places, user)) ?? (await startPauseProcess(mappings));
    writeFileSync(pidFile, `${processIdentity(pid)}\n`);
    return pid;
  });
}

/** Is `pid` in a user namespace whose root is `uid` (the user's namespace: a container's runtime or monitor)? */
function rootMapsTo(pid: number, uid: number): boolean {
  try {
    const [inside, outside, count] = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
    return inside === 0 && outside === uid && count === 1;
  } catch {
    return false; // ended meanwhile
  }
}

/**
 * A new pause process in the namespaces a container's runtime or monitor still holds (podman joins a
 * running conmon's the same way): the user namespace's owner may enter it, and is its root there.
 * null if no such process runs, or entering did not work.
 */
async function rejoinNamespaces(places: RootlessPlaces, user: RootlessUser): Promise<number | null> {
  const survivor = livingOwners(places.stateDir).find((pid) => rootMapsTo(pid, user.uid));
  if (survivor === undefined) return null;
  const target = (kind: string) => `/proc/${survivor}/ns/${kind}`;
  let theirs: string;
  try {
    theirs = readlinkSync(target('user'));
  } catch {
    return null; // ended meanwhile
  }
  const pause = spawn('nsenter', [`--user=${target('user')}`, `--mount=${target('mnt')}`, '--wd=/', '--', 'sleep', 'infinity'], { detached: true, stdio: 'ignore', cwd: '/' });
  pause.on('error', () => {});
  const entered = await userNamespaceReached(pause, (namespace) => namespace === theirs);
  if (entered !== true) pause.kill('SIGKILL');
  pause.unref();
  return entered === true ? pause.pid! : null;
}

function readRecorded(pidFile: string): { pid: number; identity: string } | null {
  try {
    const identity = readFileSync(pidFile, 'utf8').trim();
    return { pid: Number(identity.split(' ')[0]), identity };
  } catch {
    return null;
  }
}

/** The mappings newuidmap/newgidmap are asked for: 0 → the user, 1… → its ranges (subid.ts). */
export function pauseMappings(user: RootlessUser): { uid: OciIdMapping[]; gid: OciIdMapping[] } {
  const { newuidmap, newgidmap } = mapHelpers();
  if (!newuidmap || !newgidmap) throw new RootlessError('running without root needs newuidmap and newgidmap: install the uidmap package (sudo apt-get install uidmap)');
  const fix = `ask an administrator for a range: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user.name}`;
  const subuid = rangesFor(readSubordinateIds('/etc/subuid'), user);
  if (!subuid.length) throw new RootlessError(`${user.name} has no subordinate user IDs in /etc/subuid: ${fix}`);
  const subgid = rangesFor(readSubordinateIds('/etc/subgid'), user);
  if (!subgid.length) throw new RootlessError(`${user.name} has no subordinate group IDs in /etc/subgid: ${fix}`);
  return { uid: rootlessMappings(user.uid, subuid), gid: rootlessMappings(user.gid, subgid) };
}

async function startPauseProcess(mappings: { uid: OciIdMapping[]; gid: OciIdMapping[] }): Promise<number> {
  // Its own session: a command that ends (or a Ctrl-C at the terminal) does not take it along; in "/",
  // so that it keeps no folder of the user's busy (an unmount of it would fail).
  const pause = spawn('unshare', ['--user', '--mount', 'sleep', 'infinity'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
  let said = '';
  pause.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
  pause.on('error', () => {});
  // unshare(2) happens in the child: the map can be written once its user namespace is no longer ours.
  const ours = readlinkSync('/proc/self/ns/user');
  const made = await userNamespaceReached(pause, (namespace) => namespace !== ours);
  if (made === 'exited') {
    throw new RootlessError(`could not create a user namespace (${said.trim().split('\n').at(-1) || 'unshare failed'}): this machine does not let users make one; \`npm run doctor\` prints the fix`);
  }
  if (!made) {
    pause.kill('SIGKILL');
    throw new RootlessError('the pause process did not make its user namespace within 5 s');
  }
  try {
    writeWithHelper('newuidmap', pause.pid!, mappings.uid);
    writeWithHelper('newgidmap', pause.pid!, mappings.gid);
  } catch (error) {
    pause.kill('SIGKILL');
    throw error;
  }
  pause.stderr!.destroy();
  pause.unref();
  return pause.pid!;
}

/**
 * Waits (5 s at most) until `child`'s user namespace (/proc/PID/ns/user's link) is one `wanted` takes:
 * true; false when the time is up; 'exited' when the child ended first.
 */
async function userNamespaceReached(child: ChildProcess, wanted: (namespace: string) => boolean): Promise<boolean | 'exited'> {
  // 'close', not 'exit': by then all it said on stderr has been read.
  const exited = new Promise<'exited'>((resolve) => child.once('close', () => resolve('exited')));
  const deadline = Date.now() + 5000;
  for (;;) {
    let theirs: string | null = null;
    try {
      theirs = readlinkSync(`/proc/${child.pid}/ns/user`);
    } catch {
      // not there yet
    }
    if (theirs !== null && wanted(theirs)) return true;
    if (Date.now() > deadline) return false;
    if ((await Promise.race([exited, new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 5))])) === 'exited') return 'exited';
  }
}

/** newuidmap PID 0 1000 1 1 100000 65536: triples of inside, outside, count (newuidmap(1)). */
function writeWithHelper(helper: 'newuidmap' | 'newgidmap', pid: number, mappings: readonly OciIdMapping[]): void {
  const args = [String(pid), ...mappings.flatMap(({ containerID, hostID, size }) => [containerID, hostID, size].map(String))];
  const result = spawnSync(helper, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    const why = (result.stderr || result.error?.message || `exit ${result.status}`).trim().split('\n').at(-1);
    throw new RootlessError(`${helper} ${args.join(' ')} failed: ${why}: check the ranges in /etc/sub${helper === 'newuidmap' ? 'uid' : 'gid'} (\`npm run doctor\`)`);
  }
}

/** The command line that runs `command` inside the pause process's namespaces, as their root, in `cwd`. */
export function enterCommand(pausePid: number, command: readonly string[], cwd: string = process.cwd()): string[] {
  // nsenter without --preserve-credentials becomes uid 0, gid 0 in the namespace it enters; entering a
  // mount namespace moves to its "/", so the working directory is given back (--wd) for relative paths.
  return ['nsenter', `--user=/proc/${pausePid}/ns/user`, `--mount=/proc/${pausePid}/ns/mnt`, `--wd=${cwd}`, '--', ...command];
}
