/**
 * Container IDs as Docker makes them: 64 random hex digits; the first 12 are the short ID that
 * `docker ps` shows and that names the container's host name by default.
 */
import { randomBytes } from 'node:crypto';

export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}
