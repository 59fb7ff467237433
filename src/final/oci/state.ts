/**
 * What the OCI runtime remembers between commands, like runc's /run/runc/<id>/state.json:
 *
 *   <state>/runtime/lock             flock(2)ed by every command that reads or changes a container
 *   <state>/runtime/<id>/state.json  the record below
 *   <state>/runtime/<id>/monitor.sock  the shim's door (src/container/monitor.ts): `start` knocks here
 *   <state>/runtime/<id>/exit.json   how the command ended, written by the shim
 *
 * The record can be out of date: a process killed with SIGKILL writes nothing. So every reader
 * refreshes it first — a container whose process is gone is "stopped", whatever the file said.
 */
import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { labStateDir } from '../../container/state.js';
import { withLock as withFileLock } from '../../sys/lock.js';
import { processIsAlive } from '../../sys/process.js';
import { OCI_VERSION } from './spec.js';
import { transition, type ContainerStatus } from './status.js';

/** The runtime spec's state (runtime.md "State"), plus what this runtime needs to find its processes. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** The container's first process, as the host sees it (0 once stopped, as runc reports). */
  pid: number;
  /** "PID STARTTIME": survives PID reuse (lesson 03's processIdentity). */
  pidIdentity: string;
  monitorPid: number;
  monitorIdentity: string;
  bundle: string;
  annotations: Record<string, string>;
  created: string;
  /** Once stopped: the exit code as Docker reports it (128+N for signal N), or null if nobody saw it end. */
  exitCode?: number | null;
  finished?: string;
}

/** The spec's `state` output: exactly its fields. */
export function specState(record: ContainerRecord) {
  const { ociVersion, id, status, pid, bundle, annotations } = record;
  return { ociVersion, id, status, pid: status === 'stopped' ? 0 : pid, bundle, annotations };
}

export function runtimeDir(stateDir = labStateDir()): string {
  return path.join(stateDir, 'runtime');
}

export function containerDir(id: string, stateDir = labStateDir()): string {
  return path.join(runtimeDir(stateDir), id);
}

/**
 * Runs `work` holding the runtime's lock: two commands on the same container take turns. flock(2)
 * blocks the whole process, so calls from THIS process first queue up behind each other (a second
 * flock from the same process would wait for itself forever).
 */
export function withLock<T>(work: () => Promise<T> | T, stateDir = labStateDir()): Promise<T> {
  return withFileLock(path.join(runtimeDir(stateDir), 'lock'), work);
}

export function readRecord(id: string, stateDir = labStateDir()): ContainerRecord | null {
  const file = path.join(containerDir(id, stateDir), 'state.json');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ContainerRecord;
  } catch {
    return null; // half-written by a command that was killed: treat as absent
  }
}

/** Write-then-rename: a reader sees the old record or the new one, never half of one. */
export function writeRecord(record: ContainerRecord, stateDir = labStateDir()): void {
  const file = path.join(containerDir(record.id, stateDir), 'state.json');
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function newRecord(fields: Omit<ContainerRecord, 'ociVersion' | 'status'>): ContainerRecord {
  return { ociVersion: OCI_VERSION, status: 'created', ...fields };
}

/** How the shim saw the command end (exit.json), as Docker's exit code. */
export function readExit(id: string, stateDir = labStateDir()): { exitCode: number; finished: string } | null {
  const file = path.join(containerDir(id, stateDir), 'exit.json');
  if (!existsSync(file)) return null;
  try {
    const exit = JSON.parse(readFileSync(file, 'utf8')) as { code: number | null; signal: string | null; at: string };
    const signal = exit.signal ? osConstants.signals[exit.signal as NodeJS.Signals] : 0;
    return { exitCode: exit.code ?? 128 + signal, finished: exit.at };
  } catch {
    return null;
  }
}

/** The record brought up to date with the processes: gone means stopped. Saves it when it changed. */
export function refresh(record: ContainerRecord, stateDir = labStateDir()): ContainerRecord {
  if (record.status === 'stopped') return record;
  if (processIsAlive(record.pidIdentity)) return record;
  const exit = readExit(record.id, stateDir);
  // The command is gone but its monitor lives: it has just reaped the command and is writing exit.json.
  // Until it has, the container still counts as running — concluding now would lose the exit code.
  if (!exit && processIsAlive(record.monitorIdentity)) return record;
  // No exit.json: the monitor died before the command did, and took it along — init and the command
  // carry PR_SET_PDEATHSIG=SIGKILL — so the command ended by SIGKILL: 128+9, as Docker reports it.
  const updated: ContainerRecord = { ...record, status: transition(record.status, 'stopped'), exitCode: exit?.exitCode ?? 137, finished: exit?.finished ?? new Date().toISOString() };
  writeRecord(updated, stateDir);
  return updated;
}

export function listIds(stateDir = labStateDir()): string[] {
  const root = runtimeDir(stateDir);
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((name) => existsSync(path.join(root, name, 'state.json')));
}
