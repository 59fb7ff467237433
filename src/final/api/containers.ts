/**
 * /containers/…: each endpoint is the `minidocker` command of the same name, called as a function on the
 * same state folder (docker.ts, oci/runtime.ts), answered in the Engine API's shapes.
 */
import { readFileSync } from 'node:fs';
import { listWithState, killById, releaseResources, renameById, runtimeState, stopById, updateById, type ContainerInfo } from '../docker.js';
import { inspect, statusText } from '../inspect.js';
import { checkOperation } from '../oci/status.js';
import { ociPause, ociPs, ociResume, ociStart, ociStats } from '../oci/runtime.js';
import type { ContainerRecord } from '../oci/state.js';
import { runOptionsFromBody, updateChangesFromBody, wantsStreams } from './create.js';
import type { Engine } from './engine.js';
import type { Exchange } from './exchange.js';
import { ApiError, badRequest, parseFilters, queryFlag, queryInt } from './http.js';

export async function createContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const body = await exchange.body();
  const options = runOptionsFromBody(body, exchange.query.get('name'));
  const size = (body.HostConfig as { ConsoleSize?: unknown } | undefined)?.ConsoleSize;
  const consoleSize = Array.isArray(size) && size.length === 2 && size.every((n) => Number.isInteger(n) && n >= 0) ? (size as [number, number]) : undefined;
  const info = await engine.create(options, wantsStreams(body), consoleSize);
  exchange.json(201, { Id: info.id, Warnings: [] });
}

export async function startContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const state = await runtimeState(info.id, engine.stateDir);
  if (state?.status === 'running' || state?.status === 'paused') return exchange.empty(304); // Docker: already started
  if (state?.status === 'stopped') await engine.startAgain(info);
  try {
    await ociStart(info.id, engine.stateDir, { console: engine.consolePathOf(info.id) });
  } catch (error) {
    // The runtime usually finds a command that cannot run at create already. Either way Docker's words
    // ("executable file not found", "permission denied") are in the message: the docker CLI picks its
    // exit code, 127 or 126, from them. What the failed start left is the watcher's to clean up.
    engine.watch(info);
    throw error;
  }
  engine.events.containerEvent('start', info);
  engine.watch(info);
  exchange.empty(204);
}

export async function waitContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const condition = exchange.query.get('condition') || 'not-running';
  if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw badRequest(`invalid condition: "${condition}" (not-running, next-exit or removed)`);
  // The docker CLI sends this before start and reads the answer after: the headers go now, the body at the end.
  const stream = exchange.openJsonStream();
  let gone = false;
  void stream.closed.then(() => (gone = true)); // the client left: stop waiting for it
  const code = await engine.waitFor(info.id, condition, () => gone);
  stream.write({ StatusCode: code, Error: null });
  stream.end();
}

export async function stopContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const seconds = queryInt(exchange.query, 't', 10);
  const state = await runtimeState(info.id, engine.stateDir);
  if (state?.status !== 'running' && state?.status !== 'paused') return exchange.empty(304); // Docker: already stopped
  await stopById(info.id, seconds < 0 ? 0 : seconds * 1000, engine.stateDir);
  await afterStop(engine, info);
  exchange.empty(204);
}

/**
 * Stopped: the watcher of a container the service started does the rest, and the answer waits for it
 * (Docker's stop returns once the container is down and released); for any other, as `minidocker stop` does.
 */
async function afterStop(engine: Engine, info: ContainerInfo): Promise<void> {
  if (engine.isWatched(info.id)) return engine.settled(info.id);
  if (info.autoRemove) await engine.remove(info, true);
  else await releaseResources(info, engine.stateDir);
}

/** POST /containers/{id}/restart?t=N: stop (if running), then start again — the same container, a new process. */
export async function restartContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const seconds = queryInt(exchange.query, 't', 10);
  const state = await runtimeState(info.id, engine.stateDir);
  engine.restarting.add(info.id);
  try {
    if (state?.status === 'running' || state?.status === 'paused') await stopById(info.id, seconds < 0 ? 0 : seconds * 1000, engine.stateDir);
    await engine.startAgain(info);
    await ociStart(info.id, engine.stateDir, { console: engine.consolePathOf(info.id) });
  } finally {
    engine.restarting.delete(info.id);
  }
  engine.events.containerEvent('restart', info);
  engine.watch(info);
  exchange.empty(204);
}

/** POST /containers/{id}/update: `minidocker update` — new limits in the cgroup and in config.json. */
export async function updateContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const changes = updateChangesFromBody(await exchange.body());
  exchange.json(200, { Warnings: await updateById(info.id, changes, engine.stateDir) });
}

/** POST /containers/{id}/rename?name=NEW: docker.ts renameById, under the name lock. */
export async function renameContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const name = (exchange.query.get('name') ?? '').replace(/^\//, '');
  if (!name) throw badRequest('name is required: the new name');
  renameById(info.id, name, engine.stateDir);
  engine.events.containerEvent('rename', { ...info, name }, { oldName: `/${info.name}` });
  exchange.empty(204);
}

export async function killContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const state = await runtimeState(info.id, engine.stateDir);
  if (state?.status !== 'running' && state?.status !== 'paused') throw new ApiError(409, `Container ${info.id} is not running`);
  await killById(info.id, exchange.query.get('signal') || 'KILL', engine.stateDir);
  exchange.empty(204);
}

export async function removeContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const force = queryFlag(exchange.query, 'force');
  const state = await runtimeState(info.id, engine.stateDir);
  // Docker's words for a running container without force: 409.
  if (state) checkOperation(force ? 'delete --force' : 'rm', info.id, state.status);
  await engine.remove(info, force);
  exchange.empty(204);
}

export async function inspectContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  exchange.json(200, inspect(info, await runtimeState(info.id, engine.stateDir), engine.stateDir));
}

/** Docker's State for ps: created, running, paused, exited. */
function stateWord(state: ContainerRecord | null): string {
  if (!state || state.status === 'created') return 'created';
  return state.status === 'stopped' ? 'exited' : state.status;
}

/** GET /containers/json?all=1&filters={"name":["web"],"status":["exited"],"label":["a=b"],"id":["abc"]}. */
export async function listContainers(engine: Engine, exchange: Exchange): Promise<void> {
  const filters = parseFilters(exchange.query);
  for (const name of filters.keys()) if (!['name', 'status', 'label', 'id'].includes(name)) throw badRequest(`invalid filter '${name}' (minidocker filters by name, status, label and id)`);
  const limit = queryInt(exchange.query, 'limit', -1);
  const rows = await containerSummaries(engine, queryFlag(exchange.query, 'all'), filters);
  exchange.json(200, limit > 0 ? rows.slice(0, limit) : rows);
}

/** Docker's name filter is a regular expression (a leading / is the name's own). */
function namePattern(value: string): RegExp {
  try {
    return new RegExp(value.replace(/^\//, ''));
  } catch {
    throw badRequest(`invalid name filter "${value}": not a regular expression`);
  }
}

/** The rows of GET /containers/json (also /system/df's), newest first as Docker lists them. */
export async function containerSummaries(engine: Engine, all: boolean, filters: Map<string, string[]> = new Map()) {
  const rows = [];
  // listWithState repairs as it reads (ends --rm containers that stopped): a watcher doing the same at the
  // same moment can make one read fail, and the next one sees the result.
  const containers = await listWithState(engine.stateDir).catch(() => listWithState(engine.stateDir));
  for (const { info, state } of containers) {
    const word = stateWord(state);
    const up = word === 'running' || word === 'paused';
    // Docker: a status filter lists stopped containers too, without -a.
    if (!all && !up && !filters.has('status')) continue;
    const allow = (name: string, test: (value: string) => boolean) => !filters.has(name) || filters.get(name)!.some(test);
    const labels = info.labels ?? {};
    const matches =
      allow('name', (value) => namePattern(value).test(info.name)) &&
      allow('status', (value) => value === word) &&
      allow('id', (value) => info.id.startsWith(value)) &&
      allow('label', (value) => (value.includes('=') ? labels[value.slice(0, value.indexOf('='))] === value.slice(value.indexOf('=') + 1) : value in labels));
    if (!matches) continue;
    rows.push({
      Id: info.id,
      Names: [`/${info.name}`],
      Image: info.image,
      ImageID: info.imageId,
      Command: info.args.join(' '),
      Created: Math.floor(Date.parse(info.created) / 1000),
      Ports: up ? info.claimedPorts.ports.map((port) => ({ IP: '0.0.0.0', PrivatePort: port.containerPort, PublicPort: port.hostPort, Type: port.protocol })) : [],
      Labels: labels,
      State: word,
      Status: statusText(state),
      HostConfig: { NetworkMode: info.networkMode },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    });
  }
  rows.sort((a, b) => b.Created - a.Created);
  return rows;
}

/** GET /containers/{id}/top: `runc ps`'s PIDs, with what /proc says of each. */
export async function topContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const state = await runtimeState(info.id, engine.stateDir);
  if (state?.status !== 'running' && state?.status !== 'paused') throw new ApiError(409, `Container ${info.id} is not running`);
  const processes = (await ociPs(info.id, engine.stateDir)).flatMap((pid) => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') || `[${field('Name')}]`;
      return [[field('Uid'), String(pid), field('PPid'), cmd]];
    } catch {
      return []; // ended meanwhile
    }
  });
  exchange.json(200, { Titles: ['UID', 'PID', 'PPID', 'CMD'], Processes: processes });
}

/**
 * GET /containers/{id}/stats?stream=0: one look at the container's cgroup (the runtime's `events --stats`)
 * in Docker's StatsJSON shape. A container without limits has no cgroup of its own, so nothing to count:
 * zeros, as Docker shows for a stopped container.
 */
export async function containerStats(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const once = async () => {
    const state = await runtimeState(info.id, engine.stateDir);
    const stats = state && state.status !== 'stopped' ? await ociStats(info.id, engine.stateDir).catch(() => null) : null;
    const data = stats?.data;
    return {
      id: info.id,
      name: `/${info.name}`,
      read: new Date().toISOString(),
      pids_stats: { current: data?.pids.current ?? 0, limit: data?.pids.limit ?? 0 },
      cpu_stats: { cpu_usage: { total_usage: data?.cpu.usage.total ?? 0 }, throttling_data: { periods: data?.cpu.throttling.periods ?? 0, throttled_periods: data?.cpu.throttling.throttledPeriods ?? 0, throttled_time: data?.cpu.throttling.throttledTime ?? 0 } },
      precpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } },
      memory_stats: { usage: data?.memory.usage.usage ?? 0, max_usage: data?.memory.usage.max ?? 0, limit: data?.memory.usage.limit ?? 0 },
      networks: {},
    };
  };
  const streaming = exchange.query.get('stream') === null || queryFlag(exchange.query, 'stream');
  if (!streaming || queryFlag(exchange.query, 'one-shot')) return exchange.json(200, await once());
  const stream = exchange.openJsonStream();
  let closed = false;
  void stream.closed.then(() => (closed = true));
  while (!closed) {
    stream.write(await once());
    const state = await runtimeState(info.id, engine.stateDir).catch(() => null);
    if (state?.status !== 'running' && state?.status !== 'paused') break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  stream.end();
}

/** POST /containers/{id}/resize?h=ROWS&w=COLS: the pty's window size (its command gets SIGWINCH). */
export async function resizeContainer(engine: Engine, exchange: Exchange): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const rows = queryInt(exchange.query, 'h', 0);
  const cols = queryInt(exchange.query, 'w', 0);
  const pty = engine.held.get(info.id)?.streams.pty;
  if (!pty) throw badRequest(`container ${info.name} has no terminal the service holds: nothing to resize`);
  if (rows > 0 && cols > 0) pty.resize(rows, cols);
  exchange.json(200, undefined);
}

export async function pauseContainer(engine: Engine, exchange: Exchange, pause: boolean): Promise<void> {
  const info = engine.find(exchange.params.id!);
  const state = await runtimeState(info.id, engine.stateDir);
  checkOperation(pause ? 'docker pause' : 'docker unpause', info.name, state?.status ?? null);
  await (pause ? ociPause : ociResume)(info.id, engine.stateDir);
  engine.events.containerEvent(pause ? 'pause' : 'unpause', info);
  exchange.empty(204);
}
