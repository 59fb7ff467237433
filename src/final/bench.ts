/**
 * `npm run bench` — what minidocker costs, measured end to end as a user runs it (a new CLI process per
 * command), in a state folder of its own that is removed afterwards, whatever happens:
 *
 *   1. start latency of `minidocker run --rm busybox /bin/true` with its default bridge network and
 *      with --network none, beside what a user would pick instead: `podman run --rm` in the same two
 *      network modes (conmon as its shim; its storage, state, cgroups and network kept in the bench's
 *      folder and "host" namespace), `runc run` / `crun run` with the same rootfs and command (and a
 *      new, unwired network namespace, like none), and `node -e 0`, Node's own floor — the ones that
 *      are installed, interleaved, so a busy machine slows all alike — as medians and ratios;
 *      --privileged beside --network none shows what lesson 07's security steps cost (it skips them, but
 *      copies the host's device nodes in);
 *   2. start latency with a small image (busybox, one layer) and a large one (busybox plus a ~100 MB
 *      layer, built by lesson 05's largeImage): overlayfs makes them alike, a copy would not;
 *   3. memory per idle detached container: its shim (conmon, and the lab's own Node monitor beside it)
 *      and the container's processes, as USS (private: what one more container really costs), PSS and
 *      RSS; podman's shim, also conmon, beside them;
 *   4. pull time and peak memory of the large image from a local registry (docker-registry on 127.0.0.1),
 *      `minidocker pull` beside `skopeo copy` into an OCI layout, interleaved (bench-registry.ts);
 *   5. where a docker CLI is installed: `docker run --rm` through `minidocker system service` (on a
 *      socket in the bench's folder) in both network modes, and the service's own memory while idle;
 *   6. rootless: `minidocker run --rm --network none` as an ordinary user beside rootless podman, for
 *      the user who ran the bench through sudo or --rootless-user (bench-rootless.ts).
 *
 *   npm run bench [-- --runs N] [--large-mb MB] [--idle N] [--pull-runs N] [--rootless-user NAME] [--out FILE]
 *
 * The bridge network is built in a throwaway network namespace that plays the host (MINIDOCKER_NETNS),
 * so the benchmark never touches the machine's own interfaces or firewall.
 *
 * Prints a table and writes the numbers as JSON (bench-results.json by default). Not a test.
 */
import { splitFlag } from './argv.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyboxImage } from '../../lessons/03-mount/image.js';
import { defaultImage, largeImage, median } from '../../lessons/05-overlay/containers.js';
import { openImageStore } from '../../lessons/05-overlay/store.js';
import { registry } from '../../lessons/registry.js';
import { defaultConfig } from './oci/spec.js';
import { createNetns, removeNetns, removeOrphanedNetns } from '../../lessons/06-network/sandbox.js';
import { HOST_NETNS_ENV } from './network.js';
import { formatTable } from './table.js';
import { benchPull, pullBenchUnavailable, type PullBench } from './bench-registry.js';
import { prepareRootlessBench } from './bench-rootless.js';
import { podmanUlimitFlags, removeCgroupParent } from './podman.js';
import { findProgram } from '../sys/programs.js';
import { SHIM_ENV } from './conmon.js';

const BENCH_NETNS_PREFIX = 'lab-bench';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'bin/minidocker.js'); // what `npm run minidocker` starts

interface Options {
  runs: number;
  largeMb: number;
  idle: number;
  pullRuns: number;
  /** Who runs the rootless rows: $SUDO_USER unless given. */
  rootlessUser: string | undefined;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 15, largeMb: 100, idle: 3, pullRuns: 3, rootlessUser: process.env.SUDO_USER, out: path.join(REPO, 'bench-results.json') };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    const value = () => inline ?? argv[++i] ?? '';
    const count = (text: string, min: number) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} needs a whole number ≥ ${min}, not "${text}"`);
      return n;
    };
    switch (flag) {
      case '-n': case '--runs': options.runs = count(value(), 1); break;
      case '--large-mb': options.largeMb = count(value(), 1); break;
      case '--idle': options.idle = count(value(), 1); break;
      case '--pull-runs': options.pullRuns = count(value(), 0); break;
      case '--rootless-user': options.rootlessUser = value(); break;
      case '--out': options.out = path.resolve(value()); break;
      case '-h': case '--help':
        process.stdout.write('usage: npm run bench [-- --runs N (15)] [--large-mb MB (100)] [--idle N (3)] [--pull-runs N (3; 0: none)] [--rootless-user NAME ($SUDO_USER)] [--out FILE (bench-results.json)]\n');
        process.exit(0);
      default: throw new Error(`unknown flag "${argv[i]}"`);
    }
  }
  return options;
}

/** One command, timed from spawn to exit, in milliseconds; an error if it fails. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const result = spawnSync(command, args, { env, encoding: 'utf8', timeout: 120_000 });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')} failed (${result.status ?? result.signal}): ${(result.stderr ?? '').trim().split('\n')[0]}`);
  return ms;
}

/**
 * A process's memory in KiB (zeros when it is gone), from /proc/PID/smaps_rollup:
 *   rss  every resident page it maps, shared ones too (the node binary's code is in every Node process);
 *   pss  shared pages divided among the processes that share them;
 *   uss  its private pages only: what the machine gets back when the process ends.
 */
interface Memory {
  rss: number;
  pss: number;
  uss: number;
}
function memoryKiB(pid: number): Memory {
  try {
    const fields = Object.fromEntries(
      readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n').map((line) => line.split(/:\s+/)).filter((pair) => pair.length === 2).map(([key, value]) => [key, parseInt(value!, 10)]),
    ) as Record<string, number>;
    return { rss: fields.Rss ?? 0, pss: fields.Pss ?? 0, uss: (fields.Private_Clean ?? 0) + (fields.Private_Dirty ?? 0) };
  } catch {
    return { rss: 0, pss: 0, uss: 0 };
  }
}
const addMemory = (a: Memory, b: Memory): Memory => ({ rss: a.rss + b.rss, pss: a.pss + b.pss, uss: a.uss + b.uss });

/** The PIDs of a process's children, grandchildren ... */
function descendants(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) children.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

const fmt = (ms: number) => `${ms.toFixed(0)} ms`;

/** The report fits a terminal or CI log of this many columns (long cells wrap). */
const TABLE_WIDTH = 100;

/**
 * Progress as one line that rewrites itself, on a terminal; in a log (no terminal) nothing, since
 * each update would be a line of its own. `null` ends the line.
 */
function progressLine(stream: NodeJS.WriteStream): (text: string | null) => void {
  let shown = false;
  return (text) => {
    if (!stream.isTTY) return;
    // \r goes back to the line's start, \x1b[2K erases it: a shorter text leaves nothing behind.
    if (text !== null) stream.write(`\r\x1b[2K${text}`);
    else if (shown) stream.write('\n');
    shown = text !== null;
  };
}

const BENCH_IMAGE = 'localhost/bench-busybox';
const ROOTLESS_PODMAN = 'podman run --rm --network none busybox /bin/true (rootless)';
/** The user namespace the --uidmap rows ask for: 65536 IDs that no user of a machine has. */
const BENCH_IDMAP = '0:3400000000:65536';

/**
 * podman set up to leave the machine as it found it: storage, state and events in the bench folder, the
 * container's cgroups under a parent of the bench's own, the default network (a bridge, iptables rules,
 * ip_forward) made inside the bench's "host" network namespace, busybox imported from lesson 03's rootfs.
 * runc under it on a hybrid cgroup machine, where crun refuses; podman's own choice elsewhere.
 */
function preparePodman(stateDir: string, hostNetns: string) {
  const root = path.join(stateDir, 'podman');
  const hadCniState = existsSync('/var/lib/cni');
  const hybrid = existsSync('/sys/fs/cgroup/unified');
  const global = [
    '--root', path.join(root, 'storage'), '--runroot', path.join(root, 'run'), '--tmpdir', path.join(root, 'tmp'),
    '--network-config-dir', path.join(root, 'networks'), '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
    ...(hybrid ? ['--runtime', 'runc'] : []),
  ];
  const cgroupParent = `/${path.basename(stateDir)}-podman`;
  const ulimits = podmanUlimitFlags();
  const command = (...args: string[]): [string, string[]] => ['nsenter', [`--net=/run/netns/${hostNetns}`, 'podman', ...global, ...args]];
  const tarball = path.join(root, 'busybox.tar');
  mkdirSync(root, { recursive: true });
  spawnSync('tar', ['-C', busyboxImage({ stateDir }).image.rootfs, '-cf', tarball, '.']);
  const imported = spawnSync(...command('import', '--quiet', tarball, BENCH_IMAGE), { encoding: 'utf8' });
  if (imported.status !== 0) throw new Error(`podman import failed: ${imported.stderr.trim()}`);
  return {
    command,
    run: (...args: string[]) => command('run', '--cgroup-parent', cgroupParent, ...ulimits, ...args),
    cleanup() {
      spawnSync(...command('rm', '--all', '--force', '--time', '0'), { stdio: 'ignore' });
      spawnSync(...command('rmi', '--all', '--force'), { stdio: 'ignore' });
      // containers/storage keeps its overlay folder a mount of its own: out of the way before the folder goes.
      const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((line) => line.split(' ')[1] ?? '');
      for (const mount of mounts.filter((point) => point.startsWith(`${root}/`)).reverse()) spawnSync('umount', ['-l', mount]);
      // The default network's IP leases live in CNI's folder on the host: gone if the bench made it.
      if (!hadCniState) rmSync('/var/lib/cni', { recursive: true, force: true });
      removeCgroupParent(cgroupParent);
    },
  };
}

/** Waits until the service answers on its socket: null, or why it did not. */
async function serviceAnswers(service: ChildProcess, socket: string): Promise<string | null> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (service.exitCode !== null || service.signalCode !== null) return `minidocker system service exited (${service.exitCode ?? service.signalCode})`;
    if (existsSync(socket)) return null;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return 'minidocker system service did not make its socket within 30 s';
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run the bench as root (containers need it)');
  const stateDir = mkdtempSync(path.join(tmpdir(), 'mdl-bench-'));
  // A user-namespaced container's root is no one on the host: it must be able to search down to its rootfs.
  chmodSync(stateDir, 0o711);
  removeOrphanedNetns(BENCH_NETNS_PREFIX);
  const hostNetns = createNetns(BENCH_NETNS_PREFIX);
  const env = { ...process.env, LAB_STATE_DIR: stateDir, [HOST_NETNS_ENV]: hostNetns };
  const md = (...args: string[]): [string, string[]] => [process.execPath, [CLI, ...args]];
  const detached: string[] = [];
  let podmanCleanup = () => {};
  let rootlessCleanup = () => {};
  let service: ChildProcess | null = null;
  const cleanup = () => {
    if (service?.exitCode === null && service.signalCode === null) service.kill('SIGTERM'); // ours, by its PID
    for (const id of detached) spawnSync(process.execPath, [CLI, 'rm', '-f', id], { env, cwd: REPO, stdio: 'ignore' });
    podmanCleanup();
    rootlessCleanup();
    rmSync(stateDir, { recursive: true, force: true });
    removeNetns(hostNetns, { killProcesses: true });
  };
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    process.stderr.write(`bench: state folder ${stateDir}; preparing images (busybox, +${options.largeMb} MB layer)...\n`);
    const store = openImageStore(stateDir);
    const { image: base } = await defaultImage(store);
    const { image: large } = await largeImage(store, base, options.largeMb, { registry });
    const largeRef = large.reference ?? `lab05/large:${options.largeMb}mb`;

    // The low-level runtimes, each with a bundle of the same busybox rootfs and /bin/true.
    const runtimes = (['runc', 'crun'] as const).map((name) => ({ name, path: findProgram(name) }));
    let bundle: string | null = null;
    if (runtimes.some((runtime) => runtime.path)) {
      bundle = path.join(stateDir, 'bundle');
      mkdirSync(bundle, { recursive: true });
      cpSync(busyboxImage({ stateDir }).image.rootfs, path.join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
      const config = defaultConfig(['/bin/true']);
      config.linux = { namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }] };
      writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
    }

    // podman, as a user would pick it instead: its own storage and state in the bench folder, conmon as
    // the shim, runc or crun under it. Its default network is made in the bench's own "host" namespace.
    let podmanEngine: ReturnType<typeof preparePodman> | null = null;
    let podmanProblem: string | null = null;
    try {
      if (findProgram('podman')) podmanEngine = preparePodman(stateDir, hostNetns);
    } catch (error) {
      podmanProblem = (error as Error).message; // reported in the table, as a runtime that cannot run here
    }
    if (podmanEngine) podmanCleanup = podmanEngine.cleanup;

    // Rootless: minidocker and podman as an ordinary user, each with its own pause process and storage here.
    const rootless = prepareRootlessBench(options.rootlessUser, stateDir, CLI, { rootfs: busyboxImage({ stateDir }).image.rootfs, name: BENCH_IMAGE });
    if (typeof rootless !== 'string') rootlessCleanup = rootless.cleanup;

    // The Engine API service on the bench's state, and Docker's own client in front of it: the requests of
    // `docker run` (lesson 09) on top of what `minidocker run` does. Without a docker CLI, a row says so.
    const dockerCli = findProgram('docker');
    const socket = path.join(stateDir, 'docker.sock');
    let serviceProblem: string | null = dockerCli ? null : 'no docker CLI on this machine (Debian and Ubuntu: docker.io; Docker\'s repository: docker-ce-cli)';
    if (dockerCli) {
      service = spawn(process.execPath, [CLI, 'system', 'service', '--host', `unix://${socket}`], { env, cwd: REPO, stdio: 'ignore' });
      serviceProblem = await serviceAnswers(service, socket);
    }
    const dockerEnv = { ...env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(stateDir, 'docker-cli') };

    type Case = { name: string; run: (n: number) => number; optional?: boolean };
    let cases: Case[] = [
      { name: 'minidocker run --rm busybox /bin/true', run: () => timed(...md('run', '--rm', 'busybox', '/bin/true'), env) },
      { name: 'minidocker run --rm --network none busybox /bin/true', run: () => timed(...md('run', '--rm', '--network', 'none', 'busybox', '/bin/true'), env) },
      // What lesson 07's steps cost: --privileged skips the seccomp filter, the capability drop, /proc's masks and
      // the device cgroup's rules — but makes a node for each of the host's devices instead (as Docker does).
      { name: 'minidocker run --rm --network none --privileged busybox /bin/true', run: () => timed(...md('run', '--rm', '--network', 'none', '--privileged', 'busybox', '/bin/true'), env) },
      { name: `minidocker run --rm --network none ${largeRef} /bin/true`, run: () => timed(...md('run', '--rm', '--network', 'none', largeRef, '/bin/true'), env) },
      // Lesson 08: a user namespace of its own — the holder, the maps, init through nsenter and setsid, idmapped layers.
      { name: `minidocker run --rm --network none --uidmap ${BENCH_IDMAP} busybox /bin/true`, run: () => timed(...md('run', '--rm', '--network', 'none', '--uidmap', BENCH_IDMAP, 'busybox', '/bin/true'), env) },
      ...(dockerCli && !serviceProblem
        ? [
            { name: 'docker run --rm busybox /bin/true (docker CLI → minidocker system service)', run: () => timed(dockerCli, ['run', '--rm', 'busybox', '/bin/true'], dockerEnv) },
            { name: 'docker run --rm --network none busybox /bin/true (docker CLI → service)', run: () => timed(dockerCli, ['run', '--rm', '--network', 'none', 'busybox', '/bin/true'], dockerEnv) },
          ]
        : []),
      ...(podmanEngine
        ? [
            { name: 'podman run --rm busybox /bin/true', optional: true, run: () => timed(...podmanEngine.run('--rm', BENCH_IMAGE, '/bin/true'), env) },
            { name: 'podman run --rm --network none busybox /bin/true', optional: true, run: () => timed(...podmanEngine.run('--rm', '--network', 'none', BENCH_IMAGE, '/bin/true'), env) },
            { name: `podman run --rm --network none --uidmap ${BENCH_IDMAP} busybox /bin/true`, optional: true, run: () => timed(...podmanEngine.run('--rm', '--network', 'none', '--uidmap', BENCH_IDMAP, BENCH_IMAGE, '/bin/true'), env) },
          ]
        : []),
      ...(typeof rootless === 'string'
        ? []
        : [
            { name: `minidocker run --rm --network none busybox /bin/true (rootless, as ${rootless.user})`, run: () => timed(...rootless.minidocker('run', '--rm', '--network', 'none', 'busybox', '/bin/true'), env) },
            ...(rootless.podman ? [{ name: ROOTLESS_PODMAN, optional: true, run: () => timed(...rootless.podman!('run', '--rm', '--network', 'none', BENCH_IMAGE, '/bin/true'), env) }] : []),
          ]),
      { name: 'node -e 0 (Node starting, no more)', run: () => timed(process.execPath, ['-e', '0'], env) },
      ...runtimes
        .filter((runtime) => runtime.path)
        .map((runtime) => ({
          name: `${runtime.name} run (same rootfs, /bin/true, new netns)`,
          optional: true,
          // crun refuses hybrid cgroup machines (v1 with a v2 mount) unless told to leave cgroups alone;
          // minidocker without limits makes no cgroup either, so that is the fair comparison anyway.
          run: (n: number) => timed(runtime.path!, [...(runtime.name === 'crun' ? ['--cgroup-manager=disabled'] : []), '--root', path.join(stateDir, `${runtime.name}-root`), 'run', '--bundle', bundle!, `bench-${process.pid}-${n}`], env),
        })),
    ];
    // One unmeasured warm-up round, which also finds a runtime that cannot run on this machine (crun
    // refuses hybrid cgroups, for one): it is reported, not measured. Then the cases in turn, `runs` times.
    const unusable: { name: string; reason: string }[] = [];
    cases = cases.filter((entry) => {
      try {
        entry.run(-1);
        return true;
      } catch (error) {
        if (!entry.optional) throw error;
        unusable.push({ name: entry.name.split(' ')[0]!, reason: (error as Error).message.replace(/^.*?failed \(\d+\): /, '') });
        return false;
      }
    });
    const samples = new Map<string, number[]>(cases.map((entry) => [entry.name, []]));
    const progress = progressLine(process.stderr);
    process.stderr.write(`bench: start latency, ${options.runs} rounds of ${cases.length} commands...\n`);
    for (let n = 0; n < options.runs; n++) {
      for (const entry of cases) {
        const ms = entry.run(n);
        samples.get(entry.name)!.push(ms);
      }
      progress(`bench: start latency, round ${n + 1}/${options.runs}`);
    }
    progress(null);

    // Idle detached containers: the memory of their shim + the container's processes. The shim is conmon
    // where it is installed (src/final/conmon.ts); the lab's own monitor (a Node process) is measured beside it.
    const idle: { id: string; shim: string; monitorKiB: Memory; containerKiB: Memory }[] = [];
    for (const shim of ['default', 'monitor'] as const) {
      for (let i = 0; i < options.idle; i++) {
        const shimEnv = shim === 'monitor' ? { ...env, [SHIM_ENV]: 'monitor' } : env;
        const result = spawnSync(...md('run', '-d', 'busybox', 'sleep', '100000'), { env: shimEnv, encoding: 'utf8', cwd: REPO });
        if (result.status !== 0) throw new Error(`run -d failed: ${result.stderr.trim()}`);
        detached.push(result.stdout.trim());
      }
    }
    const podmanIdle: string[] = [];
    if (podmanEngine && cases.some((entry) => entry.name.startsWith('podman '))) {
      for (let i = 0; i < options.idle; i++) {
        const [command, args] = podmanEngine.run('-d', '--network', 'none', BENCH_IMAGE, 'sleep', '100000');
        const result = spawnSync(command, args, { env, encoding: 'utf8' });
        if (result.status !== 0) throw new Error(`podman run -d failed: ${result.stderr.trim()}`);
        podmanIdle.push(result.stdout.trim());
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let the monitors settle
    for (const id of detached) {
      const record = JSON.parse(readFileSync(path.join(stateDir, 'runtime', id, 'state.json'), 'utf8')) as { pid: number; monitorPid: number };
      const container = [record.pid, ...descendants(record.pid)].map(memoryKiB).reduce(addMemory, { rss: 0, pss: 0, uss: 0 });
      const shim = readFileSync(`/proc/${record.monitorPid}/comm`, 'utf8').trim() === 'conmon' ? 'conmon' : 'monitor';
      idle.push({ id, shim, monitorKiB: memoryKiB(record.monitorPid), containerKiB: container });
    }

    // podman's shim is conmon: its private memory for each idle container (the container's processes are the same sleep).
    const conmonKiB = podmanIdle.map((id) => {
      const [command, args] = podmanEngine!.command('inspect', '--format', '{{.State.ConmonPid}}', id);
      return memoryKiB(Number(spawnSync(command, args, { env, encoding: 'utf8' }).stdout.trim()));
    });

    // The service between requests: what the optional daemon costs while nobody asks it anything.
    const serviceKiB = service && !serviceProblem ? memoryKiB(service.pid!) : null;

    // Pulling the large image from a local registry, beside skopeo.
    const unavailable = options.pullRuns > 0 ? pullBenchUnavailable() : 'not measured (--pull-runs 0)';
    let pull: PullBench | null = null;
    if (!unavailable) {
      const imageBytes = large.layers.reduce((sum, layer) => sum + layer.size, 0);
      pull = await benchPull({ cli: CLI, env, workDir: stateDir, reference: largeRef, imageBytes, rounds: options.pullRuns, progress });
    }

    const medians = Object.fromEntries([...samples].map(([name, values]) => [name, median(values)]));
    const minidocker = medians[cases[0]!.name]!;
    const runcCase = cases.find((entry) => entry.name.startsWith('runc '));
    const runc = runcCase ? medians[runcCase.name]! : null;
    // Each minidocker run beside podman's in the same network mode: the bridge with podman's default network.
    const podmanBridge = medians['podman run --rm busybox /bin/true'] ?? null;
    const podmanNone = medians['podman run --rm --network none busybox /bin/true'] ?? null;
    const podmanMapped = medians[`podman run --rm --network none --uidmap ${BENCH_IDMAP} busybox /bin/true`] ?? null;
    const podmanRootless = medians[ROOTLESS_PODMAN] ?? null;
    const podmanPeer = (name: string) =>
      !/^(minidocker|docker) /.test(name) ? null : name.includes('(rootless') ? podmanRootless : name.includes('--uidmap') ? podmanMapped : name.includes('--network none') ? podmanNone : podmanBridge;
    const ratio = (value: number, base: number | null) => (base ? `${(value / base).toFixed(2)}x` : '-');
    const rows: string[][] = [['measurement', 'median', 'vs podman', 'vs runc']];
    for (const entry of cases) rows.push([entry.name, fmt(medians[entry.name]!), ratio(medians[entry.name]!, podmanPeer(entry.name)), ratio(medians[entry.name]!, runc)]);
    if (!podmanEngine) rows.push([podmanProblem ? `podman run: cannot run here: ${podmanProblem}` : 'podman run: not installed (apt install podman)', '-', '-', '-']);
    // A runtime that could not be measured says why in the first column, where long text may wrap.
    for (const runtime of runtimes.filter((r) => !r.path)) rows.push([`${runtime.name} run: not installed (apt install ${runtime.name})`, '-', '-', '-']);
    for (const { name, reason } of unusable) rows.push([`${name} run: cannot run here: ${reason}`, '-', '-', '-']);
    if (serviceProblem) rows.push([`docker run through minidocker system service: not measured: ${serviceProblem}`, '-', '-', '-']);
    if (typeof rootless === 'string') rows.push([`rootless rows: not measured: ${rootless}`, '-', '-', '-']);
    else if (rootless.podmanProblem) rows.push([`podman run (rootless): cannot run here: ${rootless.podmanProblem}`, '-', '-', '-']);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const memory = (entries: typeof idle, part: 'monitorKiB' | 'containerKiB') => {
      const meanMiB = (pick: (entry: (typeof idle)[number]) => number) => mean(entries.map(pick)) / 1024;
      return { rssMiB: meanMiB((entry) => entry[part].rss), pssMiB: meanMiB((entry) => entry[part].pss), ussMiB: meanMiB((entry) => entry[part].uss) };
    };
    const byShim = (shim: string) => idle.filter((entry) => entry.shim === shim);
    const shims = ['conmon', 'monitor'].filter((shim) => byShim(shim).length > 0);
    const shimMemory = Object.fromEntries(shims.map((shim) => [shim, memory(byShim(shim), 'monitorKiB')]));
    const inside = memory(idle, 'containerKiB');
    const mib = (value: number) => `${value.toFixed(1)} MiB`;
    const shimLabel: Record<string, string> = { conmon: 'shim conmon', monitor: 'shim: the lab\'s monitor (Node)' };
    for (const shim of shims) {
      const { ussMiB, pssMiB, rssMiB } = shimMemory[shim]!;
      rows.push([`idle run -d (mean of ${byShim(shim).length}), ${shimLabel[shim]}: USS / PSS / RSS`, `${mib(ussMiB)} / ${mib(pssMiB)} / ${mib(rssMiB)}`, '', '']);
    }
    rows.push(['  container processes USS / RSS', `${mib(inside.ussMiB)} / ${mib(inside.rssMiB)}`, '', '']);
    const conmon = conmonKiB.length ? { ussMiB: mean(conmonKiB.map((m) => m.uss)) / 1024, rssMiB: mean(conmonKiB.map((m) => m.rss)) / 1024 } : null;
    if (conmon) rows.push([`  podman: its shim, conmon, private (USS) / RSS (mean of ${conmonKiB.length})`, `${mib(conmon.ussMiB)} / ${mib(conmon.rssMiB)}`, '', '']);
    if (serviceKiB) rows.push([`minidocker system service, idle after the docker runs: USS / RSS`, `${mib(serviceKiB.uss / 1024)} / ${mib(serviceKiB.rss / 1024)}`, '', '']);
    if (pull) {
      const size = `${(pull.imageBytes / 1e6).toFixed(0)} MB`;
      for (const [name, samples] of [['minidocker pull (download, verify, extract)', pull.minidocker], ['skopeo copy to an OCI layout (download, verify)', pull.skopeo]] as const) {
        rows.push([`pull ${size} from a local registry: ${name}`, `${fmt(median(samples.map((sample) => sample.ms)))}, peak ${mib(median(samples.map((sample) => sample.peakKiB)) / 1024)}`, '', '']);
      }
    } else {
      rows.push(['pull from a local registry', unavailable!, '', '']);
    }
    process.stdout.write(
      `start latency: ${options.runs} runs each, interleaved, after 1 warm-up round; end to end (includes Node\n` +
        'starting the CLI). Ratios: to podman in the same network mode (its default network for the bridge),\n' +
        'and to runc.\n',
    );
    for (const line of formatTable(rows, TABLE_WIDTH)) process.stdout.write(`${line}\n`);

    const results = {
      date: new Date().toISOString(),
      kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
      node: process.version,
      runs: options.runs,
      startLatencyMs: Object.fromEntries([...samples].map(([name, values]) => [name, { median: medians[name], samples: values }])),
      ratiosToMinidocker: Object.fromEntries(cases.map((entry) => [entry.name, medians[entry.name]! / minidocker])),
      ratiosToPodman: Object.fromEntries(cases.filter((entry) => podmanPeer(entry.name)).map((entry) => [entry.name, medians[entry.name]! / podmanPeer(entry.name)!])),
      ratiosToRunc: runc ? Object.fromEntries(cases.map((entry) => [entry.name, medians[entry.name]! / runc])) : null,
      runtimes: Object.fromEntries(runtimes.map((runtime) => [runtime.name, runtime.path ?? 'not installed'])),
      unusableRuntimes: unusable,
      images: { small: { reference: 'busybox:latest', bytes: base.layers.reduce((s, l) => s + l.size, 0) }, large: { reference: largeRef, bytes: large.layers.reduce((s, l) => s + l.size, 0) } },
      idleContainer: { count: idle.length, shims: shimMemory, container: inside, each: idle, podmanConmon: conmon },
      service: serviceKiB ? { idleKiB: serviceKiB } : serviceProblem,
      rootless: typeof rootless === 'string' ? rootless : { user: rootless.user, podman: rootless.podmanProblem ?? 'measured' },
      pull: pull ?? unavailable,
    };
    writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`wrote ${options.out}\n`);
  } finally {
    cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
