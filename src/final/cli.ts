/**
 * `minidocker`: the docker-like command line. No daemon: each command does its work itself and exits;
 * running containers are kept by their shims (the monitors), like podman's conmon.
 *
 *   minidocker run [--rm] [-d] [--name N] [--hostname H] [-e K=V]... [-w DIR] [--init] [--read-only] IMAGE [CMD...]
 *   minidocker ps [-a] | logs [-f] C | stop [-t SECONDS] C | kill [-s SIGNAL] C | rm [-f] C | inspect C | images
 *
 * Exit codes as Docker's: the command's own, 125 when the runtime failed, 126 cannot execute, 127 not found.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { ContainerError } from '../container/runtime.js';
import { listImages, openImageStore } from '../../lessons/05-overlay/store.js';
import { OciError } from './oci/spec.js';
import {
  createFromImage, findContainer, killById, listWithState, removeAll, removeById, runtimeState, startById, stopById,
  type ContainerInfo, type RunOptions,
} from './docker.js';
import type { ContainerRecord } from './oci/state.js';

class UsageError extends OciError {}

function parseRun(args: string[]): RunOptions {
  const options: RunOptions = { image: '', args: [], env: [] };
  let i = 0;
  const value = (flag: string) => {
    const next = args[++i];
    if (next === undefined) throw new UsageError(`flag needs an argument: ${flag}`);
    return next;
  };
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const [flag, inline] = args[i]!.split('=', 2) as [string, string | undefined];
    const take = () => inline ?? value(flag);
    switch (flag) {
      case '--rm': options.autoRemove = true; break;
      case '-d': case '--detach': options.detach = true; break;
      case '--name': options.name = take(); break;
      case '-h': case '--hostname': options.hostname = take(); break;
      case '-e': case '--env': options.env!.push(take()); break;
      case '-w': case '--workdir': options.workdir = take(); break;
      case '--init': options.init = true; break;
      case '--read-only': options.readOnly = true; break;
      default: throw new UsageError(`unknown flag: ${flag}`);
    }
  }
  options.image = args[i] ?? '';
  if (!options.image) throw new UsageError('"run" requires at least 1 argument: IMAGE [COMMAND...]');
  options.args = args.slice(i + 1);
  return options;
}

async function run(args: string[]): Promise<number> {
  const options = parseRun(args);
  const { info, container } = await createFromImage(options);
  try {
    await startById(info.id);
  } catch (error) {
    // 126/127: the runtime could not exec the command; the container never ran.
    await removeById(info.id, true).catch(() => {});
    if (!options.autoRemove) removeAll(info.id);
    throw error;
  }
  if (options.detach) {
    process.stdout.write(`${info.id}\n`);
    container.release(); // the monitor keeps the container; we may go
    return 0;
  }
  container.forwardSignals(); // docker run's --sig-proxy
  const { exitCode } = await container.wait();
  if (options.autoRemove) await removeById(info.id, true);
  return exitCode;
}

function statusText(state: ContainerRecord | null): string {
  if (!state) return 'Dead';
  if (state.status === 'created') return 'Created';
  if (state.status === 'running') return `Up since ${state.created}`;
  return `Exited (${state.exitCode ?? 'unknown'})`;
}

async function ps(args: string[]): Promise<number> {
  const all = args.includes('-a') || args.includes('--all');
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'STATUS', 'NAMES']];
  for (const { info, state } of await listWithState()) {
    if (!all && state?.status !== 'running') continue;
    rows.push([info.id, info.image, JSON.stringify(info.args.join(' ')), statusText(state), info.name]);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column]!)).join('   ').trimEnd()}\n`);
  return 0;
}

async function logs(args: string[]): Promise<number> {
  const follow = args.includes('-f') || args.includes('--follow');
  const info = findContainer(args.filter((arg) => !arg.startsWith('-'))[0] ?? '');
  if (!info.logPath || !existsSync(info.logPath)) throw new OciError(`container ${info.name} has no log (it was not started with -d)`);
  let offset = 0;
  const drain = () => {
    const size = statSync(info.logPath!).size;
    if (size > offset) {
      process.stdout.write(readFileSync(info.logPath!).subarray(offset, size));
      offset = size;
    }
  };
  drain();
  // -f: until the container stops, then what it wrote last.
  while (follow && (await runtimeState(info.id))?.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, 100));
    drain();
  }
  drain();
  return 0;
}

function inspect(info: ContainerInfo, state: ContainerRecord | null) {
  return {
    Id: info.id,
    Name: `/${info.name}`,
    Created: info.created,
    Path: info.args[0],
    Args: info.args.slice(1),
    State: {
      Status: state?.status === 'stopped' ? 'exited' : (state?.status ?? 'dead'),
      Running: state?.status === 'running',
      Pid: state && state.status !== 'stopped' ? state.pid : 0,
      ExitCode: state?.exitCode ?? 0,
      FinishedAt: state?.finished ?? null,
    },
    Image: info.imageId,
    LogPath: info.logPath,
    HostnamePath: `${info.layerDir}/hostname`,
    HostsPath: `${info.layerDir}/hosts`,
    ResolvConfPath: `${info.layerDir}/resolv.conf`,
    Config: { Hostname: info.hostname, Env: info.env, Cmd: info.args, Image: info.image, WorkingDir: info.workdir },
    HostConfig: { AutoRemove: info.autoRemove, ReadonlyRootfs: info.readOnly, Init: info.init, NetworkMode: 'host' },
    GraphDriver: { Name: 'overlay2', Data: { UpperDir: `${info.layerDir}/upper`, WorkDir: `${info.layerDir}/work`, MergedDir: `${info.layerDir}/rootfs` } },
    Bundle: state?.bundle ?? null,
  };
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const target = () => {
    const ref = args.filter((arg) => !arg.startsWith('-')).at(-1);
    if (!ref) throw new UsageError(`"${command}" requires a container`);
    return findContainer(ref);
  };
  switch (command) {
    case 'run':
      return run(args);
    case 'ps':
      return ps(args);
    case 'logs':
      return logs(args);
    case 'stop': {
      const t = args.indexOf('-t');
      const info = target();
      await stopById(info.id, t >= 0 ? Number(args[t + 1]) * 1000 : 10_000);
      process.stdout.write(`${info.name}\n`);
      return 0;
    }
    case 'kill': {
      const s = args.indexOf('-s');
      const info = target();
      await killById(info.id, s >= 0 ? args[s + 1] : 'KILL');
      process.stdout.write(`${info.name}\n`);
      return 0;
    }
    case 'rm': {
      const info = target();
      await removeById(info.id, args.includes('-f') || args.includes('--force'));
      process.stdout.write(`${info.name}\n`);
      return 0;
    }
    case 'inspect': {
      const info = target();
      process.stdout.write(`${JSON.stringify([inspect(info, await runtimeState(info.id))], null, 2)}\n`);
      return 0;
    }
    case 'images': {
      const rows = listImages(openImageStore()).map((image) => {
        const [repository, tag] = (image.reference ?? '<none>:<none>').split(':');
        const size = image.layers.reduce((sum, layer) => sum + layer.size, 0);
        return `${repository!.padEnd(20)} ${(tag ?? '').padEnd(10)} ${image.id.replace('sha256:', '').slice(0, 12)}   ${(size / 1e6).toFixed(1)}MB`;
      });
      process.stdout.write(`${'REPOSITORY'.padEnd(20)} ${'TAG'.padEnd(10)} IMAGE ID       SIZE\n${rows.map((row) => `${row}\n`).join('')}`);
      return 0;
    }
    default:
      process.stderr.write('usage: minidocker run|ps|logs|stop|kill|rm|inspect|images ...\n');
      return 2;
  }
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  if (error instanceof OciError || error instanceof ContainerError) {
    process.stderr.write(`minidocker: ${error.message}\n`);
    // Docker: 125 for its own errors, 126/127 when the command cannot be run.
    const code = (error as { exitCode?: number }).exitCode;
    process.exit(error instanceof UsageError ? 125 : (code ?? 125));
  }
  throw error;
}
