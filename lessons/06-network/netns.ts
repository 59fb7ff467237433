/**
 * Lesson 06 — the network namespace, as init creates it.
 *
 * A network namespace is a whole network stack of its own: interfaces, addresses, routes, ARP table,
 * firewall rules, sockets, and the net.* sysctls. A new one holds exactly one interface, the loopback
 * `lo`, and even that one is down. Everything else is wired from OUTSIDE, by the runtime, once the
 * container's process exists (see network.ts): this file is bundled into init, so it stays this small.
 */
import { CLONE_NEWNET, type Syscalls } from '../../src/sys/index.js';

/** Run by init inside the container-to-be: leave the host's network stack for an empty one. */
export function newNetNamespace(sys: Syscalls): void {
  // EXERCISE(net.unshare): Move the calling thread into a new network namespace.
  // HINT: As in lessons 01 and 02: one unshare(2) call with the right CLONE_NEW* flag.
  // HINT: The network namespace's flag is CLONE_NEWNET; it is imported at the top of the file.
  // HINT: man 7 network_namespaces and man 2 unshare.
  sys.unshare(CLONE_NEWNET);
  // END EXERCISE
}
