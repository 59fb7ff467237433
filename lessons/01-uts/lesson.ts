/**
 * Lesson 01 as the TUI shows it: the host on the left, a container on the right, and a UTS namespace
 * between them. Run it with `npm run lesson 1` (add `-- --plain` for plain text).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readFileSync, readlinkSync } from 'node:fs';
import type { LessonContext, LessonFactory, LessonStep, PaneRow } from '../../src/course/lesson.js';
import { initBundle } from '../../src/build/bundle.js';
import { captureInContainer, startContainer, type Container } from '../../src/container/runtime.js';
import { makePlan, type ContainerPlan } from '../../src/container/plan.js';
import { newContainerId } from '../../src/container/id.js';
import { defaultHostname } from './uts.js';
import { utsFeature } from './feature.js';

/** The plan for a container that has its own UTS namespace and, optionally, its own names. */
export function utsContainerPlan(id: string, names?: { hostname: string; domainname?: string }): ContainerPlan {
  return makePlan({
    id,
    namespaces: ['uts'],
    steps: names ? [utsFeature.step('hostname', names)] : [],
    process: { args: ['sleep', 'infinity'] },
  });
}

/** What the container says about its UTS namespace, asked from inside (one `sh -c` in its namespaces). */
async function readInside(container: Container, context: LessonContext): Promise<PaneRow[]> {
  const script = 'hostname; cat /proc/sys/kernel/domainname; readlink /proc/self/ns/uts';
  const { stdout, exitCode } = await captureInContainer(container.pid, ['sh', '-c', script], context.bundle);
  const [name = '?', domain = '?', namespace = '?'] = stdout.trim().split('\n');
  if (exitCode !== 0) return [{ label: 'error', value: `could not look inside (exit ${exitCode})` }];
  return [
    { label: 'hostname', value: name, source: 'hostname' },
    { label: 'domainname', value: domain, source: 'cat /proc/sys/kernel/domainname' },
    { label: 'uts namespace', value: namespace, source: 'readlink /proc/self/ns/uts' },
  ];
}

function readHost(container: Container | undefined): PaneRow[] {
  const rows: PaneRow[] = [
    { label: 'hostname', value: hostname(), source: 'hostname' },
    { label: 'domainname', value: readFileSync('/proc/sys/kernel/domainname', 'utf8').trim(), source: 'cat /proc/sys/kernel/domainname' },
    { label: 'uts namespace', value: readlinkSync('/proc/self/ns/uts'), source: 'readlink /proc/self/ns/uts' },
  ];
  if (container) {
    rows.push({
      label: `container's PID on the host`,
      value: `${container.pid} → ${readlinkSync(`/proc/${container.pid}/ns/uts`)}`,
      source: `readlink /proc/${container.pid}/ns/uts`,
    });
  }
  return rows;
}

/** One step: the host name it sets is chosen per run, so each step is made for the run. */
type StepOf = (lab: UtsLab) => LessonStep;

/** The lesson, step by step: each function below makes one step (title, narration, what it runs). */
const steps: StepOf[] = [onlyTheHost, aCopiedNamespace, aHostNameInside, dockersDefaultName];

const lesson: LessonFactory = (context) => ({
  number: 1,
  slug: '01-uts',
  title: 'UTS namespace — a host name of its own',
  async start() {
    const lab = await UtsLab.open(context);
    return {
      steps: steps.map((makeStep) => makeStep(lab)),
      async snapshot() {
        const current = lab.container;
        return {
          host: readHost(current),
          container: current ? await readInside(current, context) : [{ label: 'container', value: '(none yet)' }],
        };
      },
      shell() {
        const { container } = lab;
        if (!container) return null;
        return {
          file: process.execPath,
          args: [lab.bundleFile, 'enter', String(container.pid)],
          banner: `A shell in the container's namespaces (PID ${container.pid} on the host). Type exit to return.`,
        };
      },
      close: () => lab.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps

function onlyTheHost(): LessonStep {
  return {
    title: 'One machine, two points of view',
    narration:
      'On the left, the host as this runtime sees it; on the right there will be a container. ' +
      'There is none yet: so far every process on the machine shares one UTS namespace, and the number in ' +
      '"uts:[…]" is its inode.',
    run: async () => {},
  };
}

function aCopiedNamespace(lab: UtsLab): LessonStep {
  return {
    title: 'unshare(CLONE_NEWUTS): a new namespace is a copy',
    narration:
      'The runtime starts init, init calls unshare(CLONE_NEWUTS) and then execs `sleep`. The container ' +
      'has a namespace of its own (a new inode) — but it starts as a copy of the host\'s, so the names are the same.',
    run: () => lab.replaceContainer(utsContainerPlan(newContainerId())),
  };
}

function aHostNameInside(lab: UtsLab): LessonStep {
  const { chosenName } = lab;
  return {
    title: `sethostname("${chosenName}") inside`,
    narration:
      `This time init also calls sethostname("${chosenName}") and setdomainname("lab.local") before exec. ` +
      'The container sees the new names; the host keeps its own: a UTS namespace isolates exactly these two strings.',
    run: () => lab.replaceContainer(utsContainerPlan(newContainerId(), { hostname: chosenName, domainname: 'lab.local' })),
  };
}

function dockersDefaultName(lab: UtsLab): LessonStep {
  return {
    title: "Docker's default: the short container ID",
    narration:
      'Without --hostname, Docker names a container after the first 12 hex digits of its ID — the short ID ' +
      "`docker ps` prints (docker inspect -f '{{.Config.Hostname}}' shows it). Press s for a shell inside; " +
      'try `hostname` and `hostname something-else`, then come back and watch only the right pane change.',
    run: async () => {
      const id = newContainerId();
      await lab.replaceContainer(utsContainerPlan(id, { hostname: defaultHostname(id) }));
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// What one run of the lesson holds: the container on screen and the host name it will set

class UtsLab {
  container: Container | undefined;
  readonly chosenName = `lab-${randomBytes(2).toString('hex')}`;

  private constructor(
    readonly context: LessonContext,
    readonly bundleFile: string,
  ) {}

  static async open(context: LessonContext): Promise<UtsLab> {
    // The shell key runs the built init program's `enter` mode; build it now, not when the key is pressed.
    return new UtsLab(context, await initBundle(context.bundle));
  }

  /** Ends the container on screen and starts this one in its place. */
  async replaceContainer(plan: ContainerPlan): Promise<void> {
    await this.container?.destroy();
    this.container = undefined;
    this.container = await startContainer(plan, { stdio: 'ignore', bundle: this.context.bundle });
  }

  async close(): Promise<void> {
    const current = this.container;
    this.container = undefined;
    await current?.destroy();
  }
}
