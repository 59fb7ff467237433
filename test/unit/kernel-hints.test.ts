import { describe, expect, it } from 'vitest';
import { withKernelHint } from '../../src/final/kernel-hints.js';

describe('withKernelHint', () => {
  it('adds the fix to a known missing-kernel-feature failure', () => {
    expect(withKernelHint('mount("overlay", "/x/rootfs", "overlay", 0, "lowerdir=…"): ENODEV — No such device')).toMatch(/ENODEV — No such device: this kernel has no overlay file system: load it with `sudo modprobe overlay`$/);
    expect(withKernelHint('`ip link add lab12345678 type veth peer name lab12345678p` failed (exit 2): Error: Unknown device type.')).toMatch(/sudo modprobe veth`$/);
    expect(withKernelHint('`ip link add labbr0 type bridge` failed (exit 2): Error: Unknown device type.')).toMatch(/sudo modprobe bridge`$/);
    expect(withKernelHint('unshare(0x40000000): EINVAL — Invalid argument')).toMatch(/npm run doctor/);
  });

  it('leaves every other message as it is', () => {
    for (const message of ['No such container: web', 'mount("proc", "/proc", "proc", 0, NULL): EPERM — Operation not permitted', 'unshare(0x20000000): EPERM — Operation not permitted']) {
      expect(withKernelHint(message)).toBe(message);
    }
  });
});
