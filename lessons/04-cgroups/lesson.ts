/**
 * Lesson 04 as the TUI shows it: the container's cgroup files read live on the left, what the workload
 * experiences on the right, and gauges of memory, CPU and processes against their limits.
 * Run it with `npm run lesson 4` (add `-- --plain` for plain text).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LessonContext, LessonFactory, LessonStep, PaneRow } from '../../src/course/lesson.js';
import { describeLayout, type CgroupFacts } from '../../src/sys/cgroupfs.js';
import { initBundle } from '../../src/build/bundle.js';
import { joinAll } from '../../src/container/namespaces.js';
import { makePlan } from '../../src/container/plan.js';
import { namespacesOf, startContainer } from '../../src/container/runtime.js';
import { labParentDirs, readCgroupFacts, removeStaleCgroups, startLimitedContainer, type LimitedContainer } from './cgroups.js';
import { parseLimitFlags } from './limits.js';
import { formatMiB, type CgroupStats } from './manager.js';

/** A container the lesson watches, with what it printed. */
interface Watched {
  label: string;
  flags: string[];
  args: string[];
  limited: LimitedContainer;
  output: string;
  /** CPU usage samples for the live gauge: [time ms, usage µs]. */
  samples: [number, number][];
  /** Set when the command has ended: its exit code and the cgroup's last stats. */
  ended?: { exitCode: number; stats: CgroupStats };
}

/** One step: its narration may depend on this machine's cgroup version, so each step is made for the run. */
type StepOf = (lab: CgroupLab) => LessonStep;

/** The lesson, step by step: each function below makes one step (title, narration, what it runs). */
const steps: StepOf[] = [
  removeLeftovers,
  aCgroupPerContainer,
  memoryLimit,
  cpuQuota,
  cpuShares,
  pidsLimit,
  cleanup,
];

const lesson: LessonFactory = (context) => ({
  number: 4,
  slug: '04-cgroups',
  title: 'cgroups — limits you can watch being enforced',
  refreshMs: 1000,
  async start() {
    await initBundle(context.bundle); // build the init program now, not at the first look inside
    const lab = new CgroupLab(context);
    return {
      steps: steps.map((makeStep) => makeStep(lab)),
      snapshot: async () => ({ host: hostPane(lab), container: await containerPane(lab) }),
      shell() {
        const live = lab.watched.find((entry) => !entry.ended);
        if (!live) return null;
        const pid = live.limited.container.pid;
        // nsenter opens all of the container's namespaces before it joins any (see lookInside below).
        return {
          file: 'nsenter',
          args: ['--target', String(pid), '--all', 'sh'],
          banner:
            `A shell in the container's namespaces: nsenter --target ${pid} --all sh. Try cat /proc/1/cgroup, free -m, ps. ` +
            "Note: this shell is not in the container's cgroup (docker exec would put it there), so its own commands are not limited. Type exit to return.",
        };
      },
      close: () => lab.stopAll(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

const MEMORY_HOG = ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=200M', 'count=1'];
const BUSY_LOOP = 'while :; do :; done';

function removeLeftovers(lab: CgroupLab): LessonStep {
  return {
    title: 'Where the cgroups are',
    narration:
      'A cgroup is a directory in a cgroup file system, /sys/fs/cgroup; its files are the knobs and gauges of the ' +
      'kernel\'s controllers, and cgroup.procs lists the processes in it. Left: which cgroup version this machine ' +
      'runs, and where the lab will make its containers\' cgroups. Every process is in some cgroup already: this runtime too.',
    run: async () => {
      const removed = await removeStaleCgroups(lab.facts);
      lab.note = removed.length ? `removed ${removed.length} cgroup(s) left behind by an earlier run` : '';
    },
  };
}

function aCgroupPerContainer(lab: CgroupLab): LessonStep {
  return {
    title: 'docker run --memory 64m --cpus 0.5 --pids-limit 32: a cgroup named after the container',
    narration:
      'The runtime makes the cgroup (mkdir), writes the limits into its files, and init moves itself in by writing ' +
      'into cgroup.procs — before it execs the command, so the command is limited from its first instruction. ' +
      `The directory is named after the container ID, as Docker names them. ${lab.version === 'v2'
        ? 'On v2 the container also gets its own cgroup namespace: inside, its cgroup is "/" (≠ the host\'s view).'
        : 'On v1 there is one directory per controller hierarchy; Docker\'s default on v1 shows the container the host\'s cgroup paths.'}`,
    run: async () => {
      await lab.stopAll();
      lab.note = '';
      await lab.startWatched('sleep', ['--memory', '64m', '--cpus', '0.5', '--pids-limit', '32'], ['sleep', 'infinity']);
    },
  };
}

function memoryLimit(lab: CgroupLab): LessonStep {
  return {
    title: 'Memory: past the limit, the OOM killer',
    narration:
      'dd allocates a 200 MiB buffer and fills it, under --memory 64m with swap off (memory.swap.max 0 / ' +
      'memory.memsw.limit_in_bytes = the limit): at 64 MiB the kernel first reclaims, finds nothing to reclaim, and ' +
      'OOM-kills the biggest process in the cgroup — dd — with SIGKILL. The container below keeps running (a shell ' +
      'around dd), so you can read oom_kill in its files; as PID 1, dd would end the container with 137.',
    run: async () => {
      await lab.stopAll();
      const alone = await lab.startWatched('dd as PID 1', ['--memory', '64m'], MEMORY_HOG);
      const { status, stats } = await alone.limited.ended;
      lab.note = `dd as the container's PID 1: exit code ${status.exitCode}; oom_kill ${stats.memory.oomKills}; peak ${stats.memory.peak === null ? '?' : formatMiB(stats.memory.peak)}`;
      await lab.stopAll();
      const shell = await lab.startWatched('dd in a shell', ['--memory', '64m'], ['sh', '-c', `${MEMORY_HOG.join(' ')} 2>/dev/null; echo "dd ended with exit status $?"; exec sleep infinity`]);
      await waitFor(() => shell.output.includes('dd ended'), 30_000, 'dd to end');
    },
  };
}

function cpuQuota(lab: CgroupLab): LessonStep {
  return {
    title: 'CPU: half a CPU is a quota per 100 ms',
    narration:
      'A busy loop would take a whole CPU. With --cpus 0.5 its cgroup gets 50000 µs of CPU time in every 100000 µs ' +
      'period (cpu.max "50000 100000" on v2; cpu.cfs_quota_us 50000 of cpu.cfs_period_us 100000 on v1). Once the ' +
      'quota is spent the scheduler holds the loop back until the next period: nr_throttled counts those periods. ' +
      'The gauge divides CPU time used by wall time passed.',
    run: async () => {
      await lab.stopAll();
      const loop = await lab.startWatched('busy loop', ['--cpus', '0.5'], ['sh', '-c', BUSY_LOOP]);
      await measureCpu([loop], 3000);
      const rate = cpuRate(loop.samples, 3500)!;
      const stats = loop.limited.cgroup.stats();
      lab.note = `measured: ${rate.cpus.toFixed(2)} CPU over ${(rate.overMs / 1000).toFixed(1)} s; throttled in ${stats.cpu.nrThrottled} of ${stats.cpu.nrPeriods} periods (${(stats.cpu.throttledUsec / 1e6).toFixed(1)} s held back)`;
    },
  };
}

function cpuShares(lab: CgroupLab): LessonStep {
  return {
    title: '--cpu-shares: a weight, only under contention',
    narration:
      'Shares limit nothing while a CPU is free. Here two busy loops are pinned to the same CPU (taskset -c 0) with ' +
      '--cpu-shares 1024 and 512: the scheduler splits that CPU 2:1 by cgroup weight. On v2 the shares become ' +
      'cpu.weight (1024 → 100, 512 → 59 with runc\'s and crun\'s conversion), so the split is about 63:37 there.',
    run: async () => {
      await lab.stopAll();
      const heavy = await lab.startWatched('shares 1024', ['--cpu-shares', '1024'], ['taskset', '-c', '0', 'sh', '-c', BUSY_LOOP]);
      const light = await lab.startWatched('shares 512', ['--cpu-shares', '512'], ['taskset', '-c', '0', 'sh', '-c', BUSY_LOOP]);
      await measureCpu([heavy, light], 3000);
      const [a, b] = [cpuRate(heavy.samples, 3500)!.cpus, cpuRate(light.samples, 3500)!.cpus];
      lab.note = `on CPU 0: shares 1024 got ${a.toFixed(2)} CPU, shares 512 got ${b.toFixed(2)} CPU (${Math.round((100 * a) / (a + b))}:${Math.round((100 * b) / (a + b))})`;
    },
  };
}

function pidsLimit(lab: CgroupLab): LessonStep {
  return {
    title: 'pids: a fork bomb hits the wall',
    narration:
      'A shell starts `sleep`s in the background as fast as it can. With --pids-limit 32 the 33rd fork() fails ' +
      '(EAGAIN: "Cannot fork") and the bomb gives up; pids.events counts the refused forks. The cgroup holds at its ' +
      'limit while the host goes on starting processes as usual.',
    run: async () => {
      await lab.stopAll();
      const bomb = await lab.startWatched('fork bomb', ['--pids-limit', '32'], ['sh', '-c', 'sh -c "while :; do sleep 1000 & done" 2>&1; echo "the bomb gave up"; exec sleep infinity']);
      await waitFor(() => bomb.output.includes('gave up'), 30_000, 'the bomb to hit the limit');
      const started = performance.now();
      execFileSync('sh', ['-c', 'for i in $(seq 64); do true & done; wait']);
      lab.note = `meanwhile the host started 64 processes in ${Math.round(performance.now() - started)} ms`;
    },
  };
}

function cleanup(lab: CgroupLab): LessonStep {
  return {
    title: 'Cleanup: kill, then rmdir',
    narration:
      `A cgroup is removed with rmdir, and only once no process is left in it (EBUSY until then). ${lab.version === 'v2'
        ? 'On v2, writing 1 to cgroup.kill kills every process in it at once (Linux 5.14+);'
        : 'v1 has no cgroup.kill: the runtime reads cgroup.procs and kills each PID, again until none is left (runc freezes the cgroup first);'} ` +
      'then rmdir. After `kill -9` of the runtime nobody would: the next start removes such leftovers.',
    run: async () => {
      const gone = lab.watched.flatMap((entry) => entry.limited.cgroup.paths);
      const pids = lab.watched.flatMap((entry) => entry.limited.cgroup.pids());
      await lab.stopAll();
      lab.note = `killed ${pids.length} processes; ${gone.filter((dir) => !existsSync(dir)).length} of ${gone.length} cgroup directories removed`;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// What one run of the lesson holds: the machine's cgroup facts, the containers it watches, the last result

class CgroupLab {
  readonly facts: CgroupFacts = readCgroupFacts();
  readonly version = this.facts.layout.active ?? 'v2';
  watched: Watched[] = [];
  /** The last step's result, shown as "last result". */
  note = '';

  constructor(readonly context: LessonContext) {}

  async stopAll(): Promise<void> {
    const ending = this.watched;
    this.watched = [];
    await Promise.all(ending.map((entry) => entry.limited.destroy()));
  }

  /** Starts a container with `docker run`-style limit flags and watches it. */
  async startWatched(label: string, flags: string[], args: string[]): Promise<Watched> {
    const limited = await startLimitedContainer(args, parseLimitFlags(flags), { registry: this.context.registry, stdio: ['ignore', 'pipe', 'pipe'], bundle: this.context.bundle });
    const entry: Watched = { label, flags, args, limited, output: '', samples: [] };
    for (const stream of [limited.container.stdout, limited.container.stderr]) stream?.setEncoding('utf8').on('data', (chunk: string) => (entry.output += chunk));
    limited.ended.then(({ status, stats }) => (entry.ended = { exitCode: status.exitCode, stats }), () => {});
    this.watched.push(entry);
    if (limited.warnings.length) this.note = `warning: ${limited.warnings.join('; ')}`;
    return entry;
  }
}

// ---------------------------------------------------------------------------------------------------
// What the panes show

function hostPane(lab: CgroupLab): PaneRow[] {
  const { facts, version, watched, note } = lab;
  const host: PaneRow[] = [];
  if (watched.length === 0) {
    host.push({ label: 'cgroup version', value: describeLayout(facts), source: 'grep cgroup /proc/self/mountinfo' });
    host.push({ label: 'the lab uses', value: version === 'v2' ? 'cgroup v2 (fs2 manager)' : 'cgroup v1 (fs manager)', source: 'stat -fc %T /sys/fs/cgroup' });
    host.push({
      label: "the lab's parent cgroup",
      value: labParentDirs(facts).map((dir) => `${dir}: ${existsSync(dir) ? `${readdirSync(dir).filter((name) => /^[0-9a-f]{64}$/.test(name)).length} container cgroup(s)` : 'not made yet'}`).join('\n'),
      source: `ls ${labParentDirs(facts)[0] ?? '/sys/fs/cgroup'}`,
    });
    host.push({ label: "this runtime's cgroup", value: readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').slice(0, 6).join('\n'), source: 'cat /proc/self/cgroup' });
  }
  // The first container gets the full view; a second one (cpu-shares) its essentials, labelled by name.
  watched.forEach((entry, index) => host.push(...hostRows(entry, version, index === 0 ? '' : `${entry.label}: `)));
  if (note) host.push({ label: 'last result', value: note });
  return host;
}

async function containerPane(lab: CgroupLab): Promise<PaneRow[]> {
  const { watched, version } = lab;
  const container: PaneRow[] = [];
  for (const [index, entry] of watched.entries()) container.push(...(await containerRows(entry, version, index === 0 ? '' : `${entry.label}: `, lab.context)));
  if (watched.length === 0) container.push({ label: 'container', value: '(none running)' });
  return container;
}

// ---------------------------------------------------------------------------------------------------
// Gauges and other helpers

/** "[██████░░░░░░░░░░░░░░]": how full something is, in 20 cells. */
export function bar(fraction: number, width = 20): string {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

/** "[█████░…] 12.0 MiB of 64.0 MiB" — or, without a limit, just the amount. */
export function gauge(current: number, limit: number | null, format: (value: number) => string): string {
  if (limit === null) return `${format(current)} (no limit)`;
  return `${bar(limit > 0 ? current / limit : 1)} ${format(current)} of ${format(limit)}`;
}

/** CPU used per second of wall time over the last `windowMs` of samples: 0.5 = half a CPU. */
export function cpuRate(samples: readonly [number, number][], windowMs = 2500): { cpus: number; overMs: number } | null {
  const last = samples.at(-1);
  if (!last) return null;
  const first = samples.find(([time]) => last[0] - time <= windowMs) ?? last;
  const overMs = last[0] - first[0];
  if (overMs < 200) return null;
  return { cpus: (last[1] - first[1]) / (overMs * 1000), overMs };
}

/** An argument as a shell would need it typed: 'while :; do :; done'. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs a command in a running container's namespaces and collects its output, like the runtime's
 * captureInContainer() — but joins the mount namespace LAST. init opens each /proc/PID/ns/* path just
 * before joining it, and once it is in the container's mount namespace, /proc is the container's own,
 * where PID (a host PID) does not exist: with a cgroup namespace of its own (v2), the container's
 * "cgroup" link could no longer be found. (Reported for the runtime: open every link first, as nsenter does.)
 */
async function lookInside(pid: number, args: string[], context: LessonContext): Promise<{ stdout: string; exitCode: number }> {
  const kinds = namespacesOf(pid).sort((a, b) => Number(a === 'mnt') - Number(b === 'mnt'));
  const plan = makePlan({ id: `exec-${pid}-${Date.now()}`, join: joinAll(pid, kinds), process: { args } });
  const container = await startContainer(plan, { stdio: ['ignore', 'pipe', 'ignore'], bundle: context.bundle });
  let stdout = '';
  container.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const { exitCode } = await container.wait();
  return { stdout, exitCode };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`);
    await sleep(50);
  }
}

/** The few lines of the usage files that tell the story, e.g. "memory.events  oom_kill 1". */
function interestingLines(file: string): string[] {
  const name = path.basename(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return [];
  }
  const keep: Record<string, string[]> = {
    'memory.events': ['max', 'oom_kill'],
    'memory.oom_control': ['oom_kill'],
    'cpu.stat': ['usage_usec', 'nr_periods', 'nr_throttled', 'throttled_usec', 'throttled_time'],
    'pids.events': ['max'],
  };
  const keys = keep[name];
  if (!keys) return [`${name.padEnd(28)} ${text}`];
  return text.split('\n').filter((line) => keys.includes(line.split(' ')[0]!)).map((line) => `${`${name}:`.padEnd(28)} ${line}`);
}

/**
 * Several paths as one shell brace expansion: the v1 directories of a container differ only in the
 * controller's folder, "/sys/fs/cgroup/{memory,cpu,pids}/mini-docker-lab/<ID>".
 */
export function braceJoin(paths: readonly string[]): string {
  if (paths.length <= 1) return paths[0] ?? '';
  const split = paths.map((entry) => entry.split('/'));
  const shortest = Math.min(...split.map((parts) => parts.length));
  let head = 0;
  while (head < shortest && split.every((parts) => parts[head] === split[0]![head])) head++;
  let tail = 0;
  while (tail < shortest - head && split.every((parts) => parts[parts.length - 1 - tail] === split[0]![split[0]!.length - 1 - tail])) tail++;
  const middles = [...new Set(split.map((parts) => parts.slice(head, parts.length - tail).join('/')))];
  return [...split[0]!.slice(0, head), `{${middles.join(',')}}`, ...split[0]!.slice(split[0]!.length - tail)].join('/');
}

/** A command that prints these cgroup files with their names: `grep -s . DIRS/{FILES}` (-s: skip combinations that do not exist). */
function grepSource(files: readonly string[]): string {
  const dirs = braceJoin([...new Set(files.map((file) => path.dirname(file)))]);
  return `grep -s . ${dirs}/${braceJoin([...new Set(files.map((file) => path.basename(file)))])}`;
}

/** The lines of /proc/PID/cgroup for the lab's controllers (v1) or the unified hierarchy (v2). */
function labCgroupLines(text: string, version: 'v1' | 'v2'): string {
  return text
    .trim()
    .split('\n')
    .filter((line) => (version === 'v2' ? line.startsWith('0::') : /^\d+:[\w,]*\b(memory|cpu|pids)\b/.test(line)))
    .join('\n');
}

/**
 * The container's cgroup as the HOST sees it: its directory, its files, gauges. `prefix` tells apart
 * the rows of a second container (in the cpu-shares step), which get only the essentials.
 */
function hostRows(watched: Watched, version: 'v1' | 'v2', prefix: string): PaneRow[] {
  const cgroup = watched.limited.cgroup;
  const rows: PaneRow[] = [{ label: `${prefix}command`, value: `docker run ${watched.flags.join(' ')} IMAGE ${watched.args.map(shellQuote).join(' ')}` }];
  if (watched.ended) {
    const { exitCode, stats } = watched.ended;
    rows.push({ label: `${prefix}cgroup`, value: `removed after the command ended (exit code ${exitCode})` });
    rows.push({
      label: `${prefix}last stats`,
      value: `oom_kill ${stats.memory.oomKills} · memory peak ${stats.memory.peak === null ? '?' : formatMiB(stats.memory.peak)} of ${stats.memory.limit === null ? 'no limit' : formatMiB(stats.memory.limit)} · CPU ${(stats.cpu.usageUsec / 1e6).toFixed(2)} s`,
    });
    return rows;
  }
  const dirs = cgroup.paths.filter((dir) => existsSync(dir));
  if (dirs.length === 0) return [...rows, { label: `${prefix}cgroup`, value: 'gone' }];
  const existing = (files: string[]) => files.filter((file) => existsSync(file));
  const { limits, usage } = cgroup.files();
  rows.push({ label: `${prefix}cgroup`, value: braceJoin(dirs), source: `ls ${braceJoin(dirs)}` });
  rows.push({
    label: `${prefix}limits (files)`,
    value: existing(limits).map((file) => `${path.basename(file).padEnd(28)} ${readFileSync(file, 'utf8').trim()}`).join('\n'),
    source: grepSource(existing(limits)),
  });
  if (!prefix) {
    rows.push({ label: 'usage (files)', value: existing(usage).flatMap(interestingLines).join('\n'), source: grepSource(existing(usage)) });
    try {
      rows.push({ label: 'cgroup of PID 1', value: labCgroupLines(readFileSync(`/proc/${watched.limited.container.pid}/cgroup`, 'utf8'), version), source: `cat /proc/${watched.limited.container.pid}/cgroup` });
    } catch {
      // exited meanwhile
    }
  }

  const stats = cgroup.stats();
  watched.samples.push([performance.now(), stats.cpu.usageUsec]);
  watched.samples.splice(0, watched.samples.length - 60); // a minute of refreshes is plenty
  const rate = cpuRate(watched.samples);
  const limited = stats.cpu.limitCpus !== null;
  rows.push({
    label: `${prefix}cpu`,
    value: rate
      ? `${gauge(rate.cpus, stats.cpu.limitCpus, (cpus) => `${cpus.toFixed(2)} CPU`)} (last ${(rate.overMs / 1000).toFixed(1)} s${limited ? `; throttled in ${stats.cpu.nrThrottled} of ${stats.cpu.nrPeriods} periods` : ''})`
      : `${limited ? `limit ${stats.cpu.limitCpus} CPU` : 'no limit'}; measuring…`,
  });
  if (!prefix) {
    rows.push({ label: 'memory', value: gauge(stats.memory.current, stats.memory.limit, formatMiB) });
    rows.push({
      label: 'processes',
      value: `${gauge(stats.pids.current, stats.pids.limit, String)}${stats.pids.refusedForks ? ` · ${stats.pids.refusedForks} forks refused` : ''}`,
    });
  }
  return rows;
}

/** What the workload can find out from inside: its cgroup, its limit, what `free` claims, its processes. */
async function containerRows(watched: Watched, version: 'v1' | 'v2', prefix: string, context: LessonContext): Promise<PaneRow[]> {
  const rows: PaneRow[] = [];
  if (watched.output.trim()) rows.push({ label: `${prefix}its output`, value: watched.output.trim().split('\n').slice(-3).join('\n') });
  if (watched.ended) {
    const { exitCode } = watched.ended;
    rows.push({ label: `${prefix}exit code`, value: `${exitCode}${exitCode === 137 ? ' = 128 + 9: killed by SIGKILL (the OOM killer)' : ''}` });
    return rows;
  }
  const limitFile = version === 'v2' ? 'cat /sys/fs/cgroup/memory.max' : 'cat /sys/fs/cgroup/memory$(sed -n "s/^[0-9]*:memory://p" /proc/1/cgroup)/memory.limit_in_bytes';
  const script = `echo $$; echo @@; cat /proc/1/cgroup; echo @@; ${limitFile} 2>&1; echo @@; free -m | awk '/^Mem:/ {print $2}'; echo @@; ps -e -o pid=,ppid=,stat=,time=,comm=`;
  const { stdout, exitCode } = await lookInside(watched.limited.container.pid, ['sh', '-c', script], context);
  if (exitCode !== 0) return [...rows, { label: `${prefix}error`, value: `could not look inside (exit ${exitCode})` }];
  const [self = '', cgroupFile = '', limit = '', freeTotal = '', ps = ''] = stdout.split('@@\n').map((part) => part.trim());
  rows.push({ label: `${prefix}cgroup of PID 1`, value: labCgroupLines(cgroupFile, version), source: 'cat /proc/1/cgroup' });
  if (!prefix) {
    rows.push({ label: 'memory limit, as it can read it', value: limit, source: limitFile });
    rows.push({ label: 'free -m: total memory', value: `${freeTotal} MiB — /proc/meminfo is the host's; only the cgroup knows the limit`, source: "free -m | awk '/^Mem:/ {print $2}'" });
  }
  // Leave out the `sh` and `ps` of this very look inside.
  const processes = ps.split('\n').map((line) => line.trim().split(/\s+/)).filter(([pid, ppid]) => pid !== self && ppid !== self);
  const counts = new Map<string, number>();
  for (const [, , , , comm = '?'] of processes) counts.set(comm, (counts.get(comm) ?? 0) + 1);
  const running = processes.filter(([, , stat]) => stat?.startsWith('R')).map(([pid, , , time, comm]) => `PID ${pid} ${comm}: running (R), CPU time so far ${time}`);
  rows.push({
    label: `${prefix}processes inside`,
    value: [`${processes.length}: ${[...counts].map(([comm, count]) => `${count} × ${comm}`).join(', ')}`, ...running.slice(0, 2)].join('\n'),
    source: 'ps -e -o pid,ppid,stat,time,comm',
  });
  return rows;
}

/** Samples CPU usage for `ms`, so the gauge (and plain mode) has a measurement to show. */
async function measureCpu(entries: Watched[], ms: number): Promise<void> {
  for (const entry of entries) entry.samples = [];
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    for (const entry of entries) entry.samples.push([performance.now(), entry.limited.cgroup.stats().cpu.usageUsec]);
    await sleep(250);
  }
  for (const entry of entries) entry.samples.push([performance.now(), entry.limited.cgroup.stats().cpu.usageUsec]);
}
