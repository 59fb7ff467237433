/**
 * conmon as the shim of a detached container (`minidocker run -d`): podman's container monitor, a small
 * C program made for exactly this job. An idle container then costs the host about half a MiB of
 * private memory, where the lab's own monitor — a Node process — costs about 9 (`npm run bench`).
 *
 * conmon and an OCI runtime work together as podman drives them (libpod/oci_conmon_linux.go):
 *   1. We start conmon. It forks at once and the first process exits; the second (its own session, a
 *      subreaper) stays: that one is the shim.
 *   2. conmon runs the runtime: `node dist/oci.js --root STATE --log FILE --log-format json create
 *      --bundle B --pid-file P ID`. The runtime's create hands init off — no process of ours stays — so init is
 *      adopted by conmon, which will see the command's exit.
 *   3. conmon reports on its sync pipe (the descriptor named by _OCI_SYNCPIPE): {"data": PID}, or
 *      {"data": -1, ...} when create failed; the runtime's error is then in FILE.
 *   4. We start the container (init's start socket, as for any handed-off container) and may go.
 *      conmon waits for the command, writes its exit code into <exit-dir>/ID, and exits.
 *
 * "-l passthrough": the runtime, and so the command, gets conmon's own stdout and stderr — the
 * container's log file, exactly as the lab's monitor would have written it. conmon refuses a terminal
 * that way (a program could push keys into it: TIOCSTI), so `-t` and `-i` containers keep the lab's monitor.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { processIdentity } from '../sys/process.js';
import { findProgram } from '../sys/programs.js';
import { freshBundle, usesWorkshop } from '../build/bundle.js';
import { OciError } from './oci/spec.js';
import { readRecord, withLock, writeRecord } from './oci/state.js';

/** MINIDOCKER_SHIM=monitor keeps the lab's own monitor for detached containers even where conmon is installed. */
export const SHIM_ENV = 'MINIDOCKER_SHIM';

/** conmon's path when it is to be the shim of detached containers, or null. */
export function conmonShim(): string | null {
  const wanted = process.env[SHIM_ENV];
  if (wanted !== undefined && wanted !== 'conmon' && wanted !== 'monitor') throw new OciError(`${SHIM_ENV}=${wanted}: use conmon or monitor`);
  if (wanted === 'monitor') return null;
  const conmon = findProgram('conmon');
  if (!conmon && wanted === 'conmon') throw new OciError(`${SHIM_ENV}=conmon, but conmon is not installed: apt install conmon (or npm run setup)`);
  return conmon;
}

export interface ConmonCreate {
  id: string;
  bundle: string;
  stateDir: string;
  /** The container's log: its stdout and stderr. */
  logFd: number;
  /** A folder of the caller's for conmon's files: its exit file (exit/<ID>) and the runtime's log. */
  dir: string;
}

/**
 * The runtime's create, run by conmon, which stays as the container's shim. Resolves with conmon's PID
 * once init waits for `start`; the runtime's record then names conmon as the container's monitor.
 */
export async function createUnderConmon(conmon: string, { id, bundle, stateDir, logFd, dir }: ConmonCreate): Promise<number> {
  const exitDir = path.join(dir, 'exit');
  const exitFile = path.join(exitDir, id);
  const runtimeLog = path.join(dir, 'runtime.log');
  const conmonPidFile = path.join(dir, 'conmon.pid');
  // A container started again has an exit file of its last run: gone first, or it would read as stopped at once.
  for (const file of [exitFile, runtimeLog, conmonPidFile]) rmSync(file, { force: true });
  mkdirSync(exitDir, { recursive: true });
  // The runtime is this very code's `oci` tool, run by Node: conmon passes the runtime arguments first.
  const runtimeArgs = [await freshBundle('oci'), '--root', stateDir, '--log', runtimeLog, '--log-format', 'json', ...(usesWorkshop() ? ['--mine'] : [])];
  const args = [
    '--api-version', '1',
    '-c', id, '-u', id, '-n', id,
    '-r', process.execPath,
    ...runtimeArgs.flatMap((arg) => ['--runtime-arg', arg]),
    '-b', bundle,
    '-p', path.join(dir, 'container.pid'),
    '-P', conmonPidFile,
    '--exit-dir', exitDir,
    '--socket-dir-path', dir,
    '-l', 'passthrough',
  ];
  const child = spawn(conmon, args, { stdio: ['ignore', logFd, logFd, 'pipe'], env: { ...process.env, _OCI_SYNCPIPE: '3' } });
  const report = await readSyncReport(child.stdio[3] as Readable, child).catch((error: Error) => ({ data: -1, message: error.message }));
  child.unref();
  if (report.data < 0) {
    const error = runtimeError(runtimeLog);
    if (error) throw Object.assign(new OciError(error), { exitCode: commandExitCode(error) });
    throw new OciError(`conmon could not create container ${id}${report.message ? `: ${report.message}` : ''}`);
  }
  const conmonPid = Number(readFileSync(conmonPidFile, 'utf8'));
  // conmon is the monitor now: the record says so, and where its exit code will be.
  await withLock(() => {
    const record = readRecord(id, stateDir);
    if (!record) throw new OciError(`conmon created container ${id}, but the runtime has no record of it`);
    writeRecord({ ...record, monitorPid: conmonPid, monitorIdentity: processIdentity(conmonPid) ?? String(conmonPid), conmonExitFile: exitFile }, stateDir);
  }, stateDir);
  return conmonPid;
}

/** conmon's first message on the sync pipe: {"data": PID} (or -1 and a message). */
function readSyncReport(pipe: Readable, child: ReturnType<typeof spawn>): Promise<{ data: number; message?: string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (error: Error | null, report?: { data: number; message?: string }) => {
      pipe.removeAllListeners('data');
      pipe.destroy(); // conmon keeps its end; ours is not needed any more
      if (error) reject(error);
      else resolve(report!);
    };
    child.once('error', (error) => done(new OciError(`cannot start conmon: ${error.message}`)));
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk: string) => {
      text += chunk;
      try {
        const report = JSON.parse(text) as { data?: unknown; message?: unknown };
        if (typeof report.data !== 'number') return done(new OciError(`conmon sent ${text.trim()}, not a PID`));
        done(null, { data: report.data, ...(typeof report.message === 'string' ? { message: report.message } : {}) });
      } catch {
        // not a whole message yet
      }
    });
    pipe.once('end', () => done(new OciError(`conmon ended without reporting the container${text ? `: ${text.trim()}` : ''}`)));
  });
}

/**
 * The exit code Docker gives a create that failed: 127 when the command is not there, 126 when it
 * cannot be executed, 125 for anything else the runtime met. A runtime says which only in words, so
 * podman reads them the same way (libpod's getOCIRuntimeError).
 */
function commandExitCode(message: string): number {
  if (!message.startsWith('exec: ')) return 125;
  if (/executable file not found|no such file or directory/.test(message)) return 127;
  if (/permission denied/.test(message)) return 126;
  return 125;
}

/** The runtime's last error in its --log (JSON lines, as runc's logrus writes them), or null. */
function runtimeError(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.trim().split('\n').reverse()) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' && entry.msg) return entry.msg;
    } catch {
      // not one of its lines
    }
  }
  return null;
}
