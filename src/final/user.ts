/**
 * `docker run -u USER[:GROUP]` (and the image's own `User`): who the command runs as, in the numbers
 * config.json's process.user needs. Names are looked up in the image's own /etc/passwd and /etc/group,
 * never the host's — the same name may be another user there. Docker's engine does this before it hands
 * the bundle to runc, with runc's rules (libcontainer/user: GetExecUser):
 *
 *   nobody            the passwd entry's UID and GID; supplementary groups: the groups that list nobody
 *   1000              that UID; its entry's GID if the image has one, else GID 0
 *   nobody:nogroup    the group looked up by name (or taken as a number); no supplementary groups
 *
 * HOME comes from the entry too ("/" without one), unless the environment sets it.
 */
import { lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { OciConfig, OciUser } from '../container/config.js';
import { linuxSyscalls } from '../sys/index.js';
import { lowerView } from '../../lessons/05-overlay/overlay.js';
import type { StoredImage } from '../../lessons/05-overlay/store.js';
import { OciError } from './oci/spec.js';

/** The image's /etc/passwd and /etc/group, as text; null where the image has none. */
export interface UserFiles {
  passwd: string | null;
  group: string | null;
}

export interface ResolvedUser extends OciUser {
  home: string;
}

/** Linux IDs go up to 2^32 - 2, but runc (and so Docker) takes only 0 … 2^31 - 1. */
const MAX_ID = 2 ** 31 - 1;

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

/** passwd(5): name:password:UID:GID:GECOS:home:shell — lines that do not parse are skipped, as libc does. */
function passwdEntries(text: string | null): PasswdEntry[] {
  return (text ?? '').split('\n').flatMap((line) => {
    const [name, , uid, gid, , home] = line.split(':');
    return name && isId(uid) && isId(gid) ? [{ name, uid: Number(uid), gid: Number(gid), home: home || '/' }] : [];
  });
}

/** group(5): name:password:GID:member,member… */
function groupEntries(text: string | null): GroupEntry[] {
  return (text ?? '').split('\n').flatMap((line) => {
    const [name, , gid, members = ''] = line.split(':');
    return name && isId(gid) ? [{ name, gid: Number(gid), members: members.split(',').filter(Boolean) }] : [];
  });
}

function isId(text: string | undefined): text is string {
  return text !== undefined && /^\d+$/.test(text);
}

function checkRange(id: number, spec: string): number {
  if (id > MAX_ID) throw new OciError(`invalid user "${spec}": UIDs and GIDs must be in the range 0-${MAX_ID}`);
  return id;
}

/** USER[:GROUP] → process.user and HOME. Empty: root, as an image without a User runs. */
export function resolveUser(spec: string, files: UserFiles): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2) as [string, string | undefined];
  if (spec.split(':').length > 2 || groupPart === '') throw new OciError(`invalid user "${spec}": use USER[:GROUP], names or numbers`);
  const users = passwdEntries(files.passwd);
  const byNumber = isId(userPart);
  const entry = userPart === '' ? users.find((user) => user.uid === 0) : users.find((user) => (byNumber ? user.uid === Number(userPart) : user.name === userPart));
  if (!entry && userPart !== '' && !byNumber) throw new OciError(`unable to find user ${userPart}: no matching entries in passwd file`);
  const resolved: ResolvedUser = {
    uid: checkRange(entry?.uid ?? (byNumber ? Number(userPart) : 0), spec),
    gid: entry?.gid ?? 0,
    home: entry?.home ?? '/',
  };
  const groups = groupEntries(files.group);
  if (groupPart !== undefined) {
    const group = groups.find((candidate) => candidate.name === groupPart) ?? (isId(groupPart) ? { gid: Number(groupPart) } : undefined);
    if (!group) throw new OciError(`unable to find group ${groupPart}: no matching entries in group file`);
    resolved.gid = checkRange(group.gid, spec);
  } else if (entry) {
    const supplementary = groups.filter((group) => group.members.includes(entry.name)).map((group) => group.gid);
    if (supplementary.length) resolved.additionalGids = supplementary;
  }
  return resolved;
}

/** The files as the image shows them, its layers merged (what a new container will see). */
export function imageUserFiles(image: StoredImage): UserFiles {
  const view = lowerView(linuxSyscalls(), image.layers.map((layer) => layer.dir));
  const read = (rel: string) => {
    const file = view.file(rel);
    return file ? readFileSync(file, 'utf8') : null;
  };
  return { passwd: read('etc/passwd'), group: read('etc/group') };
}

/**
 * The files as a running container has them now (`docker exec -u` finds users made since), through
 * /proc/PID/root. Plain files only: a link there would be followed from the HOST's root.
 */
export function containerUserFiles(pid: number): UserFiles {
  const read = (rel: string) => {
    const file = path.join(`/proc/${pid}/root`, rel);
    try {
      return lstatSync(file).isFile() ? readFileSync(file, 'utf8') : null;
    } catch {
      return null;
    }
  };
  return { passwd: read('etc/passwd'), group: read('etc/group') };
}

/**
 * Writes the user into config.json: process.user, HOME unless the environment has one, and — as Docker
 * does for any UID but 0 — the capabilities only in the bounding set: what execve(2) would leave a
 * non-root user (capabilities(7), "Effect of user ID changes").
 */
export function applyUser(config: OciConfig, user: ResolvedUser): void {
  const { home, ...ids } = user;
  config.process.user = ids;
  const env = (config.process.env ??= []);
  if (!env.some((entry) => entry.startsWith('HOME='))) env.push(`HOME=${home}`);
  const caps = config.process.capabilities;
  if (ids.uid !== 0 && caps) config.process.capabilities = { ...caps, effective: [], permitted: [], ambient: [] };
}

/**
 * A copy of config.json with another user (exec -u): its own process.user and capabilities. The
 * environment stays the container's, HOME included, as with `docker exec -u`.
 */
export function withUser(config: OciConfig, user: ResolvedUser): OciConfig {
  const copy = structuredClone(config);
  // Its capabilities start from the container's bounding set: a root user gets them back in full.
  const bounding = copy.process.capabilities?.bounding;
  if (bounding) copy.process.capabilities = { ...copy.process.capabilities, effective: bounding, permitted: bounding };
  applyUser(copy, user);
  return copy;
}
