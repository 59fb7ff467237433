/**
 * The test process as an engine's shim: a child subreaper (prctl PR_SET_CHILD_SUBREAPER), as conmon and
 * containerd-shim are. `oci create` hands the container off as runc's does — the runtime's processes
 * exit and the container's init is orphaned — so the kernel gives it to the nearest subreaper: us.
 * Then we, not the runtime, collect its exit status with waitpid(2), which is how the engine learns it.
 *
 * waitpid is called for one PID at a time: waiting for "any child" would take the exit statuses of
 * Node's own children (spawnSync) from under libuv.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { linuxSyscalls, PR_SET_CHILD_SUBREAPER, WNOHANG } from '../../src/sys/index.js';

export interface WaitStatus {
  code: number | null;
  signal: number | null;
}

/** WIFEXITED/WEXITSTATUS and WIFSIGNALED/WTERMSIG of a raw wait status (<sys/wait.h>). */
function decode(status: number): WaitStatus {
  const signal = status & 0x7f;
  return signal === 0 ? { code: (status >> 8) & 0xff, signal: null } : { code: null, signal };
}

export function becomeSubreaper() {
  const sys = linuxSyscalls();
  sys.prctl(PR_SET_CHILD_SUBREAPER, 1);
  return {
    /** Is `pid` our child now (adopted, or our own)? */
    adopted(pid: number): boolean {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
    },
    /** Waits (polling, so the event loop runs) until our child `pid` has ended; returns how. */
    async waitFor(pid: number, ms = 10_000): Promise<WaitStatus> {
      const deadline = Date.now() + ms;
      for (;;) {
        const { pid: ended, status } = sys.waitpid(pid, WNOHANG);
        if (ended === pid) return decode(status);
        if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for process ${pid} to end`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    /** Collects every adopted child that has ended (zombies), then stops adopting. */
    stop(): void {
      for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
        try {
          const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
          const [state, parent] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          if (state === 'Z' && Number(parent) === process.pid) sys.waitpid(Number(entry), WNOHANG);
        } catch {
          // gone meanwhile
        }
      }
      sys.prctl(PR_SET_CHILD_SUBREAPER, 0);
    },
  };
}
