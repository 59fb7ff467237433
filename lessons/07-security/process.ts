/**
 * What the container's process is allowed to be and to use, set by init right before exec:
 * who it runs as (process.user), its resource limits (process.rlimits), its OOM score
 * (process.oomScoreAdj) and no_new_privs (process.noNewPrivileges).
 */
import { writeFileSync } from 'node:fs';
import { ConfigError, type OciRlimit, type OciUser } from '../../src/container/config.js';
import { PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS, type Syscalls } from '../../src/sys/index.js';

/** setrlimit(2)'s resources, by the names config.json uses (getrlimit(2); asm-generic/resource.h). */
export const RLIMITS: Record<string, number> = {
  RLIMIT_CPU: 0, RLIMIT_FSIZE: 1, RLIMIT_DATA: 2, RLIMIT_STACK: 3, RLIMIT_CORE: 4, RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6, RLIMIT_NOFILE: 7, RLIMIT_MEMLOCK: 8, RLIMIT_AS: 9, RLIMIT_LOCKS: 10, RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12, RLIMIT_NICE: 13, RLIMIT_RTPRIO: 14, RLIMIT_RTTIME: 15,
};

/** A limit as init sets it: the resource's number; null = unlimited. */
export interface ResourceLimit {
  name: string;
  resource: number;
  soft: number | null;
  hard: number | null;
}

/** RLIM_INFINITY as JSON carries it (2^64 - 1 does not fit a double exactly). */
const isUnlimited = (value: number) => value < 0 || value >= 2 ** 63;

/** process.rlimits → what init sets; an unknown name or a soft value above the hard one is refused. */
export function resourceLimits(rlimits: readonly OciRlimit[]): ResourceLimit[] {
  const seen = new Set<string>();
  return rlimits.map(({ type, soft, hard }) => {
    const resource = RLIMITS[type];
    if (resource === undefined) throw new ConfigError(`process.rlimits: unknown limit "${type}" (names look like RLIMIT_NOFILE; see getrlimit(2))`);
    if (seen.has(type)) throw new ConfigError(`process.rlimits: ${type} is given twice`);
    seen.add(type);
    if (!Number.isInteger(soft) || !Number.isInteger(hard)) throw new ConfigError(`process.rlimits: ${type} needs whole numbers for soft and hard`);
    const limit = { name: type, resource, soft: isUnlimited(soft) ? null : soft, hard: isUnlimited(hard) ? null : hard };
    if (limit.hard !== null && (limit.soft === null || limit.soft > limit.hard)) throw new ConfigError(`process.rlimits: ${type}'s soft limit ${soft} is above its hard limit ${hard}`);
    return limit;
  });
}

/** Init's step: each limit with prlimit(2). They pass through execve and fork unchanged. */
export function setResourceLimits(sys: Syscalls, config: { limits: ResourceLimit[] }): void {
  for (const limit of config.limits) sys.setrlimit(limit.resource, limit.soft, limit.hard);
}

/** process.user, checked: IDs are whole numbers from 0 to 2^32 - 2. */
export function checkUser(user: OciUser): OciUser {
  const ids = [user.uid, user.gid, ...(user.additionalGids ?? [])];
  if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < 2 ** 32 - 1)) throw new ConfigError('process.user: uid, gid and additionalGids must be whole numbers ≥ 0');
  if (user.umask !== undefined && !(Number.isInteger(user.umask) && user.umask >= 0 && user.umask <= 0o777)) throw new ConfigError('process.user.umask must be between 0 and 0777');
  return user;
}

/**
 * Init's step: become process.user. Groups first (setgroups and setgid need CAP_SETGID, which a
 * non-root user no longer has once the UID changed), then the UID — with PR_SET_KEEPCAPS when a
 * capabilities step follows, so it still has the permitted set to choose from (runc: setupUser).
 */
export function becomeUser(sys: Syscalls, user: OciUser, keepCapabilities: boolean): void {
  sys.setgroups(user.additionalGids ?? []);
  sys.setgid(user.gid);
  // Without a capabilities step to follow, a UID other than 0 keeps none: the kernel's own rule.
  if (keepCapabilities) sys.prctl(PR_SET_KEEPCAPS, 1);
  sys.setuid(user.uid);
  if (keepCapabilities) sys.prctl(PR_SET_KEEPCAPS, 0);
  if (user.umask !== undefined) sys.umask(user.umask);
}

/** Init's step: process.oomScoreAdj, written to the container's own /proc/self (runc does the same). */
export function setOomScoreAdj(_sys: Syscalls, config: { score: number }): void {
  writeFileSync('/proc/self/oom_score_adj', String(config.score));
}

/**
 * Init's step: no_new_privs. From now on execve cannot add privileges: a setuid-root program runs
 * with the caller's UID, a file's capabilities are not granted. It cannot be switched off again.
 */
export function setNoNewPrivileges(sys: Syscalls): void {
  // EXERCISE(process.nnp): Set no_new_privs on the calling thread: prctl(PR_SET_NO_NEW_PRIVS, 1).
  // HINT: One prctl call; the flag passes to every child and through execve, and nothing can clear it.
  // HINT: man 2 prctl (PR_SET_NO_NEW_PRIVS); the kernel's Documentation/userspace-api/no_new_privs.rst.
  sys.prctl(PR_SET_NO_NEW_PRIVS, 1);
  // END EXERCISE
}
