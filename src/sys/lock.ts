/**
 * The lab's one kind of lock: flock(2) on a lock file. The kernel drops the lock when its holder dies,
 * however it dies, so a runtime killed with SIGKILL never leaves a stale lock behind (a lock file that
 * is created and deleted would). runc and containerd's state folders work the same way.
 *
 * flock blocks the calling thread, and in Node that is the whole process. Two consequences:
 *  - withLockSync's work must be synchronous: nothing else of this process runs while it waits or holds;
 *  - withLock (for asynchronous work) first queues the calls of this process for the same file behind
 *    each other: a second flock from the same process on a new file descriptor would wait for itself.
 * flock does not nest across files either: never take a second lock while holding one.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { LOCK_EX, LOCK_UN } from './constants.js';
import { linuxSyscalls } from './index.js';

export function withLockSync<T>(lockFile: string, work: () => T): T {
  const unlock = lock(lockFile);
  try {
    return work();
  } finally {
    unlock();
  }
}

const queues = new Map<string, Promise<unknown>>();

export function withLock<T>(lockFile: string, work: () => Promise<T> | T): Promise<T> {
  const previous = queues.get(lockFile) ?? Promise.resolve();
  const turn = previous.then(async () => {
    const unlock = lock(lockFile);
    try {
      return await work();
    } finally {
      unlock();
    }
  });
  queues.set(lockFile, turn.catch(() => {}));
  return turn;
}

/** Takes the lock (waiting for it); returns what gives it back. */
function lock(lockFile: string): () => void {
  mkdirSync(path.dirname(lockFile), { recursive: true });
  const sys = linuxSyscalls();
  const fd = openSync(lockFile, 'a');
  try {
    sys.flock(fd, LOCK_EX);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return () => {
    try {
      sys.flock(fd, LOCK_UN);
    } finally {
      closeSync(fd); // closing drops the lock anyway; unlocking first says so
    }
  };
}
