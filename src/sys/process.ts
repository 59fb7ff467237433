/**
 * Who a process is, in a way that survives PID reuse: its PID and its start time (field 22 of
 * /proc/PID/stat, in clock ticks since boot, proc(5)). A PID alone can name a new, unrelated process
 * once the old one has gone; the pair cannot. runc keeps the same pair in its state.json.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';

/** The start time of a running process, or null when there is none (or only a zombie is left). */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "4711 (sleep) S 1 …": the command name may contain spaces and parentheses, so split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Field 3 is the state: a zombie (Z) has exited, only its parent has not collected it yet.
    if (fields[0] === 'Z' || fields[0] === 'X') return null;
    return fields[19] ?? null; // fields[0] is field 3, so field 22 is fields[19]
  } catch {
    return null;
  }
}

/** "PID STARTTIME", or null when the process is not running. */
export function processIdentity(pid: number): string | null {
  const started = processStartTime(pid);
  return started === null ? null : `${pid} ${started}`;
}

/** Is the process that wrote `identity` (from processIdentity) still running? A bare PID checks only the PID. */
export function processIsAlive(identity: string | number): boolean {
  const [pid] = String(identity).trim().split(' ');
  const now = processIdentity(Number(pid));
  return now !== null && (typeof identity === 'number' || now === String(identity).trim());
}

/**
 * Does the process have our root directory, "/" (the same device and inode)? /proc/PID/root is its
 * root as the kernel keeps it. A container whose root file system step did nothing still has the
 * host's: code that writes or deletes inside a container checks this first.
 */
export function sharesOurRoot(pid: number): boolean {
  const [theirs, ours] = [statSync(`/proc/${pid}/root/`), statSync('/')];
  return theirs.dev === ours.dev && theirs.ino === ours.ino;
}

/**
 * The PIDs (as this process numbers them) of every process in the PID namespace `pid` is in, `pid`
 * itself first: what `runc ps` lists and `runc kill --all` signals. Namespaces are the same when their
 * /proc/PID/ns/pid links are.
 */
export function processesInPidNamespaceOf(pid: number): number[] {
  let namespace: string;
  try {
    namespace = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) === namespace) members.push(Number(entry));
    } catch {
      // ended meanwhile, or a kernel thread
    }
  }
  const others = members.filter((member) => member !== pid).sort((a, b) => a - b);
  return members.includes(pid) ? [pid, ...others] : others;
}

/**
 * Is this process in a user namespace other than the machine's first? There, uid_map is anything but
 * the identity map of all 2^32-1 IDs (user_namespaces(7)). A rootless runtime is: its "root" owns no
 * device numbers, no trusted.* attributes and no host cgroups, and the lessons do those another way.
 * Our own answer is read once: a Node process has threads, and setns(2) refuses to move one into
 * another user namespace, so it never changes.
 */
export function inUserNamespace(pid: number | 'self' = 'self'): boolean {
  if (pid === 'self') return (ownUserNamespace ??= readUidMapIsNotInitial('self'));
  return readUidMapIsNotInitial(pid);
}

let ownUserNamespace: boolean | undefined;

function readUidMapIsNotInitial(pid: number | 'self'): boolean {
  try {
    return readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).join(' ') !== '0 0 4294967295';
  } catch {
    return false;
  }
}

/**
 * Runs `command` in the foreground, on our terminal, and gives its exit status as a shell would
 * (128 + N for a signal N). A signal sent to us alone (kill PID) is passed on; a terminal's Ctrl-C
 * reaches the child itself, through the process group, so we only wait for it.
 */
export function runInForeground(command: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
  for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  process.on('SIGINT', () => {});
  return new Promise((resolve) => {
    child.on('error', (error) => {
      process.stderr.write(`could not run ${command[0]}: ${error.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
}
