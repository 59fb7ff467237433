/**
 * POST /containers/create's body (Engine API "ContainerCreate": a Config with a HostConfig and a
 * NetworkingConfig inside) → the RunOptions `minidocker run` builds from its flags.
 *
 * The fields are turned into the very flags the CLI takes and parsed by the CLI's own parser (flags.ts
 * parseRun), so a value either parser would refuse is refused in the same words, and the two ways in
 * cannot drift apart. Clients send every field, most at their zero value (the docker CLI sends
 * "Dns": [], "CpuShares": 0, "RestartPolicy": {"Name": "no"} …): a field minidocker does not implement is
 * refused with 400 naming it only when it asks for something.
 */
import { parseLimitFlags } from '../../../lessons/04-cgroups/limits.js';
import { parseRun } from '../flags.js';
import type { RunOptions } from '../docker.js';
import { badRequest } from './http.js';

type Body = Record<string, unknown>;

/** Config fields taken (the Attach* ones decide whether the service keeps the streams: see streams.ts). */
const CONFIG_FIELDS = new Set([
  'Image', 'Cmd', 'Entrypoint', 'Env', 'WorkingDir', 'Hostname', 'User', 'Tty', 'OpenStdin', 'StdinOnce',
  'AttachStdin', 'AttachStdout', 'AttachStderr', 'Labels', 'HostConfig', 'NetworkingConfig',
  // Read by nothing but harmless: `docker run -p` fills ExposedPorts from the ports it publishes.
  'ExposedPorts',
]);

const HOST_CONFIG_FIELDS = new Set([
  'AutoRemove', 'Binds', 'PortBindings', 'NetworkMode', 'Memory', 'MemorySwap', 'NanoCpus', 'CpuShares', 'PidsLimit', 'Init',
  'ReadonlyRootfs', 'CapAdd', 'CapDrop', 'Privileged', 'SecurityOpt', 'Ulimits', 'Sysctls', 'Devices', 'UsernsMode',
  // The docker CLI's terminal size for -t, applied by the resize that follows; nothing to keep.
  'ConsoleSize',
]);

/** Values that mean "the default" though they are not zero: what the docker CLI sends when no flag was given. */
const DEFAULTS: Record<string, unknown[]> = {
  'HostConfig.NetworkMode': ['default', 'bridge'],
  'HostConfig.RestartPolicy': [{ Name: 'no' }, { Name: 'no', MaximumRetryCount: 0 }],
  'HostConfig.LogConfig': [{ Type: 'json-file' }],
  'HostConfig.CgroupnsMode': ['private', 'host'],
  'HostConfig.Isolation': ['default'],
  'HostConfig.OomScoreAdj': [0],
  'HostConfig.MemorySwappiness': [-1],
  'HostConfig.ShmSize': [67108864],
};

/** Go's zero value, as a client that fills every field of the struct sends it. */
function isZero(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value as Body).every(isZero);
  return false;
}

function isDefault(field: string, value: unknown): boolean {
  return isZero(value) || (DEFAULTS[field] ?? []).some((known) => JSON.stringify(known) === JSON.stringify(value));
}

/** 400 for a field minidocker does not implement that asks for something. */
function refuseOthers(object: Body, known: Set<string>, prefix: string): void {
  for (const [field, value] of Object.entries(object)) {
    if (!known.has(field) && !isDefault(`${prefix}${field}`, value)) {
      throw badRequest(`minidocker does not support ${prefix}${field} (${JSON.stringify(value).slice(0, 60)}): leave it out or at its default`);
    }
  }
}

function stringList(value: unknown, field: string): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === 'string') return [value]; // strslice: a single string is a one-element list
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
  throw badRequest(`${field} must be a list of strings`);
}

function objectField(value: unknown, field: string): Body {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest(`${field} must be a JSON object`);
  return value as Body;
}

function stringField(value: unknown, field: string): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw badRequest(`${field} must be a string`);
  return value;
}

function numberField(value: unknown, field: string): number | undefined {
  if (value === null || value === undefined || value === 0) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw badRequest(`${field} must be a number`);
  return value;
}

/** HostConfig → `run` flags. */
function hostConfigFlags(host: Body): string[] {
  refuseOthers(host, HOST_CONFIG_FIELDS, 'HostConfig.');
  const flags: string[] = [];
  if (host.AutoRemove === true) flags.push('--rm');
  if (host.Init === true) flags.push('--init');
  if (host.ReadonlyRootfs === true) flags.push('--read-only');
  if (host.Privileged === true) flags.push('--privileged');
  // `docker run --userns=host` (Docker's only value); auto as podman's, for a client that sends it.
  const userns = stringField(host.UsernsMode, 'HostConfig.UsernsMode');
  if (userns) flags.push(`--userns=${userns}`);
  for (const bind of stringList(host.Binds, 'HostConfig.Binds')) flags.push('-v', bind);
  const mode = stringField(host.NetworkMode, 'HostConfig.NetworkMode');
  if (mode && mode !== 'default') flags.push('--network', mode);
  for (const [port, bindings] of Object.entries(objectField(host.PortBindings, 'HostConfig.PortBindings'))) {
    if (!Array.isArray(bindings)) throw badRequest(`HostConfig.PortBindings["${port}"] must be a list`);
    for (const binding of bindings as Body[]) {
      const hostIp = stringField(binding?.HostIp, 'HostIp');
      if (hostIp && hostIp !== '0.0.0.0') throw badRequest(`HostConfig.PortBindings["${port}"]: minidocker publishes on every address only, not on ${hostIp}`);
      const hostPort = stringField(binding?.HostPort, 'HostPort');
      if (!hostPort) throw badRequest(`HostConfig.PortBindings["${port}"]: minidocker needs a HostPort (no random ports)`);
      flags.push('-p', `${hostPort}:${port}`);
    }
  }
  const memory = numberField(host.Memory, 'HostConfig.Memory');
  if (memory) flags.push('-m', String(memory));
  const swap = numberField(host.MemorySwap, 'HostConfig.MemorySwap');
  if (swap) flags.push('--memory-swap', String(swap));
  const nanoCpus = numberField(host.NanoCpus, 'HostConfig.NanoCpus');
  if (nanoCpus) flags.push('--cpus', String(nanoCpus / 1e9));
  const shares = numberField(host.CpuShares, 'HostConfig.CpuShares');
  if (shares) flags.push('--cpu-shares', String(shares));
  const pids = numberField(host.PidsLimit, 'HostConfig.PidsLimit');
  if (pids) flags.push('--pids-limit', String(pids));
  for (const cap of stringList(host.CapAdd, 'HostConfig.CapAdd')) flags.push('--cap-add', cap);
  for (const cap of stringList(host.CapDrop, 'HostConfig.CapDrop')) flags.push('--cap-drop', cap);
  for (const option of stringList(host.SecurityOpt, 'HostConfig.SecurityOpt')) flags.push('--security-opt', option);
  for (const [key, value] of Object.entries(objectField(host.Sysctls, 'HostConfig.Sysctls'))) flags.push('--sysctl', `${key}=${String(value)}`);
  for (const ulimit of (host.Ulimits ?? []) as Body[]) flags.push('--ulimit', `${String(ulimit.Name)}=${String(ulimit.Soft)}:${String(ulimit.Hard)}`);
  for (const device of (host.Devices ?? []) as Body[]) {
    flags.push('--device', [device.PathOnHost, device.PathInContainer, device.CgroupPermissions].filter(Boolean).join(':'));
  }
  return flags;
}

/** The create body and the ?name= parameter → what `minidocker run` would have parsed. */
export function runOptionsFromBody(body: Body, name: string | null): RunOptions {
  refuseOthers(body, CONFIG_FIELDS, '');
  const image = stringField(body.Image, 'Image');
  if (!image) throw badRequest('Config.Image is required: the image to create the container from');
  if (image.startsWith('-')) throw badRequest(`invalid reference format: "${image}"`);
  refuseOthers(objectField(body.NetworkingConfig, 'NetworkingConfig'), new Set(), 'NetworkingConfig.');
  const flags = hostConfigFlags(objectField(body.HostConfig, 'HostConfig'));
  if (name) flags.push('--name', name);
  const hostname = stringField(body.Hostname, 'Hostname');
  if (hostname) flags.push('--hostname', hostname);
  const workdir = stringField(body.WorkingDir, 'WorkingDir');
  if (workdir) flags.push('--workdir', workdir);
  const user = stringField(body.User, 'User');
  if (user) flags.push('--user', user);
  for (const entry of stringList(body.Env, 'Env')) flags.push('--env', entry);
  const options = parseRun([...flags, image]);
  const entrypoint = stringList(body.Entrypoint, 'Entrypoint');
  const cmd = stringList(body.Cmd, 'Cmd');
  // Docker: an Entrypoint given here replaces the image's, and with it the image's Cmd.
  options.args = entrypoint.length ? [...entrypoint, ...cmd] : cmd;
  options.tty = body.Tty === true;
  options.interactive = body.OpenStdin === true;
  options.stdinOnce = body.StdinOnce === true;
  const labels = objectField(body.Labels, 'Labels');
  if (Object.keys(labels).length) options.labels = Object.fromEntries(Object.entries(labels).map(([key, value]) => [key, String(value)]));
  return options;
}

/** Does the client want the container's streams (docker run without -d)? Then the service keeps them. */
export function wantsStreams(body: Body): boolean {
  return body.AttachStdin === true || body.AttachStdout === true || body.AttachStderr === true || body.OpenStdin === true || body.Tty === true;
}

/** The limits POST /containers/{id}/update may change: `minidocker update`'s flags. */
const UPDATE_FIELDS: Record<string, string> = { Memory: '--memory', MemorySwap: '--memory-swap', NanoCpus: '--cpus', CpuShares: '--cpu-shares', PidsLimit: '--pids-limit' };

/**
 * POST /containers/{id}/update's body → the linux.resources changes `minidocker update` makes, parsed
 * by lesson 04's parseLimitFlags as the CLI's flags are. Any other field that asks for something (a
 * restart policy, block I/O weights …) is refused, naming it.
 */
export function updateChangesFromBody(body: Body): Record<string, Record<string, number>> {
  refuseOthers(body, new Set(Object.keys(UPDATE_FIELDS)), 'HostConfig.');
  const flags: string[] = [];
  for (const [field, flag] of Object.entries(UPDATE_FIELDS)) {
    const value = field === 'MemorySwap' && body[field] === -1 ? -1 : numberField(body[field], field);
    if (value === undefined) continue;
    flags.push(flag, field === 'NanoCpus' ? String(value / 1e9) : String(value));
  }
  if (!flags.length) throw badRequest('you must provide one or more limits to update (Memory, MemorySwap, NanoCpus, CpuShares, PidsLimit)');
  try {
    return parseLimitFlags(flags) as Record<string, Record<string, number>>;
  } catch (error) {
    throw badRequest((error as Error).message);
  }
}
