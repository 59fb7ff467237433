/**
 * The OCI runtime's operations (runtime-spec runtime.md "Operations"): create, start, state, kill,
 * delete — what runc does for containerd, and what the `oci` CLI (cli.ts) and the docker-like layer
 * (../docker.ts) call. Each one takes the runtime's lock, refreshes the record, checks the container's
 * status allows the operation, and only then changes anything: a refused command changes nothing.
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { createFromConfig, releaseFeatures } from '../../container/builder.js';
import { readConfig, type OciConfig } from '../../container/config.js';
import type { HostContext } from '../../container/features.js';
import { execInContainer, requestStart, type Container, type CreateOptions, type EarlyInit } from '../../container/runtime.js';
import { labStateDir } from '../../container/state.js';
import { registry } from '../../../lessons/registry.js';
import { cgroupOfConfig, resourcesOf } from '../../../lessons/04-cgroups/feature.js';
import { writeCgroupFile } from '../../../lessons/04-cgroups/manager.js';
import { deviceCgroupOfConfig, execSteps } from '../../../lessons/07-security/feature.js';
import { joinDeviceCgroup } from '../../../lessons/07-security/devices.js';
import { exitCodeInChain } from '../../sys/errors.js';
import { jsonLine, onJsonLines, readJsonFile, writeJsonFile } from '../../sys/json.js';
import type { FromInit } from '../../container/protocol.js';
import { processesInPidNamespaceOf, processIdentity, processIsAlive } from '../../sys/process.js';
import { linuxSyscalls } from '../../sys/index.js';
import { shortSocketPath } from '../../sys/socket-path.js';
import { checkLinuxFields, OciError } from './spec.js';
import { checkOperation, transition } from './status.js';
import { containerDir, newRecord, readRecord, refresh, specState, withLock, writeRecord, type ContainerRecord } from './state.js';
import { checkHooks, runHooks } from './hooks.js';

/** runc's rule for IDs, minus its length: letters, digits and _ + - . */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_+.-]*$/;

export interface OciCreateOptions {
  stateDir?: string;
  /** The container's stdio (runc's "pass-through": by default, this process's own). */
  stdio?: CreateOptions['stdio'];
  /** Kill the container if this process dies (the docker-like layer's foreground `run`). Default false. */
  dieWithRuntime?: boolean;
  /** --pid-file: the container's PID, written once it exists (containerd reads it). */
  pidFile?: string;
  /**
   * --console-socket: for process.terminal, where the pty's master goes (runc's handshake: an SCM_RIGHTS
   * message on this unix socket). The engine keeps it; `start` gives init the slave.
   */
  consoleSocket?: string;
  /**
   * Leave the container to the caller, as runc's `create` does: no monitor of ours stays, so init is
   * adopted by the caller's subreaper (conmon, containerd-shim), which sees the command's exit. Without
   * it (the docker-like layer) the monitor stays on as the container's shim and records the exit.
   */
  handOff?: boolean;
  /** --preserve-fds N: this process's descriptors 3 … 3+N-1 become the command's 3 … (runc's). */
  preserveFds?: number;
  /** --no-pivot: enter the root file system with MS_MOVE + chroot, not pivot_root (runc's). */
  noPivot?: boolean;
  /**
   * For a caller that stays until the command ends (minidocker's foreground run, as `runc run`): init is
   * this process's child, with no monitor between them. This process is then the container's monitor in
   * the record, start() goes through the Container it gets back, and it records the exit (recordExit).
   */
  direct?: boolean;
  /** With direct: an init started already, waiting for its plan (src/container/runtime.ts startInitEarly). */
  early?: EarlyInit;
}

/** The descriptors --preserve-fds N names: 3 up, after stdin, stdout and stderr (runc's rule). */
function preservedDescriptors(count = 0): number[] {
  return Array.from({ length: count }, (_, index) => 3 + index);
}

/** Where a handed-off init waits for `start` (runc's exec.fifo): see src/container/protocol.ts. */
const START_SOCKET = 'start.sock';

function checkId(id: string): void {
  if (!ID_PATTERN.test(id)) throw new OciError(`invalid container id "${id}"`);
}

/** The record, refreshed; an error if there is no such container. Call it holding the lock. */
function lookup(id: string, stateDir: string): ContainerRecord {
  const record = readRecord(id, stateDir);
  if (!record) throw new OciError(`container "${id}" does not exist`);
  return refresh(record, stateDir);
}

/** What the features are told about a container of this runtime (see src/container/features.ts). */
export function hostContext(id: string, bundle: string, stateDir: string): HostContext {
  return { id, bundle, stateDir, runtimeDir: containerDir(id, stateDir), warn: (message) => process.stderr.write(`WARNING: ${message}\n`) };
}

/**
 * `create`: the container config.json describes, built by the lessons' features — cgroup made, namespaces
 * and rootfs set up, network wired — with init waiting. The monitor becomes the container's shim and
 * outlives this process (unless dieWithRuntime). Returns the record and, for a caller that stays, the
 * Container (its wait() still works while this process lives).
 */
export async function ociCreate(id: string, bundleDir: string, options: OciCreateOptions = {}): Promise<{ record: ContainerRecord; container: Container }> {
  const stateDir = options.stateDir ?? labStateDir();
  const bundle = path.resolve(bundleDir);
  checkId(id);
  return withLock(async () => {
    if (readRecord(id, stateDir) || existsSync(containerDir(id, stateDir))) throw new OciError(`container "${id}" already exists`);
    const config = readConfig(bundle);
    checkHooks(config);
    checkLinuxFields(config);
    checkConsole(Boolean(config.process.terminal), options.consoleSocket);
    const dir = containerDir(id, stateDir);
    mkdirSync(dir, { recursive: true });
    // The runtime's own copy, as runc keeps the config in its state.json: what the container was made
    // from stays what it is released by, whatever happens to the bundle afterwards (an engine may edit
    // config.json, or remove the bundle before delete).
    writeJsonFile(path.join(dir, 'config.json'), config);
    const context = { ...hostContext(id, bundle, stateDir), ...(options.noPivot ? { noPivot: true } : {}) };
    let container: Container | undefined;
    let consolePath: string | undefined;
    try {
      container = await createFromConfig(config, {
        registry,
        context,
        stdio: options.stdio ?? 'inherit',
        dieWithRuntime: options.dieWithRuntime ?? false,
        ...(options.handOff ? { startSocket: path.join(dir, START_SOCKET) } : options.direct ? { direct: true, ...(options.early ? { early: options.early } : {}) } : { shimDir: dir }),
        preserveFds: preservedDescriptors(options.preserveFds),
      });
      // The container exists and waits: the runtime's hooks for that moment, each of which may still fail create.
      const state = { ociVersion: config.ociVersion, id, status: 'creating', pid: container.pid, bundle, annotations: config.annotations ?? {} };
      runHooks(config, 'prestart', state);
      runHooks(config, 'createRuntime', state);
      if (options.consoleSocket) consolePath = sendConsole(container, options.consoleSocket);
    } catch (error) {
      if (container) {
        await container.destroy();
        await releaseFeatures(config, registry, context).catch(() => {}); // the hook's error is the one to report
      }
      // The shim may still be writing exit.json into it as it goes: rmdir then finds the folder not empty
      // (ENOTEMPTY), and a retry finishes the job.
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
      // A command that cannot be executed (126, 127) is the user's to fix, said as Docker says it; any other
      // failure is the runtime's, with what it was doing in front (its exit code stays on the cause).
      const commandCode = exitCodeInChain(error);
      if (commandCode === 126 || commandCode === 127) throw error;
      throw new OciError(`create container ${id}`, { cause: error });
    }
    // Handed off, there is no monitor to remember: 0 and "" (state.ts). Direct, this process is the monitor.
    const monitorPid = options.handOff ? 0 : options.direct ? process.pid : container.monitorPid;
    const record = newRecord({
      id,
      pid: container.pid,
      pidIdentity: processIdentity(container.pid) ?? String(container.pid),
      monitorPid,
      monitorIdentity: monitorPid ? (processIdentity(monitorPid) ?? String(monitorPid)) : '',
      bundle,
      annotations: config.annotations ?? {},
      created: new Date().toISOString(),
      ...(consolePath ? { console: consolePath } : {}),
    });
    writeRecord(record, stateDir);
    if (options.pidFile) writeFileSync(options.pidFile, String(container.pid));
    return { record, container };
  }, stateDir);
}

/** A terminal and a console socket go together, in runc's words. */
function checkConsole(terminal: boolean, consoleSocket: string | undefined): void {
  if (terminal && !consoleSocket) throw new OciError('cannot allocate tty if runc will detach without setting console socket (process.terminal is true: give --console-socket)');
  if (!terminal && consoleSocket) throw new OciError('cannot use console socket if runc will not detach or allocate tty (process.terminal is false)');
}

/**
 * Opens the process's pty in the container's devpts (console.ts) and sends its master to the engine's
 * console socket; this runtime keeps no copy. Returns the slave's path, which init makes its terminal at start.
 */
function sendConsole(container: Container, consoleSocket: string): string {
  const pty = container.openConsole();
  try {
    linuxSyscalls().sendFileDescriptor(consoleSocket, pty.masterFd, '/dev/ptmx');
  } catch (error) {
    throw new OciError(`--console-socket ${consoleSocket}: the pty cannot be sent`, { cause: error });
  } finally {
    pty.close(); // the engine's copy keeps the terminal open
  }
  return pty.slavePath;
}

/**
 * `start`: tell the waiting init to exec — through the shim's socket, or a handed-off init's own start
 * socket, so it works from any process. Resolves once the command runs; rejects with its 126/127 error
 * when it cannot be executed.
 */
export async function ociStart(id: string, stateDir: string, options: { console?: string; container?: Container } = {}): Promise<ContainerRecord> {
  return withLock(async () => {
    const record = lookup(id, stateDir);
    checkOperation('start', id, record.status);
    const console = options.console ?? record.console;
    const dir = containerDir(id, stateDir);
    if (options.container) await options.container.start({ console }); // created direct, by this very process
    else if (record.monitorPid && !record.conmonExitFile) await requestStartFromShim(path.join(dir, 'monitor.sock'), console);
    else await requestStart(path.join(dir, START_SOCKET), console);
    const running: ContainerRecord = { ...record, status: transition(record.status, 'running') };
    writeRecord(running, stateDir);
    runLateHooks(running, 'poststart', stateDir);
    return running;
  }, stateDir);
}

/** Sends {"type":"start"} (with the console's slave, for a terminal) to the shim and waits for its answer. */
function requestStartFromShim(socketPath: string, console?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const address = shortSocketPath(socketPath);
    const socket = createConnection(address.path);
    socket.once('connect', address.release).once('error', address.release);
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.on('connect', () => socket.write(jsonLine({ type: 'start', console })));
    onJsonLines<FromInit>(socket, (message) => {
      if (message.type === 'started') settle();
      else if (message.type === 'error') settle(Object.assign(new OciError(message.message), { exitCode: message.exitCode }));
    });
    socket.on('error', (error) => settle(new OciError(`cannot reach the container's monitor: ${error.message}`)));
    socket.on('close', () => settle(new OciError('the container ended before it started')));
  });
}

export async function ociState(id: string, stateDir: string): Promise<ContainerRecord> {
  return withLock(() => lookup(id, stateDir), stateDir);
}

/** "TERM", "SIGTERM", "15" → a signal number (runc accepts all three). */
export function parseSignal(text = 'SIGTERM'): number {
  if (/^\d+$/.test(text)) return Number(text);
  const name = (text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`) as NodeJS.Signals;
  const number = osConstants.signals[name];
  if (number === undefined) throw new OciError(`unknown signal "${text}"`);
  return number;
}

/**
 * `kill`: a signal to the container's first process (runtime.md: only while created or running); with
 * `all`, to every process of the container, as `runc kill --all` — found by its PID namespace.
 */
export async function ociKill(id: string, signal = 'SIGTERM', stateDir: string, options: { all?: boolean } = {}): Promise<void> {
  const number = parseSignal(signal);
  await withLock(async () => {
    const record = lookup(id, stateDir);
    checkOperation('kill', id, record.status);
    for (const pid of options.all ? containerProcesses(record) : [record.pid]) {
      try {
        process.kill(pid, number);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH' || pid === record.pid) throw error; // one that ended meanwhile is fine
      }
    }
    if (number === osConstants.signals.SIGKILL) await thawIfPaused(record, stateDir);
  }, stateDir);
}

/**
 * A SIGKILL to a paused container takes effect once it is thawed on cgroup v1, whose freezer holds even
 * fatal signals (v2's lets them through). runc thaws after the kill in the same way. The record stays
 * "paused" until refresh sees the process gone.
 */
async function thawIfPaused(record: ContainerRecord, stateDir: string): Promise<void> {
  if (record.status !== 'paused') return;
  await cgroupOfConfig(containerConfig(record, stateDir), record.id)?.setFrozen(false);
}

/**
 * `pause` and `resume`: every process of the container frozen where it stands, or thawed — runc's
 * freezer. It needs the container's own cgroup (linux.resources or linux.cgroupsPath in config.json).
 */
export async function ociPause(id: string, stateDir: string): Promise<void> {
  await setPaused(id, stateDir, true);
}

export async function ociResume(id: string, stateDir: string): Promise<void> {
  await setPaused(id, stateDir, false);
}

async function setPaused(id: string, stateDir: string, paused: boolean): Promise<void> {
  await withLock(async () => {
    const record = lookup(id, stateDir);
    checkOperation(paused ? 'pause' : 'resume', id, record.status);
    const cgroup = cgroupOfConfig(containerConfig(record, stateDir), id);
    if (!cgroup) throw new OciError(`container "${id}" has no cgroup of its own to freeze (config.json has no linux.resources and no linux.cgroupsPath)`);
    try {
      await cgroup.setFrozen(paused);
    } catch (error) {
      throw new OciError(`container "${id}": ${paused ? 'pause' : 'resume'}: ${(error as Error).message}`, { cause: error });
    }
    writeRecord({ ...record, status: transition(record.status, paused ? 'paused' : 'running') }, stateDir);
  }, stateDir);
}

/**
 * `update`: new limits for a container that has processes — runc update, what `docker update` asks for.
 * `changes` is a linux.resources fragment: only what it names changes, checked as at create. Returns the
 * container's resources as they are now, and what this machine could not enforce. The bundle is the
 * engine's and stays as it is (runc keeps the new values in its own state); the cgroup holds them.
 */
export async function ociUpdate(id: string, stateDir: string, changes: Record<string, unknown>): Promise<{ resources: Record<string, unknown>; warnings: string[] }> {
  return withLock(() => {
    const record = lookup(id, stateDir);
    checkOperation('update', id, record.status);
    const config = containerConfig(record, stateDir);
    const cgroup = cgroupOfConfig(config, id);
    if (!cgroup) throw new OciError(`container "${id}" has no cgroup of its own to update (config.json has no linux.resources and no linux.cgroupsPath)`);
    const merged = mergeResources(config.linux?.resources ?? {}, changes);
    const resources = resourcesOf({ ...config, linux: { ...config.linux, resources: merged } }); // refused here as at create
    let warnings: string[];
    try {
      warnings = cgroup.update(resources);
    } catch (error) {
      throw new OciError(`container "${id}": update: ${(error as Error).message}`, { cause: error });
    }
    // Kept in the runtime's copy (runc: its state.json), so that the next update starts from these.
    writeJsonFile(path.join(containerDir(id, stateDir), 'config.json'), { ...config, linux: { ...config.linux, resources: merged } });
    return { resources: merged, warnings };
  }, stateDir);
}

/**
 * An update's blocks merged into the container's: only the fields it names change. A memory limit
 * raised past the memory+swap limit already set, with no new one, is refused in Docker's words: the
 * kernel counts swap inside that limit, so the old one would silently cap the new.
 */
function mergeResources(current: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> {
  if ('devices' in changes) throw new OciError('update: linux.resources.devices cannot be changed on a running container by this runtime');
  const merged: Record<string, unknown> = { ...current };
  for (const [block, value] of Object.entries(changes)) {
    const old = current[block];
    merged[block] = isObject(value) && isObject(old) ? { ...old, ...value } : value;
  }
  const before = (isObject(current.memory) ? current.memory : {}) as { swap?: number };
  const asked = (isObject(changes.memory) ? changes.memory : {}) as { limit?: number; swap?: number };
  if (asked.limit !== undefined && asked.swap === undefined && (before.swap ?? -1) > 0 && asked.limit > before.swap!) {
    throw new OciError('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  return merged;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The config a container was created from: the runtime's copy (see ociCreate), else — a container made
 * before there were copies — its bundle's config.json, read as it is (the rootfs may be gone).
 */
function containerConfig(record: ContainerRecord, stateDir: string): OciConfig {
  try {
    const copy = path.join(containerDir(record.id, stateDir), 'config.json');
    return existsSync(copy) ? (JSON.parse(readFileSync(copy, 'utf8')) as OciConfig) : readConfig(record.bundle, { check: false });
  } catch (error) {
    throw new OciError(`container "${record.id}": its config cannot be read`, { cause: error });
  }
}

/**
 * The host PIDs of a container's processes, its first one first (`runc ps`). Only a container with a PID
 * namespace of its own has a set of processes to tell apart: sharing the runtime's, it would be every
 * process of the machine.
 */
function containerProcesses(record: ContainerRecord): number[] {
  if (readlinkSync(`/proc/${record.pid}/ns/pid`) === readlinkSync('/proc/self/ns/pid')) {
    throw new OciError(`container "${record.id}" has no PID namespace of its own: its processes cannot be told from the host's`);
  }
  return processesInPidNamespaceOf(record.pid);
}

/**
 * `events --stats`: one look at the container's cgroup, in the shape `runc events --stats` prints
 * (what containerd turns into `docker stats`). Only a container with a cgroup of its own has any.
 */
export async function ociStats(id: string, stateDir: string) {
  return withLock(() => {
    const record = lookup(id, stateDir);
    checkOperation('events', id, record.status);
    const cgroup = cgroupOfConfig(containerConfig(record, stateDir), id);
    if (!cgroup) throw new OciError(`container "${id}" has no cgroup of its own (config.json has no linux.resources and no linux.cgroupsPath)`);
    const { memory, cpu, pids } = cgroup.stats();
    return {
      type: 'stats',
      id,
      data: {
        cpu: {
          usage: { total: cpu.usageUsec * 1000 }, // runc counts nanoseconds
          throttling: { periods: cpu.nrPeriods, throttledPeriods: cpu.nrThrottled, throttledTime: cpu.throttledUsec * 1000 },
        },
        memory: { usage: { usage: memory.current, max: memory.peak ?? 0, limit: memory.limit ?? 0 }, oomKills: memory.oomKills },
        pids: { current: pids.current, limit: pids.limit ?? 0 },
      },
    };
  }, stateDir);
}

/** `ps`: the PIDs of the container's processes, as the host numbers them. */
export async function ociPs(id: string, stateDir: string): Promise<number[]> {
  return withLock(() => {
    const record = lookup(id, stateDir);
    checkOperation('ps', id, record.status);
    return containerProcesses(record);
  }, stateDir);
}

export interface OciExecOptions {
  /** --process FILE: the whole process, as config.json's "process" is written. Otherwise the container's own, running `args`. */
  processFile?: string;
  /** The same, from a caller in this process (minidocker exec builds Docker's process itself). */
  process?: OciConfig['process'];
  args?: string[];
  /** --cwd, --env (added to the environment), --user UID[:GID], --additional-gids, --cap (added to every set), --no-new-privs. */
  cwd?: string;
  env?: string[];
  user?: { uid: number; gid: number };
  additionalGids?: number[];
  caps?: string[];
  noNewPrivileges?: boolean;
  /** --tty: a console for the process, as process.terminal asks. Its master goes to consoleSocket. */
  tty?: boolean;
  /** --console-socket: where the pty's master goes (an SCM_RIGHTS message), as runc exec sends it. */
  consoleSocket?: string;
  /** For a caller in this process: it attaches the console itself (container.console), no socket (minidocker exec -t). */
  attachConsole?: boolean;
  /**
   * --detach: the process outlives this command, handed off as `create` hands off init: the caller's
   * subreaper adopts it and sees its exit (conmon for `podman exec`).
   */
  detach?: boolean;
  /** --pid-file: the new process's PID, as the host numbers it. */
  pidFile?: string;
  /** --preserve-fds N, as for create. */
  preserveFds?: number;
  stdio?: CreateOptions['stdio'];
}

/**
 * `exec`: one more process in a created or running container — runc exec. It joins the container's
 * namespaces and its cgroup, and is given exactly the powers config.json's process (or --process)
 * gives: user, capabilities, no_new_privs, rlimits, and the container's seccomp filter (lesson 07's
 * execSteps). The process is the container's own unless --process names another one whole.
 */
export async function ociExec(id: string, stateDir: string, options: OciExecOptions): Promise<Container> {
  const { record, config } = await withLock(() => {
    const found = lookup(id, stateDir);
    checkOperation('oci exec', id, found.status);
    return { record: found, config: containerConfig(found, stateDir) };
  }, stateDir);
  const spec = execProcess(config.process, options);
  const terminal = Boolean(spec.terminal || options.tty);
  if (!options.attachConsole) checkConsole(terminal, options.consoleSocket);
  const execConfig = { ...config, process: spec };
  const steps = execSteps(execConfig); // a bad user or capability is refused here, before anything starts
  const cgroup = cgroupOfConfig(config, id);
  const devices = deviceCgroupOfConfig(config, id);
  const container = await execInContainer(record.pid, { args: spec.args, env: spec.env ?? [], cwd: spec.cwd }, {
    stdio: options.stdio ?? 'inherit',
    tty: terminal,
    dieWithRuntime: !options.detach,
    ...(options.detach ? { startSocket: execStartSocket(id, stateDir) } : {}),
    preserveFds: preservedDescriptors(options.preserveFds),
    steps,
    // Into the container's cgroup before the command runs: its limits cover what exec starts too.
    beforeStart: (started) => {
      cgroup?.joinConfig().procs.forEach((file) => writeCgroupFile(file, started.pid));
      if (devices) joinDeviceCgroup(devices, started.pid); // cgroup v1: the devices hierarchy is a tree of its own
    },
  });
  if (options.consoleSocket && container.console) {
    // The engine's copy of the master keeps the terminal; this runtime keeps none (runc exec --console-socket).
    try {
      linuxSyscalls().sendFileDescriptor(options.consoleSocket, container.console.masterFd, '/dev/ptmx');
    } catch (error) {
      await container.destroy();
      throw new OciError(`--console-socket ${options.consoleSocket}: the pty cannot be sent`, { cause: error });
    } finally {
      container.console.close();
    }
  }
  if (options.pidFile) writeFileSync(options.pidFile, String(container.pid));
  return container;
}

/** A fresh start socket for a detached exec, in the container's state folder (removed once started). */
function execStartSocket(id: string, stateDir: string): string {
  return path.join(containerDir(id, stateDir), `exec-${randomBytes(4).toString('hex')}.sock`);
}

/** The process to exec: --process FILE whole, or the container's own running other args; then the flags on top (runc's getProcess). */
function execProcess(own: OciConfig['process'], options: OciExecOptions): OciConfig['process'] {
  let spec: OciConfig['process'];
  if (options.process) spec = options.process;
  else if (options.processFile) {
    if (options.args?.length) throw new OciError('exec: give the command either in --process or after the container id, not both');
    const read = readJsonFile(options.processFile, checkProcess);
    if (!read) throw new OciError(`exec: --process ${options.processFile}: no such file`);
    spec = read;
  } else {
    if (!options.args?.length) throw new OciError('exec: no command: give it after the container id, or in --process FILE');
    spec = { ...own, args: options.args, terminal: false };
  }
  if (options.cwd !== undefined) spec = { ...spec, cwd: options.cwd };
  if (!spec.cwd?.startsWith('/')) throw new OciError(`exec: the working directory "${spec.cwd ?? ''}" must be an absolute path`);
  if (options.env?.length) spec = { ...spec, env: [...(spec.env ?? []), ...options.env] };
  if (options.user || options.additionalGids) {
    const user = { ...(spec.user ?? { uid: 0, gid: 0 }), ...options.user, ...(options.additionalGids ? { additionalGids: options.additionalGids } : {}) };
    spec = { ...spec, user };
  }
  if (options.caps?.length) {
    const add = (set: string[] | undefined) => [...new Set([...(set ?? []), ...options.caps!])];
    const caps = spec.capabilities ?? {};
    spec = { ...spec, capabilities: { ...caps, bounding: add(caps.bounding), effective: add(caps.effective), permitted: add(caps.permitted) } };
  }
  if (options.noNewPrivileges) spec = { ...spec, noNewPrivileges: true };
  return spec;
}

/** process.json as `runc exec --process` reads it: args and cwd at least. */
function checkProcess(value: unknown): OciConfig['process'] {
  const spec = value as Partial<OciConfig['process']> | null;
  if (typeof spec !== 'object' || spec === null) throw new Error('not a JSON object');
  if (!Array.isArray(spec.args) || !spec.args.length || !spec.args.every((arg) => typeof arg === 'string')) throw new Error('args must be a list of strings, not empty');
  if (typeof spec.cwd !== 'string') throw new Error('cwd is missing');
  if (spec.env !== undefined && !(Array.isArray(spec.env) && spec.env.every((entry) => typeof entry === 'string'))) throw new Error('env must be a list of strings');
  return spec as OciConfig['process'];
}

/** Waits until a process is gone (it may need a moment to be reaped). */
async function gone(identity: string, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processIsAlive(identity)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * `delete`: forget a stopped container (runtime.md). --force kills it first, as `runc delete -f` does.
 * Its mounts were in its own mount namespace and went with it; what the features made on the host (its
 * cgroup, its network) is released from the bundle's config.json; then the state folder goes.
 */
export async function ociDelete(id: string, options: { force?: boolean; stateDir?: string } = {}): Promise<void> {
  const stateDir = options.stateDir ?? labStateDir();
  await withLock(async () => {
    // runc delete --force: a container that does not exist is already what was asked for (an engine
    // cleans up this way after a failed create), though a folder a killed create left still goes.
    if (options.force && !readRecord(id, stateDir)) {
      rmSync(containerDir(id, stateDir), { recursive: true, force: true });
      return;
    }
    const record = lookup(id, stateDir);
    checkOperation(options.force ? 'delete --force' : 'delete', id, record.status);
    if (record.status !== 'stopped') {
      try {
        process.kill(record.pid, 'SIGKILL');
      } catch {
        // ended in between
      }
      await thawIfPaused(record, stateDir);
      if (!(await gone(record.pidIdentity))) throw new OciError(`container "${id}" did not die`);
    }
    // The shim leaves by itself once init is gone; wait for it so that nothing of the container remains
    // (none to wait for when handed off, nor when the monitor is this very process: created direct).
    if (record.monitorPid && record.monitorPid !== process.pid) await gone(record.monitorIdentity, 5000);
    await releaseContainer(record, stateDir);
    runLateHooks({ ...record, status: 'stopped' }, 'poststop', stateDir); // before the runtime's copy of the config goes
    rmSync(containerDir(id, stateDir), { recursive: true, force: true });
  }, stateDir);
}

/**
 * poststart and poststop: the operation has happened, so a hook that fails is a warning, and the hooks
 * after it still run (runtime.md "Lifecycle", steps 10 and 13).
 */
function runLateHooks(record: ContainerRecord, kind: 'poststart' | 'poststop', stateDir: string): void {
  let config;
  try {
    config = containerConfig(record, stateDir);
  } catch {
    return; // nothing says which hooks there were
  }
  runHooks(config, kind, specState(record), (error) => process.stderr.write(`WARNING: ${error.message}\n`));
}

/**
 * Gives back what the features made on the host for a container that has stopped: its cgroup, its
 * address and port rules (runc's delete, and what dockerd does as a container exits). Safe to repeat.
 * Read from the runtime's copy of the config, so an edited or removed bundle changes nothing.
 */
export async function releaseContainer(record: ContainerRecord, stateDir: string): Promise<void> {
  let config;
  try {
    config = containerConfig(record, stateDir);
  } catch {
    return;
  }
  await releaseFeatures(config, registry, hostContext(record.id, record.bundle, stateDir));
}
