/**
 * Lesson 06 — published ports: `docker run -p 8080:80` as iptables rules.
 *
 * A container's address (172.29.0.2) is private to the host: nothing outside knows the way to it. To
 * publish its port 80 as the host's port 8080, Docker adds a DNAT rule — "destination NAT": packets for
 * one of the host's own addresses, port 8080, get their destination rewritten to 172.29.0.2:80 before
 * routing decides where they go. Conntrack remembers the rewrite and undoes it on the replies, so the
 * client only ever talks to host:8080.
 *
 * The rule lives in a chain of its own (Docker's is called DOCKER, this lab's LAB-DNAT), which the
 * nat table's built-in chains jump to — and it must be jumped to from TWO of them:
 *   PREROUTING  sees packets that ARRIVE from a network interface (another machine, another namespace);
 *   OUTPUT      sees packets that the host ITSELF sends (curl on the host).
 * A rule reached only from PREROUTING works for everyone except the host itself.
 */

export type Protocol = 'tcp' | 'udp';

export interface PublishedPort {
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

/** The lab's chain for published ports in the nat table (Docker: DOCKER). */
export const DNAT_CHAIN = 'LAB-DNAT';

function port(text: string, what: string, spec: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 65535) throw new Error(`-p ${spec}: ${what} must be a number from 1 to 65535`);
  return value;
}

/** "8080:80", "8080:80/udp", "80" (the same port on both sides) → PublishedPort, as `docker run -p` reads them. */
export function parsePublish(spec: string): PublishedPort {
  const match = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(spec);
  if (!match) throw new Error(`-p ${spec}: expected HOSTPORT:CONTAINERPORT[/tcp|/udp], e.g. 8080:80`);
  const containerPort = port(match[2]!, 'the container port', spec);
  return { hostPort: match[1] ? port(match[1], 'the host port', spec) : containerPort, containerPort, protocol: (match[3] as Protocol | undefined) ?? 'tcp' };
}

/**
 * The DNAT rule that publishes `published` for the container at `containerAddress`: the part of an
 * `iptables -t nat -A LAB-DNAT …` command after the chain name. The same words after `-D LAB-DNAT`
 * delete it again. `comment` marks whose rule it is, so a stale one can be found and removed.
 *
 * Docker's, as `iptables -t nat -S DOCKER` prints it for `-p 6379:6379`:
 *   -A DOCKER ! -i docker0 -p tcp -m tcp --dport 6379 -j DNAT --to-destination 172.17.0.2:6379
 */
export function dnatRule(published: PublishedPort, containerAddress: string, comment: string): string[] {
  // EXERCISE(net.dnat): Return the iptables rule words that send `published.protocol` packets for port `published.hostPort` to containerAddress:containerPort, with the comment.
  // HINT: Match the protocol and the destination port, tag the rule with a comment, then jump to the DNAT target with its one option.
  // HINT: The words, in order: -p PROTOCOL --dport HOSTPORT, -m comment --comment TEXT, -j DNAT --to-destination ADDRESS:PORT. Numbers are words too: String(port).
  // HINT: man 8 iptables-extensions: the "comment" match and the DNAT target.
  return [
    '-p', published.protocol, '--dport', String(published.hostPort),
    '-m', 'comment', '--comment', comment,
    '-j', 'DNAT', '--to-destination', `${containerAddress}:${published.containerPort}`,
  ];
  // END EXERCISE
}
