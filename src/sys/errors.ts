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
