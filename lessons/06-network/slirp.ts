/**
 * User-mode networking: slirp4netns, for a container whose runtime is not the host's root.
 *
 * A bridge network is the host's: the veth's far end, the bridge and the NAT rules all live in the
 * host's network namespace, which only the host's root may change. A rootless runtime has none of
 * that. slirp4netns (Debian package slirp4netns) gives the container a TAP device instead, tap0, and
 * turns every packet the container sends into an ordinary socket call of its own process, made in the
 * host's network namespace as the user: a TCP connection to 1.1.1.1:80 becomes connect(2) there. No
 * privilege is needed; the price is speed (every packet crosses a process).
 *
 *   10.0.2.100   the container (tap0)       10.0.2.2   the gateway (the host, unless --disable-host-loopback)
 *   10.0.2.3     slirp4netns's DNS forwarder
 *
 * Published ports go the other way: slirp4netns listens on the host port and forwards each
 * connection into the container (its API socket's add_hostfwd) — what rootless podman and Docker do.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import path from 'node:path';
import { processIdentity, processIsAlive } from '../../src/sys/process.js';
import type { PublishedPort } from './ports.js';

/** The container's address on slirp4netns's network (its --configure default). */
export const SLIRP_CONTAINER_ADDRESS = '10.0.2.100';
/** slirp4netns's DNS forwarder: it asks the host's name servers, from the host's side. */
export const SLIRP_DNS = '10.0.2.3';

/** What connect leaves in the runtime's folder for the container: the process to end at release. */
interface SlirpRecord {
  identity: string;
  apiSocket: string;
}

const RECORD = 'slirp4netns.json';

/**
 * Starts slirp4netns for the network namespace of `pid` (a process of the container) and forwards the
 * published ports; returns when the container's tap0 is up. slirp4netns outlives this command (a
 * detached container keeps its network): stopSlirp ends it.
 */
export async function startSlirp(pid: number, publish: readonly PublishedPort[], runtimeDir: string): Promise<void> {
  const apiSocket = path.join(runtimeDir, 'slirp4netns.sock');
  rmSync(apiSocket, { force: true });
  const log = openSync(path.join(runtimeDir, 'slirp4netns.log'), 'w');
  // --configure: addresses and a default route in the namespace; --disable-host-loopback: the container
  // may not reach the host's 127.0.0.1 through 10.0.2.2 (podman's default too); fd 3: "1" when ready.
  const slirp = spawn('slirp4netns', ['--configure', '--mtu=65520', '--disable-host-loopback', '--ready-fd=3', `--api-socket=${apiSocket}`, String(pid), 'tap0'], {
    detached: true,
    stdio: ['ignore', log, log, 'pipe'],
  });
  closeSync(log);
  const ready = await new Promise<boolean>((resolve) => {
    slirp.on('error', () => resolve(false));
    slirp.on('exit', () => resolve(false));
    slirp.stdio[3]!.on('data', () => resolve(true));
  });
  if (!ready) {
    const said = readFileSync(path.join(runtimeDir, 'slirp4netns.log'), 'utf8').trim().split('\n').at(-1);
    throw new Error(`slirp4netns could not set up the container's network${said ? `: ${said}` : ''}${slirp.pid ? '' : ': is it installed? (apt-get install slirp4netns)'}`);
  }
  (slirp.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
  slirp.unref();
  const identity = processIdentity(slirp.pid!);
  if (!identity) throw new Error('slirp4netns ended right after it started: see slirp4netns.log in the container\'s runtime folder');
  writeFileSync(path.join(runtimeDir, RECORD), `${JSON.stringify({ identity, apiSocket } satisfies SlirpRecord)}\n`);
  for (const port of publish) {
    try {
      await slirpRequest(apiSocket, { execute: 'add_hostfwd', arguments: { proto: port.protocol, host_addr: '0.0.0.0', host_port: port.hostPort, guest_port: port.containerPort } });
    } catch (error) {
      throw new Error(`slirp4netns could not publish host port ${port.hostPort}/${port.protocol}`, { cause: error });
    }
  }
}

/** One request on slirp4netns's API socket (JSON in, JSON out, one connection each), as its README shows. */
function slirpRequest(socket: string, request: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(socket);
    let answer = '';
    connection.on('connect', () => connection.end(JSON.stringify(request)));
    connection.on('data', (chunk) => (answer += chunk.toString()));
    connection.on('error', (error) => reject(new Error(`slirp4netns's API: ${error.message}`)));
    connection.on('close', () => {
      try {
        const parsed = JSON.parse(answer) as { error?: { desc?: string } };
        if (parsed.error) reject(new Error(parsed.error.desc ?? JSON.stringify(parsed.error)));
        else resolve(parsed);
      } catch {
        reject(new Error(`slirp4netns's API answered "${answer}"`));
      }
    });
  });
}

/** Ends the container's slirp4netns, if connect started one and it still runs (by its PID and start time). */
export function stopSlirp(runtimeDir: string): void {
  const file = path.join(runtimeDir, RECORD);
  if (!existsSync(file)) return;
  const record = JSON.parse(readFileSync(file, 'utf8')) as SlirpRecord;
  if (processIsAlive(record.identity)) {
    try {
      process.kill(Number(record.identity.split(' ')[0]), 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
  rmSync(file, { force: true });
  rmSync(record.apiSocket, { force: true });
}
