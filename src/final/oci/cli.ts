/**
 * The low-level runtime's command line, shaped like runc's and crun's (the OCI runtime command-line
 * interface: github.com/opencontainers/runtime-tools/docs/command-line-interface.md):
 *
 *   oci create [--bundle DIR] [--pid-file FILE] ID
 *   oci start ID
 *   oci state ID
 *   oci kill ID [SIGNAL]
 *   oci delete [--force] ID
 *   oci spec [--bundle DIR]          a config.json to start from, as `runc spec` writes it
 *
 * Errors are one line on stderr (--debug first, or DEBUG=1: the cause chain with stacks) and exit
 * status 1; they change nothing.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { OciError, defaultConfig } from './spec.js';
import { ociCreate, ociDelete, ociKill, ociStart, ociState } from './runtime.js';
import { specState } from './state.js';
import { takeMineFlag } from '../../build/bundle.js';
import { withKernelHint } from '../kernel-hints.js';
import { formatErrorDebug, formatErrorLine, takeDebugFlag } from '../../sys/errors.js';

const USAGE = 'usage: oci create [--bundle DIR] [--pid-file FILE] ID | start ID | state ID | kill ID [SIGNAL] | delete [--force] ID | spec [--bundle DIR]';

/** Splits argv into --flags (with their values, for the ones that take one) and the rest. */
function parse(args: string[], valued: string[]): { flags: Map<string, string>; rest: string[] } {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.split('=', 2) as [string, string | undefined];
    if (valued.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new OciError(`${name} needs a value`);
      flags.set(name, value);
    } else if (arg.startsWith('-') && arg.length > 1 && rest.length === 0) flags.set(arg, '');
    else rest.push(arg);
  }
  return { flags, rest };
}

function oneId(rest: string[], command: string): string {
  if (rest.length !== 1) throw new OciError(`${command} takes exactly one container id`);
  return rest[0]!;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'create': {
      const { flags, rest } = parse(args, ['--bundle', '-b', '--pid-file']);
      const id = oneId(rest, 'create');
      const bundle = flags.get('--bundle') ?? flags.get('-b') ?? process.cwd();
      const { container } = await ociCreate(id, bundle, { pidFile: flags.get('--pid-file') });
      container.release(); // the monitor is the container's shim now; this process may go
      return 0;
    }
    case 'start':
      await ociStart(oneId(args, 'start'));
      return 0;
    case 'state':
      process.stdout.write(`${JSON.stringify(specState(await ociState(oneId(args, 'state'))), null, 2)}\n`);
      return 0;
    case 'kill': {
      if (args.length < 1 || args.length > 2) throw new OciError('kill takes a container id and an optional signal');
      await ociKill(args[0]!, args[1] ?? 'SIGTERM');
      return 0;
    }
    case 'delete': {
      const { flags, rest } = parse(args, []);
      await ociDelete(oneId(rest, 'delete'), { force: flags.has('--force') || flags.has('-f') });
      return 0;
    }
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
try {
  process.exit(await main(takeMineFlag(argv)));
} catch (error) {
  // One line with the whole cause chain, as runc's; --debug or DEBUG=1: each layer with its stack.
  if (debug) process.stderr.write(`${formatErrorDebug(error)}\n`);
  process.stderr.write(`oci: ${withKernelHint(formatErrorLine(error))}\n`);
  process.exit(1);
}
