/**
 * This lesson's containers, made the way runc makes a user-namespaced one — in three moves, because
 * the kernel demands them in this order:
 *
 *   1. a process creates the user namespace and waits      holdUserNamespace: `unshare --user cat`
 *   2. a process OUTSIDE writes its uid_map and gid_map    writeIdMaps, from this runtime (root)
 *   3. the container's root creates the other namespaces   `nsenter --user … unshare --mount --uts sleep`
 *
 * Step 3 comes after step 2 because a process executed in an unmapped user namespace is nobody there,
 * and execve takes every capability from a nobody; mapped, nsenter becomes root (uid 0) inside and
 * keeps them all. The namespaces it then creates are owned by the container's user namespace: that is
 * what gives its root power over them, and over nothing else.
 *
 * Node cannot do steps 1 and 3 itself: unshare(CLONE_NEWUSER) and setns into a user namespace need a
 * single-threaded caller, and Node never is (EINVAL). util-linux's unshare, nsenter and setpriv are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import type { OciIdMapping } from '../../src/container/config.js';
import { findProgram } from '../../src/sys/programs.js';
import { holdUserNamespace, writeIdMaps, type NamespaceHolder } from './userns.js';

/** The host range this lesson's containers get: the usual first /etc/subuid range, 65536 IDs from 100000. */
export const HOST_RANGE: OciIdMapping[] = [{ containerID: 0, hostID: 100000, size: 65536 }];

/** The overflow ID (/proc/sys/kernel/overflowuid): who an unmapped user is, and the lab's unprivileged user. */
export const NOBODY = 65534;

/** A command as nobody, from root: new real, effective and saved IDs, no supplementary groups (setpriv(1)). */
export function asNobody(args: readonly string[]): string[] {
  return [program('setpriv'), `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...args];
}

/** What a finished command said. */
export interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end and collects what it prints; never throws for a failed command. */
export function runProgram(args: readonly string[], options: { fds?: number[]; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
  const [file, ...rest] = args;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, rest, { stdio: ['ignore', 'pipe', 'pipe', ...(options.fds ?? [])], env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** The full path of a util-linux program, or one line saying what to install. */
export function program(name: string): string {
  const found = findProgram(name);
  if (!found) throw new Error(`${name} is missing: install it (unshare, nsenter and setpriv come with util-linux, busybox with busybox-static)`);
  return found;
}

/** A mapped user namespace and the container's root in it, in a mount and a UTS namespace of its own. */
export interface UsernsContainer {
  holder: NamespaceHolder;
  /** The container's first process, on the host: `sleep infinity`, root in the user namespace. */
  pid: number;
  /** `sh -c script` in all of the container's namespaces, as its root: `nsenter -t PID -U -m -u`. */
  sh(script: string, options?: { fds?: number[] }): Promise<Outcome>;
  /** Ends the container's process and the holder, and waits for both: the namespaces go with them. */
  end(): Promise<void>;
}

/** Waits until a spawned process has left our namespace of `kind` (its link in /proc/PID/ns changes). */
export async function untilUnshared(child: ChildProcess, kind: string, what: string): Promise<void> {
  const ours = readlinkSync(`/proc/self/ns/${kind}`);
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} ended before it made its namespaces (exit ${child.exitCode ?? child.signalCode})`);
    try {
      if (readlinkSync(`/proc/${child.pid}/ns/${kind}`) !== ours) return;
    } catch {
      // not started yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not make its namespaces within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Waits until a spawned process runs `command` (/proc/PID/comm): nsenter and setpriv have done their work and executed it. */
export async function untilRunning(child: ChildProcess, command: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command} ended before it ran (exit ${child.exitCode ?? child.signalCode})`);
    try {
      if (readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() === command) return;
    } catch {
      // not started yet
    }
    if (Date.now() > deadline) throw new Error(`${command} did not start within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Kills a child we started, if it still runs, and waits until it is gone. */
export async function endChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

/**
 * Steps 1–3 above: a user namespace mapped with these mappings, and the container's root in it.
 * Whatever fails on the way, what was started is ended before the error is thrown.
 */
export async function startUsernsContainer(uidMappings: readonly OciIdMapping[] = HOST_RANGE, gidMappings: readonly OciIdMapping[] = uidMappings): Promise<UsernsContainer> {
  const holder = await holdUserNamespace(false);
  let init: ChildProcess | undefined;
  try {
    writeIdMaps(holder.pid, uidMappings, gidMappings);
    init = spawn(program('nsenter'), [`--user=/proc/${holder.pid}/ns/user`, '--', program('unshare'), '--mount', '--uts', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
    await untilUnshared(init, 'uts', 'the container\'s first process');
  } catch (error) {
    if (init) await endChild(init);
    holder.end();
    throw error;
  }
  const started = init;
  const pid = started.pid!;
  return {
    holder,
    pid,
    sh: (script, options) => runProgram([program('nsenter'), `--target=${pid}`, '--user', '--mount', '--uts', '--', 'sh', '-c', script], options),
    async end() {
      await endChild(started);
      holder.end();
    },
  };
}
