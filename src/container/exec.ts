/**
 * The last thing init does: turn itself into the user's command with execve(2).
 *
 * execve replaces the whole Node process — every thread, the heap, V8 — with the command, keeping the
 * PID, the namespaces, the cgroup, and the open file descriptors that are not marked close-on-exec.
 * Node leaves the process in a state a plain program would not expect, so init undoes that first.
 */
import { accessSync, constants as fsConstants, readdirSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import {
  CLOSE_RANGE_CLOEXEC, FD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, O_NONBLOCK, type Syscalls,
} from '../sys/index.js';
import { DEFAULT_PATH, type ProcessSpec } from './plan.js';

/** A command that cannot start, with Docker's exit code for it: 126 cannot execute, 127 not found. */
export class ExecError extends Error {
  override name = 'ExecError';
  constructor(message: string, readonly exitCode: 126 | 127) {
    super(message);
  }
}

/**
 * Finds the program the way execvp(3) and Docker do: a name with a slash is a path (relative to the
 * working directory), anything else is searched in the command's own PATH — the container's, not Node's.
 */
export function resolveCommand(spec: ProcessSpec, exists = isExecutableFile): string {
  const name = spec.args[0];
  if (!name) throw new ExecError('exec: no command given', 127);
  if (name.includes('/')) {
    const file = path.resolve(spec.cwd, name);
    const found = exists(file);
    if (found === 'missing') throw new ExecError(`exec: "${name}": no such file or directory`, 127);
    if (found === 'not-executable') throw new ExecError(`exec: "${name}": permission denied`, 126);
    return file;
  }
  const searchPath = spec.env.find((entry) => entry.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  let deniedFile: string | undefined;
  for (const dir of searchPath.split(':')) {
    const file = path.resolve(spec.cwd, dir || '.', name);
    const found = exists(file);
    if (found === 'ok') return file;
    if (found === 'not-executable') deniedFile ??= file;
  }
  if (deniedFile) throw new ExecError(`exec: "${name}": permission denied`, 126);
  throw new ExecError(`exec: "${name}": executable file not found in $PATH`, 127);
}

export type FileCheck = 'ok' | 'missing' | 'not-executable';

function isExecutableFile(file: string): FileCheck {
  try {
    if (!statSync(file).isFile()) return 'not-executable';
    accessSync(file, fsConstants.X_OK);
    return 'ok';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not-executable';
  }
}

/** Signals whose disposition may be inherited: every standard one but SIGKILL and SIGSTOP. */
const RESETTABLE_SIGNALS = Array.from({ length: 31 }, (_, index) => index + 1).filter(
  (signal) => signal !== osConstants.signals.SIGKILL && signal !== osConstants.signals.SIGSTOP,
);

/**
 * Undoes what Node did to this process, so the command starts like any program started by a shell.
 */
export function prepareForExec(sys: Syscalls, preserve: { from: number; count: number } = { from: 3, count: 0 }): void {
  for (const fd of [0, 1, 2]) {
    try {
      // Node marks fds 0-2 close-on-exec at start-up: without this the command's output vanishes.
      sys.fcntl(fd, F_SETFD, sys.fcntl(fd, F_GETFD, 0) & ~FD_CLOEXEC);
      // libuv may have made a shared pipe non-blocking; most programs expect blocking writes.
      sys.fcntl(fd, F_SETFL, sys.fcntl(fd, F_GETFL, 0) & ~O_NONBLOCK);
    } catch {
      // A closed standard fd stays closed; the command will see that, as it would under a shell.
    }
  }
  // Node's own descriptors (epoll, eventfds, the control pipe) must not leak into the container.
  markDescriptorsCloseOnExec(sys);
  // Except the ones to preserve: copied down onto 3, 4 ... in order (each target is below its source, so
  // no source is overwritten before it is copied); dup2's copies stay open across exec.
  for (let index = 0; index < preserve.count; index++) sys.dup2(preserve.from + index, 3 + index);
  // Node ignores SIGPIPE (and more); an ignored signal stays ignored across execve, a handled one does not.
  for (const signal of RESETTABLE_SIGNALS) sys.resetSignal(signal);
  sys.unblockAllSignals();
}

/**
 * Every descriptor from 3 up closed at exec: close_range(2) in one call, or — where a seccomp profile
 * refuses it (EPERM: Docker's older profiles do not list it) or the kernel lacks it (ENOSYS, before
 * 5.11) — one fcntl per entry of /proc/self/fd, as runc's CloseExecFrom falls back to.
 */
function markDescriptorsCloseOnExec(sys: Syscalls): void {
  let names: string[];
  try {
    sys.closeRange(3, 0xffffffff, CLOSE_RANGE_CLOEXEC);
    return;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'EPERM' && code !== 'ENOSYS' && code !== 'EINVAL') throw error;
    try {
      names = readdirSync('/proc/self/fd');
    } catch {
      throw error; // no /proc in the container either: the close_range refusal says most
    }
  }
  for (const name of names) {
    const fd = Number(name);
    if (fd < 3) continue;
    try {
      sys.fcntl(fd, F_SETFD, FD_CLOEXEC);
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
}

/** Replaces this process with the command. Returns only by throwing an ExecError. */
export function execCommand(sys: Syscalls, spec: ProcessSpec, file: string): never {
  try {
    sys.execve(file, spec.args, spec.env);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new ExecError(`exec: "${spec.args[0]}": no such file or directory`, 127);
    if (code === 'EACCES') throw new ExecError(`exec: "${spec.args[0]}": permission denied`, 126);
    throw new ExecError(`exec: "${spec.args[0]}": ${(error as Error).message}`, 126);
  }
}
