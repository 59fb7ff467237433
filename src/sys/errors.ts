import { constants } from 'node:os';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, number]) => [number, name]),
);

/** "EINVAL" for 22: the name the man pages use in their ERRORS sections. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/**
 * A failed system call, named the way strace shows it:
 *   mount("overlay", "/x", "overlay", 0x0, "lowerdir=…"): EINVAL — Invalid argument
 * `code` carries the errno name so callers can branch on it (error.code === 'EPERM').
 */
export class SyscallError extends Error {
  override name = 'SyscallError';
  readonly code: string;

  constructor(
    readonly call: string,
    readonly args: readonly unknown[],
    readonly errno: number,
    description: string,
  ) {
    const code = errnoName(errno);
    super(`${call}(${args.map(formatArgument).join(', ')}): ${code} — ${description}`);
    this.code = code;
  }
}

function formatArgument(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return value >= 0x1000 ? `0x${value.toString(16)}` : String(value);
  if (Array.isArray(value)) return `[${value.map(formatArgument).join(', ')}]`;
  if (value === null || value === undefined) return 'NULL';
  return String(value);
}

/**
 * An error and its causes (Error.cause), outermost first: each layer says what it was doing, the last
 * one what the kernel or the file system answered. Stops at anything that is not an Error, and at a loop.
 */
export function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current: unknown = error; current !== undefined && !chain.includes(current); current = (current as Error).cause) {
    chain.push(current);
    if (!(current instanceof Error)) break;
  }
  return chain;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The whole chain in one line, for the person at the keyboard — what each layer was doing, joined
 * with ": " as Go's wrapped errors read (runc: `create container abc: mount /data: ENOENT`):
 *
 *   create container abc: step "ociRootfs" (lesson 03 (mount)): mount /data: ENOENT: no such file …
 *
 * Each message counts with its first line only; a cause whose text its wrapper already quotes is not
 * repeated (many layers write `${what}: ${cause.message}` and pass the cause along too).
 */
export function formatErrorLine(error: unknown): string {
  let line = '';
  for (const layer of errorChain(error)) {
    const message = messageOf(layer).split('\n').map((text) => text.trim()).find(Boolean) ?? '';
    if (!message || line.includes(message)) continue;
    line = line ? `${line}: ${message}` : message;
  }
  return line || String(error);
}

/** The chain for whoever debugs it (--debug, DEBUG=1): every layer with its stack, outermost first. */
export function formatErrorDebug(error: unknown): string {
  return errorChain(error)
    .map((layer, index) => `${index ? 'caused by: ' : ''}${layer instanceof Error ? (layer.stack ?? `${layer.name}: ${layer.message}`) : String(layer)}`)
    .join('\n');
}

/** The first `exitCode` any layer of the chain carries (Docker's 125/126/127 travel on the innermost). */
export function exitCodeInChain(error: unknown): number | undefined {
  for (const layer of errorChain(error)) {
    const code = (layer as { exitCode?: unknown } | null)?.exitCode;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

/**
 * The global --debug switch (`docker --debug run …`), taken from the options before the command — a
 * `--debug` after it belongs to the command or the container's program — or DEBUG=1 in the environment.
 * With it, the command-line tools print errors with formatErrorDebug.
 */
export function takeDebugFlag(argv: string[]): { argv: string[]; debug: boolean } {
  const globals = argv.findIndex((arg) => !arg.startsWith('--'));
  const leading = globals < 0 ? argv.length : globals;
  const flag = argv.slice(0, leading).indexOf('--debug');
  const fromEnvironment = !!process.env.DEBUG && process.env.DEBUG !== '0';
  if (flag < 0) return { argv, debug: fromEnvironment };
  return { argv: [...argv.slice(0, flag), ...argv.slice(flag + 1)], debug: true };
}
