/**
 * Lesson 06 — IP address management (IPAM): every container on the bridge gets an address of its own.
 *
 * Docker's bridge driver hands out addresses from the bridge's subnet (172.17.0.0/16 for docker0): the
 * bridge itself is the gateway, .1, and each container gets the lowest free one. The hard part is not
 * the arithmetic but "free": two `docker run`s at the same moment must never get the same address, and
 * an address must come back when its container is gone — also when nobody said goodbye (kill -9).
 *
 * This lab does what CNI's host-local IPAM plugin does (containernetworking/plugins,
 * plugins/ipam/host-local): one file per leased address, named after the address and saying whose it
 * is, in a folder guarded by a lock file that every allocator takes with flock(2):
 *
 *   <state>/network/<host>/lock
 *   <state>/network/<host>/leases/172.29.0.2     {"containerId": "…", "pid": 4711, "startTime": "…"}
 *
 * Why flock and not a lock file that is created and deleted? The kernel drops a flock when its holder
 * closes the file or dies, however it dies; a "lock file" left by a crashed process blocks everyone
 * until someone guesses it is stale. And each lease is created with O_CREAT|O_EXCL (`wx`), which fails
 * if the file exists: even a process that ignored the lock could not take an address twice.
 */
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { readJsonFile } from '../../src/sys/json.js';
import { withLockSync } from '../../src/sys/lock.js';
import { processStartTime } from '../../src/sys/process.js';

/** An IPv4 subnet such as 172.29.0.0/24. */
export interface Subnet {
  /** The network address as an unsigned 32-bit number (172.29.0.0 → 2887581696). */
  network: number;
  /** The prefix length: how many leading bits name the network (24). */
  prefix: number;
}

/** "172.29.0.2" → 2887581698. Throws on anything that is not a dotted quad. */
export function addressToNumber(address: string): number {
  const parts = address.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255)) {
    throw new Error(`not an IPv4 address: "${address}"`);
  }
  // `>>> 0` keeps the result an unsigned 32-bit number; JavaScript's bit operators are signed.
  return parts.reduce((value, part) => ((value << 8) | Number(part)) >>> 0, 0);
}

/** 2887581698 → "172.29.0.2". */
export function numberToAddress(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

/** "172.29.0.0/24" → { network, prefix }. The address must be the network's first (no host bits set). */
export function parseSubnet(cidr: string): Subnet {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  const prefix = Number(match?.[2]);
  if (!match || prefix > 30) throw new Error(`not an IPv4 subnet with room for hosts: "${cidr}"`);
  const network = addressToNumber(match[1]!);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((network & mask) >>> 0 !== network) throw new Error(`"${cidr}" has host bits set; did you mean ${numberToAddress((network & mask) >>> 0)}/${prefix}?`);
  return { network, prefix };
}

/** Is `address` inside `subnet`? */
export function inSubnet(address: string, subnet: Subnet): boolean {
  const size = 2 ** (32 - subnet.prefix);
  const value = addressToNumber(address);
  return value >= subnet.network && value < subnet.network + size;
}

/**
 * The lowest address of `subnet` a host may have that is not in `taken`, or null when none is left.
 * The first address of a subnet names the network itself and the last is its broadcast address:
 * neither can be given to a host. `taken` holds the gateway (the bridge's own address) and the leases.
 */
export function nextFreeAddress(subnet: Subnet, taken: ReadonlySet<string>): string | null {
  // EXERCISE(net.ipam): Return the lowest usable address of the subnet that is not in `taken` (dotted text), or null when there is none.
  // HINT: The subnet has 2 ** (32 - subnet.prefix) addresses, from subnet.network up; the first (the network) and the last (broadcast) are never handed out.
  // HINT: Count up from the first usable address, turn each number into dotted text with numberToAddress, and return the first that is not in `taken`; past the last usable one, null.
  // HINT: RFC 1122, section 3.2.1.3 (the all-zeros and all-ones host parts); Docker's IPAM does the same in libnetwork/ipams.
  const size = 2 ** (32 - subnet.prefix);
  for (let value = subnet.network + 1; value < subnet.network + size - 1; value++) {
    const address = numberToAddress(value);
    if (!taken.has(address)) return address;
  }
  return null;
  // END EXERCISE
}

/** Who holds an address: a container, known to the host by the PID of its first process. */
export interface LeaseOwner {
  containerId: string;
  pid: number;
}

export interface Lease extends LeaseOwner {
  address: string;
  /**
   * The owner's start time (field 22 of /proc/PID/stat, in clock ticks since boot). PIDs are reused;
   * a PID with the same start time is the same process. null when it could not be read.
   */
  startTime: string | null;
}

/** Is the lease's owner still running (the same process, not a new one that got its PID)? */
export function ownerAlive(lease: Lease): boolean {
  const now = processStartTime(lease.pid);
  return now !== null && (lease.startTime === null || now === lease.startTime);
}

export class AddressPoolExhausted extends Error {
  override name = 'AddressPoolExhausted';
}

/** The leases of one subnet on one host, kept as files (see the top of this file). */
export class AddressPool {
  readonly leaseDir: string;
  private readonly lockFile: string;

  constructor(
    readonly dir: string,
    readonly subnet: Subnet,
    /** Addresses never handed out: the gateway (the bridge's own address). */
    readonly reserved: readonly string[],
  ) {
    this.leaseDir = path.join(dir, 'leases');
    this.lockFile = path.join(dir, 'lock');
  }

  /**
   * Leases the lowest free address to `owner`. Leases whose owner is gone are reclaimed first (their
   * iptables rules are the network's business: see cleanUpStale in network.ts).
   */
  allocate(owner: LeaseOwner): Lease {
    return this.withLock(() => {
      this.reclaimStaleLocked();
      const taken = new Set([...this.reserved, ...this.readLeases().map((lease) => lease.address)]);
      for (;;) {
        const address = nextFreeAddress(this.subnet, taken);
        if (address === null) throw new AddressPoolExhausted(`no free address left in ${numberToAddress(this.subnet.network)}/${this.subnet.prefix}`);
        const lease: Lease = { address, containerId: owner.containerId, pid: owner.pid, startTime: processStartTime(owner.pid) };
        if (this.createLease(lease)) return lease;
        taken.add(address); // someone holds it without the lock: leave it to them
      }
    });
  }

  /** Gives an address back, if `containerId` holds it. Returns whether it did. */
  release(address: string, containerId: string): boolean {
    return this.withLock(() => {
      const lease = this.readLeases().find((entry) => entry.address === address);
      if (!lease || lease.containerId !== containerId) return false;
      rmSync(path.join(this.leaseDir, address), { force: true });
      return true;
    });
  }

  /** Every lease, live or not. */
  leases(): Lease[] {
    return this.withLock(() => this.readLeases());
  }

  /** Removes the leases whose owner process has gone, and returns them. */
  reclaimStale(): Lease[] {
    return this.withLock(() => this.reclaimStaleLocked());
  }

  /**
   * Runs `work` holding the pool's lock (src/sys/lock.ts). Everything inside is synchronous on purpose:
   * flock(2) blocks the thread until the lock is free, and no other code of this process may run meanwhile.
   */
  withLock<T>(work: () => T): T {
    mkdirSync(this.leaseDir, { recursive: true });
    return withLockSync(this.lockFile, work);
  }

  /** Whether any lease's container is gone (nothing is changed: reclaimStale gives them back). */
  hasStale(): boolean {
    return this.withLock(() => this.readLeases().some((lease) => !ownerAlive(lease)));
  }

  private reclaimStaleLocked(): Lease[] {
    const stale = this.readLeases().filter((lease) => !ownerAlive(lease));
    for (const lease of stale) rmSync(path.join(this.leaseDir, lease.address), { force: true });
    return stale;
  }

  /** O_CREAT|O_EXCL: false when the file exists already. */
  private createLease(lease: Lease): boolean {
    let fd: number;
    try {
      fd = openSync(path.join(this.leaseDir, lease.address), 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    try {
      const { containerId, pid, startTime } = lease;
      writeSync(fd, `${JSON.stringify({ containerId, pid, startTime })}\n`);
    } finally {
      closeSync(fd);
    }
    return true;
  }

  private readLeases(): Lease[] {
    let names: string[];
    try {
      names = readdirSync(this.leaseDir);
    } catch {
      return [];
    }
    return names
      .filter((name) => /^\d+\.\d+\.\d+\.\d+$/.test(name))
      .map((address) => {
        try {
          const { containerId, pid, startTime } = readJsonFile(path.join(this.leaseDir, address), checkLease)!;
          return { address, containerId, pid, startTime };
        } catch {
          // Unreadable or not a lease (a crash between create and write): keep it taken, owned by nobody alive.
          return { address, containerId: '', pid: 0, startTime: null };
        }
      });
  }
}

/** A lease file as the allocation writes it: who holds the address, and since when (checked, not trusted). */
function checkLease(value: unknown): Omit<Lease, 'address'> {
  const lease = value as Partial<Lease> | null;
  if (typeof lease?.containerId !== 'string') throw new Error('containerId is missing');
  if (!Number.isInteger(lease.pid)) throw new Error('pid is not a number');
  if (lease.startTime !== null && typeof lease.startTime !== 'string') throw new Error('startTime is neither text nor null');
  return lease as Omit<Lease, 'address'>;
}
