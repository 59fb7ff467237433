/**
 * A unix socket's address holds at most 107 bytes of path (sun_path, unix(7)), and a container's state
 * folder does not always fit: engines pass 64-character IDs, and --root can be anywhere. Linux resolves
 * a socket path like any other, through /proc/self/fd/N as well, so a descriptor of the socket's folder
 * makes every path short: "/proc/self/fd/12/start.sock". The same file, found a shorter way.
 */
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';

/** The longest path sun_path holds, without its terminating NUL. */
export const SUN_PATH_MAX = 107;

/**
 * A path to the same socket that fits sun_path: `socketPath` itself when it does, otherwise one through
 * an open descriptor of its folder, which stays open until release() (after bind or connect).
 */
export function shortSocketPath(socketPath: string): { path: string; release: () => void } {
  if (Buffer.byteLength(socketPath) <= SUN_PATH_MAX) return { path: socketPath, release: () => {} };
  const folder = openSync(path.dirname(socketPath), 'r');
  const short = `/proc/self/fd/${folder}/${path.basename(socketPath)}`;
  if (Buffer.byteLength(short) > SUN_PATH_MAX) {
    closeSync(folder);
    throw new Error(`the socket name ${path.basename(socketPath)} is too long for a unix socket address`);
  }
  return { path: short, release: () => closeSync(folder) };
}
