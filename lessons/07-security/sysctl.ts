/**
 * Lesson 07 — linux.sysctl: kernel settings for the container, only those that are its own.
 *
 * /proc/sys holds the kernel's settings. Most are global — one value for the whole machine — and a
 * container must never write them (the read-only /proc/sys of paths.ts sees to that). A few belong to
 * a namespace: every network namespace has its own net.*, every IPC namespace its own message queue
 * and shared memory limits, every UTS namespace its own host name. Those a container may set, in its
 * own namespaces, before /proc/sys is made read-only: `docker run --sysctl net.ipv4.ip_forward=1`.
 * The list is runc's (libcontainer/configs/validate: sysctl) and Docker's.
 */
import { writeFileSync } from 'node:fs';
import { ConfigError, hasOwnNamespace, type OciConfig } from '../../src/container/config.js';
import type { NamespaceKind } from '../../src/container/plan.js';
import type { Syscalls } from '../../src/sys/index.js';

/** Which namespace a sysctl belongs to, or null for a global one (refused). */
export function sysctlNamespace(key: string): 'ipc' | 'net' | 'uts' | null {
  if (/^kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)$/.test(key) || key.startsWith('fs.mqueue.')) return 'ipc';
  if (key.startsWith('net.')) return 'net';
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return 'uts';
  return null;
}

/** linux.sysctl checked against the container's namespaces, as the `sysctl` step takes it. */
export function checkSysctl(config: OciConfig): Record<string, string> {
  const sysctl = config.linux?.sysctl ?? {};
  // A namespace joined by path counts unless it is the runtime's own (the host's), as runc checks.
  const own = (kind: NamespaceKind) => hasOwnNamespace(config, kind);
  for (const [key, value] of Object.entries(sysctl)) {
    if (!/^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/.test(key)) throw new ConfigError(`linux.sysctl "${key}": not a sysctl name (e.g. net.ipv4.ip_forward)`);
    if (typeof value !== 'string') throw new ConfigError(`linux.sysctl "${key}": the value must be a string`);
    const namespace = sysctlNamespace(key);
    if (!namespace) throw new ConfigError(`linux.sysctl "${key}" is not namespaced: it would change the whole machine, so a container may not set it`);
    if (!own(namespace)) throw new ConfigError(`linux.sysctl "${key}" needs ${namespace === 'ipc' ? 'an' : 'a'} ${namespace} namespace of the container's own: without one it would change the host's`);
  }
  return sysctl;
}

/** Init's step: each value into /proc/sys (dots become slashes), in the container's own namespaces. */
export function setSysctls(_sys: Syscalls, config: { values: Record<string, string> }): void {
  for (const [key, value] of Object.entries(config.values)) {
    try {
      writeFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, value, { flag: 'r+' }); // r+: never create a file
    } catch (error) {
      throw new Error(`sysctl ${key}=${value}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
    }
  }
}
