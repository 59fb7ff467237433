/**
 * Running the final runtime's CLIs the way a user types them: a new process each time, with the
 * test's own LAB_STATE_DIR.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT } from '../../src/build/bundle.js';
import { isRunning } from '../helpers/processes.js';

/** The launchers `npm run minidocker` and `npm run oci` start (bin/launch.js: the built JavaScript). */
export const MINIDOCKER = 'bin/minidocker.js';
export const OCI = 'bin/oci.js';

/**
 * How long a test waits for one CLI command, or for a container to start or stop. It is sized for
 * the VM suite, whose software emulation makes a bridged `run` take tens of seconds; waits end as
 * soon as the thing happens, so a fast machine never spends it.
 */
export const COMMAND_PATIENCE_MS = 60_000;

/**
 * One CLI command. minidocker's default network is a bridge on the host: here the host is always a
 * throwaway network namespace (`hostNetns`, MINIDOCKER_NETNS), so no test touches the machine's network.
 */
export function cli(entry: string, stateDir: string, args: string[], options: SpawnSyncOptions & { hostNetns?: string; under?: string[] } = {}) {
  const { hostNetns, under = [], ...spawnOptions } = options;
  if (entry === MINIDOCKER && !hostNetns) throw new Error('minidocker needs a throwaway host network namespace in tests: pass { hostNetns }');
  // `under`: a command the CLI runs under, e.g. unshare: ['unshare', '--net', '--'].
  const [command, ...prefix] = [...under, process.execPath];
  const result = spawnSync(command!, [...prefix, path.join(REPO_ROOT, entry), ...args], {
    encoding: 'utf8',
    timeout: COMMAND_PATIENCE_MS,
    ...spawnOptions,
    env: { ...process.env, ...spawnOptions.env, LAB_STATE_DIR: stateDir, ...(hostNetns ? { MINIDOCKER_NETNS: hostNetns } : {}) },
  });
  return { code: result.status, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}

/** What a CLI command left: its exit status (null when a signal or the time limit ended it) and its output. */
export type CommandResult = ReturnType<typeof cli>;

/**
 * `expect(md('run', …)).toExitWith(126)`: the exit code, and on a mismatch the command's stderr in the
 * failure message — "expected 125 to be 126" alone does not say what went wrong on a CI machine.
 */
expect.extend({
  toExitWith(received: CommandResult, code: number) {
    const said = received.stderr.trim() ? `; its stderr:\n${received.stderr.trimEnd()}` : ', with nothing on stderr';
    return {
      pass: received.code === code,
      message: () => `expected the command${this.isNot ? ' not' : ''} to exit with ${code}, it exited with ${received.code}${said}`,
    };
  },
});

declare module 'vitest' {
  interface Matchers<T = any> {
    /** The command's exit status is `code`; the failure message quotes its stderr. */
    toExitWith(code: number): T;
  }
}

/** Mount points of the host's namespace under `dir`: there must be none when a container is gone. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** A recorded PID that is still a live process (0 means "none recorded"). */
export function alive(pid: number): boolean {
  return pid > 0 && isRunning(pid);
}

/** Every process the low-level runtime recorded for a container in this state folder. */
export function recordedPids(stateDir: string): number[] {
  const root = path.join(stateDir, 'runtime');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((id) => existsSync(path.join(root, id, 'state.json')))
    .flatMap((id) => {
      const record = JSON.parse(readFileSync(path.join(root, id, 'state.json'), 'utf8'));
      return [record.pid, record.monitorPid] as number[];
    });
}

/** Ends every process the runtime recorded in a state folder (a test's cleanup, pass or fail): only ours, by PID. */
export function killRecorded(stateDir: string): void {
  for (const pid of recordedPids(stateDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** Nothing of any container left in a state folder: runtime records, layer folders, docker records, mounts. */
export function leftovers(stateDir: string): string[] {
  const entries = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((name) => name !== 'lock') : []);
  return [
    ...entries(path.join(stateDir, 'runtime')),
    ...entries(path.join(stateDir, 'containers')),
    ...entries(path.join(stateDir, 'minidocker')),
    ...mountsUnder(stateDir),
    ...leaseFiles(stateDir),
  ];
}

/** Lesson 06's IP leases in a state folder (network/<host>/<bridge>/leases/<address>). */
function leaseFiles(stateDir: string): string[] {
  const hosts = path.join(stateDir, 'network');
  if (!existsSync(hosts)) return [];
  return readdirSync(hosts).flatMap((host) => {
    const leases = path.join(hosts, host, 'labbr0', 'leases');
    return existsSync(leases) ? readdirSync(leases).map((address) => `lease ${address}`) : [];
  });
}

/** What containers leave in the namespace that plays the host: their veths and their own iptables rules. */
export function networkLeftovers(hostNetns: string): string[] {
  const run = (argv: string[]) => spawnSync('ip', ['netns', 'exec', hostNetns, ...argv], { encoding: 'utf8', env: { ...process.env, PATH: `/usr/sbin:/sbin:${process.env.PATH}` } }).stdout ?? '';
  const veths = run(['ip', '-o', 'link']).split('\n').map((line) => line.split(': ')[1]?.split('@')[0] ?? '').filter((name) => /^lab[0-9a-f]{8}p?$/.test(name));
  const rules = ['nat', 'filter'].flatMap((table) => run(['iptables', '-t', table, '-S']).split('\n').filter((line) => /mini-docker-lab:[0-9a-f]{12}/.test(line)));
  return [...veths, ...rules];
}
