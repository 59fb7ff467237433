/**
 * `minidocker`: the docker-like command line. No daemon: each command does its work itself and exits;
 * running containers are kept by their shims (the monitors), like podman's conmon.
 *
 *   minidocker run [--rm] [-d] [--name N] [--hostname H] [-e K=V]... [-w DIR] [-u USER[:GROUP]] [--init] [--read-only]
 *                  [-m BYTES] [--memory-swap BYTES] [--cpus N] [--cpu-shares N] [--pids-limit N] [-v HOST:CTR[:ro]]...
 *                  [--privileged] [--cap-add CAP]... [--cap-drop CAP]... [--security-opt OPT]... [--ulimit L=S[:H]]... [--device D]... [--sysctl K=V]... IMAGE [CMD...]
 *   minidocker exec [-e K=V]... [-w DIR] [-u USER[:GROUP]] C CMD...
 *   minidocker ps [-a] | logs [-f] [-n N] C | stop [-t SECONDS] C... | kill [-s SIGNAL] C... | rm [-f] C... | inspect [-f FORMAT] C...
 *   minidocker images | image import TARBALL NAME[:TAG] | commit C NAME[:TAG] | rmi IMAGE | tag SOURCE TARGET
 *   minidocker save [-o FILE] IMAGE... | load [-i FILE] [-q]
 *   minidocker pull [--platform P] NAME[:TAG|@DIGEST] | push NAME[:TAG] | login [-u U] [-p P|--password-stdin] [SERVER] | logout [SERVER]
 *   minidocker system service [--host unix:///run/minidocker.sock | tcp://127.0.0.1:PORT] [--log-requests]   (the Engine API: api/server.ts)
 *
 * Exit codes as Docker's: the command's own, 125 when the runtime failed, 126 cannot execute, 127 not found.
 */
import { splitFlag } from './argv.js';
import { createWriteStream, existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { attachTerminal, type Console } from '../container/console.js';
import {
  getImage, importImage, listImages, openImageStore, removeImage, saveImages, scratchPath, tagImage, ImageNotFoundError, UnknownImageError, type SavedImage,
} from '../../lessons/05-overlay/store.js';
import { DEFAULT_IMAGE } from '../../lessons/05-overlay/containers.js';
import { fullName, localReference, parseImageName } from '../../lessons/05-overlay/image-names.js';
import { layerStatusPrinter } from '../../lessons/05-overlay/progress.js';
import { login, pullImage, pushImage, registryOf, registryOptionsFromEnv, removeCredentials } from '../../lessons/05-overlay/registry.js';
import { commitContainer, type OverlayContainerDir } from '../../lessons/05-overlay/containers.js';
import { OciError } from './oci/spec.js';
import { ImageFormatError } from '../../lessons/05-overlay/oci.js';
import {
  configOf, createFromImage, releaseResources, findContainer, killById, listInfos, listWithState, mergeEnv, removeAll, removeById, resolveImage,
  runtimeState, stopById, updateById, type ContainerInfo,
} from './docker.js';
import { labStateDir } from '../container/state.js';
import { recordExit } from './oci/state.js';
import { ociExec, ociPause, ociResume, ociStart } from './oci/runtime.js';
import { cpusToQuota, parseCpus, parseCpuShares, parseMemory, parsePidsLimit } from '../../lessons/04-cgroups/limits.js';
import { checkOperation } from './oci/status.js';
import { formatPort } from './network.js';
import { parseRun, splitShortFlags, UsageError } from './flags.js';
import { withKernelHint } from './kernel-hints.js';
import { exitCodeInChain, formatErrorDebug, formatErrorLine } from '../sys/errors.js';
import { containerUserFiles, resolveUser, withUser } from './user.js';
import { inspect, statusText } from './inspect.js';
import { renderTemplate, TemplateError } from './template.js';
import { startOfLastLines } from './log-tail.js';
import { serviceCommand } from './api/server.js';

const USAGE = `Usage:  minidocker COMMAND

Commands:
  run       Create and run a new container from an image
  exec      Execute a command in a running container
  ps        List containers
  logs      Fetch the logs of a container
  stop      Stop a running container
  kill      Kill a running container
  update    Update configuration (the limits) of one or more containers
  pause     Pause all processes within a container (the cgroup freezer)
  unpause   Unpause all processes within a container
  rm        Remove a container
  inspect   Return low-level information on a container
  images    List images
  image     image import TARBALL NAME[:TAG]: import a root file system tarball or an image archive
  commit    Create a new image from a container's changes
  rmi       Remove an image
  tag       Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
  save      save [-o FILE] IMAGE...: images as one tar (an OCI layout with docker's manifest.json)
  load      load [-i FILE] [-q]: images from a tar that docker save or podman save wrote
  pull      Download an image from a registry
  push      Upload an image to a registry
  login     Log in to a registry (credentials in <state>/docker/config.json, root only)
  logout    Log out from a registry
  system    system service [--host unix:///run/minidocker.sock|tcp://127.0.0.1:PORT]: serve the Docker Engine API
            on this state, for the docker CLI (DOCKER_HOST) and dockerode; root-only socket: it is root-equivalent

Run 'minidocker COMMAND --help' for more information on a command (run, exec).
Global: --mine (first) runs your own lesson code; --debug (or DEBUG=1) prints an error's causes with their stacks; MINIDOCKER_NETNS=NAME builds the network inside the
network namespace NAME instead of the machine's own; LAB_STATE_DIR moves the state (/var/lib/mini-docker-lab).
Without root (rootless): every command runs as root of your own user namespace (your ranges in /etc/subuid and
/etc/subgid); state in ~/.local/share/mini-docker-lab; network slirp4netns; limits where systemd delegates a cgroup.
Registries: plain HTTP only to localhost/127.0.0.1 and to MINIDOCKER_INSECURE_REGISTRIES=host:port,…; extra CAs
in MINIDOCKER_CERTS_D/<host:port>/*.crt (default /etc/docker/certs.d); MINIDOCKER_REGISTRY_TIMEOUT=SECONDS.
`;

const RUN_USAGE = `Usage:  minidocker run [OPTIONS] IMAGE [COMMAND] [ARG...]

Options:
  -d, --detach               Run in the background and print the container ID
  -i, --interactive          Keep stdin open for the command
  -t, --tty                  Give the command a terminal (with -i: an interactive shell)
      --rm                   Remove the container when it exits
      --name NAME            Name the container
  -h, --hostname NAME        The container's host name
  -e, --env KEY=VALUE        Set an environment variable (KEY alone: take it from here)
  -w, --workdir DIR          The command's working directory
  -u, --user USER[:GROUP]    Run as this user (a name in the image's /etc/passwd, or a UID)
      --init                 Run tini as PID 1, which reaps zombies and forwards signals
      --read-only            Mount the root file system read-only
  -v, --volume HOST:CTR[:ro] Bind-mount a host folder or file
      --network MODE         bridge (default; slirp4netns without root), none, host, slirp4netns or container:NAME
  -p, --publish HOST:CTR     Publish a container port on the host (…/udp for UDP)
  -m, --memory BYTES         Memory limit (e.g. 64m)
      --memory-swap BYTES    Memory plus swap limit (-1: unlimited swap)
      --cpus N               CPU quota (e.g. 0.5)
      --cpu-shares N         CPU weight relative to other containers (default 1024)
      --pids-limit N         Most processes at once
      --cap-add CAP          Give a capability beyond Docker's 14 (e.g. NET_ADMIN; ALL)
      --cap-drop CAP         Take one of them away (ALL: every one)
      --privileged           Every capability and device, no seccomp filter, /proc and /sys unmasked
      --device HOST[:CONTAINER][:PERMS]  A host device node (or a folder of them) in the container (PERMS of rwm; default rwm)
      --sysctl KEY=VALUE     A kernel setting of the container's own namespaces (net.*, kernel.shm* ...)
      --security-opt OPT     no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json
      --ulimit NAME=SOFT[:HARD]  A resource limit (e.g. nofile=1024:2048)
`;

const EXEC_USAGE = `Usage:  minidocker exec [OPTIONS] CONTAINER COMMAND [ARG...]

Options:
  -i, --interactive     Keep stdin open for the command
  -t, --tty             Give the command a terminal
  -e, --env KEY=VALUE   Set an environment variable
  -w, --workdir DIR     The command's working directory
  -u, --user USER[:GROUP]  Run as this user (a name in the container's /etc/passwd, or a UID)
`;

async function run(rawArgs: string[], stateDir: string): Promise<number> {
  const { platform, rest: args } = takePlatformFlag(rawArgs);
  const options = parseRun(args);
  checkTerminalFlags(options, Boolean(options.detach));
  options.image = await pullIfMissing(options.image, platform);
  const { info, container } = await createFromImage(options, stateDir);
  // -t: a console in the container's devpts, attached before the start so the shell sees the window's size.
  const pty = options.tty ? container?.openConsole() : undefined;
  const detachTerminal = pty ? attachTerminal(pty, terminalStreams(options.interactive)) : undefined;
  try {
    await ociStart(info.id, stateDir, { console: pty?.slavePath, ...(options.detach || !container ? {} : { container }) });
  } catch (error) {
    detachTerminal?.();
    pty?.close();
    // 126/127: the runtime could not exec the command; the container never ran.
    await removeById(info.id, true, stateDir).catch(() => {});
    if (!options.autoRemove) await removeAll(info.id, stateDir);
    throw error;
  }
  if (options.detach) {
    process.stdout.write(`${info.id}\n`);
    container?.release(); // its shim keeps the container (conmon, or the lab's monitor); we may go
    return 0;
  }
  // In the foreground this process is the container's monitor (created direct): never conmon.
  if (!container) throw new OciError(`container ${info.name} was handed to a shim, but runs in the foreground`);
  // docker run's --sig-proxy, for a non-terminal run; with -t, Ctrl-C is a key the pty turns into SIGINT.
  if (!pty) container.forwardSignals();
  const status = await container.wait();
  // This process was the container's monitor (created direct): the exit is its to record, for ps -a.
  recordExit(info.id, stateDir, status);
  if (detachTerminal) await finishTerminal(detachTerminal, pty!);
  if (options.autoRemove) await removeById(info.id, true, stateDir);
  else await releaseResources(info, stateDir); // its address, port rules and cgroup, as dockerd does when a container exits
  return status.exitCode;
}

/** Docker's rules for -i and -t. */
function checkTerminalFlags(options: { interactive?: boolean; tty?: boolean }, detached: boolean): void {
  if (options.tty && detached) throw new UsageError('-t with -d is not supported: nothing could attach to the terminal later; run it in the foreground with -it');
  if (options.tty && options.interactive && !process.stdin.isTTY) throw new UsageError('the input device is not a TTY: run it from a terminal, or leave out -t');
}

/** What a console is attached to: our terminal, or with -t alone (no -i) our output and no input. */
function terminalStreams(interactive: boolean | undefined): Parameters<typeof attachTerminal>[1] {
  return interactive ? undefined : { stdin: new PassThrough(), stdout: process.stdout };
}

/** After the command: its last output, then our terminal back as it was, then the pty closed. */
async function finishTerminal(detach: ReturnType<typeof attachTerminal>, pty: Console): Promise<void> {
  await detach.outputEnded.catch(() => {});
  detach();
  pty.close();
}

/** `docker exec`: a new process in the container's namespaces (lesson 02's exec) and in its cgroup (lesson 04). */
async function exec(rawArgs: string[], stateDir: string): Promise<number> {
  const args = splitShortFlags(rawArgs, 'it');
  const env: string[] = [];
  let workdir: string | undefined;
  let user: string | undefined;
  let interactive = false;
  let tty = false;
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const [flag, inline] = splitFlag(args[i]!);
    const flagValue = () => {
      if (inline !== undefined) return inline;
      const next = args[++i];
      if (next === undefined) throw new UsageError(`flag needs an argument: ${flag}`);
      return next;
    };
    switch (flag) {
      case '-e': case '--env': env.push(flagValue()); break;
      case '-w': case '--workdir': workdir = flagValue(); break;
      case '-u': case '--user': user = flagValue(); break;
      case '-i': case '--interactive': interactive = true; break;
      case '-t': case '--tty': tty = true; break;
      default: throw new UsageError(`unknown flag: ${flag}`);
    }
  }
  const [ref, ...command] = args.slice(i);
  if (!ref || !command.length) throw new UsageError('"exec" requires at least 2 arguments: CONTAINER COMMAND [ARG...]');
  const info = findContainer(ref, stateDir);
  const state = await runtimeState(info.id, stateDir);
  checkOperation('exec', info.id, state?.status ?? null);
  if (workdir !== undefined && !workdir.startsWith('/')) throw new UsageError(`the working directory "${workdir}" is invalid, it needs to be an absolute path`);
  const config = configOf(info, stateDir);
  checkTerminalFlags({ interactive, tty }, false);
  // docker exec -u: looked up in the container as it is now (a user made since is found), else the container's own user.
  const execConfig = config && user !== undefined ? withUser(config, resolveUser(user, containerUserFiles(state!.pid))) : config;
  // docker exec: the container's own process — its environment, working directory, user, capabilities,
  // seccomp — running this command; the runtime's exec puts it in the container's namespaces and cgroup.
  const own = execConfig?.process ?? { args: [], cwd: '/' };
  const container = await ociExec(info.id, stateDir, {
    process: { ...own, args: command, env: mergeEnv(own.env ?? [], env), cwd: workdir ?? own.cwd, terminal: tty },
    stdio: [interactive && !tty ? 'inherit' : 'ignore', 'inherit', 'inherit'],
    attachConsole: tty,
  });
  const pty = container.console;
  const detachTerminal = pty ? attachTerminal(pty, terminalStreams(interactive)) : undefined;
  if (!pty) container.forwardSignals();
  const { exitCode } = await container.wait();
  if (detachTerminal) await finishTerminal(detachTerminal, pty!);
  return exitCode;
}

/** NAME[:TAG] → the store's NAME:TAG: Docker's default tag "latest", Docker Hub names in their short form. */
function reference(text: string | undefined, what: string): string {
  if (!text) throw new UsageError(`"${what}" requires an image name: NAME[:TAG]`);
  try {
    return localReference(parseImageName(text));
  } catch {
    throw new UsageError(`invalid reference format: "${text}"`);
  }
}

/** `--platform OS/ARCH[/VARIANT]` anywhere before the image: taken out for the pull. */
function takePlatformFlag(args: string[]): { platform?: string; rest: string[] } {
  const rest = [...args];
  const end = rest.findIndex((arg, index) => !arg.startsWith('-') && !['--platform'].includes(rest[index - 1] ?? ''));
  for (let i = 0; i < (end < 0 ? rest.length : end); i++) {
    if (rest[i] === '--platform') return { platform: rest.splice(i, 2)[1], rest };
    if (rest[i]!.startsWith('--platform=')) return { platform: rest.splice(i, 1)[0]!.slice('--platform='.length), rest };
  }
  return { rest };
}

/** `docker run` of an image that is not here pulls it first, telling so on stderr. Returns the name to run. */
async function pullIfMissing(text: string, platform: string | undefined): Promise<string> {
  if (text === 'busybox' || text === DEFAULT_IMAGE) return text; // the lab's own busybox, imported on first use (docker.ts)
  const local = reference(text, 'run');
  const store = openImageStore();
  try {
    getImage(store, local);
    return local;
  } catch (error) {
    // Not here, or a part of it is missing: pull it. A damaged image says what is wrong with it instead.
    if (!(error instanceof ImageNotFoundError)) throw new OciError(`image ${local}`, { cause: error });
  }
  process.stderr.write(`Unable to find image '${text.includes('@') || text.slice(text.lastIndexOf('/')).includes(':') ? text : `${text}:latest`}' locally\n`);
  await pullImage(store, text, { ...registryOptionsFromEnv(), platform, onEvent: layerStatusPrinter(process.stderr) });
  return local;
}

async function pull(args: string[]): Promise<number> {
  const { platform, rest } = takePlatformFlag(args);
  const quiet = rest.includes('-q') || rest.includes('--quiet');
  const names = rest.filter((arg) => !['-q', '--quiet'].includes(arg));
  const unknown = names.find((arg) => arg.startsWith('-'));
  if (unknown) throw new UsageError(`unknown flag: ${unknown} (pull takes --platform, -q)`);
  if (names.length !== 1) throw new UsageError('"pull" requires exactly 1 argument: NAME[:TAG|@DIGEST]');
  reference(names[0], 'pull');
  await pullImage(openImageStore(), names[0]!, { ...registryOptionsFromEnv(), platform, onEvent: quiet ? undefined : layerStatusPrinter(process.stdout) });
  process.stdout.write(`${fullName(parseImageName(names[0]!))}\n`);
  return 0;
}

async function push(args: string[]): Promise<number> {
  const names = args.filter((arg) => !arg.startsWith('-'));
  if (names.length !== 1 || names.length !== args.length) throw new UsageError('"push" requires exactly 1 argument: NAME[:TAG]');
  const local = reference(names[0], 'push');
  try {
    getImage(openImageStore(), local);
  } catch (error) {
    if (error instanceof UnknownImageError) throw new OciError(`An image does not exist locally with the tag: ${names[0]}`);
    throw new OciError(`image ${local}`, { cause: error });
  }
  await pushImage(openImageStore(), names[0]!, { ...registryOptionsFromEnv(), onEvent: layerStatusPrinter(process.stdout) });
  return 0;
}

function tag(args: string[]): number {
  if (args.length !== 2) throw new UsageError('"tag" requires exactly 2 arguments: SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]');
  const store = openImageStore();
  let image;
  try {
    image = getImage(store, reference(args[0], 'tag'));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof UnknownImageError) throw new OciError(`No such image: ${args[0]}`);
    throw new OciError(`image ${args[0]}`, { cause: error });
  }
  tagImage(store, image.digest, reference(args[1], 'tag'));
  return 0;
}

async function loginCommand(args: string[]): Promise<number> {
  let username: string | undefined;
  let password: string | undefined;
  let passwordStdin = false;
  const servers: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = splitFlag(args[i]!);
    const flagValue = () => inline ?? args[++i] ?? (() => { throw new UsageError(`flag needs an argument: ${flag}`); })();
    if (flag === '-u' || flag === '--username') username = flagValue();
    else if (flag === '-p' || flag === '--password') password = flagValue();
    else if (flag === '--password-stdin') passwordStdin = true;
    else if (flag.startsWith('-')) throw new UsageError(`unknown flag: ${flag}`);
    else servers.push(args[i]!);
  }
  if (servers.length > 1) throw new UsageError('"login" takes at most 1 argument: [SERVER]');
  if (!username) throw new UsageError('login needs a username: -u USER (and --password-stdin, or -p PASSWORD)');
  if (passwordStdin) {
    if (password !== undefined) throw new UsageError('--password and --password-stdin are mutually exclusive');
    password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  } else if (password !== undefined) {
    process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (!password) throw new UsageError('login needs a password: --password-stdin (or -p PASSWORD)');
  const registry = registryOf(servers[0]);
  await login(registry, { username, password }, registryOptionsFromEnv());
  process.stdout.write('Login Succeeded\n');
  return 0;
}

function logout(args: string[]): number {
  const registry = registryOf(args.find((arg) => !arg.startsWith('-')));
  process.stdout.write(removeCredentials(registry) ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  return 0;
}

async function imageImport(args: string[]): Promise<number> {
  const [file, name] = args;
  if (!file) throw new UsageError('"image import" requires a file: TARBALL NAME[:TAG]');
  if (!existsSync(file)) throw new OciError(`open ${file}: no such file or directory`);
  const images = await importImage(openImageStore(), file, { reference: name ? reference(name, 'image import') : undefined });
  for (const image of images) process.stdout.write(`${image.id}\n`);
  return 0;
}

async function commit(args: string[], stateDir: string): Promise<number> {
  const [ref, name] = args.filter((arg) => !arg.startsWith('-'));
  if (!ref) throw new UsageError('"commit" requires a container: CONTAINER NAME[:TAG]');
  const info = findContainer(ref, stateDir);
  const store = openImageStore();
  const base = listImages(store).find((image) => image.id === info.imageId) ?? (await resolveImage(store, info.image));
  const dir = { upper: `${info.layerDir}/upper`, image: base } as OverlayContainerDir;
  const image = await commitContainer(store, dir, { reference: name ? reference(name, 'commit') : undefined, createdBy: `minidocker commit ${info.name}`, cmd: info.args });
  process.stdout.write(`${image.id}\n`);
  return 0;
}

/**
 * `minidocker save [-o FILE] IMAGE...`: the images as one tar that docker load, podman load and the OCI
 * tools read (lesson 05's saveImages), to FILE or to stdout — never to a terminal, as docker refuses too.
 * A file is written under a temporary name and renamed at the end: a failed save leaves nothing.
 */
async function save(args: string[]): Promise<number> {
  let output: string | undefined;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = splitFlag(args[i]!);
    if (flag === '-o' || flag === '--output') {
      output = inline ?? args[++i];
      if (!output) throw new UsageError(`flag needs an argument: ${flag}`);
    } else if (flag.startsWith('-')) throw new UsageError(`unknown flag: ${args[i]} (save takes -o FILE)`);
    else names.push(args[i]!);
  }
  if (!names.length) throw new UsageError('"save" requires at least 1 argument: IMAGE...');
  if (!output && process.stdout.isTTY) throw new UsageError('cowardly refusing to save to a terminal: use the -o flag or redirect');
  const store = openImageStore();
  const byDigest = new Map<string, SavedImage>();
  for (const text of names) {
    const name = reference(text, 'save');
    const image = await resolveImage(store, name);
    const entry = byDigest.get(image.digest) ?? { image, names: [] };
    if (!entry.names.includes(name)) entry.names.push(name);
    byDigest.set(image.digest, entry);
  }
  if (!output) {
    await saveImages(store, [...byDigest.values()], () => process.stdout);
    return 0;
  }
  const partial = `${output}.${process.pid}.partial`;
  try {
    await saveImages(store, [...byDigest.values()], () => createWriteStream(partial));
    renameSync(partial, output);
  } catch (error) {
    rmSync(partial, { force: true });
    throw new OciError(`save to ${output}`, { cause: error });
  }
  return 0;
}

/** `minidocker load [-i FILE]`: `docker save` or `podman save` output, from FILE or stdin, into the store. */
async function load(args: string[]): Promise<number> {
  let input: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = splitFlag(args[i]!);
    if (flag === '-i' || flag === '--input') {
      input = inline ?? args[++i];
      if (!input) throw new UsageError(`flag needs an argument: ${flag}`);
    } else if (flag === '-q' || flag === '--quiet') continue; // docker's -q hides the progress bars; there are none here
    else throw new UsageError(`unknown argument: ${args[i]} (load takes -i FILE and -q)`);
  }
  if (!input && process.stdin.isTTY) throw new UsageError('requested load from stdin, but stdin is empty: use -i FILE or redirect');
  const store = openImageStore();
  let file = input;
  if (!file) {
    file = `${scratchPath(store, 'load')}.tar`; // stdin is a stream; the formats are read by name
    await pipeline(process.stdin, createWriteStream(file));
  }
  if (!existsSync(file)) throw new OciError(`open ${file}: no such file or directory`);
  try {
    const images = await importImage(store, file).catch((error: unknown) => {
      if (error instanceof ImageFormatError) throw new OciError(`${input ?? 'stdin'} is not an image archive that docker save or podman save writes (a root file system tarball goes in with \`minidocker image import FILE NAME:TAG\`)`, { cause: error });
      throw error;
    });
    for (const image of images) process.stdout.write(image.reference ? `Loaded image: ${image.reference}\n` : `Loaded image ID: ${image.id}\n`);
  } finally {
    if (!input) rmSync(file, { force: true });
  }
  return 0;
}

function rmi(args: string[], stateDir: string): number {
  const refs = args.filter((arg) => !arg.startsWith('-'));
  if (!refs.length) throw new UsageError('"rmi" requires at least 1 argument: IMAGE');
  const store = openImageStore();
  for (const text of refs) {
    const ref = reference(text, 'rmi');
    let image;
    try {
      image = getImage(store, ref);
    } catch (error) {
      if (error instanceof UnknownImageError) throw new OciError(`No such image: ${text}`);
      throw new OciError(`image ${text}`, { cause: error });
    }
    const user = listInfos(stateDir).find((info) => info.imageId === image.id);
    if (user) throw new OciError(`conflict: unable to remove repository reference "${text}" (must force) - container ${user.id} is using its referenced image ${image.id.replace('sha256:', '').slice(0, 12)}`);
    const layers = removeImage(store, ref);
    process.stdout.write(`Untagged: ${ref}\n`);
    for (const layer of layers) process.stdout.write(`Deleted: ${layer}\n`);
  }
  return 0;
}

/** COMMAND as `docker ps` prints it: quoted, cut at 20 characters with "…" unless --no-trunc. */
function commandText(args: string[], truncate: boolean): string {
  const text = args.join(' ');
  return JSON.stringify(truncate && text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

async function ps(rawArgs: string[], stateDir: string): Promise<number> {
  const args = splitShortFlags(rawArgs, 'aq');
  const all = args.includes('-a') || args.includes('--all');
  const quiet = args.includes('-q') || args.includes('--quiet');
  const truncate = !args.includes('--no-trunc');
  const unknown = args.find((arg) => !['-a', '--all', '-q', '--quiet', '--no-trunc'].includes(arg));
  if (unknown) throw new UsageError(`unknown flag: ${unknown} (ps takes -a, -q, --no-trunc)`);
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'STATUS', 'PORTS', 'NAMES']];
  for (const { info, state } of await listWithState(stateDir)) {
    const up = state?.status === 'running' || state?.status === 'paused';
    if (!all && !up) continue;
    const ports = up ? info.claimedPorts.ports.map(formatPort).join(', ') : '';
    rows.push([info.id, info.image, commandText(info.args, truncate), statusText(state), ports, info.name]);
  }
  if (quiet) {
    for (const row of rows.slice(1)) process.stdout.write(`${row[0]}\n`);
    return 0;
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column]!)).join('   ').trimEnd()}\n`);
  return 0;
}

async function logs(args: string[], stateDir: string): Promise<number> {
  let follow = false;
  let tail: number | null = null; // all of it
  const refs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = splitFlag(args[i]!);
    if (flag === '-f' || flag === '--follow') follow = true;
    else if (flag === '-n' || flag === '--tail') {
      const value = inline ?? args[++i] ?? '';
      if (value === 'all') tail = null;
      else if (/^\d+$/.test(value)) tail = Number(value);
      else throw new UsageError(`invalid ${flag} "${value}": a number of lines, or all`);
    } else if (['-t', '--timestamps', '--since', '--until'].includes(flag)) {
      throw new UsageError(`this container's log records no times: leave out ${flag} (containers the API service attached have them: docker logs -t)`);
    } else if (flag.startsWith('-')) throw new UsageError(`unknown flag: ${flag} (logs takes -f, -n/--tail N)`);
    else refs.push(args[i]!);
  }
  if (refs.length !== 1) throw new UsageError(`"logs" requires exactly 1 container${refs.length ? `, not ${refs.length}` : ''}`);
  const info = findContainer(refs[0]!, stateDir);
  if (!info.logPath || !existsSync(info.logPath)) throw new OciError(`container ${info.name} has no log (it was not started with -d)`);
  let offset = tail === null ? 0 : startOfLastLines(readFileSync(info.logPath), tail);
  const drain = () => {
    const size = statSync(info.logPath!).size;
    if (size > offset) {
      process.stdout.write(readFileSync(info.logPath!).subarray(offset, size));
      offset = size;
    }
  };
  drain();
  // -f: until the container stops, then what it wrote last.
  while (follow && (await runtimeState(info.id, stateDir))?.status === 'running') {
    await new Promise((resolve) => setTimeout(resolve, 100));
    drain();
  }
  drain();
  return 0;
}

/**
 * `docker update [-m N] [--memory-swap N] [--cpus N] [--cpu-shares N] [--pids-limit N] CONTAINER...`:
 * new limits for running containers, through the runtime's update; kept in the container's config.json
 * as Docker keeps them in hostconfig.json, so inspect shows them.
 */
async function update(rawArgs: string[], stateDir: string): Promise<number> {
  const args = splitShortFlags(rawArgs, '');
  const changes: Record<string, Record<string, number>> = {};
  const set = (block: string, key: string, value: number) => ((changes[block] ??= {})[key] = value);
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const [flag, inline] = splitFlag(args[i]!);
    const value = () => {
      const given = inline ?? args[++i];
      if (given === undefined) throw new UsageError(`flag needs an argument: ${flag}`);
      return given;
    };
    switch (flag) {
      case '-m': case '--memory': set('memory', 'limit', parseMemory(value(), '--memory')); break;
      case '--memory-swap': { const text = value(); set('memory', 'swap', text === '-1' ? -1 : parseMemory(text, '--memory-swap')); break; }
      case '--cpus': for (const [key, number] of Object.entries(cpusToQuota(parseCpus(value())))) set('cpu', key, number); break;
      case '--cpu-shares': set('cpu', 'shares', parseCpuShares(value())); break;
      case '--pids-limit': set('pids', 'limit', parsePidsLimit(value())); break;
      default: throw new UsageError(`unknown flag: ${flag} (update takes -m, --memory-swap, --cpus, --cpu-shares, --pids-limit)`);
    }
  }
  const refs = args.slice(i);
  if (!refs.length) throw new UsageError('"update" requires at least 1 container');
  if (!Object.keys(changes).length) throw new UsageError('you must provide one or more flags when using this command');
  for (const ref of refs) {
    const info = findContainer(ref, stateDir);
    for (const warning of await updateById(info.id, changes, stateDir)) process.stderr.write(`WARNING: ${warning}\n`);
    process.stdout.write(`${info.name}\n`);
  }
  return 0;
}

/**
 * docker stop, kill, rm, pause, unpause: every container named, in order. One that fails prints its line
 * and the others go on; the exit code is then 1 (docker/cli joins the errors). A single container's error
 * is thrown as it is, with its own exit code. `valueFlags` take the next argument (-t 5, -s KILL).
 */
async function forEachContainer(command: string, args: string[], valueFlags: string[], stateDir: string, action: (info: ContainerInfo) => Promise<void>): Promise<number> {
  const refs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (valueFlags.includes(args[i]!)) i++;
    else if (!args[i]!.startsWith('-')) refs.push(args[i]!);
  }
  if (!refs.length) throw new UsageError(`"${command}" requires at least 1 container`);
  let failed = false;
  for (const ref of refs) {
    try {
      const info = findContainer(ref, stateDir);
      await action(info);
      process.stdout.write(`${info.name}\n`);
    } catch (error) {
      if (refs.length === 1) throw error;
      failed = true;
      process.stderr.write(`minidocker: ${withKernelHint(formatErrorLine(error))}\n`);
    }
  }
  return failed ? 1 : 0;
}

function help(text: string): number {
  process.stdout.write(text);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const stateDir = labStateDir(); // decided once, for every part of this command
  const target = () => {
    const ref = args.filter((arg) => !arg.startsWith('-')).at(-1);
    if (!ref) throw new UsageError(`"${command}" requires a container`);
    return findContainer(ref, stateDir);
  };
  switch (command) {
    case 'run':
      if (args[0] === '--help') return help(RUN_USAGE);
      return run(args, stateDir);
    case 'exec':
      if (args[0] === '--help') return help(EXEC_USAGE);
      return exec(args, stateDir);
    case 'image':
      if (args[0] === 'import') return imageImport(args.slice(1));
      if (args[0] === 'ls') return main(['images']);
      if (args[0] === 'rm') return rmi(args.slice(1), stateDir);
      throw new UsageError(`unknown image command "${args[0] ?? ''}": import, ls or rm`);
    case 'import':
      return imageImport(args);
    case 'commit':
      return commit(args, stateDir);
    case 'rmi':
      return rmi(args, stateDir);
    case 'tag':
      return tag(args);
    case 'save':
      return save(args);
    case 'load':
      return load(args);
    case 'pull':
      return pull(args);
    case 'push':
      return push(args);
    case 'login':
      return loginCommand(args);
    case 'logout':
      return logout(args);
    case 'ps':
      return ps(args, stateDir);
    case 'logs':
      return logs(args, stateDir);
    case 'stop': {
      const t = args.indexOf('-t');
      const seconds = t >= 0 ? Number(args[t + 1]) : 10;
      if (!Number.isInteger(seconds) || seconds < 0) throw new UsageError(`invalid -t "${args[t + 1] ?? ''}": the seconds to wait before SIGKILL, a whole number`);
      return forEachContainer(command, args, ['-t', '--time'], stateDir, async (info) => {
        await stopById(info.id, seconds * 1000, stateDir);
        // Stopped now: a --rm container goes, as with dockerd; any other gives back its address, port rules and cgroup.
        if (info.autoRemove) await removeById(info.id, true, stateDir);
        else await releaseResources(info, stateDir);
      });
    }
    case 'kill': {
      const s = args.indexOf('-s');
      return forEachContainer(command, args, ['-s', '--signal'], stateDir, (info) => killById(info.id, s >= 0 ? args[s + 1] : 'KILL', stateDir));
    }
    case 'update':
      return update(args, stateDir);
    case 'system':
      if (args[0] === 'service') return serviceCommand(args.slice(1), stateDir);
      throw new UsageError(`unknown system command "${args[0] ?? ''}": service`);
    case 'pause':
    case 'unpause':
      return forEachContainer(command, args, [], stateDir, async (info) => {
        const state = await runtimeState(info.id, stateDir);
        checkOperation(`docker ${command}`, info.name, state?.status ?? null);
        await (command === 'pause' ? ociPause : ociResume)(info.id, stateDir);
      });
    case 'rm':
      return forEachContainer(command, args, [], stateDir, (info) => removeById(info.id, args.includes('-f') || args.includes('--force'), stateDir));
    case 'inspect':
      return inspectCommand(args, stateDir);
    case 'images': {
      const rows = listImages(openImageStore()).map((image) => {
        const name = image.reference ?? '<none>:<none>';
        const [repository, tag] = [name.slice(0, name.lastIndexOf(':')), name.slice(name.lastIndexOf(':') + 1)];
        const size = image.layers.reduce((sum, layer) => sum + layer.size, 0);
        return `${repository!.padEnd(20)} ${(tag ?? '').padEnd(10)} ${image.id.replace('sha256:', '').slice(0, 12)}   ${(size / 1e6).toFixed(1)}MB`;
      });
      process.stdout.write(`${'REPOSITORY'.padEnd(20)} ${'TAG'.padEnd(10)} IMAGE ID       SIZE\n${rows.map((row) => `${row}\n`).join('')}`);
      return 0;
    }
    case undefined: case '--help': case 'help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`minidocker: unknown command "${command}"\n${USAGE}`);
      return 125;
  }
}

/** `inspect [-f FORMAT] C...`: Docker's JSON array, or each container's line of the template (template.ts). */
async function inspectCommand(args: string[], stateDir: string): Promise<number> {
  let format: string | undefined;
  const refs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = splitFlag(args[i]!);
    if (flag === '-f' || flag === '--format') {
      format = inline ?? args[++i];
      if (format === undefined) throw new UsageError(`${flag} needs a template, e.g. '{{.State.Pid}}'`);
    } else if (flag === '--type') {
      if ((inline ?? args[++i]) !== 'container') throw new UsageError('inspect: only --type container is known here');
    } else if (flag.startsWith('-')) {
      throw new UsageError(`inspect: unknown flag "${flag}": -f/--format TEMPLATE`);
    } else {
      refs.push(args[i]!);
    }
  }
  if (!refs.length) throw new UsageError('"inspect" requires at least 1 container');
  const found = [];
  for (const ref of refs) {
    const info = findContainer(ref, stateDir);
    found.push(inspect(info, await runtimeState(info.id, stateDir), stateDir));
  }
  if (format === undefined) {
    process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
    return 0;
  }
  try {
    process.stdout.write(found.map((details) => `${renderTemplate(format, details)}\n`).join(''));
  } catch (error) {
    if (error instanceof TemplateError) throw new UsageError(error.message);
    throw error;
  }
  return 0;
}

/**
 * Runs one command line (main.ts has taken --debug and --mine off it) and returns its exit code. An
 * error is one line on stderr (--debug or DEBUG=1: each layer of its cause chain with its stack), as
 * Docker's daemon errors are.
 */
export async function runCommandLine(argv: string[], debug: boolean): Promise<number> {
  try {
    return await main(argv);
  } catch (error) {
    if (debug) process.stderr.write(`${formatErrorDebug(error)}\n`);
    process.stderr.write(`minidocker: ${withKernelHint(formatErrorLine(error))}\n`);
    // Docker: 125 for its own errors, 126/127 when the command cannot be run (carried by the innermost error).
    return error instanceof UsageError ? 125 : (exitCodeInChain(error) ?? 125);
  }
}
