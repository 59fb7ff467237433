/**
 * Lesson 06 — the network namespace, as init creates it.
 *
 * A network namespace is a whole network stack of its own: interfaces, addresses, routes, ARP table,
 * firewall rules, sockets, and the net.* sysctls. A new one holds exactly one interface, the loopback
 * `lo`, and even that one is down. Everything else is wired from OUTSIDE, by the runtime, once the
 * container's process exists (see network.ts): this file is bundled into init, so it stays this small.
 * One thing init does itself: switching `lo` on, the only wiring that needs nothing from outside.
 */
import { AF_INET, CLONE_NEWNET, IFF_UP, IFNAMSIZ, IFREQ_SIZE, SIOCGIFFLAGS, SIOCSIFFLAGS, SOCK_CLOEXEC, SOCK_DGRAM, type Syscalls } from '../../src/sys/index.js';

/** Run by init inside the container-to-be: leave the host's network stack for an empty one. */
export function newNetNamespace(sys: Syscalls): void {
  // EXERCISE(net.unshare): Move the calling thread into a new network namespace.
  // HINT: As in lessons 01 and 02: one unshare(2) call with the right CLONE_NEW* flag.
  // HINT: The network namespace's flag is CLONE_NEWNET; it is imported at the top of the file.
  // HINT: man 7 network_namespaces and man 2 unshare.
  sys.unshare(CLONE_NEWNET);
  // END EXERCISE
}

/**
 * Run by init in its new network namespace: `lo` up, as `ip link set lo up` would do it — but with
 * two ioctls on a socket of this namespace (netdevice(7): read the flags, add IFF_UP), so a container
 * gets its loopback without the host starting `ip` for it. runc does the same for every new network
 * namespace (libcontainer's "loopback" network). Lesson 06's steps do it from outside instead, to show it.
 */
export function bringUpLoopbackInside(sys: Syscalls): void {
  // A socket belongs to the network namespace it was made in: this one, the container's.
  const socket = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  try {
    const ifreq = new Uint8Array(IFREQ_SIZE);
    new TextEncoder().encodeInto('lo', ifreq.subarray(0, IFNAMSIZ - 1));
    sys.ioctlPtr(socket, SIOCGIFFLAGS, ifreq);
    const flags = new DataView(ifreq.buffer);
    flags.setInt16(IFNAMSIZ, flags.getInt16(IFNAMSIZ, true) | IFF_UP, true);
    sys.ioctlPtr(socket, SIOCSIFFLAGS, ifreq);
  } finally {
    sys.close(socket);
  }
}
