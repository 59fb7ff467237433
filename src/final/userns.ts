/**
 * `--userns`, `--uidmap`, `--gidmap`: the user namespace a `run` asks for, as podman reads them.
 *
 *   --userns=host            the host's own (the default, as Docker's): root inside is root outside
 *   --userns=auto[:size=N]   a range of its own from the subordinate IDs of the user "containers" in
 *                            /etc/subuid and /etc/subgid (podman's convention for root), N IDs (65536)
 *                            not used by any other container: its root is an ordinary ID on the host
 *   --uidmap C:H:N, --gidmap C:H:N   the mappings themselves (both, or --uidmap alone for both)
 *
 * Whatever the flags, the result is config.json's linux.uidMappings and gidMappings with a "user"
 * namespace: lesson 08's feature does the rest.
 */
import type { OciConfig, OciIdMapping } from '../container/config.js';
import { parseSubordinateIds, rangesFor, type SubordinateRange } from '../../lessons/08-userns/subid.js';
import { OciError } from './oci/spec.js';

/** The subordinate IDs' owner root's containers take theirs from (podman: "containers" in /etc/subuid). */
export const AUTO_USER = 'containers';
/** How many IDs --userns=auto gives a container: 0–65535, what images' /etc/passwd use. */
export const AUTO_SIZE = 65536;

export type UsernsOption = { mode: 'host' } | { mode: 'auto'; size: number } | { mode: 'map'; uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] };

/** --userns's value. */
export function parseUsernsFlag(value: string): UsernsOption {
  if (value === 'host' || value === '') return { mode: 'host' };
  const auto = /^auto(?::size=(\d+))?$/.exec(value);
  if (auto) {
    const size = auto[1] === undefined ? AUTO_SIZE : Number(auto[1]);
    if (!(size >= 1 && size <= 2 ** 32 - 2)) throw new OciError(`--userns ${value}: size must be between 1 and 4294967294`);
    return { mode: 'auto', size };
  }
  throw new OciError(`--userns ${value}: use host, auto or auto:size=N`);
}

/** --uidmap/--gidmap's value: CONTAINER:HOST:SIZE. */
export function parseIdMapFlag(value: string, flag: string): OciIdMapping {
  const parts = value.split(':');
  const numbers = parts.map(Number);
  if (parts.length !== 3 || !numbers.every((number) => Number.isInteger(number) && number >= 0 && number < 2 ** 32) || numbers[2] === 0) {
    throw new OciError(`${flag} ${value}: use CONTAINER_ID:HOST_ID:SIZE, whole numbers, SIZE above 0`);
  }
  return { containerID: numbers[0]!, hostID: numbers[1]!, size: numbers[2]! };
}

/**
 * The host IDs --userns=auto gives a container: in each of uid and gid, the first `size` IDs of the
 * user "containers"'s subordinate ranges that no other container's mapping uses (`taken`).
 */
export function allocateAuto(
  size: number,
  subordinate: { subuid: readonly SubordinateRange[]; subgid: readonly SubordinateRange[] },
  taken: { uid: readonly OciIdMapping[]; gid: readonly OciIdMapping[] },
): { uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] } {
  const fix = `add a range for the user "${AUTO_USER}" to /etc/subuid and /etc/subgid, e.g. "${AUTO_USER}:2147483647:2147483648" in each (podman's convention)`;
  const pick = (ranges: readonly SubordinateRange[], used: readonly OciIdMapping[], file: string): number => {
    const owned = rangesFor(ranges, { name: AUTO_USER, uid: -1 }); // by name: "containers" need not be a user of this machine
    if (!owned.length) throw new OciError(`--userns=auto: ${file} lends no IDs to "${AUTO_USER}": ${fix}`);
    for (const range of owned) {
      let start = range.start;
      while (start + size <= range.start + range.count) {
        const clash = used.find((mapping) => start < mapping.hostID + mapping.size && mapping.hostID < start + size);
        if (!clash) return start;
        start = clash.hostID + clash.size; // past the one in the way: always further on
      }
    }
    throw new OciError(`--userns=auto: no ${size} free IDs left in ${file} for "${AUTO_USER}": remove containers you no longer need, or lend it more`);
  };
  return {
    uidMappings: [{ containerID: 0, hostID: pick(subordinate.subuid, taken.uid, '/etc/subuid'), size }],
    gidMappings: [{ containerID: 0, hostID: pick(subordinate.subgid, taken.gid, '/etc/subgid'), size }],
  };
}

/** /etc/subuid and /etc/subgid, parsed; a missing file lends nothing. */
export function readSubordinateFiles(read: (file: string) => string): { subuid: SubordinateRange[]; subgid: SubordinateRange[] } {
  const parse = (file: string) => {
    try {
      return parseSubordinateIds(read(file));
    } catch {
      return [];
    }
  };
  return { subuid: parse('/etc/subuid'), subgid: parse('/etc/subgid') };
}

/** Writes a user namespace with these mappings into config.json (runc's and podman's shape). */
export function applyUserNamespace(config: OciConfig, mappings: { uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] }): void {
  config.linux!.namespaces = [...(config.linux!.namespaces ?? []), { type: 'user' }];
  config.linux!.uidMappings = mappings.uidMappings;
  config.linux!.gidMappings = mappings.gidMappings;
}
