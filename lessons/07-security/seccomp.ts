/**
 * seccomp: a filter on the system calls themselves (seccomp(2), the kernel's
 * Documentation/userspace-api/seccomp_filter.rst).
 *
 * A thread may install a small BPF program that the kernel runs on every system call it makes: the
 * program sees the call's number, the CPU architecture and the six arguments, and answers ALLOW,
 * ERRNO(n), KILL, TRAP, LOG or TRACE. The filter passes to every child and through execve, and can only
 * ever be tightened.
 *
 * config.json describes a filter as JSON (linux.seccomp, config-linux.md "Seccomp"); Docker's and
 * podman's default profiles are files in exactly that format. Nobody writes the BPF by hand: like runc
 * and crun, this turns the profile into libseccomp's terms (this file: names → numbers, actions →
 * SCMP_ACT_* values) and libseccomp compiles it (src/sys). The checks on the architecture come first in
 * the program it makes: a 64-bit process can still make 32-bit calls, whose numbers mean other calls.
 */
import { ConfigError, type OciSeccomp } from '../../src/container/config.js';
import type { SeccompFilter, SeccompRule, Syscalls } from '../../src/sys/index.js';

/** seccomp.h's return values, as libseccomp names them. */
const SCMP_ACT = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000, // | errno in the low 16 bits: the call returns -1 with that errno
  TRACE: 0x7ff00000, // | a value for the tracer
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

const EPERM = 1;

/** The OCI action names actionValue takes (SCMP_ACT_NOTIFY is refused: it needs a seccomp agent). */
export const SECCOMP_ACTIONS = ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_TRACE', 'SCMP_ACT_LOG'] as const;

/** An OCI action name → libseccomp's value; ERRNO and TRACE carry a number. */
export function actionValue(action: string, errnoRet: number | undefined, field: string): number {
  // EXERCISE(seccomp.action): Turn an OCI action name into libseccomp's value: SCMP_ACT_ALLOW, SCMP_ACT_ERRNO (ERRNO | the errno, EPERM when errnoRet is not given), SCMP_ACT_KILL and SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE (TRACE | errnoRet, EPERM when not given), SCMP_ACT_LOG; throw a ConfigError naming `field` for SCMP_ACT_NOTIFY and for any other name.
  // HINT: The values are in SCMP_ACT above. An errno lives in the low 16 bits: (SCMP_ACT.ERRNO | (errno & 0xffff)) >>> 0 keeps the result unsigned.
  // HINT: A switch on the name, one case per action; KILL is the old name of KILL_THREAD.
  // HINT: config-linux.md "Seccomp" in the OCI runtime spec lists the names; seccomp_rule_add(3) the values.
  switch (action) {
    case 'SCMP_ACT_ALLOW': return SCMP_ACT.ALLOW;
    case 'SCMP_ACT_ERRNO': return (SCMP_ACT.ERRNO | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD': return SCMP_ACT.KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS': return SCMP_ACT.KILL_PROCESS;
    case 'SCMP_ACT_TRAP': return SCMP_ACT.TRAP;
    case 'SCMP_ACT_TRACE': return (SCMP_ACT.TRACE | ((errnoRet ?? EPERM) & 0xffff)) >>> 0;
    case 'SCMP_ACT_LOG': return SCMP_ACT.LOG;
    case 'SCMP_ACT_NOTIFY': throw new ConfigError(`${field}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which this runtime does not have`);
    default: throw new ConfigError(`${field}: unknown action "${action}" (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS ...)`);
  }
  // END EXERCISE
}

/** OCI architecture names → libseccomp's (seccomp_arch_resolve_name). */
export const ARCHITECTURES: Record<string, string> = {
  SCMP_ARCH_X86: 'x86', SCMP_ARCH_X86_64: 'x86_64', SCMP_ARCH_X32: 'x32', SCMP_ARCH_ARM: 'arm', SCMP_ARCH_AARCH64: 'aarch64',
  SCMP_ARCH_MIPS: 'mips', SCMP_ARCH_MIPS64: 'mips64', SCMP_ARCH_MIPS64N32: 'mips64n32', SCMP_ARCH_MIPSEL: 'mipsel',
  SCMP_ARCH_MIPSEL64: 'mipsel64', SCMP_ARCH_MIPSEL64N32: 'mipsel64n32', SCMP_ARCH_PPC: 'ppc', SCMP_ARCH_PPC64: 'ppc64',
  SCMP_ARCH_PPC64LE: 'ppc64le', SCMP_ARCH_S390: 's390', SCMP_ARCH_S390X: 's390x', SCMP_ARCH_RISCV64: 'riscv64',
};

/** The architectures a process on this machine can make calls as: the others are left out (runc keeps them; they would never match). */
const RUNS_HERE: Record<string, string[]> = { x64: ['x86_64', 'x86', 'x32'], arm64: ['aarch64', 'arm'], ia32: ['x86'], arm: ['arm'] };

/** linux.seccomp.flags → libseccomp filter attributes. */
export const FILTER_FLAGS: Record<string, string> = { SECCOMP_FILTER_FLAG_LOG: 'log', SECCOMP_FILTER_FLAG_SPEC_ALLOW: 'ssb', SECCOMP_FILTER_FLAG_TSYNC: 'tsync' };

/** enum scmp_compare. */
export const OPERATORS: Record<string, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};

/**
 * linux.seccomp → the filter init loads. Every name is checked here, on the host, so a bad profile
 * is refused by `create` in one line instead of failing inside the container.
 */
export function seccompFilter(profile: DockerProfile, options: FilterOptions = { noNewPrivileges: false }): SeccompFilter {
  if (typeof profile.defaultAction !== 'string') throw new ConfigError('linux.seccomp.defaultAction is missing');
  if (profile.listenerPath) throw new ConfigError('linux.seccomp.listenerPath: this runtime has no seccomp agent support');
  const defaultAction = actionValue(profile.defaultAction, profile.defaultErrnoRet, 'linux.seccomp.defaultAction');
  const runsHere = RUNS_HERE[options.arch ?? process.arch] ?? [];
  const architectures = (profile.architectures ?? archMapNames(profile, runsHere)).map((name) => {
    const arch = ARCHITECTURES[name];
    if (!arch) throw new ConfigError(`linux.seccomp.architectures: unknown architecture "${name}" (SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64 ...)`);
    return arch;
  }).filter((arch) => runsHere.includes(arch));
  const attributes = (profile.flags ?? []).map((flag) => {
    const attribute = FILTER_FLAGS[flag];
    if (!attribute) throw new ConfigError(`linux.seccomp.flags: unknown flag "${flag}"`);
    return attribute;
  });
  const rules: SeccompRule[] = [];
  (profile.syscalls ?? []).forEach((entry, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    if (!appliesHere(entry, options, runsHere[0])) return;
    const action = actionValue(entry.action, entry.errnoRet ?? profile.defaultErrnoRet, `${field}.action`);
    if (action === defaultAction) return; // libseccomp refuses a rule that changes nothing (runc skips it too)
    const args = (entry.args ?? []).map((arg, j) => {
      const op = OPERATORS[arg.op];
      if (op === undefined) throw new ConfigError(`${field}.args[${j}]: unknown operator "${arg.op}" (SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ ...)`);
      if (!(Number.isInteger(arg.index) && arg.index >= 0 && arg.index < 6)) throw new ConfigError(`${field}.args[${j}].index must be 0 to 5`);
      return { index: arg.index, op, value: BigInt(arg.value), valueTwo: BigInt(arg.valueTwo ?? 0) };
    });
    // libseccomp wants one comparison per argument in a rule; two on the same argument become two
    // rules (either may match), which is what runc does with Docker's profile.
    const sameArgumentTwice = new Set(args.map((arg) => arg.index)).size < args.length;
    for (const name of entry.names ?? []) {
      if (sameArgumentTwice) for (const arg of args) rules.push({ syscall: name, action, args: [arg] });
      else rules.push({ syscall: name, action, args });
    }
  });
  // Without no_new_privs, only a thread with CAP_SYS_ADMIN may install a filter: init still has it at
  // this point (see feature.ts for where the step goes).
  return { defaultAction, architectures, setNoNewPrivs: options.noNewPrivileges, attributes, rules };
}

/**
 * Docker's profile file (moby's profiles/seccomp/default.json) is linux.seccomp plus three extensions
 * the Docker engine resolves before it writes config.json: `archMap` (the architectures per machine),
 * and per entry `includes`/`excludes` (a rule only for containers with these capabilities, on these
 * architectures, from this kernel on). Read here the same way, so the file loads unchanged.
 */
export interface DockerProfile extends OciSeccomp {
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: (NonNullable<OciSeccomp['syscalls']>[number] & { includes?: Condition; excludes?: Condition })[];
}

interface Condition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface FilterOptions {
  noNewPrivileges: boolean;
  /** The container's bounding capabilities, for Docker's `includes.caps` (default: none). */
  capabilities?: string[];
  /** process.arch (default: this machine's). */
  arch?: string;
  /** The kernel's release, for Docker's `minKernel` (default: none known: such rules are left out). */
  kernel?: string;
}

/**
 * A profile in Docker's format as the Docker engine writes it into config.json: the entries for this
 * container's capabilities, architecture and kernel only, `archMap` resolved to `architectures` — plain
 * linux.seccomp that any runtime (runc too) applies the same way.
 */
export function resolveProfile(profile: DockerProfile, options: Omit<FilterOptions, 'noNewPrivileges'>): OciSeccomp {
  const runsHere = RUNS_HERE[options.arch ?? process.arch] ?? [];
  const { archMap, syscalls = [], ...rest } = profile;
  return {
    ...rest,
    ...(rest.architectures || !archMap ? {} : { architectures: archMapNames(profile, runsHere) }),
    syscalls: syscalls
      .filter((entry) => appliesHere(entry, { noNewPrivileges: false, ...options }, runsHere[0]))
      .map(({ includes: _includes, excludes: _excludes, ...entry }) => entry),
  };
}

/** OCI names of the architectures archMap lists for this machine: the native one and its sub-architectures. */
function archMapNames(profile: DockerProfile, runsHere: string[]): string[] {
  const entry = profile.archMap?.find((map) => ARCHITECTURES[map.architecture] === runsHere[0]);
  return entry ? [entry.architecture, ...(entry.subArchitectures ?? [])] : [];
}

/** Docker's includes/excludes: does this rule apply to this container on this machine? */
function appliesHere(entry: { includes?: Condition; excludes?: Condition }, options: FilterOptions, nativeArch: string | undefined): boolean {
  const caps = new Set(options.capabilities ?? []);
  const archOf = (name: string) => name.replace(/^(?!SCMP_ARCH_)/, ''); // Docker writes "amd64", "x86_64" ...
  const archHere = (arches: string[]) => arches.some((name) => [nativeArch, nativeArch === 'x86_64' ? 'amd64' : nativeArch === 'aarch64' ? 'arm64' : ''].includes(archOf(name)));
  const { includes = {}, excludes = {} } = entry;
  if (includes.caps && !includes.caps.every((cap) => caps.has(cap))) return false;
  if (includes.arches && !archHere(includes.arches)) return false;
  if (includes.minKernel && !(options.kernel && kernelAtLeast(options.kernel, includes.minKernel))) return false;
  if (excludes.caps && excludes.caps.some((cap) => caps.has(cap))) return false;
  if (excludes.arches && archHere(excludes.arches)) return false;
  return true;
}

/** "6.1.0-57-amd64" ≥ "4.8"? */
export function kernelAtLeast(release: string, minimum: string): boolean {
  const parts = (text: string) => text.split(/[.-]/).slice(0, 2).map(Number);
  const [major = 0, minor = 0] = parts(release);
  const [wantMajor = 0, wantMinor = 0] = parts(minimum);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

/** Init's step: the filter, loaded on init's main thread — the one that execs the command. */
export function loadSeccomp(sys: Syscalls, filter: SeccompFilter): void {
  sys.seccompLoad(reviveBigints(filter));
}

/** Steps travel as JSON: bigints go as decimal strings and come back here. */
export function seccompStepConfig(filter: SeccompFilter): unknown {
  return { ...filter, rules: filter.rules.map((rule) => ({ ...rule, args: rule.args.map((arg) => ({ ...arg, value: String(arg.value), valueTwo: String(arg.valueTwo) })) })) };
}

function reviveBigints(filter: SeccompFilter): SeccompFilter {
  return { ...filter, rules: filter.rules.map((rule) => ({ ...rule, args: rule.args.map((arg) => ({ ...arg, value: BigInt(arg.value), valueTwo: BigInt(arg.valueTwo) })) })) };
}
