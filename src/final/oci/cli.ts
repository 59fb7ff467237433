/**
 * The low-level runtime's command line, shaped like runc's and crun's (the OCI runtime command-line
 * interface: github.com/opencontainers/runtime-tools/docs/command-line-interface.md):
 *
 *   oci [GLOBAL FLAGS] create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] [--preserve-fds N] [--no-pivot] ID
 *                                    with process.terminal, the pty's master goes to SOCKET (SCM_RIGHTS), as with runc;
 *                                    init is handed off: the caller's subreaper adopts it and sees the command's exit
 *   oci start ID
 *   oci state ID
 *   oci kill [--all] ID [SIGNAL]
 *   oci exec [--process FILE] [--detach] [--pid-file FILE] [--tty --console-socket SOCKET] [--preserve-fds N] [--cwd DIR] [--env K=V] [--user UID[:GID]]
 *            [--additional-gids GID] [--cap CAP] [--no-new-privs] ID [COMMAND [ARG...]]
 *                                    one more process in the container, as `runc exec` starts it
 *   oci update [--resources FILE|-] [--memory N] [--memory-swap N] [--cpu-shares N] [--cpu-quota N]
 *              [--cpu-period N] [--pids-limit N] ID      new limits for a container that has processes
 *   oci pause ID ; oci resume ID     every process of the container frozen, or thawed (the cgroup freezer)
 *   oci ps [--format table|json] ID
 *   oci events --stats ID            one look at the container's cgroup, as `runc events --stats` prints it
 *   oci delete [--force] ID
 *   oci spec [--bundle DIR]          a config.json to start from, as `runc spec` writes it
 *   oci features                     what this runtime implements, as JSON (runtime-spec features.md)
 *
 * The global flags engines pass to runc, before the command: --root DIR (where the state is kept),
 * --log FILE and --log-format text|json (where errors are written too: containerd and podman read them
 * there), --debug; --systemd-cgroup is refused (this runtime writes cgroupfs itself).
 *
 * Errors are one line on stderr (--debug first, or DEBUG=1: the cause chain with stacks) and exit
 * status 1; they change nothing.
 */
import { splitFlag } from '../argv.js';
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { OciError, defaultConfig } from './spec.js';
import { ociCreate, ociDelete, ociExec, ociKill, ociPause, ociPs, ociResume, ociStart, ociState, ociStats, ociUpdate, type OciExecOptions } from './runtime.js';
import { parseMemory } from '../../../lessons/04-cgroups/limits.js';
import { labStateDir } from '../../container/state.js';
import { specState } from './state.js';
import { runtimeFeatures } from './features.js';
import { takeMineFlag } from '../../build/bundle.js';
import { withKernelHint } from '../kernel-hints.js';
import { formatErrorDebug, formatErrorLine, takeDebugFlag } from '../../sys/errors.js';

const USAGE = 'usage: oci [--root DIR] [--log FILE] [--log-format text|json] create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] [--preserve-fds N] [--no-pivot] ID | start ID | state ID | kill [--all] ID [SIGNAL] | exec [--process FILE] [--detach] [--pid-file FILE] [--cwd DIR] [--env K=V] [--user UID[:GID]] [--cap CAP] ID [COMMAND...] | update [--resources FILE] [--memory N] [--memory-swap N] [--cpu-shares N] [--cpu-quota N] [--cpu-period N] [--pids-limit N] ID | pause ID | resume ID | ps [--format table|json] ID | events --stats ID | delete [--force] ID | spec [--bundle DIR] | features';

interface GlobalFlags {
  root?: string;
  log?: string;
  logFormat: 'text' | 'json';
  /** --debug among the others (takeDebugFlag finds it only before the first flag's value). */
  debug?: boolean;
}

/**
 * runc's global flags, before the command. Returns them and the rest. --root becomes the lab's state
 * folder for this command (the runtime keeps its records in <root>/runtime/).
 */
function takeGlobalFlags(argv: string[]): { globals: GlobalFlags; rest: string[] } {
  const globals: GlobalFlags = { logFormat: 'text' };
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('--') && argv[i] !== '--mine'; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    const value = () => {
      const found = inline ?? argv[++i];
      if (found === undefined) throw new OciError(`${flag} needs a value`);
      return found;
    };
    switch (flag) {
      case '--root': globals.root = path.resolve(value()); break;
      case '--log': globals.log = path.resolve(value()); break;
      case '--log-format': {
        const format = value();
        if (format !== 'text' && format !== 'json') throw new OciError(`--log-format ${format}: use text or json`);
        globals.logFormat = format;
        break;
      }
      case '--debug': globals.debug = true; break;
      case '--systemd-cgroup': throw new OciError('--systemd-cgroup is not supported: this runtime writes the cgroup files itself (use the cgroupfs driver)');
      case '--rootless': if (!['false', 'auto'].includes(value())) throw new OciError('--rootless is not supported: this runtime needs root'); break;
      default: throw new OciError(`unknown global flag ${flag}`);
    }
  }
  return { globals, rest: argv.slice(i) };
}

/** An error into --log as runc writes it (logrus: text, or one JSON object per line), besides stderr. */
function logError(globals: GlobalFlags, message: string): void {
  if (!globals.log) return;
  const time = new Date().toISOString();
  const line = globals.logFormat === 'json' ? JSON.stringify({ level: 'error', msg: message, time }) : `time="${time}" level=error msg=${JSON.stringify(message)}`;
  try {
    appendFileSync(globals.log, `${line}\n`);
  } catch {
    // the log is a courtesy: the error still goes to stderr
  }
}

/** Splits argv into --flags (with their values, for the ones that take one) and the rest. */
function parse(args: string[], valued: string[]): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = splitFlag(arg);
    if (valued.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new OciError(`${name} needs a value`);
      flags.set(name, value);
    } else if (arg.startsWith('-') && arg.length > 1 && rest.length === 0) flags.set(arg, '');
    else rest.push(arg);
  }
  return { flags, rest };
}

/** `exec [flags] ID [COMMAND [ARG...]]`: runc's flags, the repeatable ones (--env, --cap ...) as lists. */
function parseExec(args: string[]): { id: string; options: OciExecOptions } {
  const options: OciExecOptions = {};
  let i = 0;
  const value = (flag: string, inline: string | undefined) => {
    const given = inline ?? args[++i];
    if (given === undefined) throw new OciError(`exec: ${flag} needs a value`);
    return given;
  };
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const [flag, inline] = args[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    switch (flag) {
      case '--process': case '-p': options.processFile = value(flag, inline); break;
      case '--pid-file': options.pidFile = value(flag, inline); break;
      case '--cwd': options.cwd = value(flag, inline); break;
      case '--env': case '-e': (options.env ??= []).push(value(flag, inline)); break;
      case '--cap': case '-c': (options.caps ??= []).push(value(flag, inline)); break;
      case '--user': case '-u': options.user = parseUser(value(flag, inline)); break;
      case '--additional-gids': case '-g': (options.additionalGids ??= []).push(wholeNumber(value(flag, inline), flag)); break;
      case '--detach': case '-d': options.detach = true; break;
      case '--tty': case '-t': options.tty = true; break;
      case '--no-new-privs': options.noNewPrivileges = true; break;
      case '--preserve-fds': options.preserveFds = wholeNumber(value(flag, inline), flag); break;
      case '--console-socket': options.consoleSocket = path.resolve(value(flag, inline)); break;
      default: throw new OciError(`exec: unknown flag ${flag}`);
    }
  }
  const [id, ...command] = args.slice(i);
  if (!id) throw new OciError('exec takes a container id');
  return { id, options: { ...options, args: command } };
}

/**
 * `update [--resources FILE|-] [--memory N] [--memory-swap N] [--cpu-shares N] [--cpu-quota N]
 * [--cpu-period N] [--pids-limit N] ID`: runc's flags for what this runtime limits, as a
 * linux.resources fragment. The flags win over the file, as in runc.
 */
function parseUpdate(args: string[]): { id: string; changes: Record<string, Record<string, unknown>> } {
  const { flags, rest } = parse(args, ['--resources', '-r', '--memory', '--memory-swap', '--cpu-shares', '--cpu-quota', '--cpu-period', '--pids-limit']);
  const unknown = [...flags.keys()].find((flag) => !['--resources', '-r', '--memory', '--memory-swap', '--cpu-shares', '--cpu-quota', '--cpu-period', '--pids-limit'].includes(flag));
  if (unknown) throw new OciError(`update: ${unknown} is not supported (this runtime limits memory, cpu shares and quota, pids)`);
  const id = oneId(rest, 'update');
  const file = flags.get('--resources') ?? flags.get('-r');
  let changes: Record<string, Record<string, unknown>> = {};
  if (file !== undefined) {
    const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    try {
      changes = JSON.parse(text) as Record<string, Record<string, unknown>>;
    } catch (error) {
      throw new OciError(`update: --resources ${file} is not valid JSON (${(error as Error).message})`);
    }
  }
  const set = (block: string, key: string, value: number) => ((changes[block] ??= {})[key] = value);
  const number = (flag: string) => {
    const text = flags.get(flag)!;
    if (!/^-?\d+$/.test(text)) throw new OciError(`update: ${flag} ${text}: a whole number is expected`);
    return Number(text);
  };
  const bytes = (flag: string) => (flags.get(flag) === '-1' ? -1 : parseMemory(flags.get(flag)!, flag));
  if (flags.has('--memory')) set('memory', 'limit', bytes('--memory'));
  if (flags.has('--memory-swap')) set('memory', 'swap', bytes('--memory-swap'));
  if (flags.has('--cpu-shares')) set('cpu', 'shares', number('--cpu-shares'));
  if (flags.has('--cpu-quota')) set('cpu', 'quota', number('--cpu-quota'));
  if (flags.has('--cpu-period')) set('cpu', 'period', number('--cpu-period'));
  if (flags.has('--pids-limit')) set('pids', 'limit', number('--pids-limit'));
  if (!Object.keys(changes).length) throw new OciError('update: nothing to change: give --resources FILE or a limit flag');
  return { id, changes };
}

/** --user UID[:GID], numbers as runc takes them. */
function parseUser(text: string): { uid: number; gid: number } {
  const [uid, gid = '0'] = text.split(':');
  return { uid: wholeNumber(uid!, '--user'), gid: wholeNumber(gid, '--user') };
}

function wholeNumber(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new OciError(`${flag} ${text}: a number is expected`);
  return Number(text);
}

function oneId(rest: string[], command: string): string {
  if (rest.length !== 1) throw new OciError(`${command} takes exactly one container id`);
  return rest[0]!;
}

/** One command of the runtime, its containers' state kept under `stateDir` (runc's --root). */
export async function main(argv: string[], stateDir: string): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'create': {
      const { flags, rest } = parse(args, ['--bundle', '-b', '--pid-file', '--console-socket', '--preserve-fds']);
      const unknown = [...flags.keys()].find((flag) => !['--bundle', '-b', '--pid-file', '--console-socket', '--preserve-fds', '--no-pivot', '--no-new-keyring'].includes(flag));
      if (unknown) throw new OciError(`create: unknown flag ${unknown}`);
      const id = oneId(rest, 'create');
      const preserveFds = flags.has('--preserve-fds') ? wholeNumber(flags.get('--preserve-fds')!, '--preserve-fds') : undefined;
      const bundle = flags.get('--bundle') ?? flags.get('-b') ?? process.cwd();
      const consoleSocket = flags.get('--console-socket');
      // Handed off, as runc's create: init waits in its namespaces, adopted by our caller's subreaper.
      const { container } = await ociCreate(id, bundle, { pidFile: flags.get('--pid-file'), stateDir, consoleSocket: consoleSocket && path.resolve(consoleSocket), handOff: true, preserveFds, noPivot: flags.has('--no-pivot') });
      container.release();
      return 0;
    }
    case 'start':
      await ociStart(oneId(args, 'start'), stateDir);
      return 0;
    case 'update': {
      const { id, changes } = parseUpdate(args);
      const { warnings } = await ociUpdate(id, stateDir, changes);
      for (const warning of warnings) process.stderr.write(`WARNING: ${warning}\n`);
      return 0;
    }
    case 'pause':
      await ociPause(oneId(args, 'pause'), stateDir);
      return 0;
    case 'resume':
      await ociResume(oneId(args, 'resume'), stateDir);
      return 0;
    case 'state':
      process.stdout.write(`${JSON.stringify(specState(await ociState(oneId(args, 'state'), stateDir)), null, 2)}\n`);
      return 0;
    case 'kill': {
      const { flags, rest } = parse(args, []);
      if (rest.length < 1 || rest.length > 2) throw new OciError('kill takes a container id and an optional signal');
      await ociKill(rest[0]!, rest[1] ?? 'SIGTERM', stateDir, { all: flags.has('--all') || flags.has('-a') });
      return 0;
    }
    case 'ps': {
      const { flags, rest } = parse(args, ['--format', '-f']);
      const format = flags.get('--format') ?? flags.get('-f') ?? 'table';
      if (format !== 'table' && format !== 'json') throw new OciError(`--format ${format}: use table or json`);
      const pids = await ociPs(oneId(rest, 'ps'), stateDir);
      // runc ps: JSON is the PIDs alone (what containerd reads); the table is ps(1)'s, for those PIDs.
      if (format === 'json') process.stdout.write(`${JSON.stringify(pids)}\n`);
      else process.stdout.write(execFileSync('ps', ['-o', 'user,pid,ppid,stime,tty,time,args', '-p', pids.join(',')], { encoding: 'utf8' }));
      return 0;
    }
    case 'exec': {
      const { id, options } = parseExec(args);
      const container = await ociExec(id, stateDir, options);
      if (options.detach) {
        container.release(); // handed off: our caller's subreaper waits for it now
        return 0;
      }
      container.forwardSignals();
      return (await container.wait()).exitCode;
    }
    case 'delete': {
      const { flags, rest } = parse(args, []);
      await ociDelete(oneId(rest, 'delete'), { force: flags.has('--force') || flags.has('-f'), stateDir });
      return 0;
    }
    case 'events': {
      const { flags, rest } = parse(args, ['--interval']);
      if (!flags.has('--stats')) throw new OciError('events: only --stats (one look at the cgroup) is supported');
      process.stdout.write(`${JSON.stringify(await ociStats(oneId(rest, 'events'), stateDir))}\n`);
      return 0;
    }
    case 'features':
      if (args.length) throw new OciError('features takes no arguments');
      process.stdout.write(`${JSON.stringify(runtimeFeatures(), null, 2)}\n`);
      return 0;
    case 'spec': {
      const { flags, rest } = parse(args, ['--bundle', '-b']);
      if (rest.length) throw new OciError('spec takes no arguments (only --bundle DIR)');
      if (flags.has('--rootless')) throw new OciError('spec --rootless is not supported: this runtime needs root');
      const file = path.join(flags.get('--bundle') ?? flags.get('-b') ?? process.cwd(), 'config.json');
      // As runc: an existing config.json is never overwritten.
      try {
        writeFileSync(file, `${JSON.stringify(defaultConfig(), null, '\t')}\n`, { flag: 'wx' });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new OciError(code === 'EEXIST' ? `File ${file} exists. Remove it first` : `cannot write ${file}: ${code ?? (error as Error).message}`);
      }
      return 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

const { argv, debug } = takeDebugFlag(process.argv.slice(2));
let globals: GlobalFlags = { logFormat: 'text' };
try {
  const taken = takeGlobalFlags(argv);
  globals = taken.globals;
  // The processes this one starts (the container's monitor) keep the state in the same folder.
  if (globals.root) process.env.LAB_STATE_DIR = globals.root;
  process.exit(await main(takeMineFlag(taken.rest), globals.root ?? labStateDir()));
} catch (error) {
  // One line with the whole cause chain, as runc's; --debug or DEBUG=1: each layer with its stack.
  if (debug || globals.debug) process.stderr.write(`${formatErrorDebug(error)}\n`);
  const line = withKernelHint(formatErrorLine(error));
  logError(globals, line);
  process.stderr.write(`oci: ${line}\n`);
  process.exit(1);
}
