/**
 * What to do about an error that means "this kernel (or machine) lacks something", for the one-line
 * messages of minidocker and oci. The lessons report such failures as the system call or command that
 * failed (`mount("overlay", …): ENODEV`); a user also needs the fix. `npm run doctor` checks them all.
 */
const HINTS: [pattern: RegExp, fix: string][] = [
  // mount(2) answers ENODEV for a file system type the kernel does not know (not built in, module not loaded).
  [/mount\("overlay".*ENODEV/, 'this kernel has no overlay file system: load it with `sudo modprobe overlay`'],
  [/type veth.*(Unknown device type|not supported)/i, 'this kernel has no veth driver: load it with `sudo modprobe veth`'],
  [/type bridge.*(Unknown device type|not supported)/i, 'this kernel has no bridge driver: load it with `sudo modprobe bridge`'],
  [/iptables.*(Table does not exist|can't initialize iptables table|Could not fetch rule set)/i, 'iptables cannot reach the kernel\'s nat table: `sudo modprobe iptable_nat` (legacy) or `sudo modprobe nft_chain_nat` (nftables)'],
  // unshare(2)/clone(2) answer EINVAL for a namespace kind the kernel was built without.
  [/unshare\(.*\): EINVAL/, 'this kernel lacks a kind of namespace the container needs: `npm run doctor` says which'],
];

/** The message, with the fix appended when it is a known "missing kernel feature" failure. */
export function withKernelHint(message: string): string {
  const hint = HINTS.find(([pattern]) => pattern.test(message));
  return hint ? `${message}: ${hint[1]}` : message;
}
