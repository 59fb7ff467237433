/**
 * The host side of starting a container: what `docker run` (through containerd and runc) does before
 * your command runs, reduced to its core. The runtime never enters a namespace itself; it starts the
 * monitor, which starts init (see monitor.ts and init.ts), and talks to them over a pipe.
 *
 *   const container = await createContainer(plan);   // namespaces made, command not yet running
 *   // ... attach cgroups, wire the network: container.pid is known now ...
 *   await container.start();                          // init execs the command
 *   const { exitCode } = await container.wait();
 *
 * With a terminal (`docker run -it`), a console is opened between the two and named in the start
 * message: container.start({ console: container.openConsole().slavePath }). See console.ts.
 */
import { spawn, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';
import { closeSync, openSync, readlinkSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { initBundle, type BundleTarget } from '../build/bundle.js';
import { openConsole as openConsoleFor, type Console } from './console.js';
import { NAMESPACE_KINDS, enterPidNamespace, initCommand, initIsAdopted, joinAll, needsPidNamespace, userNamespaceOf } from './namespaces.js';
import type { FeatureRegistry } from './features.js';
import { CLONE_NEWPID, formatErrorLine, linuxSyscalls } from '../sys/index.js';
import { becomeSubreaper, endOf, Orphan } from '../sys/reaper.js';
import { jsonLine, onJsonLines } from '../sys/json.js';
import { shortSocketPath } from '../sys/socket-path.js';
import { CONTROL_FD, type FromInit, type ToInit } from './protocol.js';
import { makePlan, type ContainerPlan, type NamespaceKind, type ProcessSpec, type StepCall } from './plan.js';

/** How a container ended. exitCode is what Docker reports: the code, or 128+N when killed by signal N. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  exitCode: number;
}

/** A container that could not be created or started, with Docker's exit code (125, 126 or 127). */
export class ContainerError extends Error {
  override name = 'ContainerError';
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export interface CreateOptions {
  /** The command's stdin, stdout, stderr, as for child_process.spawn. Default: inherit. */
  stdio?: 'inherit' | 'pipe' | 'ignore' | [StdioTarget, StdioTarget, StdioTarget];
  /** Kill the container when this process dies (default true). Detached containers say false. */
  dieWithRuntime?: boolean;
  /** Run the student's lesson code instead of the reference. */
  bundle?: BundleTarget;
  /**
   * Keep the command in the terminal's foreground process group, so an interactive shell can read
   * the terminal and Ctrl-C reaches the command. Otherwise the container gets a process group of its
   * own and terminal signals reach only the runtime, which decides what to do (default).
   */
  foreground?: boolean;
  /**
   * Make the monitor the container's long-lived shim, with its socket and exit record in this folder
   * (see MonitorOptions.shimDir): how the OCI runtime's `create` hands the container to a later `start`.
   */
  shimDir?: string;
  /**
   * Hand the container off (protocol.ts): the monitor leaves once init is ready, so the caller's
   * subreaper adopts init and sees the command's exit; start() then connects to init at this unix
   * socket path. runc's `create` for containerd and conmon. wait() cannot tell the exit then.
   */
  startSocket?: string;
  /**
   * Descriptors of this process the command gets as 3, 4 ... — runc's --preserve-fds, which engines use
   * for sockets they opened (systemd socket activation). Everything else from 3 up is closed at exec.
   */
  preserveFds?: number[];
  /**
   * Start init as this process's own child, with no monitor between them — one Node process fewer on
   * the way to the command, the shape of `runc run`. This process then does the monitor's part itself:
   * it enters the PID namespace for its next child only (with `registry`'s creator, as the monitor
   * would), starts init, steps back, and waits for the command. So it must stay until the command ends:
   * not with shimDir, startSocket or dieWithRuntime false.
   */
  direct?: { registry: FeatureRegistry };
  /**
   * An init started ahead of its plan (startInitEarly), used instead of starting one when the plan's
   * PID namespace is the one it was started in; otherwise it is ended and a new one starts. Direct only.
   */
  early?: EarlyInit;
  /**
   * For init in a user namespace, which may not move itself where the host's root decides (its cgroup):
   * called with init's host PID after it has started and before any of its steps runs.
   */
  attach?: (pid: number) => void | Promise<void>;
}

/** An init that waits for a plan: see startInitEarly. */
export class EarlyInit {
  private taken = false;

  constructor(
    readonly process: ChildProcess,
    /** Started in a new PID namespace (it will be PID 1 there), or in ours. */
    readonly newPidNamespace: boolean,
  ) {}

  /** Ends it, unless a container took it: for a caller that gives up before. */
  discard(): void {
    if (!this.taken) this.process.kill('SIGKILL');
  }

  /** For createContainer: the process, now the container's init, if it suits the plan; else it is ended. */
  takeFor(plan: ContainerPlan): ChildProcess | undefined {
    const suits = !plan.join.some((entry) => entry.kind === 'pid' || entry.kind === 'user') && plan.namespaces.includes('pid') === this.newPidNamespace;
    if (!suits) {
      this.discard();
      return undefined;
    }
    this.taken = true;
    return this.process;
  }
}

export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? osConstants.signals[signal] : 0);
}

export class Container {
  private readonly exited: Promise<ExitStatus>;
  private readonly started: Promise<void>;
  private startRequested = false;
  private terminal: Console | undefined;

  constructor(
    readonly plan: ContainerPlan,
    /** The container's first process as the host sees it: init now, the command after start(). */
    readonly pid: number,
    private readonly monitor: ChildProcess,
    events: ContainerEvents,
    /** Handed off: where init waits for "start" (CreateOptions.startSocket). */
    readonly startSocket?: string,
  ) {
    this.started = events.started;
    this.exited = events.exited;
  }

  get monitorPid(): number {
    return this.monitor.pid!;
  }
  get stdin(): Writable | null {
    return this.monitor.stdin;
  }
  get stdout(): Readable | null {
    return this.monitor.stdout;
  }
  get stderr(): Readable | null {
    return this.monitor.stderr;
  }

  /**
   * Lets init exec the command. Resolves once it runs; rejects with 126/127 when it cannot.
   * `console`: the pty slave ("/dev/pts/N", see console.ts) that becomes the command's terminal.
   */
  start(options: { console?: string } = {}): Promise<void> {
    if (!this.startRequested) {
      this.startRequested = true;
      if (this.startSocket) return requestStart(this.startSocket, options.console);
      send(this.monitor, { type: 'start', console: options.console });
    }
    return this.started;
  }

  /**
   * A terminal for the command, made in the container's own devpts (console.ts: openConsole); pass its
   * slavePath to start(). Opened once: later calls return the same console. destroy() closes it.
   */
  openConsole(): Console {
    this.terminal ??= openConsoleFor(this.pid);
    return this.terminal;
  }

  /** The console openConsole() made, if any. */
  get console(): Console | undefined {
    return this.terminal;
  }

  /**
   * Resolves when the command has ended (the container's PID 1, once there is a PID namespace). A
   * handed-off container's exit is its adopter's to see: wait() rejects.
   */
  wait(): Promise<ExitStatus> {
    if (this.startSocket) return Promise.reject(new ContainerError('the container was handed off: its exit is seen by the process that adopted it (a subreaper), not by the runtime', 125));
    return this.exited;
  }

  /** Sends a signal to the container's process, as `docker kill` does. */
  kill(signal: NodeJS.Signals | number = 'SIGKILL'): boolean {
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false; // already gone
    }
  }

  /**
   * Passes the signals this process receives on to the container, as `docker run` does by default
   * (--sig-proxy): Ctrl-C in the terminal reaches the runtime, and the runtime hands it to the command.
   * Returns the function that stops forwarding.
   */
  forwardSignals(signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']): () => void {
    const forward = (signal: NodeJS.Signals) => this.kill(signal);
    for (const signal of signals) process.on(signal, forward);
    const stop = () => {
      for (const signal of signals) process.off(signal, forward);
    };
    this.exited.then(stop, stop);
    return stop;
  }

  /**
   * Lets this process exit while the container lives on: forget the monitor and close our end of
   * the control pipe. Only for a shim (CreateOptions.shimDir), which expects to be left alone.
   */
  release(): void {
    this.monitor.unref();
    for (const stream of this.monitor.stdio) (stream as { destroy?: () => void } | null)?.destroy?.();
  }

  /** Kills the container if it still runs, waits until the monitor is gone, closes the console. */
  async destroy(): Promise<ExitStatus | null> {
    this.kill('SIGKILL');
    if (this.monitor.exitCode === null && this.monitor.signalCode === null) this.monitor.kill('SIGKILL');
    const status = await this.exited.catch(() => null); // handed off: resolves once the monitor has gone
    if (this.startSocket) rmSync(this.startSocket, { force: true });
    this.terminal?.close();
    return status;
  }
}

/** One of the command's standard streams: a spawn stdio value ('pipe', 'inherit', a file descriptor ...). */
export type StdioTarget = Exclude<StdioOptions, string>[number];

interface ContainerEvents {
  started: Promise<void>;
  exited: Promise<ExitStatus>;
}

function send(monitor: ChildProcess, message: ToInit): void {
  (monitor.stdio[CONTROL_FD] as Writable | null)?.write(jsonLine(message));
}

/**
 * "start" for a handed-off init, from any process: connect to its start socket and send the message.
 * Init answers `error`, or closes the connection without a word once the command runs (its end is
 * closed on exec). The socket file goes either way: init bound it, but cannot reach the host's path now.
 */
export function requestStart(socketPath: string, console?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const address = shortSocketPath(socketPath);
    const socket = createConnection(address.path);
    socket.once('connect', address.release).once('error', address.release);
    let error: ContainerError | undefined;
    const settle = (failure?: ContainerError) => {
      rmSync(socketPath, { force: true });
      if (failure) reject(failure);
      else resolve();
    };
    socket.on('connect', () => socket.write(jsonLine({ type: 'start', console } satisfies ToInit)));
    onJsonLines<FromInit>(socket, (message) => {
      if (message.type === 'error') error = new ContainerError(message.message, message.exitCode);
    });
    socket.on('error', (cause) => settle(new ContainerError(`cannot reach the container's init at ${socketPath}: ${cause.message}`, 125)));
    socket.on('close', (hadError) => {
      if (!hadError) settle(error);
    });
  });
}

/**
 * The environment the monitor and init start with: ours, less NODE_EXTRA_CA_CERTS. Node reads and parses
 * that whole certificate bundle as it starts (about 50 ms of CPU each time), and neither of them ever
 * opens a TLS connection. The command gets none of this either way: its environment is config.json's
 * process.env, handed to execve.
 */
function startupEnvironment(): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _unused, ...env } = process.env;
  return env;
}

/**
 * Starts a child (`start` spawns it) inside the plan's PID namespace, then steps back: after
 * unshare(CLONE_NEWPID) or setns into the container's, every child of this thread would go there, so the
 * thread's "PID namespace for children" is set back to its own right after the spawn. Node forks
 * children on this (the main) thread, synchronously, so nothing else can be spawned in between.
 */
function spawnInPidNamespace(plan: Pick<ContainerPlan, 'namespaces' | 'join'>, registry: FeatureRegistry, start: () => ChildProcess): ChildProcess {
  if (!needsPidNamespace(plan)) return start();
  const sys = linuxSyscalls();
  const own = openSync('/proc/self/ns/pid', 'r');
  try {
    try {
      enterPidNamespace(sys, plan, registry);
      return start();
    } finally {
      sys.setns(own, CLONE_NEWPID); // also when a creator failed half-way: our own again, whatever it did
    }
  } finally {
    closeSync(own);
  }
}

/**
 * Starts init before its plan is known, for a direct start (CreateOptions.direct): Node's own start
 * (~0.1 s, before init can do anything) then overlaps the caller's work — the image, the layer, the
 * config, the features' prepare — instead of following it. init waits for its plan on the control pipe
 * whatever happens meanwhile (and dies with us: it sets PR_SET_PDEATHSIG first). `stdio` and the
 * PID namespace are decided now: createContainer uses it only for a plan that agrees, and for stdio
 * it trusts the caller to ask for the same as it will then.
 */
export async function startInitEarly(options: Pick<CreateOptions, 'stdio' | 'bundle' | 'foreground' | 'preserveFds'> & { direct: { registry: FeatureRegistry }; newPidNamespace: boolean }): Promise<EarlyInit> {
  const entry = await initBundle(options.bundle);
  const plan: Pick<ContainerPlan, 'namespaces' | 'join'> = { namespaces: options.newPidNamespace ? ['pid'] : [], join: [] };
  const child = spawnInPidNamespace(plan, options.direct.registry, () => spawn(process.execPath, [entry, 'init'], initSpawnOptions(options)));
  return new EarlyInit(child, options.newPidNamespace);
}

/** How init (or the monitor) is spawned: the command's stdio, then the control pipe, then the preserved descriptors. */
function initSpawnOptions(options: Pick<CreateOptions, 'stdio' | 'foreground' | 'preserveFds'>): SpawnOptions {
  const stdio = options.stdio ?? 'inherit';
  const standard: StdioTarget[] = typeof stdio === 'string' ? [stdio, stdio, stdio] : stdio;
  return { stdio: [...standard, 'pipe', ...(options.preserveFds ?? [])], detached: !options.foreground, env: startupEnvironment() };
}

/**
 * Starts the process that sets the container up: init itself (direct), or the monitor, which starts it.
 * Direct, init is our child (or, in a user namespace, an orphan we adopt: namespaces.ts initIsAdopted):
 * its "ready" names its PID inside and outside; its pipe's end without an error means it execed; its
 * exit is the command's. The monitor's reports, made here instead.
 */
async function spawnMonitorOrInit(plan: ContainerPlan, options: CreateOptions, spawnOptions: SpawnOptions): Promise<ChildProcess> {
  if (options.direct) {
    // An early init runs the bundle already (startInitEarly found it fresh): no second look at it.
    const early = options.early?.takeFor(plan);
    if (early) return early;
    const stdio = spawnOptions.stdio as StdioTarget[];
    const command = initCommand(plan, await initBundle(options.bundle), stdio.length);
    try {
      const env = { ...spawnOptions.env, ...command.env };
      return spawnInPidNamespace(plan, options.direct.registry, () => spawn(command.file, command.args, { ...spawnOptions, env, stdio: [...stdio, ...command.fds] }));
    } finally {
      for (const fd of command.fds) closeSync(fd); // the child has them now
    }
  }
  options.early?.discard();
  const entry = await initBundle(options.bundle);
  const dieFlag = options.dieWithRuntime === false ? [] : ['--die-with-parent'];
  if (options.shimDir) dieFlag.push('--shim', options.shimDir);
  return spawn(process.execPath, [entry, 'monitor', ...dieFlag], spawnOptions);
}

/**
 * Creates a container: its namespaces exist and its setup steps have run, but the command waits for
 * start(). Rejects with a ContainerError when init could not set the container up.
 */
export async function createContainer(plan: ContainerPlan, options: CreateOptions = {}): Promise<Container> {
  const direct = options.direct;
  if (direct && (options.shimDir || options.startSocket || options.dieWithRuntime === false)) {
    throw new Error('createContainer: direct needs a runtime that stays until the command ends (no shimDir, startSocket or dieWithRuntime false)');
  }
  const userNamespace = userNamespaceOf(plan) !== undefined;
  // Handed off in a user namespace, init could not bind its start socket in the host's folders (they
  // belong to the host's root, it is no one there): we bind it and hand it down (runc chowns its exec.fifo).
  const startListenerFd = userNamespace && options.startSocket ? linuxSyscalls().listenUnix(options.startSocket) : undefined;
  const preserveFds = [...(options.preserveFds ?? []), ...(startListenerFd !== undefined ? [startListenerFd] : [])];
  const spawnOptions = initSpawnOptions({ ...options, preserveFds });
  // Direct, a new PID namespace in a user namespace: init's helper forks it and leaves; we adopt it.
  const adopted = new Orphan(Boolean(direct) && initIsAdopted(plan));
  if (adopted.expected) becomeSubreaper(linuxSyscalls());
  let monitor: ChildProcess;
  try {
    monitor = await spawnMonitorOrInit(plan, options, spawnOptions);
  } finally {
    if (startListenerFd !== undefined) closeSync(startListenerFd); // the children have it now
  }
  const control = monitor.stdio[CONTROL_FD] as Readable;

  let setReady!: (pid: number) => void;
  let fail!: (error: ContainerError) => void;
  let setStarted!: () => void;
  let failStart!: (error: ContainerError) => void;
  let setExited!: (status: ExitStatus) => void;
  const ready = new Promise<number>((resolve, reject) => ((setReady = resolve), (fail = reject)));
  const started = new Promise<void>((resolve, reject) => ((setStarted = resolve), (failStart = reject)));
  const exited = new Promise<ExitStatus>((resolve) => (setExited = resolve));
  started.catch(() => {}); // observed later by start(); a failure before then must not crash the runtime
  let lastError: ContainerError | undefined;
  let reported: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let readySeen = false;

  onJsonLines<FromInit>(control, (message) => {
    switch (message.type) {
      case 'ready':
        readySeen = true;
        return setReady(direct ? message.hostPid : message.pid);
      case 'spawned':
        adopted.found(message.pid);
        // Put where init may not go itself (its cgroup), then let it go on; a failure ends it.
        return void Promise.resolve(options.attach?.(message.pid)).then(
          () => send(monitor, { type: 'attached' }),
          (error: Error) => {
            lastError = new ContainerError(formatErrorLine(error), 125);
            fail(lastError);
            failStart(lastError);
            monitor.kill('SIGKILL');
            try {
              process.kill(message.pid, 'SIGKILL'); // init itself, which may not be the monitor's child
            } catch {
              // gone already
            }
          },
        );
      case 'started':
        return setStarted();
      case 'error':
        lastError = new ContainerError(message.message, message.exitCode);
        fail(lastError);
        failStart(lastError);
        return;
      case 'exit':
        reported = { code: message.code, signal: message.signal as NodeJS.Signals | null };
        return;
    }
  });
  control.on('error', () => {});
  // Direct: init's end of the pipe is closed on exec, so its end after "ready" without an error means
  // the command runs. Before "ready" it means init died (a signal, a crash), not that it execed.
  if (direct) control.on('end', () => readySeen && !lastError && setStarted());
  control.on('end', () => adopted.none()); // no "spawned" by then: there is no init to adopt
  // endOf waits for the monitor's 'close', after it has exited AND its output pipes are drained, so
  // whoever awaits wait() has all of the command's output by then (and for an adopted init, its end).
  void endOf(linuxSyscalls(), monitor, adopted).then(({ code, signal }) => {
    if (direct && readySeen && !lastError) reported = { code, signal }; // init became the command: its end is the command's
    if (readySeen && reported) return setExited({ ...reported, exitCode: exitCodeOf(reported.code, reported.signal) });
    // Nothing ran, or nobody saw it end. Without this every waiter — `ready` above all — would wait forever.
    const ended = reported ?? { code, signal };
    const how = ended.signal ? `killed by ${ended.signal}` : `exit code ${ended.code}`;
    const initEnded = !readySeen && (direct || reported !== undefined); // else the monitor itself ended
    const error = lastError ?? new ContainerError(initEnded ? `init ended before the container was ready (${how})` : `container monitor ended unexpectedly (${how})`, 125);
    fail(error);
    failStart(error);
    // Without an "exit" report the command's status is unknown; say how the monitor ended instead.
    setExited({ code: lastError ? lastError.exitCode : code, signal: lastError ? null : signal, exitCode: lastError?.exitCode ?? exitCodeOf(code, signal) });
  });

  send(monitor, {
    type: 'plan',
    plan,
    ...(startListenerFd !== undefined ? { startListenerFd: CONTROL_FD + 1 + (options.preserveFds?.length ?? 0) } : { startSocket: options.startSocket }),
    handOff: Boolean(options.startSocket),
    attach: userNamespace || initIsAdopted(plan), // init says "spawned" with its host PID: to be attached, or adopted
    ...(adopted.expected ? { adopter: process.pid } : {}),
    preservedFds: options.preserveFds?.length,
  });
  let pid: number;
  try {
    pid = await ready;
  } catch (error) {
    // Not before the monitor is gone: as it ends it still writes its exit record into the shim folder,
    // which the caller is about to remove. It ends right after init's error; a hung one is ended here.
    const hung = setTimeout(() => {
      monitor.kill('SIGKILL');
      adopted.kill();
    }, 5000);
    await exited;
    clearTimeout(hung);
    throw error;
  }
  return new Container(plan, pid, monitor, { started, exited }, options.startSocket);
}

export interface StartOptions extends CreateOptions {
  /**
   * Runs between create and start, with the container's host PID known and its command not yet
   * running: where cgroups and the network are attached (`docker exec` puts the new process into the
   * container's cgroup here).
   */
  beforeStart?: (container: Container) => void | Promise<void>;
  /**
   * Give the command a terminal (`docker run -t`, `docker exec -t`): a console is opened after
   * beforeStart and named in the start message. Find it as container.console, attach it (console.ts:
   * attachTerminal). The stdio options then reach only the monitor, and init until it takes the console.
   */
  tty?: boolean;
}

/** create + start: the container runs its command now. */
export async function startContainer(plan: ContainerPlan, options: StartOptions = {}): Promise<Container> {
  const { beforeStart, tty, ...createOptions } = options;
  const container = await createContainer(plan, createOptions);
  try {
    await beforeStart?.(container);
    await container.start({ console: tty ? container.openConsole().slavePath : undefined });
  } catch (error) {
    await container.destroy();
    throw error;
  }
  return container;
}

/** The namespace kinds in which `pid` differs from this process: the ones `exec` has to join. */
export function namespacesOf(pid: number): NamespaceKind[] {
  return NAMESPACE_KINDS.filter((kind) => readlinkSync(`/proc/${pid}/ns/${kind}`) !== readlinkSync(`/proc/self/ns/${kind}`));
}

/**
 * Runs a command inside a running container, like `docker exec` or `nsenter --target PID --all`:
 * a new process joins every namespace the container's process has, then execs.
 */
export async function execInContainer(
  pid: number,
  process_: Partial<ProcessSpec> & { args: string[] },
  options: StartOptions & ExecOptions = {},
): Promise<Container> {
  const { intoRoot = true, steps = [], ...startOptions } = options;
  const kinds = namespacesOf(pid);
  // nsenter --all --root: also the container's root directory, wherever its mount namespace's top is.
  const root = intoRoot && kinds.includes('mnt') ? `/proc/${pid}/root` : undefined;
  const plan = makePlan({ id: `exec-${pid}-${Date.now()}`, join: joinAll(pid, kinds), root, steps, process: process_ });
  return startContainer(plan, startOptions);
}

export interface ExecOptions {
  /**
   * Take the container's root directory too (default). Without it the process stays at its mount
   * namespace's root mount: a lesson uses that to show what a chroot()ed container's namespace holds.
   */
  intoRoot?: boolean;
  /**
   * Setup steps to run once inside, before exec: what the container's own process had to give up
   * (docker exec applies the container's capabilities and seccomp filter to the new process too).
   */
  steps?: StepCall[];
}

/** Runs a command in a container's namespaces and collects its output, e.g. `hostname` as the container sees it. */
export async function captureInContainer(pid: number, args: string[], bundle?: BundleTarget, options: ExecOptions = {}): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const container = await execInContainer(pid, { args }, { stdio: ['ignore', 'pipe', 'pipe'], bundle, ...options });
  let stdout = '';
  let stderr = '';
  container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  container.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const { exitCode } = await container.wait();
  return { stdout, stderr, exitCode };
}
