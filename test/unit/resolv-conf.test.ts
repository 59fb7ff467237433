/**
 * A container's /etc/resolv.conf (lesson 06's dns.ts): the rules Docker and podman follow, over host
 * files given as text (the real ones are whatever this machine has).
 */
import { describe, expect, it } from 'vitest';
import { containerResolvConf, DEFAULT_NAMESERVERS } from '../../lessons/06-network/dns.js';

const files = (entries: Record<string, string>) => (file: string) => entries[file] ?? null;
const servers = (text: string) => text.split('\n').filter((line) => line.startsWith('nameserver ')).map((line) => line.split(/\s+/)[1]);

const UBUNTU_STUB = 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lab.example\n';
const RESOLVED = 'nameserver 192.0.2.1\nnameserver 2001:db8::1\nsearch lab.example\n';

describe("a container's resolv.conf", () => {
  it("--network host: the host's file as it is", () => {
    expect(containerResolvConf('host', files({ '/etc/resolv.conf': UBUNTU_STUB }))).toBe(UBUNTU_STUB);
  });

  it("systemd-resolved's stub: the servers it forwards to instead, without the IPv6 ones; search and options kept", () => {
    const text = containerResolvConf('bridge', files({ '/etc/resolv.conf': UBUNTU_STUB, '/run/systemd/resolve/resolv.conf': RESOLVED }));
    expect(servers(text)).toEqual(['192.0.2.1']);
    expect(text).toContain('search lab.example');
  });

  it("no server left (a local dnsmasq, or the stub without resolved's list): Docker's public ones", () => {
    const text = containerResolvConf('none', files({ '/etc/resolv.conf': 'nameserver 127.0.1.1\noptions ndots:2\n' }));
    expect(servers(text)).toEqual(DEFAULT_NAMESERVERS);
    expect(text).toContain('options ndots:2');
    expect(servers(containerResolvConf('bridge', files({ '/etc/resolv.conf': UBUNTU_STUB })))).toEqual(DEFAULT_NAMESERVERS);
  });

  it('servers the container can reach are kept in their order; a host without the file still gives one that works', () => {
    expect(servers(containerResolvConf('bridge', files({ '/etc/resolv.conf': 'nameserver 10.1.1.1\nnameserver ::1\nnameserver 10.2.2.2\n' })))).toEqual(['10.1.1.1', '10.2.2.2']);
    expect(servers(containerResolvConf('bridge', files({})))).toEqual(DEFAULT_NAMESERVERS);
  });

  it("slirp4netns: its own forwarder first (it asks the host's servers from the host's side), then the reachable ones", () => {
    expect(servers(containerResolvConf('slirp4netns', files({ '/etc/resolv.conf': UBUNTU_STUB, '/run/systemd/resolve/resolv.conf': RESOLVED })))).toEqual(['10.0.2.3', '192.0.2.1']);
    expect(servers(containerResolvConf('slirp4netns', files({ '/etc/resolv.conf': 'nameserver 127.0.0.1\n' })))).toEqual(['10.0.2.3']);
  });
});
