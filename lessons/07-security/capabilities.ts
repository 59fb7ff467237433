/**
 * Capabilities: root's power cut into pieces (capabilities(7)).
 *
 * The kernel does not ask "is this UID 0?" but "does this thread hold CAP_X?". Each thread has five
 * sets, shown as hex masks in /proc/PID/status (bit N = capability N):
 *
 *   CapBnd  bounding     the most this thread and everything it executes can ever get back
 *   CapPrm  permitted    what it may switch on
 *   CapEff  effective    what the kernel checks now
 *   CapInh  inheritable  what may pass through execve to a program whose file grants it
 *   CapAmb  ambient      what passes through execve to any program that is not setuid
 *
 * A container's init starts with all of them (it is root, started by root) and drops what config.json's
 * process.capabilities does not list, right before exec — as runc does.
 */
import { ConfigError, type OciCapabilities } from '../../src/container/config.js';
import { PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAP_AMBIENT_RAISE, type Syscalls } from '../../src/sys/index.js';

/** Every capability, at the bit it has in the kernel (linux/capability.h): CAP_CHOWN is bit 0. */
export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap): newer names are skipped. */
export function lastCapability(read: () => string): number {
  try {
    return Number(read().trim());
  } catch {
    return CAPABILITIES.length - 1;
  }
}

/** "CAP_SYS_ADMIN" → 21; the error names the field it came from. */
export function capabilityBit(name: string, field = 'process.capabilities'): number {
  const bit = (CAPABILITIES as readonly string[]).indexOf(name);
  if (bit < 0) throw new ConfigError(`${field}: unknown capability "${name}" (names look like CAP_CHOWN; see capabilities(7))`);
  return bit;
}

/** A list of names → a mask, bit N set for capability N. */
export function capabilityMask(names: readonly string[], field?: string): bigint {
  return names.reduce((mask, name) => mask | (1n << BigInt(capabilityBit(name, field))), 0n);
}

/** A mask as /proc/PID/status prints it ("000001ffffffffff") → names, as `capsh --decode` does. */
export function decodeCapabilities(mask: string | bigint): string[] {
  // EXERCISE(capabilities.decode): Turn a capability mask (a bigint, or hex digits as /proc/self/status prints them, like "00000000a80425fb") into the names of its set bits, in bit order: bit N is CAPABILITIES[N].
  // HINT: BigInt("0x" + digits) reads the hex digits; a bigint has the same bit operators as a number, with n after the literals (1n, 0n).
  // HINT: Bit N is set when (mask >> BigInt(N)) & 1n is 1n. Walk CAPABILITIES with its index: that index is the bit.
  // HINT: capsh --decode=00000000a80425fb prints the same list (man 7 capabilities, man 1 capsh).
  const value = typeof mask === 'bigint' ? mask : BigInt(`0x${mask.trim()}`);
  return CAPABILITIES.filter((_name, bit) => (value >> BigInt(bit)) & 1n);
  // END EXERCISE
}

/** The five sets as init applies them, each a mask. */
export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/** config.json's process.capabilities → masks; a set it leaves out is empty (the runtime spec's rule). */
export function capabilitySets(capabilities: OciCapabilities): CapabilitySets {
  const mask = (set: keyof OciCapabilities) => capabilityMask(capabilities[set] ?? [], `process.capabilities.${set}`);
  return { bounding: mask('bounding'), effective: mask('effective'), permitted: mask('permitted'), inheritable: mask('inheritable'), ambient: mask('ambient') };
}

/** The sets as a step's config carries them: hex strings (JSON has no 64-bit integers). */
export type CapabilityStepConfig = { sets: Record<keyof CapabilitySets, string>; last: number };

const setsOf = (config: CapabilityStepConfig) => Object.fromEntries(Object.entries(config.sets).map(([name, hex]) => [name, BigInt(hex)])) as unknown as CapabilitySets;

/**
 * Init's step, first half: shrink the bounding set, one prctl(PR_CAPBSET_DROP) per capability. It
 * needs CAP_SETPCAP in the effective set, so it comes before the user changes (a new UID empties the
 * effective set) and before capset (runc: ApplyBoundingSet, then setupUser, then ApplyCaps).
 */
export function dropBoundingSet(sys: Syscalls, config: CapabilityStepConfig): void {
  const { bounding } = setsOf(config);
  // EXERCISE(capabilities.bounding): For every capability from 0 to config.last that the bounding mask does not hold, drop it from the bounding set with prctl(PR_CAPBSET_DROP, capability), in bit order.
  // HINT: The bounding set only shrinks: there is no call that adds to it, so each capability it must not hold is dropped one by one.
  // HINT: config.last is the kernel's highest capability (/proc/sys/kernel/cap_last_cap): prctl refuses numbers above it with EINVAL.
  // HINT: man 2 prctl (PR_CAPBSET_DROP); runc: ApplyBoundingSet in libcontainer/capabilities.
  for (let bit = 0; bit <= config.last; bit++) {
    if (!((bounding >> BigInt(bit)) & 1n)) sys.prctl(PR_CAPBSET_DROP, bit);
  }
  // END EXERCISE
}

/**
 * Init's step, second half: the effective, permitted and inheritable sets with capset(2), then the
 * ambient set — a capability raised to ambient must already be permitted and inheritable.
 */
export function applyCapabilities(sys: Syscalls, config: CapabilityStepConfig): void {
  const sets = setsOf(config);
  // EXERCISE(capabilities.apply): Set the effective, permitted and inheritable sets with one capset call, then empty the ambient set (PR_CAP_AMBIENT_CLEAR_ALL) and raise each ambient capability (PR_CAP_AMBIENT_RAISE), in bit order.
  // HINT: sys.capset takes the three masks at once. The ambient set is not part of it: prctl(PR_CAP_AMBIENT, operation, capability) changes it.
  // HINT: Clear first, so nothing the runtime had stays ambient; then raise — one prctl per capability set in sets.ambient, from bit 0 to config.last.
  // HINT: man 2 capset, man 2 prctl (PR_CAP_AMBIENT), man 7 capabilities ("Ambient capability set").
  sys.capset({ effective: sets.effective, permitted: sets.permitted, inheritable: sets.inheritable });
  sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0);
  for (let bit = 0; bit <= config.last; bit++) {
    if ((sets.ambient >> BigInt(bit)) & 1n) sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, bit);
  }
  // END EXERCISE
}
