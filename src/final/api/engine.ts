/**
 * What the service keeps between requests — the little a daemon adds to minidocker's files: the streams
 * of the containers it holds (streams.ts), the exec instances it made (exec.ts), the event stream, and a
 * watcher for each container it started, which does what dockerd does when a container exits (the "die"
 * event, AutoRemove, releasing its network and cgroup). Everything else is read from the state folder
 * on every request, as the CLI reads it, so `minidocker` and the service see the same containers.
 */
import { openSync, closeSync } from 'node:fs';
import type { Container } from '../../container/runtime.js';
import { createFromImage, findContainer, keepLayerOfExited, readInfo, recreateStopped, releaseResources, removeById, runtimeState, type ContainerInfo, type RunOptions } from '../docker.js';
import { EventBus } from './events.js';
import { HeldStreams } from './streams.js';
import { ApiError } from './http.js';
import type { Console } from '../../container/console.js';

const POLL_MS = 100;

/** An exec instance (POST /containers/{id}/exec), run by exec.ts. */
export interface ExecInstance {
  id: string;
  containerId: string;
  args: string[];
  env: string[];
  workdir?: string;
  user?: string;
  tty: boolean;
  attach: { stdin: boolean; stdout: boolean; stderr: boolean };
  running: boolean;
  exitCode: number | null;
  /** When it ended (Date.now()): finished instances are forgotten after a while, see forgetOldExecs. */
  finishedAt?: number;
  pid: number;
  container?: Container;
  pty?: Console;
}


export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Engine {
  readonly events = new EventBus();
  /** Containers whose stdio the service holds, by ID. */
  readonly held = new Map<string, { container: Container; streams: HeldStreams }>();
  readonly execs = new Map<string, ExecInstance>();
  /** How each container the service watched ended, kept after an AutoRemove removed it: `wait?condition=removed` answers with it. */
  private readonly exitCodes = new Map<string, number>();
  /** The watcher of each container the service started, until it has done its work. */
  private readonly watchers = new Map<string, Promise<void>>();
  /** Clients waiting for an exited container to be started again (attach before `docker start -a`'s start). */
  private readonly startWaiters = new Map<string, Set<() => void>>();
  /** Containers between the stop and the start of a restart. */
  readonly restarting = new Set<string>();

  constructor(readonly stateDir: string) {}

  /** POST /containers/create: `minidocker run`'s create, with the streams kept here when the client wants them. */
  async create(options: RunOptions, holdStreams: boolean, consoleSize?: [number, number]): Promise<ContainerInfo> {
    const { info, container } = await createFromImage({ ...options, detach: !holdStreams, heldStreams: holdStreams }, this.stateDir);
    if (holdStreams && container) {
      try {
        // A terminal is opened before start, as `minidocker run -t` does: init makes its slave the command's stdio.
        const pty = options.tty ? container.openConsole() : undefined;
        // HostConfig.ConsoleSize (API 1.42): the client's window, so the command sees it from its first instruction.
        if (pty && consoleSize?.[0] && consoleSize[1]) pty.resize(consoleSize[0], consoleSize[1]);
        closeSync(openSync(info.logPath!, 'a')); // `docker logs` before any output: an empty log, not "no log"
        this.held.set(info.id, { container, streams: new HeldStreams(container, info.logPath!, pty) });
      } catch (error) {
        await container.destroy(); // a create that cannot be attached leaves nothing, as a failed create
        await removeById(info.id, true, this.stateDir).catch(() => {});
        throw error;
      }
    } else {
      container?.release(); // its shim keeps it (conmon, or the lab's monitor), as after `minidocker run -d`
    }
    this.events.containerEvent('create', info);
    return info;
  }

  consolePathOf(id: string): string | undefined {
    return this.held.get(id)?.streams.pty?.slavePath;
  }

  isWatched(id: string): boolean {
    return this.watchers.has(id);
  }

  /** Resolves when the watcher of a container that has ended has done its work (die, release or AutoRemove). */
  async settled(id: string): Promise<void> {
    await this.watchers.get(id);
  }

  /**
   * After start: wait for the container to end, then what dockerd does — "die", and AutoRemove or the
   * release of its address, port rules and cgroup (the CLI's foreground `run` does the same itself).
   */
  watch(info: ContainerInfo): void {
    if (this.watchers.has(info.id)) return;
    const watcher = (async () => {
      const held = this.held.get(info.id);
      let exitCode: number;
      if (held) {
        exitCode = (await held.container.wait()).exitCode;
        await held.streams.done;
      } else {
        exitCode = await this.pollExit(info.id);
      }
      this.exitCodes.set(info.id, exitCode);
      this.events.containerEvent('die', info, { exitCode: String(exitCode) });
      try {
        // A restart's stop is no exit to remove an AutoRemove container for (Docker keeps it too).
        if (info.autoRemove && !this.restarting.has(info.id) && readInfo(info.id, this.stateDir)) await this.remove(info, true, true);
        else {
          await releaseResources(info, this.stateDir);
          keepLayerOfExited(info); // for a later start or restart, as Docker keeps it
        }
      } catch (error) {
        process.stderr.write(`WARNING: container ${info.name} ended: ${(error as Error).message}\n`);
      }
      if (held && this.held.get(info.id) === held) this.held.delete(info.id);
    })()
      .catch((error) => void process.stderr.write(`WARNING: watching container ${info.name}: ${(error as Error).message}\n`))
      .finally(() => this.watchers.delete(info.id));
    this.watchers.set(info.id, watcher);
  }

  /**
   * `docker start` of an exited container (and restart): the same bundle created again (docker.ts
   * recreateStopped) and started, its streams held as they were at create.
   */
  async startAgain(info: ContainerInfo): Promise<void> {
    await this.watchers.get(info.id); // the last run's die, release and streams first
    if (!info.logPath) throw new ApiError(501, `container ${info.name} was run in the foreground by minidocker: it has no log to run into again`);
    const hold = !info.detached;
    const container = await recreateStopped(info, this.stateDir, { holdStreams: hold, interactive: info.openStdin });
    if (hold && container) {
      const pty = info.tty ? container.openConsole() : undefined;
      this.held.set(info.id, { container, streams: new HeldStreams(container, info.logPath, pty) });
    } else {
      container?.release();
    }
    for (const wake of this.startWaiters.get(info.id) ?? []) wake();
    this.startWaiters.delete(info.id);
  }

  /** Resolves true when the container is started again (its new streams are in place), false if `gone` comes first. */
  nextStart(id: string, gone: Promise<void>): Promise<boolean> {
    return new Promise((resolve) => {
      const waiters = this.startWaiters.get(id) ?? new Set();
      const wake = () => resolve(true);
      waiters.add(wake);
      this.startWaiters.set(id, waiters);
      void gone.then(() => {
        waiters.delete(wake);
        resolve(false);
      });
    });
  }

  /** The exit code of a container that is not ours to wait() for, once the runtime says it stopped. */
  private async pollExit(id: string): Promise<number> {
    for (;;) {
      const state = await runtimeState(id, this.stateDir).catch(() => null);
      if (!state) return this.exitCodes.get(id) ?? 137; // removed under us (docker rm -f)
      if (state.status === 'stopped') return state.exitCode ?? 137;
      await sleep(POLL_MS);
    }
  }

  /**
   * POST /containers/{id}/wait (moby's wait conditions): not-running, the default, ends at once unless
   * the container runs; next-exit ends at its next exit — a run still to come, as `docker run` and
   * `docker start -a` wait before they start; an exited container's last exit does not count (a new
   * run is a new runtime record: its created time differs); removed ends when it is gone.
   * `gone` stops the wait when the client leaves.
   */
  async waitFor(id: string, condition: string, gone: () => boolean): Promise<number> {
    let last: number | undefined;
    let previousRun: string | undefined;
    for (let first = true; ; first = false) {
      if (gone()) return -1;
      if (!readInfo(id, this.stateDir)) return this.exitCodes.get(id) ?? last ?? 0;
      const state = await runtimeState(id, this.stateDir).catch(() => null);
      if (first && state?.status === 'stopped' && condition === 'next-exit') previousRun = state.created;
      if (state?.status === 'stopped' && state.created !== previousRun) {
        last = state.exitCode ?? 137;
        if (condition !== 'removed') return last;
      } else if (condition === 'not-running' && state?.status !== 'running' && state?.status !== 'paused') {
        return state?.exitCode ?? 0;
      }
      await sleep(POLL_MS);
    }
  }

  /** DELETE /containers/{id}: `minidocker rm`, then what the service held for it. */
  async remove(info: ContainerInfo, force: boolean, byWatcher = false): Promise<void> {
    try {
      await removeById(info.id, force, this.stateDir);
    } catch (error) {
      // Removed meanwhile by another reader's repair (a `ps -a` sweeps ended --rm containers too): done all the same.
      if (readInfo(info.id, this.stateDir)) throw error;
    }
    const held = this.held.get(info.id);
    if (held) {
      this.held.delete(info.id);
      await held.container.destroy();
    }
    for (const [execId, exec] of this.execs) if (exec.containerId === info.id) this.execs.delete(execId);
    // Docker's order: a running container removed with force dies first, then is destroyed.
    if (!byWatcher) await this.watchers.get(info.id);
    this.events.containerEvent('destroy', info);
  }

  /**
   * An exec instance is kept after its process ends, for the client that inspects it for the exit code;
   * moby drops them with their container. A long-lived container exec'd into every few seconds (a health
   * probe) would grow the map forever, so finished ones go after ten minutes.
   */
  forgetOldExecs(now = Date.now()): void {
    for (const [id, exec] of this.execs) if (exec.finishedAt !== undefined && now - exec.finishedAt > 10 * 60_000) this.execs.delete(id);
  }

  find(ref: string): ContainerInfo {
    return findContainer(ref, this.stateDir);
  }

  /** The service is stopping: the containers it holds live on, without it (see streams.ts). */
  letGo(): void {
    for (const { container } of this.held.values()) container.release();
    for (const exec of this.execs.values()) exec.container?.release();
  }
}
