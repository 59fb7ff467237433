/**
 * Lesson 04 — Docker's resource flags, parsed once, into the numbers the kernel wants.
 *
 *   docker run --memory 64m --memory-swap 64m --cpus 0.5 --cpu-shares 512 --pids-limit 32 ...
 *
 * Docker does not hand these flags to the kernel. It turns them into the `linux.resources` block of
 * the OCI runtime spec (config.json), and runc (or crun) writes that block into cgroup files. The
 * `Resources` type below is that block, trimmed to what this lesson limits; the managers in v1.ts
 * and v2.ts write it to cgroup v1 or cgroup v2 files. Everything in this file is pure: no root needed.
 */
import { availableParallelism } from 'node:os';

/** OCI `linux.resources`, the parts this lesson uses. Absent = not limited (the kernel's default). */
export interface Resources {
  memory?: {
    /** Bytes of memory (RAM) the cgroup may use: --memory. */
    limit: number;
    /**
     * Bytes of memory PLUS swap: --memory-swap, -1 for unlimited swap. OCI counts the two together
     * because cgroup v1 does (memory.memsw.limit_in_bytes); cgroup v2 wants the swap alone, see
     * swapForCgroupV2().
     */
    swap: number;
  };
  cpu?: {
    /** Microseconds of CPU time the cgroup may use per period: --cpus 0.5 → 50000 of 100000. */
    quota?: number;
    period?: number;
    /** Relative weight under contention, cgroup v1 style: --cpu-shares (default 1024). */
    shares?: number;
  };
  pids?: {
    /** The most tasks (processes and threads) the cgroup may hold; -1 = no limit. */
    limit: number;
  };
}

/** A flag value Docker would reject. The message is one line: what was wrong, and what is expected. */
export class LimitError extends Error {
  override name = 'LimitError';
}

/** Docker refuses memory limits below 6 MiB ("Minimum memory limit allowed is 6MB"): too little to start anything. */
export const DOCKER_MIN_MEMORY = 6 * 1024 * 1024;

/** The CFS period Docker uses for --cpus: 100 ms, the kernel's default cpu.cfs_period_us. */
export const CPU_PERIOD_USEC = 100_000;

/** cgroup v1 cpu.shares range (kernel MIN_SHARES/MAX_SHARES) and cgroup v2 cpu.weight range. */
export const MIN_SHARES = 2;
export const MAX_SHARES = 262_144;
export const DEFAULT_SHARES = 1024;
export const MAX_WEIGHT = 10_000;

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * "64m" → 67108864. A number with an optional unit b, k, m or g (powers of 1024, upper or lower case),
 * as Docker's --memory takes it. Throws a LimitError naming the flag otherwise.
 */
export function parseMemory(text: string, flag = '--memory'): number {
  // EXERCISE(limits.memory): Parse a size such as "64m", "1.5g", "512K" or "1048576" into bytes: a number (decimals allowed) with an optional unit b, k, m or g in either case, powers of 1024, rounded down; anything else throws a LimitError that names the flag and the text.
  // HINT: Take the text apart into a number and an optional unit; everything that does not have that shape is an error: "", "m", "-64m", "64mm", "6 4m".
  // HINT: One anchored regular expression with two groups and the i flag does it; the units are powers of 1024 (UNITS above), no unit means bytes; Math.floor rounds down.
  // HINT: Docker's "Resource constraints" page (--memory), and RegExp on MDN.
  const match = /^(\d+(?:\.\d+)?)([bkmg])?$/i.exec(text.trim());
  if (!match) throw new LimitError(`invalid ${flag} "${text}": use a number with an optional unit b, k, m or g, e.g. 64m`);
  const unit = (match[2] ?? 'b').toLowerCase();
  return Math.floor(Number(match[1]) * UNITS[unit]!);
  // END EXERCISE
}

/**
 * --cpus 0.5 → { quota: 50000, period: 100000 }: in every 100 ms period, the cgroup's processes may
 * run for 50 ms in total (on any number of CPUs), then they wait for the next period. That is how
 * "half a CPU" is enforced: not by slowing the CPU down, but by switching it off for the cgroup.
 */
export function cpusToQuota(cpus: number): { quota: number; period: number } {
  // EXERCISE(limits.cpus): Turn a number of CPUs (0.5, 1.5, 2) into a CFS quota and period in microseconds, with Docker's 100000 µs period.
  // HINT: quota / period = cpus: half a CPU is 50 ms of CPU time in every 100 ms.
  // HINT: The period is fixed: CPU_PERIOD_USEC (100000 µs). The quota is cpus times that, rounded to whole microseconds.
  // HINT: Docker's "Resource constraints" page (--cpus), and the kernel's Documentation/scheduler/sched-bwc.rst (CFS bandwidth control).
  return { quota: Math.round(cpus * CPU_PERIOD_USEC), period: CPU_PERIOD_USEC };
  // END EXERCISE
}

/**
 * cgroup v2 has no cpu.shares; its cpu.weight (1–10000, default 100) plays that part. The OCI spec
 * still speaks v1 shares (2–262144, default 1024), so runtimes convert. The first conversion (runc,
 * crun until 2025) was a straight line from [2, 262144] to [1, 10000]: 1 + (shares − 2) × 9999 / 262142.
 * It mapped Docker's default 1024 to weight 39 instead of the kernel's default 100, so a container
 * with default shares got less CPU than a plain process next to it. Today's runc (opencontainers/cgroups
 * ConvertCPUSharesToCgroupV2Value) and crun use a curve through the three points that matter —
 * 2 → 1, 1024 → 100, 262144 → 10000 — quadratic in log2(shares), on a log10 scale:
 *
 *   l = log2(shares);  weight = ⌈10 ^ ((l² + 125·l) / 612 − 7/34)⌉
 */
export function sharesToWeight(shares: number): number {
  // EXERCISE(limits.weight): Convert cgroup v1 cpu.shares into a cgroup v2 cpu.weight with runc's and crun's current formula (0 stays 0: unset).
  // HINT: Handle the ends first: 0 stays 0 (unset), shares ≤ 2 give 1, shares ≥ 262144 give 10000. The curve is for what lies between.
  // HINT: The curve is in this lesson's README ("The three limits"): a power of 10 of a quadratic in log2(shares), rounded up. Check: 1024 gives 100.
  // HINT: runc's ConvertCPUSharesToCgroupV2Value (opencontainers/cgroups, utils.go), and cpu.weight in the kernel's Documentation/admin-guide/cgroup-v2.rst.
  if (shares === 0) return 0;
  if (shares <= MIN_SHARES) return 1;
  if (shares >= MAX_SHARES) return MAX_WEIGHT;
  const l = Math.log2(shares);
  return Math.ceil(10 ** ((l * l + 125 * l) / 612 - 7 / 34));
  // END EXERCISE
}

/**
 * OCI's memory.swap is memory + swap; cgroup v2's memory.swap.max is swap alone. runc's
 * ConvertMemorySwapToCgroupV2Value: -1 stays -1 ("max"), otherwise subtract the memory limit.
 * --memory 64m --memory-swap 64m therefore means memory.swap.max = 0: no swap at all.
 */
export function swapForCgroupV2(memory: { limit: number; swap: number }): number {
  if (memory.swap === -1) return -1;
  if (memory.swap < memory.limit) throw new LimitError(`invalid --memory-swap: it must be at least --memory (it counts memory plus swap)`);
  return memory.swap - memory.limit;
}

/** "0.5" → 0.5, within Docker's range: 0.01 CPU up to the number of CPUs the machine has. */
export function parseCpus(text: string, hostCpus: number = availableParallelism()): number {
  const cpus = /^\d*\.?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(cpus >= 0.01 && cpus <= hostCpus)) {
    throw new LimitError(`invalid --cpus "${text}": use a number of CPUs from 0.01 to ${hostCpus} (this machine has ${hostCpus}), e.g. 0.5`);
  }
  return cpus;
}

/** "512" → 512. 0 means "the default" to Docker, so it is left unset. */
export function parseCpuShares(text: string): number {
  const shares = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(shares === 0 || (shares >= MIN_SHARES && shares <= MAX_SHARES))) {
    throw new LimitError(`invalid --cpu-shares "${text}": use a whole number from ${MIN_SHARES} to ${MAX_SHARES} (${DEFAULT_SHARES} is the default)`);
  }
  return shares;
}

/** "32" → 32; "-1" and "0" → -1, unlimited, as Docker treats them. */
export function parsePidsLimit(text: string): number {
  if (!/^-?\d+$/.test(text.trim()) || Number(text) < -1) {
    throw new LimitError(`invalid --pids-limit "${text}": use a whole number of processes, e.g. 32 (-1 or 0: no limit)`);
  }
  const limit = Number(text);
  return limit <= 0 ? -1 : limit;
}

const FLAGS = ['--memory', '--memory-swap', '--cpus', '--cpu-shares', '--pids-limit'] as const;
type Flag = (typeof FLAGS)[number];
/** Docker's short form: -m 64m. */
const ALIASES: Record<string, Flag> = { '-m': '--memory' };

/**
 * Docker's limit flags, as given on its command line, into Resources:
 *
 *   parseLimitFlags(['--memory', '64m', '--cpus=0.5', '--pids-limit', '32'])
 *
 * One difference from Docker, on purpose: without --memory-swap, Docker lets a container swap as much
 * as its memory limit (memory+swap = twice --memory). The lab's default is no swap, so that a container
 * over its limit is OOM-killed at once instead of slowly swapping — which is what the lesson shows.
 */
export function parseLimitFlags(argv: readonly string[], hostCpus: number = availableParallelism()): Resources {
  const values = new Map<Flag, string>();
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index]!;
    const [name, inline] = word.includes('=') ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)] : [word, undefined];
    const flag = ALIASES[name] ?? (FLAGS as readonly string[]).find((known) => known === name);
    if (!flag) throw new LimitError(`unknown flag "${word}": the limit flags are ${FLAGS.join(', ')}`);
    const value = inline ?? argv[++index];
    if (value === undefined) throw new LimitError(`${flag} needs a value, e.g. ${flag} ${example(flag as Flag)}`);
    values.set(flag as Flag, value);
  }

  const resources: Resources = {};
  const memory = values.get('--memory');
  const memorySwap = values.get('--memory-swap');
  if (memory !== undefined) {
    const limit = parseMemory(memory);
    if (limit < DOCKER_MIN_MEMORY) throw new LimitError(`invalid --memory "${memory}": the minimum is 6m, as in Docker (less cannot even start a process)`);
    const swap = memorySwap === undefined ? limit : memorySwap.trim() === '-1' ? -1 : parseMemory(memorySwap, '--memory-swap');
    resources.memory = { limit, swap };
    swapForCgroupV2(resources.memory); // swap below memory is an error on either version
  } else if (memorySwap !== undefined) {
    throw new LimitError('--memory-swap needs --memory too: it is the limit of memory plus swap');
  }

  const cpus = values.get('--cpus');
  const shares = values.get('--cpu-shares');
  if (cpus !== undefined || shares !== undefined) {
    resources.cpu = {};
    if (cpus !== undefined) Object.assign(resources.cpu, cpusToQuota(parseCpus(cpus, hostCpus)));
    const parsedShares = shares === undefined ? 0 : parseCpuShares(shares);
    if (parsedShares !== 0) resources.cpu.shares = parsedShares;
  }

  const pids = values.get('--pids-limit');
  if (pids !== undefined) resources.pids = { limit: parsePidsLimit(pids) };
  return resources;
}

function example(flag: Flag): string {
  return { '--memory': '64m', '--memory-swap': '64m', '--cpus': '0.5', '--cpu-shares': '512', '--pids-limit': '32' }[flag];
}

/** The Docker command line that asks for these resources: for narration and error messages. */
export function describeResources(resources: Resources): string {
  const parts: string[] = [];
  if (resources.memory) {
    parts.push(`--memory ${formatBytes(resources.memory.limit)}`);
    parts.push(`--memory-swap ${resources.memory.swap === -1 ? '-1' : formatBytes(resources.memory.swap)}`);
  }
  if (resources.cpu?.quota !== undefined) parts.push(`--cpus ${resources.cpu.quota / (resources.cpu.period ?? CPU_PERIOD_USEC)}`);
  if (resources.cpu?.shares !== undefined) parts.push(`--cpu-shares ${resources.cpu.shares}`);
  if (resources.pids) parts.push(`--pids-limit ${resources.pids.limit}`);
  return parts.join(' ') || '(no limits)';
}

/** 67108864 → "64m": the shortest exact form in Docker's units. */
export function formatBytes(bytes: number): string {
  for (const unit of ['g', 'm', 'k'] as const) {
    if (bytes >= UNITS[unit]! && bytes % UNITS[unit]! === 0) return `${bytes / UNITS[unit]!}${unit}`;
  }
  return `${bytes}b`;
}
