/**
 * Lesson 02 as the TUI shows it: processes and IPC objects, from the host and from the container.
 * Run it with `npm run lesson 2` (add `-- --plain` for plain text).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { LessonContext, LessonFactory, PaneRow } from '../../src/course/lesson.js';
import { initBundle } from '../../src/build/bundle.js';
import { captureInContainer, startContainer, type Container } from '../../src/container/runtime.js';
import { makePlan, type ContainerPlan, type NamespaceKind } from '../../src/container/plan.js';
import { newContainerId } from '../../src/container/id.js';
import { pidFeature } from './feature.js';
import { defaultHostname } from '../01-uts/uts.js';
import { utsFeature } from '../01-uts/feature.js';
import { hostPidsInNamespaceOf, parseNSpid, stopContainer, withInit } from './pid.js';

/** Docker's --init is tini; Debian and Ubuntu ship a static build of it. */
export const TINI = '/usr/bin/tini-static';

/** A container with the namespaces of lessons 01–02 and its own /proc. */
export function pidContainerPlan(args: string[], namespaces: NamespaceKind[] = ['pid', 'ipc', 'mnt', 'uts']): ContainerPlan {
  const id = newContainerId();
  return makePlan({
    id,
    namespaces,
    steps: [
      utsFeature.step('hostname', { hostname: defaultHostname(id) }),
      ...(namespaces.includes('pid') ? [pidFeature.step('mountProc', {})] : []),
    ],
    process: { args },
  });
}

/** One step of the lesson: what the student reads, and what it does to this run of the lesson. */
interface Step {
  title: string;
  narration: string;
  run(lab: PidLab): Promise<void>;
}

/** The lesson, step by step. Each step's work is the function named on its `run` line, below. */
const steps: Step[] = [
  {
    title: 'Without a PID namespace, ps sees the whole machine',
    narration:
      'This container has only a UTS namespace, as in lesson 01. Its `ps` reads the host\'s /proc, so it lists ' +
      "every process on the machine, and the command's PID is an ordinary host PID.",
    run: withoutPidNamespace,
  },
  {
    title: 'unshare(CLONE_NEWPID): the command is PID 1',
    narration:
      'Now the monitor calls unshare(CLONE_NEWPID) before starting init, so init is born as PID 1 of a new namespace; ' +
      'init mounts a fresh /proc and execs `sleep`. Inside: PID 1 is sleep, and there is nothing else. The host ' +
      'sees the same process under its own number — NSpid shows both.',
    run: commandIsPid1,
  },
  {
    title: 'PID 1 ignores SIGTERM',
    narration:
      'The kernel delivers a signal to a namespace\'s PID 1 only if PID 1 has a handler for it (SIGKILL from outside ' +
      'excepted). `sleep` has none, so SIGTERM does nothing. That is why `docker stop` waits 10 s and then sends ' +
      'SIGKILL: exit code 137 = 128 + 9.',
    run: pid1IgnoresSigterm,
  },
  {
    title: 'Orphans become zombies under a PID 1 that never waits',
    narration:
      'The command starts a background `sh` whose parent exits at once; the orphan is re-parented to PID 1. When it ' +
      'exits, only its parent may collect its exit status with wait(). `sleep` never calls wait(), so the dead process ' +
      'stays in the table as a zombie: state Z.',
    run: orphansBecomeZombies,
  },
  {
    title: '--init: a real init reaps them',
    narration:
      'Same command, but PID 1 is tini (Docker\'s --init): it starts the command as its child, reaps every orphan ' +
      'handed to it, and forwards signals to the command. No zombie, and SIGTERM works again.',
    run: initReapsThem,
  },
  {
    title: 'When PID 1 exits, the namespace goes with it',
    narration:
      'Three sleeps run in this container. The step kills only PID 1 — and the kernel kills every other process of ' +
      'the namespace (SIGKILL). The host pane lists what is left of the container: nothing.',
    run: namespaceDiesWithPid1,
  },
  {
    title: 'IPC namespace: message queues do not cross',
    narration:
      'A System V message queue created on the host with `ipcmk -Q`, and one created inside the container: each side ' +
      'lists only its own. (The container\'s queue disappears with its IPC namespace.)',
    run: ipcQueuesDoNotCross,
  },
];

const lesson: LessonFactory = (context) => ({
  number: 2,
  slug: '02-pid',
  title: 'PID and IPC namespaces — the command becomes PID 1',
  async start() {
    const lab = await PidLab.open(context);
    return {
      steps: steps.map((step) => ({ title: step.title, narration: step.narration, run: () => step.run(lab) })),
      async snapshot() {
        const current = lab.container;
        const hostQueues = queueKeys(execFileSync('ipcs', ['-q'], { encoding: 'utf8' }));
        return {
          host: hostRows(current, hostQueues, lab.note),
          container: current ? await containerRows(current, context) : [{ label: 'container', value: '(none running)' }],
        };
      },
      shell() {
        const { container } = lab;
        if (!container) return null;
        return {
          file: process.execPath,
          args: [lab.bundleFile, 'enter', String(container.pid)],
          banner: `A shell in the container (PID ${container.pid} on the host). Try ps, kill 1, ipcs. Type exit to return.`,
        };
      },
      close: () => lab.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

async function withoutPidNamespace(lab: PidLab): Promise<void> {
  lab.note = '';
  await lab.replace(pidContainerPlan(['sleep', 'infinity'], ['uts']));
}

async function commandIsPid1(lab: PidLab): Promise<void> {
  await lab.replace(pidContainerPlan(['sleep', 'infinity']));
}

async function pid1IgnoresSigterm(lab: PidLab): Promise<void> {
  const current = await lab.replace(pidContainerPlan(['sleep', 'infinity']));
  const started = Date.now();
  const exitCode = await stopContainer(current, 2000);
  lab.note = `stop: SIGTERM ignored; SIGKILL after ${((Date.now() - started) / 1000).toFixed(1)} s → exit code ${exitCode}`;
  lab.container = await startContainer(pidContainerPlan(['sleep', 'infinity']), { stdio: 'ignore', bundle: lab.context.bundle });
}

async function orphansBecomeZombies(lab: PidLab): Promise<void> {
  lab.note = '';
  await lab.replace(pidContainerPlan(['sh', '-c', '(sh -c "sleep 0.2" &); exec sleep infinity']));
  await settle(600);
}

async function initReapsThem(lab: PidLab): Promise<void> {
  await lab.replace(pidContainerPlan(withInit(['sh', '-c', '(sh -c "sleep 0.2" &); exec sleep infinity'], TINI)));
  await settle(600);
}

async function namespaceDiesWithPid1(lab: PidLab): Promise<void> {
  const current = await lab.replace(pidContainerPlan(['sh', '-c', 'sleep infinity & sleep infinity & exec sleep infinity']));
  await settle(300);
  const before = hostPidsInNamespaceOf(current.pid);
  current.kill('SIGKILL');
  await current.wait();
  const alive = before.filter((pid) => existsSync(`/proc/${pid}`));
  lab.note = `before: host PIDs ${before.join(', ')}; after killing PID 1 only: ${alive.length ? alive.join(', ') : 'none left'}`;
  lab.container = undefined;
}

async function ipcQueuesDoNotCross(lab: PidLab): Promise<void> {
  lab.note = '';
  lab.hostQueueId ??= /(\d+)/.exec(execFileSync('ipcmk', ['-Q'], { encoding: 'utf8' }))?.[1];
  const current = await lab.replace(pidContainerPlan(['sh', '-c', 'ipcmk -Q >/dev/null; exec sleep infinity']));
  await settle(300);
  void current;
}

// ---------------------------------------------------------------------------------------------------
// What one run of the lesson holds: the container on screen, the last result, the host's message queue

class PidLab {
  container: Container | undefined;
  /** The last step's result, shown as "last result". */
  note = '';
  /** The message queue the IPC step made on the host: removed on close. */
  hostQueueId: string | undefined;

  private constructor(
    readonly context: LessonContext,
    readonly bundleFile: string,
  ) {}

  static async open(context: LessonContext): Promise<PidLab> {
    return new PidLab(context, await initBundle(context.bundle));
  }

  /** Ends the container on screen and starts this one in its place. */
  async replace(plan: ContainerPlan): Promise<Container> {
    await this.container?.destroy();
    this.container = undefined;
    this.container = await startContainer(plan, { stdio: 'ignore', bundle: this.context.bundle });
    return this.container;
  }

  async close(): Promise<void> {
    const current = this.container;
    this.container = undefined;
    await current?.destroy();
    if (this.hostQueueId) execFileSync('ipcrm', ['-q', this.hostQueueId]);
    this.hostQueueId = undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// What the panes show, and helpers

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** The processes the host finds in the container's PID namespace — all of them, if it has none of its own. */
function describeNamespace(pid: number): string {
  const pids = hostPidsInNamespaceOf(pid);
  if (pids.length > 8) return `${pids.length} processes: the host's own PID namespace`;
  return pids.map((member) => `${member} ${comm(member)}`).join(', ') || '(none)';
}

function hostRows(container: Container | undefined, hostQueues: string, note: string): PaneRow[] {
  // Count the names in /proc, without looking at each process: `ls -d /proc/[0-9]*` stats every one,
  // and a process that exits between the listing and the stat makes ls complain on our stderr.
  const total = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).length;
  const rows: PaneRow[] = [{ label: 'processes', value: `${total} on the host`, source: "ls /proc | grep -c '^[0-9]'" }];
  if (container) {
    const status = readFileSync(`/proc/${container.pid}/status`, 'utf8');
    rows.push(
      {
        label: 'parent chain',
        value: `${process.pid} ${comm(process.pid)} (runtime) → ${container.monitorPid} ${comm(container.monitorPid)} (monitor) → ${container.pid} ${comm(container.pid)}`,
        source: 'cat /proc/PID/status | grep PPid',
      },
      { label: 'NSpid', value: `${parseNSpid(status).join(' ')}   (host PID … PID inside)`, source: `grep NSpid /proc/${container.pid}/status` },
      { label: "container's processes", value: describeNamespace(container.pid), source: 'readlink /proc/*/ns/pid' },
    );
  }
  rows.push({ label: 'message queues', value: hostQueues || '(none)', source: 'ipcs -q' });
  if (note) rows.push({ label: 'last result', value: note });
  return rows;
}

/** Long listings (a container without its own PID namespace sees every process) are cut short. */
function firstLines(text: string, count: number): string {
  const lines = text.split('\n');
  return lines.length <= count ? text : [...lines.slice(0, count), `… and ${lines.length - count} more`].join('\n');
}

function queueKeys(ipcsOutput: string): string {
  // ipcs -q prints a header, then "key msqid owner perms used-bytes messages" per queue.
  return ipcsOutput.split('\n').filter((line) => /^0x[0-9a-f]+\s/.test(line)).map((line) => line.split(/\s+/)[0]).join(' ');
}

async function containerRows(container: Container, context: LessonContext): Promise<PaneRow[]> {
  const script = 'ps -o pid,ppid,stat,comm; echo @@; ipcs -q';
  const { stdout, exitCode } = await captureInContainer(container.pid, ['sh', '-c', script], context.bundle);
  if (exitCode !== 0) return [{ label: 'error', value: `could not look inside (exit ${exitCode})` }];
  const [ps = '', ipcs = ''] = stdout.split('@@\n');
  return [
    { label: 'processes', value: firstLines(ps.trimEnd(), 12), source: 'ps -o pid,ppid,stat,comm' },
    { label: 'message queues', value: queueKeys(ipcs) || '(none)', source: 'ipcs -q' },
  ];
}
