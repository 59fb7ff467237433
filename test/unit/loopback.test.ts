/**
 * `lo` in a new network namespace: init switches it on with two netdevice(7) ioctls on a socket of that
 * namespace (the recording double shows which), and the network feature plans that step for exactly the
 * configs that make a new network namespace. The real effect — `lo` UP inside, no host command run —
 * is checked by test/lessons/06-network.test.ts and test/final/minidocker.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AF_INET, IFF_UP, RecordingSyscalls, SIOCGIFFLAGS, SIOCSIFFLAGS, SOCK_CLOEXEC, SOCK_DGRAM } from '../../src/sys/index.js';
import { bringUpLoopbackInside } from '../../lessons/06-network/netns.js';
import { networkFeature } from '../../lessons/06-network/feature.js';
import { defaultConfig } from '../../src/final/oci/spec.js';
import type { HostContext } from '../../src/container/features.js';

describe('lo, switched on from inside', () => {
  it('reads the flags of "lo" and writes them back with IFF_UP, on an AF_INET socket it then closes', () => {
    const sys = new RecordingSyscalls();
    bringUpLoopbackInside(sys);
    const [socket, get, set, close] = sys.calls;
    expect(socket).toEqual({ call: 'socket', args: [AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0] });
    const fd = 10; // the double's first descriptor
    const ifreq = (flags: number) => [...Buffer.from('lo'), ...Array(14).fill(0), flags & 0xff, flags >> 8, ...Array(22).fill(0)];
    expect(get).toEqual({ call: 'ioctlPtr', args: [fd, SIOCGIFFLAGS, ifreq(0)] });
    expect(set).toEqual({ call: 'ioctlPtr', args: [fd, SIOCSIFFLAGS, ifreq(IFF_UP)] });
    expect(close).toEqual({ call: 'close', args: [fd] });
  });

  it('is planned for a new network namespace only: not for one joined by path, not without one', () => {
    const context = { id: 'x', bundle: '/b', stateDir: '/s', runtimeDir: '/r', warn() {} } as HostContext;
    const withNamespaces = (namespaces: { type: string; path?: string }[]) => {
      const config = defaultConfig(['true']);
      config.linux = { ...config.linux, namespaces: namespaces as never };
      return networkFeature.plan!(config, context, networkFeature.step).map((entry) => entry.step);
    };
    expect(withNamespaces([{ type: 'mount' }, { type: 'network' }])).toEqual(['loopback']);
    expect(withNamespaces([{ type: 'network', path: '/proc/1/ns/net' }])).toEqual([]);
    expect(withNamespaces([{ type: 'mount' }])).toEqual([]);
  });
});
