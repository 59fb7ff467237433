/**
 * What the OCI runtime remembers between commands, like runc's /run/runc/<id>/state.json:
 *
 *   <state>/runtime/lock             flock(2)ed by every command that reads or changes a container
 *   <state>/runtime/<id>/state.json  the record below
 *   <state>/runtime/<id>/config.json the config the container was created from (and updated to): what
 *                                    delete releases by, whatever becomes of the bundle (runc: state.json)
 *   <state>/runtime/<id>/monitor.sock  the shim's door (src/container/monitor.ts): `start` knocks here
 *   <state>/runtime/<id>/start.sock  or, handed off (no shim), init's own door, until it has started
 *   <state>/runtime/<id>/exit.json   how the command ended, written by the shim
 *   (conmon, when it is the shim, writes the exit code into a file of its own: the record names it)
 *
 * The record can be out of date: a process killed with SIGKILL writes nothing. So every reader
 * refreshes it first — a container whose process is gone is "stopped", whatever the file said.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { withLock as withFileLock } from '../../sys/lock.js';
import { readJsonFile, writeJsonFile } from '../../sys/json.js';
import { processIsAlive } from '../../sys/process.js';
import { OCI_VERSION } from './spec.js';
import { TRANSITIONS, transition, type ContainerStatus } from './status.js';

/** The runtime spec's state (runtime.md "State"), plus what this runtime needs to find its processes. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /** The container's first process, as the host sees it (0 once stopped, as runc reports). */
  pid: number;
  /** "PID STARTTIME": survives PID reuse (lesson 03's processIdentity). */
  pidIdentity: string;
  /** The container's shim (src/container/monitor.ts); 0 and "" when handed off to the caller's subreaper. */
  monitorPid: number;
  monitorIdentity: string;
  /**
   * The shim is conmon (see ../conmon.ts): the monitor fields name it, `start` goes to init's own start
   * socket as for any handed-off container, and the exit code is the number conmon writes into this file
   * (its --exit-dir/<id>), not exit.json.
   */
  conmonExitFile?: string;
  bundle: string;
  annotations: Record<string, string>;
  created: string;
  /** With process.terminal: the pty slave, as the container names it ("/dev/pts/0"), that start hands to init. */
  console?: string;
  /** Once stopped: the exit code as Docker reports it (128+N for signal N), or null if nobody saw it end. */
  exitCode?: number | null;
  finished?: string;
}

/** The spec's `state` output: exactly its fields. */
export function specState(record: ContainerRecord) {
  const { ociVersion, id, status, pid, bundle, annotations } = record;
  return { ociVersion, id, status, pid: status === 'stopped' ? 0 : pid, bundle, annotations };
}

export function runtimeDir(stateDir: string): string {
  return path.join(stateDir, 'runtime');
}

export function containerDir(id: string, stateDir: string): string {
  return path.join(runtimeDir(stateDir), id);
}

/**
 * Runs `work` holding the runtime's lock: two commands on the same container take turns. flock(2)
 * blocks the whole process, so calls from THIS process first queue up behind each other (a second
 * flock from the same process would wait for itself forever).
 */
export function withLock<T>(work: () => Promise<T> | T, stateDir: string): Promise<T> {
  return withFileLock(path.join(runtimeDir(stateDir), 'lock'), work);
}

/**
 * The record, checked (null when the container has none). A broken state.json — edited by hand, written
 * by another version, its disk full — throws a BadJsonFileError that names the file and what is wrong.
 */
export function readRecord(id: string, stateDir: string): ContainerRecord | null {
  return readJsonFile(path.join(containerDir(id, stateDir), 'state.json'), checkRecord);
}

const STATUSES = Object.keys(TRANSITIONS);

/** What every reader of a record relies on; the rest (exitCode, finished) is optional. */
export function checkRecord(value: unknown): ContainerRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
  const record = value as Record<string, unknown>;
  for (const field of ['ociVersion', 'id', 'pidIdentity', 'monitorIdentity', 'bundle', 'created'] as const) {
    if (typeof record[field] !== 'string') throw new Error(`${field} is missing or not a string`);
  }
  for (const field of ['pid', 'monitorPid'] as const) {
    if (!Number.isInteger(record[field]) || (record[field] as number) < 0) throw new Error(`${field} is missing or not a process ID`);
  }
  if (!STATUSES.includes(record.status as string)) throw new Error(`status ${JSON.stringify(record.status)} is not one of ${STATUSES.join(', ')}`);
  if (typeof record.annotations !== 'object' || record.annotations === null) throw new Error('annotations is missing');
  if (record.conmonExitFile !== undefined && typeof record.conmonExitFile !== 'string') throw new Error('conmonExitFile is not a string');
  return value as ContainerRecord;
}

/** Write-then-rename (sys/json.ts): a reader sees the old record or the new one, never half of one. */
export function writeRecord(record: ContainerRecord, stateDir: string): void {
  writeJsonFile(path.join(containerDir(record.id, stateDir), 'state.json'), record);
}

export function newRecord(fields: Omit<ContainerRecord, 'ociVersion' | 'status'>): ContainerRecord {
  return { ociVersion: OCI_VERSION, status: 'created', ...fields };
}

/**
 * exit.json for a container whose monitor is its runtime (created direct): written by the process that
 * waited for the command, in the shape the shim writes (src/container/monitor.ts).
 */
export function recordExit(id: string, stateDir: string, status: { code: number | null; signal: NodeJS.Signals | null }): void {
  writeJsonFile(path.join(containerDir(id, stateDir), 'exit.json'), { code: status.code, signal: status.signal, at: new Date().toISOString() });
}

/** How the shim saw the command end (exit.json, or conmon's exit file), as Docker's exit code. */
export function readExit(id: string, stateDir: string, conmonExitFile?: string): { exitCode: number; finished: string } | null {
  if (conmonExitFile) return readConmonExit(conmonExitFile);
  const exit = readJsonFile(path.join(containerDir(id, stateDir), 'exit.json'), checkExit);
  if (!exit) return null;
  const signal = exit.signal ? osConstants.signals[exit.signal as NodeJS.Signals] : 0;
  return { exitCode: exit.code ?? 128 + signal, finished: exit.at };
}

/**
 * conmon's exit file: the exit code in decimal, already 128+N for signal N (conmon's ctr_exit). It is
 * written once the command has been reaped; its time of change is when.
 */
function readConmonExit(file: string): { exitCode: number; finished: string } | null {
  // A bare number is a JSON document too: the same reader, with its one-line errors.
  const exitCode = readJsonFile(file, (value) => {
    if (!Number.isInteger(value)) throw new Error('not an exit code');
    return value as number;
  });
  return exitCode === null ? null : { exitCode, finished: statSync(file).mtime.toISOString() };
}

/** exit.json as the shim writes it (src/container/monitor.ts): the command's code, or the signal that ended it. */
function checkExit(value: unknown): { code: number | null; signal: string | null; at: string } {
  const exit = value as { code?: unknown; signal?: unknown; at?: unknown } | null;
  if (typeof exit !== 'object' || exit === null) throw new Error('not an object');
  if (exit.code !== null && !Number.isInteger(exit.code)) throw new Error('code is neither a number nor null');
  if (exit.signal !== null && !(typeof exit.signal === 'string' && exit.signal in osConstants.signals)) throw new Error(`signal ${JSON.stringify(exit.signal)} is not a signal's name`);
  if (typeof exit.at !== 'string') throw new Error('at is missing');
  return exit as { code: number | null; signal: string | null; at: string };
}

/** The record brought up to date with the processes: gone means stopped. Saves it when it changed. */
export function refresh(record: ContainerRecord, stateDir: string): ContainerRecord {
  if (record.status === 'stopped') return record;
  if (processIsAlive(record.pidIdentity)) return record;
  const exit = readExit(record.id, stateDir, record.conmonExitFile);
  // The command is gone but its monitor lives: it has just reaped the command and is writing exit.json.
  // Until it has, the container still counts as running — concluding now would lose the exit code.
  if (!exit && record.monitorPid && processIsAlive(record.monitorIdentity)) return record;
  // No exit.json: the monitor died before the command did, and took it along — init and the command
  // carry PR_SET_PDEATHSIG=SIGKILL — so the command ended by SIGKILL: 128+9, as Docker reports it.
  // Handed off, the exit was the adopter's to see: unknown here, as it is to runc.
  // conmon does not take the command along when it dies: how that ended, nobody saw.
  const lost = record.monitorPid && !record.conmonExitFile ? 137 : null;
  const updated: ContainerRecord = { ...record, status: transition(record.status, 'stopped'), exitCode: exit?.exitCode ?? lost, finished: exit?.finished ?? new Date().toISOString() };
  writeRecord(updated, stateDir);
  return updated;
}

export function listIds(stateDir: string): string[] {
  const root = runtimeDir(stateDir);
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((name) => existsSync(path.join(root, name, 'state.json')));
}
