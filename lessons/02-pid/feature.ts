/**
 * What lesson 02 adds to the start path (see lessons/registry.ts): PID, IPC and mount namespaces, and
 * a /proc of the new PID namespace's own for containers that keep the host's files.
 */
import { namespacesOf } from '../../src/container/config.js';
import { defineFeature } from '../../src/container/features.js';
import type { Syscalls } from '../../src/sys/index.js';
import { mountProc, newIpcNamespace, newMountNamespace, newPidNamespace } from './pid.js';

export const pidFeature = defineFeature({
  name: 'lesson 02 (pid, ipc)',
  namespaces: { pid: newPidNamespace, ipc: newIpcNamespace, mnt: newMountNamespace },
  // A container with a root file system of its own mounts /proc inside it (lesson 03) instead.
  steps: { mountProc: (sys: Syscalls, _config: Record<string, never>) => mountProc(sys) },
  plan(config, _context, step) {
    // A new PID namespace needs a /proc that shows it; mounted in a new mount namespace only, never the host's.
    const { create } = namespacesOf(config);
    return !config.root && create.includes('pid') && create.includes('mnt') ? [step('mountProc', {})] : [];
  },
});
