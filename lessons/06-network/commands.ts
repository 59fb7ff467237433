/**
 * Lesson 06 — where the network commands run, and the record of every one of them.
 *
 * Docker's daemon (libnetwork) talks netlink and iptables directly. This lesson types the same
 * operations as the commands you would type yourself — `ip`, `iptables`, `brctl`, `sysctl` — through
 * zx, and keeps each command line, so the lesson can show exactly what it did and you can repeat it.
 *
 * All of them run against one "host network namespace":
 *   - the real host: the namespace of the machine itself, where Docker's docker0 lives; or
 *   - a sandbox: a throwaway namespace made with `ip netns add`, which plays the host. Everything the
 *     lesson creates (bridge, veths, iptables rules, even net.ipv4.ip_forward) lives in it and vanishes
 *     with it. The tests always use one; so does `npm run lesson 6 -- --sandbox`.
 */
import path from 'node:path';
import { labStateDir } from '../../src/container/state.js';

/** One command the lab ran, as you could type it again. */
export interface CommandRecord {
  command: string;
  exitCode: number;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A command that failed, with its command line and what it printed on stderr. */
export class CommandFailed extends Error {
  override name = 'CommandFailed';
  constructor(
    readonly command: string,
    readonly result: CommandResult,
  ) {
    super(`\`${command}\` failed (exit ${result.exitCode}): ${result.stderr.trim() || result.stdout.trim() || 'no output'}`);
  }
}

export interface RunOptions {
  /** Return the result instead of throwing when the command fails (e.g. `iptables -C`, "does this rule exist?"). */
  allowFailure?: boolean;
  /** Keep it out of the history: reads the lesson's panes make are not part of what a step did. */
  unrecorded?: boolean;
  /** Text for the command's standard input. */
  input?: string;
}

/** The part of NetworkHost that the exercises use: run a command on the host, or in a container's network namespace. */
export interface CommandRunner {
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  inContainer(pid: number, argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

export interface NetworkHostOptions {
  /** The sandbox namespace's name (as in `ip netns list`); null or absent: the real host. */
  sandbox?: string | null;
  /**
   * Which iptables to run: `iptables` (whichever backend the system chose), or explicitly
   * `iptables-nft` / `iptables-legacy`. Rules made through one backend are invisible to the other.
   */
  iptables?: string;
  /** Where IP leases and the network's own notes are kept (default: the lab's state folder, see src/container/state.ts). */
  stateDir?: string;
  /** Told each recorded command too: how the lesson shows what the runtime's network feature ran. */
  onCommand?: (record: CommandRecord) => void;
}

// `sudo` and some test runners hand us a PATH without the sbin folders where ip, iptables and brctl live.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
function withSbin(searchPath = ''): string {
  const parts = searchPath.split(':').filter(Boolean);
  return [...SBIN.filter((dir) => !parts.includes(dir)), ...parts].join(':');
}

/**
 * The environment zx's `bash -c` runs with: the sbin folders on PATH (ip and iptables live there),
 * and SHLVL set. bash(1), INVOCATION: a non-interactive bash whose stdin looks like a network
 * connection reads ~/.bashrc, as it would under sshd. Node's pipes are socketpairs, so it does, as
 * long as it thinks it is a top-level shell: SHLVL unset, which is what `sudo` (env_reset) leaves, or 0,
 * which a `bash -c` that execs its last command leaves (a service started from a unit file or a script).
 * A root .bashrc that starts pyenv or conda then costs 0.2 s per command, and whatever it prints
 * would be read as the command's output.
 */
export function commandEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  // SHLVL=0 too: what a `bash -c` that execs its last command leaves (unit files, scripts) — still "top level" to bash.
  return { ...env, PATH: withSbin(env.PATH), SHLVL: Number(env.SHLVL) >= 1 ? env.SHLVL : '1' };
}

/** POSIX shell quoting where needed, so a recorded command can be pasted back into a shell. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * Queued commands in runs: consecutive `ip` commands for the same namespace (`ip -n NAME …`, or
 * `nsenter --net=… ip …`) become one part whose `batch` holds their lines for `ip -batch -`; any other
 * command is a part of its own. `first`: the index of the part's first command in the queue.
 */
export function ipBatches(queued: readonly string[][]): { first: number; argv: string[]; batch?: string[] }[] {
  const parts: { first: number; argv: string[]; batch?: string[] }[] = [];
  queued.forEach((argv, index) => {
    const at = argv.indexOf('ip');
    const prefix = at >= 0 ? [...argv.slice(0, at + 1), ...(argv[at + 1] === '-n' ? ['-n', argv[at + 2]!] : [])] : null;
    const words = prefix ? argv.slice(prefix.length) : [];
    // ip's batch lines split at blanks: only words without blanks or quotes go into one.
    const batchable = prefix !== null && (at === 0 || argv[0] === 'nsenter') && words.length > 0 && words.every((word) => /^[^\s'"\\#]+$/.test(word));
    const last = parts.at(-1);
    if (batchable && last?.batch && commandLine(last.argv) === commandLine(prefix)) last.batch.push(words.join(' '));
    else if (batchable) parts.push({ first: index, argv: prefix, batch: [words.join(' ')] });
    else parts.push({ first: index, argv });
  });
  // A batch of one is just the command.
  return parts.map((part) => (part.batch?.length === 1 ? { first: part.first, argv: queued[part.first]! } : part));
}

/** Where the network commands run. See the top of this file. */
export class NetworkHost implements CommandRunner {
  readonly sandbox: string | null;
  readonly iptablesCommand: string;
  /** The lab's state folder this host keeps its part in. */
  readonly labStateDir: string;
  /** This host's part of the state folder: leases of the real host and of each sandbox never mix. */
  readonly stateDir: string;
  /** Every recorded command, oldest first. */
  readonly history: CommandRecord[] = [];
  private readonly onCommand: ((record: CommandRecord) => void) | undefined;

  constructor(options: NetworkHostOptions = {}) {
    this.sandbox = options.sandbox ?? null;
    this.iptablesCommand = options.iptables ?? 'iptables';
    this.onCommand = options.onCommand;
    this.labStateDir = options.stateDir ?? labStateDir();
    this.stateDir = path.join(this.labStateDir, 'network', this.sandbox ? `netns-${this.sandbox}` : 'host');
  }

  /** "the host" or "sandbox lab-sbx-1234", for messages. */
  get label(): string {
    return this.sandbox ? `sandbox ${this.sandbox}` : 'the host';
  }

  /**
   * The file that names this host's network namespace, for a container that shares it (--net=host).
   * null for the real host: such a container simply gets no network namespace of its own.
   */
  get netnsPath(): string | null {
    return this.sandbox ? `/run/netns/${this.sandbox}` : null;
  }

  /**
   * The argv as it runs in the host's namespace. `ip` has its own switch for that (`ip -n NAME`);
   * anything else is started inside the namespace by `ip netns exec NAME`, which also mounts a /sys
   * that belongs to it (sysctl and brctl read /proc/sys/net and /sys/class/net).
   */
  hostArgv(argv: readonly string[]): string[] {
    if (!this.sandbox) return [...argv];
    if (argv[0] === 'ip') return ['ip', '-n', this.sandbox, ...argv.slice(1)];
    return ['ip', 'netns', 'exec', this.sandbox, ...argv];
  }

  /** Runs a command in the host's network namespace. */
  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.execute(this.hostArgv(argv), options);
  }

  /**
   * Runs a command in a container's network namespace, from outside: nsenter(1) opens
   * /proc/PID/ns/net, setns(2)s into it and execs the command — the other namespaces stay the host's,
   * so the host's `ip` binary is used even for a container with a root file system of its own.
   */
  inContainer(pid: number, argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.execute(['nsenter', `--net=/proc/${pid}/ns/net`, ...argv], options);
  }

  /** Runs a command exactly as given, from the machine's own namespace (e.g. `ip netns exec OTHER …`). */
  runAsIs(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.execute(argv, options);
  }

  /** `iptables -w ARGS…` with the chosen backend. -w waits for the xtables lock instead of failing (legacy backend). */
  iptables(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.run([this.iptablesCommand, '-w', ...args], options);
  }

  /** The commands recorded since `mark` (a history length taken earlier). */
  since(mark: number): CommandRecord[] {
    return this.history.slice(mark);
  }

  /** Commands waiting for the end of batched(); null outside it. */
  private queue: string[][] | null = null;

  /**
   * Runs the commands `work` issues as ONE shell script instead of a shell each (a shell and zx cost
   * ~30 ms a command): each run() and inContainer() is queued and answers at once with no output and
   * exit 0, and the queue runs in order when `work` returns, stopping at the first command that fails —
   * thrown as CommandFailed, that command named. For commands whose output nobody reads (a container's
   * wiring). A command that may fail or reads stdin runs the queue first, then itself, as usual.
   */
  async batched<T>(work: () => Promise<T>): Promise<T> {
    if (this.queue) return work(); // already batching: one queue
    this.queue = [];
    try {
      const result = await work();
      await this.flush();
      return result;
    } finally {
      this.queue = null;
    }
  }

  private async flush(): Promise<void> {
    const queued = this.queue ?? [];
    if (!queued.length) return;
    this.queue = [];
    // Each part reports its own failure — where, with what status — and ends the script there. A run of
    // `ip` commands for one namespace is one `ip -batch` (one process instead of one each); ip stops at
    // its first failing line and names it ("Command failed -:N").
    const parts = ipBatches(queued);
    const script = parts.map(({ first, argv, batch }) => {
      const onFailure = `|| { status=$?; echo "lab-batch-failed ${first} $status" >&2; exit $status; }`;
      return batch ? `${commandLine([...argv, '-batch', '-'])} <<'LAB_BATCH' ${onFailure}\n${batch.join('\n')}\nLAB_BATCH` : `${commandLine(argv)} ${onFailure}`;
    }).join('\n');
    const output = await this.spawnShell(['sh', '-c', script], {});
    const failed = /lab-batch-failed (\d+) (\d+)\s*$/.exec(output.stderr);
    const inBatch = failed && parts.find((part) => part.first === Number(failed[1]))?.batch ? /Command failed -:(\d+)\s*lab-batch-failed/.exec(output.stderr) : null;
    const failedAt = failed ? Number(failed[1]) + (inBatch ? Number(inBatch[1]) - 1 : 0) : output.exitCode === 0 ? queued.length : 0;
    queued.slice(0, failedAt).forEach((argv) => this.record(argv, 0));
    if (failedAt === queued.length) return;
    const stderr = output.stderr.replace(/lab-batch-failed \d+ \d+\s*$/, '').replace(/Command failed -:\d+\s*$/, '');
    const result = { stdout: output.stdout, stderr, exitCode: failed ? Number(failed[2]) : output.exitCode };
    this.record(queued[failedAt]!, result.exitCode);
    throw new CommandFailed(commandLine(queued[failedAt]!), result);
  }

  private record(argv: readonly string[], exitCode: number): void {
    const record = { command: commandLine(argv), exitCode };
    this.history.push(record);
    this.onCommand?.(record);
  }

  private async execute(argv: readonly string[], options: RunOptions): Promise<CommandResult> {
    if (this.queue) {
      if (!options.allowFailure && options.input === undefined && !options.unrecorded) {
        this.queue.push([...argv]);
        return { stdout: '', stderr: '', exitCode: 0 };
      }
      await this.flush(); // what it reads or checks must see the queued commands done
    }
    const result = await this.spawnShell(argv, options);
    const command = commandLine(argv);
    if (!options.unrecorded) this.record(argv, result.exitCode);
    if (result.exitCode !== 0 && !options.allowFailure) throw new CommandFailed(command, result);
    return result;
  }

  private async spawnShell(argv: readonly string[], options: RunOptions): Promise<CommandResult> {
    // Loaded on first use, and only zx's core (its `$`): all of zx takes ~0.1 s to load, its core half
    // of that — time every bridge container's start would pay, and `minidocker ps` need not pay at all.
    const { $ } = await import('zx/core');
    const output = await $({
      quiet: true,
      nothrow: true,
      timeout: '30s',
      env: commandEnv(process.env),
      ...(options.input !== undefined ? { input: options.input } : {}),
    })`${argv}`;
    return { stdout: output.stdout, stderr: output.stderr, exitCode: output.exitCode ?? 128 };
  }
}
