/**
 * Lesson 06 — throwaway "hosts" and a stand-in for the outside world, each a network namespace.
 *
 * A SANDBOX is a network namespace made with `ip netns add` that plays the host: the lab's bridge,
 * veths and iptables rules go there instead of into the machine's own network stack, and
 * `ip netns del` takes all of them away at once. Its sysctls, net.ipv4.ip_forward included, are its own.
 *
 * The OUTSIDE is one more namespace, plugged into the host (real or sandbox) by a veth pair, with
 * addresses from 192.0.2.0/24 — TEST-NET-1, reserved for documentation: no real network uses it (on a
 * machine whose own network does, the lesson picks another: see subnets.ts). It plays "another
 * machine": a client for published ports and a server the containers can reach through NAT. It knows
 * no route to the containers' subnet, just like a machine on the Internet.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { commandLine, type CommandResult, type NetworkHost, type RunOptions } from './commands.js';

const PATH_WITH_SBIN = `/usr/local/sbin:/usr/sbin:/sbin:${process.env.PATH ?? '/usr/bin:/bin'}`;

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', env: { ...process.env, PATH: PATH_WITH_SBIN }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The named network namespaces (`ip netns list` prints "NAME" or "NAME (id: 3)"). */
export function listNetns(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter(Boolean);
}

/** Creates a namespace named PREFIX-PID-RANDOM, with its `lo` up. The PID says who made it (see removeOrphanedNetns). */
export function createNetns(prefix: string): string {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  ip(['netns', 'add', name]);
  try {
    // Without lo even the namespace's own addresses do not answer: local delivery goes through it.
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    removeNetns(name);
    throw error;
  }
  return name;
}

/**
 * Deletes a named namespace (its interfaces, routes and rules go with it). No error if it is gone.
 * Deleting only removes the name: a process still inside keeps the namespace alive. `killProcesses`
 * ends those first (`ip netns pids` lists them) — for namespaces a killed lesson left behind.
 */
export function removeNetns(name: string, options: { killProcesses?: boolean } = {}): void {
  if (!listNetns().includes(name)) return;
  if (options.killProcesses) {
    for (const pid of ip(['netns', 'pids', name]).split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
  ip(['netns', 'del', name]);
}

/**
 * Removes namespaces PREFIX-PID-… whose creator is no longer running: what a lesson killed with
 * kill -9 left behind. A named namespace outlives every process in it: `ip netns add` pins it with a
 * bind mount under /run/netns.
 */
export function removeOrphanedNetns(prefix: string): string[] {
  const pattern = new RegExp(`^${prefix}-(\\d+)-[0-9a-f]+$`);
  const removed: string[] = [];
  for (const name of listNetns()) {
    const creator = pattern.exec(name)?.[1];
    if (!creator || Number(creator) === process.pid) continue;
    try {
      process.kill(Number(creator), 0);
    } catch {
      removeNetns(name, { killProcesses: true });
      removed.push(name);
    }
  }
  return removed;
}

export const SANDBOX_PREFIX = 'lab-sbx';

/**
 * A sandbox: a new namespace that plays a freshly booted host. A new network namespace starts with a
 * copy of the machine's IPv4 settings (net.core.devconf_inherit_init_net = 0, the default), so on a
 * machine where Docker switched forwarding on, the sandbox would forward from the start and the lesson
 * could not show what switching it on does. The sandbox's ip_forward is its own: set it to a plain host's.
 */
export function createSandbox(): string {
  const name = createNetns(SANDBOX_PREFIX);
  try {
    ip(['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  } catch (error) {
    removeNetns(name);
    throw error;
  }
  return name;
}

const SESSION_DIR = /^mini-docker-lab-lesson06-(\d+)$/;

/**
 * A temporary folder for one run of the lesson (web pages, a sandbox's leases), named after our PID.
 * Folders of runs that were killed (their PID is gone) are removed first.
 */
export function sessionFolder(): string {
  for (const name of readdirSync(tmpdir())) {
    const owner = SESSION_DIR.exec(name)?.[1];
    if (!owner || Number(owner) === process.pid) continue;
    try {
      process.kill(Number(owner), 0);
    } catch {
      rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
    }
  }
  const folder = path.join(tmpdir(), `mini-docker-lab-lesson06-${process.pid}`);
  mkdirSync(folder, { recursive: true });
  return folder;
}

/** The outside world's little network: a veth pair between the host and the outside machine. */
export interface OutsideNetwork {
  /** The host's end of the link. */
  hostVeth: string;
  /** The host's address on it. */
  hostAddress: string;
  /** The outside machine's address. */
  address: string;
  prefix: number;
}

/** The outside network when its subnet is free (always in a sandbox). */
export const OUTSIDE: OutsideNetwork = {
  /** The host's end of the link, and its address there. */
  hostVeth: 'labout0',
  hostAddress: '192.0.2.1',
  /** The outside machine's address. */
  address: '192.0.2.2',
  prefix: 24,
};

/** "Another machine": a network namespace with one link to the host. */
export class Outside {
  private servers: ChildProcess[] = [];
  private readonly folders: string[] = [];

  constructor(
    readonly netns: string,
    private readonly host: NetworkHost,
    /** Where its web server's files go (a new temporary folder if not given). */
    private readonly workDir?: string,
    readonly network: OutsideNetwork = OUTSIDE,
  ) {}

  /** Runs a command on the outside machine (recorded in the host's history: it is part of the lesson). */
  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.host.runAsIs(['ip', 'netns', 'exec', this.netns, ...argv], options);
  }

  /**
   * Starts `busybox httpd` on port 80 of the outside machine with one CGI script, /cgi-bin/whoami,
   * which answers with the address the request came from: what the outside world sees of a container.
   */
  serveWhoami(): void {
    const root = mkdtempSync(path.join(this.workDir ?? tmpdir(), 'lab-outside-www-'));
    this.folders.push(root);
    mkdirSync(path.join(root, 'cgi-bin'));
    // httpd listens on IPv6 too and reports IPv4 peers as "[::ffff:192.0.2.1]": the script strips that.
    const script = ['#!/bin/sh', 'addr=${REMOTE_ADDR#"[::ffff:"}', 'addr=${addr%"]"}', String.raw`printf 'Content-Type: text/plain\r\n\r\n%s\n' "$addr"`, ''];
    writeFileSync(path.join(root, 'cgi-bin', 'whoami'), script.join('\n'));
    chmodSync(path.join(root, 'cgi-bin', 'whoami'), 0o755);
    // `ip netns exec` and setpriv exec the command, so the child's PID is httpd's own: we stop it by that
    // PID. setpriv --pdeathsig makes the kernel kill it if we die first (kill -9 of the lesson).
    const argv = ['ip', 'netns', 'exec', this.netns, 'setpriv', '--pdeathsig', 'KILL', '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', root];
    this.host.history.push({ command: `${commandLine(argv)} &`, exitCode: 0 });
    this.servers.push(spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', env: { ...process.env, PATH: PATH_WITH_SBIN } }));
  }

  /** Stops its servers and deletes the namespace; the veth pair goes with it. */
  async remove(): Promise<void> {
    for (const server of this.servers) {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill('SIGKILL');
        await new Promise((resolve) => server.once('close', resolve));
      }
    }
    this.servers = [];
    for (const folder of this.folders.splice(0)) rmSync(folder, { recursive: true, force: true });
    removeNetns(this.netns);
    // On the real host the host's end may linger for a moment; make sure it is gone.
    await this.host.run(['ip', 'link', 'del', this.network.hostVeth], { allowFailure: true, unrecorded: true });
  }
}

/** Creates the outside machine and its link to `host`. */
export async function createOutside(host: NetworkHost, workDir?: string, network: OutsideNetwork = OUTSIDE): Promise<Outside> {
  const netns = createNetns(host.sandbox ? `${host.sandbox.replace(/-\d+-[0-9a-f]+$/, '')}-out` : 'lab-out');
  const outside = new Outside(netns, host, workDir, network);
  try {
    await host.run(['ip', 'link', 'del', network.hostVeth], { allowFailure: true, unrecorded: true }); // left by a killed lesson
    await host.run(['ip', 'link', 'add', network.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await host.run(['ip', 'addr', 'add', `${network.hostAddress}/${network.prefix}`, 'dev', network.hostVeth]);
    await host.run(['ip', 'link', 'set', network.hostVeth, 'up']);
    await outside.run(['ip', 'addr', 'add', `${network.address}/${network.prefix}`, 'dev', 'eth0']);
    await outside.run(['ip', 'link', 'set', 'eth0', 'up']);
  } catch (error) {
    await outside.remove();
    throw error;
  }
  return outside;
}
