/**
 * Version strings, parsed. Pure functions: the doctor's checks feed them what programs printed.
 */

/** major.minor.patch; a missing patch counts as 0. */
export type Version = readonly [number, number, number];

/** The first "X.Y" or "X.Y.Z" in a text: "v20.19.0" → [20,19,0], "6.1.0-18-amd64" → [6,1,0]. */
export function parseVersion(text: string): Version | null {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) return null;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

export function versionAtLeast(version: Version, minimum: Version): boolean {
  for (let i = 0; i < 3; i++) {
    if (version[i]! !== minimum[i]!) return version[i]! > minimum[i]!;
  }
  return true;
}

export function formatVersion(version: Version): string {
  return version[2] === 0 ? `${version[0]}.${version[1]}` : version.join('.');
}

/** The lab's package.json says "engines": { "node": ">=20.19" }. */
export const NODE_MINIMUM: Version = [20, 19, 0];

/** Ubuntu 22.04's kernel, the oldest the course is tested on. Everything below is older than this. */
export const KERNEL_TARGET: Version = [5, 15, 0];

/** Kernel features the lab touches, and the release that brought each (see the man pages). */
export const KERNEL_FEATURES: ReadonlyArray<{ feature: string; since: Version }> = [
  { feature: 'clone3() and pidfd_open()', since: [5, 3, 0] }, // clone(2), pidfd_open(2)
  { feature: 'close_range() with CLOSE_RANGE_CLOEXEC', since: [5, 11, 0] }, // close_range(2)
  { feature: 'cgroup.kill', since: [5, 14, 0] }, // Documentation/admin-guide/cgroup-v2.rst
];

/** Features the running kernel is too old for. */
export function missingKernelFeatures(kernel: Version): string[] {
  return KERNEL_FEATURES.filter(({ since }) => !versionAtLeast(kernel, since)).map(
    ({ feature, since }) => `${feature} needs ${formatVersion(since)}`,
  );
}

export type IptablesBackend = 'nf_tables' | 'legacy';

/**
 * `iptables --version` prints "iptables v1.8.9 (nf_tables)" or "iptables v1.8.9 (legacy)".
 * Before 1.8 there was only one backend and no suffix ("iptables v1.6.1"): that one is legacy.
 */
export function parseIptablesVersion(output: string): { version: string; backend: IptablesBackend } | null {
  const match = /iptables v(\d+(?:\.\d+)*)(?:\s+\((nf_tables|legacy)\))?/.exec(output);
  if (!match) return null;
  return { version: match[1]!, backend: match[2] === 'nf_tables' ? 'nf_tables' : 'legacy' };
}
