/**
 * The rootless part of `npm run bench`: `minidocker run --rm` as an ordinary user, beside rootless
 * `podman run --rm`, both with --network none (slirp4netns would add its own start to both).
 *
 * The user is the one who ran the bench through sudo ($SUDO_USER), or --rootless-user NAME: one with
 * ranges in /etc/subuid and /etc/subgid, who can read the checkout. Each command runs as that user
 * (setpriv) with a clean environment whose HOME, XDG_RUNTIME_DIR and LAB_STATE_DIR are folders of the
 * bench's: the user's own pause processes, images and podman storage are not touched. So there is no
 * systemd user scope either (its socket is in the real XDG_RUNTIME_DIR): neither runtime makes a cgroup,
 * as with --network none and no limits as root. Both pause processes (minidocker's and podman's) are
 * ended, by the PIDs their files hold, and the folder removed.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pauseMappings, RootlessError } from '../../lessons/08-userns/rootless.js';
import { findProgram } from '../sys/programs.js';

export interface RootlessBench {
  /** The command line of `args` run as the user: [program, its arguments]. */
  minidocker(...args: string[]): [string, string[]];
  /** Rootless podman with its storage in the bench's folder, or null and why not. */
  podman: ((...args: string[]) => [string, string[]]) | null;
  podmanProblem: string | null;
  user: string;
  cleanup(): void;
}

/**
 * Prepares the rows for `userName`, in `<stateDir>/rootless` (stateDir must be searchable by others);
 * podman gets `image.rootfs` imported as `image.name`. A string says why they cannot run here.
 */
export function prepareRootlessBench(userName: string | undefined, stateDir: string, cli: string, image: { rootfs: string; name: string }): RootlessBench | string {
  if (!userName || userName === 'root') return 'no user to run as: run the bench through sudo as a user with subordinate IDs, or pass --rootless-user NAME';
  const ids = (flag: string) => spawnSync('id', [flag, userName], { encoding: 'utf8' });
  const [uidOut, gidOut] = [ids('-u'), ids('-g')];
  if (uidOut.status !== 0) return `no user "${userName}" on this machine`;
  const uid = Number(uidOut.stdout.trim());
  const gid = Number(gidOut.stdout.trim());
  try {
    pauseMappings({ name: userName, uid, gid, home: '/' });
  } catch (error) {
    if (error instanceof RootlessError) return error.message;
    throw error;
  }
  const folder = path.join(stateDir, 'rootless');
  const [home, runtimeDir, labState] = ['home', 'run', 'state'].map((name) => path.join(folder, name)) as [string, string, string];
  for (const dir of [folder, home, runtimeDir, labState]) {
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, uid, gid);
  }
  const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOME=${home}`, `XDG_RUNTIME_DIR=${runtimeDir}`, `LAB_STATE_DIR=${labState}`];
  const asUser = (program: string, args: string[]): [string, string[]] => ['setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', 'env', '-i', ...env, program, ...args]];
  const readable = spawnSync(...asUser('sh', ['-c', `test -r "${cli}" && test -x "${process.execPath}"`]));
  if (readable.status !== 0) return `${userName} cannot read ${cli} or run ${process.execPath}: run the bench from a checkout the user can read`;

  let podman: RootlessBench['podman'] = null;
  let podmanProblem: string | null = findProgram('podman') ? null : 'not installed (apt install podman)';
  const podmanRoot = path.join(folder, 'podman');
  if (!podmanProblem) {
    mkdirSync(podmanRoot, { mode: 0o700 });
    chownSync(podmanRoot, uid, gid);
    // runc on a hybrid cgroup machine, where crun refuses (as the root rows do).
    const global = ['--root', path.join(podmanRoot, 'storage'), '--runroot', path.join(podmanRoot, 'run'), '--tmpdir', path.join(podmanRoot, 'tmp'),
      '--events-backend', 'file', '--cgroup-manager', 'cgroupfs', ...(existsSync('/sys/fs/cgroup/unified') ? ['--runtime', 'runc'] : [])];
    const run = (...args: string[]) => asUser('podman', [...global, ...args]);
    const tarball = path.join(podmanRoot, 'busybox.tar');
    spawnSync('tar', ['-C', image.rootfs, '-cf', tarball, '.']);
    chownSync(tarball, uid, gid);
    const imported = spawnSync(...run('import', '--quiet', tarball, image.name), { encoding: 'utf8' });
    if (imported.status === 0) podman = run;
    else podmanProblem = `podman import failed: ${imported.stderr.trim().split('\n').at(-1)}`;
  }

  return {
    minidocker: (...args) => asUser(process.execPath, [cli, ...args]),
    podman,
    podmanProblem,
    user: userName,
    cleanup() {
      // Each runtime's pause process, by the PID its file names: nothing else of the user's is ended.
      for (const pidFile of [path.join(runtimeDir, 'mini-docker-lab', 'pause.pid'), path.join(podmanRoot, 'tmp', 'pause.pid')]) {
        try {
          const pid = Number(readFileSync(pidFile, 'utf8').trim().split(' ')[0]);
          if (pid > 1) process.kill(pid, 'SIGKILL');
        } catch {
          // none made, or gone
        }
      }
    },
  };
}
