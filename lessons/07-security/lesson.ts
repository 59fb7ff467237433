/**
 * Lesson 07 as the TUI shows it: the same busybox container seven times, each time with one more of the
 * mechanisms that limit what its root may DO, and the same harmless attacks tried from inside each time.
 * Run it with `npm run lesson 7` (add `-- --plain` for plain text).
 */
import { readFileSync } from 'node:fs';
import type { LessonContext, LessonFactory, LessonStep, PaneRow } from '../../src/course/lesson.js';
import { isTodo } from '../../src/course/todo.js';
import { linuxSyscalls } from '../../src/sys/index.js';
import { labStateDir } from '../../src/container/state.js';
import { busyboxImage, type Image } from '../03-mount/image.js';
import { startRootfsContainer, type RootfsContainer } from '../03-mount/containers.js';
import { CAPABILITIES, decodeCapabilities } from './capabilities.js';
import { DOCKER_DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, defaultSeccompProfile } from './defaults.js';
import { configFragment, hostDisk, probeCommand, readProbe, securityConfig, securitySteps, type SecurityFields } from './probe.js';
import { DENY_ALL_DEVICES, deviceProgram, v1DeviceLines } from './devices.js';
import { deviceCgroupOfConfig, deviceRulesOf } from './feature.js';
import { resolveProfile, seccompFilter } from './seccomp.js';

const lesson: LessonFactory = (context) => ({
  number: 7,
  slug: '07-security',
  title: 'Security — what the container\'s root may do',
  async start() {
    const lab = await SecurityLab.open(context);
    return {
      steps: steps.map((makeStep) => makeStep(lab)),
      snapshot: async () => ({ host: hostRows(lab), container: containerRows(lab) }),
      // A shell would join the namespaces with the lab's own powers, not the container's: no shell key here.
      shell: () => null,
      close: () => lab.close(),
    };
  },
});

export default lesson;

// ---------------------------------------------------------------------------------------------------
// The steps: each adds one mechanism, and the same attacks run again

type StepOf = (lab: SecurityLab) => LessonStep;
const steps: StepOf[] = [rootIsRoot, dockersCapabilities, maskedPaths, aSeccompFilter, noNewPrivileges, theDeviceCgroup, dockersDefaults];

function rootIsRoot(lab: SecurityLab): LessonStep {
  return {
    title: 'Root in a box is still root',
    narration:
      'Lessons 01–06 made this container: its own host name, PIDs, root file system. Its command is root with every ' +
      'capability (CapEff on the right), no seccomp filter, /proc as the host has it. Watch the attacks on the right: ' +
      'each one is harmless here (its own namespaces, an open that writes nothing), and each one works. Opening ' +
      'core_pattern for writing is the real escape: one write of "|/program" and the host runs that program as root.',
    run: () => lab.show({}),
  };
}

function dockersCapabilities(lab: SecurityLab): LessonStep {
  return {
    title: "Capabilities: keep Docker's 14",
    narration:
      'Init drops every capability but Docker\'s 14 from the bounding set (prctl PR_CAPBSET_DROP, one per capability), ' +
      'then sets the others with capset(2). Without CAP_SYS_ADMIN there is no mount, no unshare, no new host name; ' +
      'without CAP_SYS_TIME no clock. But core_pattern still opens: root owns /proc/sys, and no capability is asked.',
    run: () => lab.show({ capabilities: DOCKER_DEFAULT_CAPABILITIES }),
  };
}

function maskedPaths(lab: SecurityLab): LessonStep {
  return {
    title: 'Masked and read-only paths',
    narration:
      'After pivot_root, init binds /dev/null over /proc/kcore, /proc/keys, /proc/timer_list … and binds /proc/sys, ' +
      '/proc/sysrq-trigger, /proc/irq, /proc/bus onto themselves read-only. Now opening core_pattern fails with EROFS ' +
      'before the kernel looks at who is asking, and timer_list reads as empty.',
    run: () => lab.show({ capabilities: DOCKER_DEFAULT_CAPABILITIES, maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
  };
}

function aSeccompFilter(lab: SecurityLab): LessonStep {
  return {
    title: 'seccomp: a filter on the system calls',
    narration:
      'Every capability is back, but init loads a seccomp filter last, right before exec: libseccomp compiled the ' +
      'profile (linux.seccomp in config.json) into the BPF program on the left. The kernel runs it on every call the ' +
      'command makes: mount and unshare now fail with EPERM although CapEff holds CAP_SYS_ADMIN. Seccomp: 2 means "a filter".',
    run: () => lab.show({ seccomp: defaultSeccompProfile() }),
  };
}

function noNewPrivileges(lab: SecurityLab): LessonStep {
  return {
    title: 'no_new_privs: execve can add nothing',
    narration:
      'prctl(PR_SET_NO_NEW_PRIVS, 1) before exec: from now on a setuid-root program runs with the caller\'s UID and file ' +
      'capabilities are not granted, for this process and everything it starts; nothing can switch it off. It takes ' +
      'no power away by itself (the attacks work again: everything else is off in this step) — it stops a user inside ' +
      'from climbing back to root: nobody\'s setuid-root busybox now runs as nobody. `docker run --security-opt ' +
      'no-new-privileges` sets it; `runc spec` does by default.',
    run: () => lab.show({ noNewPrivileges: true }),
  };
}

function theDeviceCgroup(lab: SecurityLab): LessonStep {
  return {
    title: 'The device cgroup: a node for the host\'s disk',
    narration:
      'Root inside may mknod (CAP_MKNOD is one of Docker\'s 14): a node with the numbers of the host\'s disk opens the ' +
      'disk itself, whatever /dev shows — every step so far let that through. Now the host writes the device cgroup\'s ' +
      'rules before init is let go: refuse everything, then /dev\'s default nodes. On cgroup v1 they are lines in ' +
      'devices.deny and devices.allow; on v2 an eBPF program attached to the container\'s cgroup, left. The open fails.',
    run: () => lab.show({ devices: [DENY_ALL_DEVICES] }),
  };
}

function dockersDefaults(lab: SecurityLab): LessonStep {
  return {
    title: "Docker's defaults, all together",
    narration:
      'What `minidocker run` (and Docker) gives every container: the 14 capabilities, the masked and read-only paths, ' +
      'the device cgroup and the seccomp profile — the rules for calls that a capability it still has makes legitimate left out. Every ' +
      'attack fails but one: Docker leaves no_new_privs off, so a user inside may still become this boxed root through a setuid ' +
      'program. `minidocker run --privileged` turns all of it off; `--cap-add`, `--cap-drop` and `--security-opt` ' +
      'change one piece. Try `sudo env "PATH=$PATH" npm run --silent minidocker -- run -it --rm busybox sh`.',
    run: () => lab.show({
      capabilities: DOCKER_DEFAULT_CAPABILITIES,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: resolveProfile(defaultSeccompProfile(), { capabilities: DOCKER_DEFAULT_CAPABILITIES }),
      devices: [DENY_ALL_DEVICES],
    }),
  };
}

// ---------------------------------------------------------------------------------------------------
// What the panes show

const CAP_SYS_TIME = 'CAP_SYS_TIME';
const hasBit = (hex: string, bit: number) => ((BigInt(`0x${hex}`) >> BigInt(bit)) & 1n) === 1n;
const CLOCK_CALLS = ['settimeofday', 'clock_settime', 'clock_adjtime'];

/**
 * A value computed with lesson code that may not be written yet (with --mine): an unfinished exercise
 * shows its TODO in that row instead of stopping the lesson.
 */
function orTodo(compute: () => string): string {
  try {
    return compute();
  } catch (error) {
    return isTodo(error) ? `(exercise ${error.exercise} is not done yet: npm run hint 7)` : `(${(error as Error).message})`;
  }
}

function hostRows(lab: SecurityLab): PaneRow[] {
  const ours = /^CapEff:\s*(\w+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '?';
  const rows: PaneRow[] = [{ label: 'this runtime', value: orTodo(() => `${decodeCapabilities(ours).length} of ${CAPABILITIES.length} capabilities (CapEff ${ours})`), source: 'grep CapEff /proc/self/status' }];
  const { shown } = lab;
  if (!shown) return rows;
  rows.push(
    { label: 'config.json', value: describeFields(shown.fields), source: 'process.capabilities, process.noNewPrivileges, linux.*Paths, linux.seccomp, linux.resources.devices' },
    { label: "init's steps", value: shown.steps.join(' → ') || '(none: the command keeps what init had)', source: 'lessons/07-security/feature.ts' },
  );
  if (shown.filterText) rows.push({ label: 'the filter (libseccomp)', value: shown.filterText, source: 'seccomp_export_pfc' });
  if (shown.deviceRules) rows.push({ label: 'the device cgroup', value: shown.deviceRules, source: shown.deviceSource ?? '' });
  return rows;
}

function containerRows(lab: SecurityLab): PaneRow[] {
  const { shown } = lab;
  if (!shown) return [{ label: 'container', value: '(none yet)' }];
  const found = shown.probe;
  if (shown.error) return [{ label: 'error', value: shown.error }];
  let caps: string[] | undefined;
  const capabilitiesRow = orTodo(() => {
    caps = decodeCapabilities(found.CapEff ?? '0');
    return `${caps.length} capabilities: ${caps.map((name) => name.slice(4)).join(' ') || '(none)'}`;
  });
  const attack = (label: string, key: string, source: string): PaneRow => ({
    label, value: found[key] === 'yes' ? 'WORKS' : found[key] === 'no' ? 'refused' : (found[key] ?? '?'), source,
  });
  const clockByCapability = caps ? caps.includes(CAP_SYS_TIME) : hasBit(found.CapEff ?? '0', 25);
  const clockByFilter = shown.refusedCalls.some((name) => CLOCK_CALLS.includes(name));
  return [
    { label: 'CapEff', value: capabilitiesRow, source: 'grep CapEff /proc/self/status' },
    { label: 'NoNewPrivs', value: found.NoNewPrivs ?? '?', source: 'grep NoNewPrivs /proc/self/status' },
    { label: 'Seccomp', value: found.Seccomp === '2' ? '2 (a filter)' : `${found.Seccomp ?? '?'} (none)`, source: 'grep Seccomp /proc/self/status' },
    {
      label: 'set the clock',
      value: clockByCapability && !clockByFilter ? 'WORKS (CAP_SYS_TIME held; not tried: it would step the host\'s clock)' : `refused (${clockByFilter ? 'the filter refuses clock_settime' : 'no CAP_SYS_TIME'})`,
      source: 'CapEff bit 25, the filter\'s rules',
    },
    attack('open core_pattern for writing', 'core_pattern', ': >> /proc/sys/kernel/core_pattern'),
    attack('mount a tmpfs', 'mount', 'mount -t tmpfs lab-probe /mnt'),
    attack('rename the host', 'hostname', 'hostname lab-renamed'),
    attack('a new namespace', 'unshare', 'unshare -u true'),
    attack('trace another user\'s process', 'ptrace', 'open /proc/PID/mem of nobody\'s sleep (ptrace\'s check), read nothing'),
    attack('a user becomes root (setuid)', 'setuid', 'su nobody → a setuid-root copy of busybox: is euid 0?'),
    attack("open the host's disk", 'disk', lab.disk ? `mknod /tmp/lab-disk b ${lab.disk.major} ${lab.disk.minor}; : < /tmp/lab-disk  (${lab.disk.path}, read-only)` : 'no host disk the lab itself may open here'),
    { label: '/proc/timer_list', value: `${found.timer_list ?? '?'} bytes${found.timer_list === '0' ? ' (masked)' : ' of the host\'s timers'}`, source: 'cat /proc/timer_list | wc -c' },
  ];
}

/** The fields in one line each: what the step wrote into config.json. */
function describeFields(fields: SecurityFields): string {
  const { process: spec, linux } = configFragment(fields);
  const lines: string[] = [];
  if (spec.capabilities) lines.push(`capabilities: ${spec.capabilities.bounding!.length} (bounding = effective = permitted)`);
  if (spec.noNewPrivileges) lines.push('noNewPrivileges: true');
  if (linux?.maskedPaths) lines.push(`maskedPaths: ${linux.maskedPaths.length} (/proc/kcore, /proc/keys, /proc/timer_list …)`);
  if (linux?.readonlyPaths) lines.push(`readonlyPaths: ${linux.readonlyPaths.join(' ')}`);
  if (linux?.resources) lines.push(`resources.devices: refuse all (+ /dev's default nodes, added by the runtime)`);
  if (linux?.seccomp) lines.push(`seccomp: default ${linux.seccomp.defaultAction}, ${linux.seccomp.syscalls?.length ?? 0} rules refusing ${refused(linux.seccomp).length} calls`);
  return lines.join('\n') || '(nothing: every field of this lesson left out)';
}

function refused(profile: NonNullable<SecurityFields['seccomp']>): string[] {
  return [...new Set((profile.syscalls ?? []).filter((entry) => entry.action === 'SCMP_ACT_ERRNO').flatMap((entry) => entry.names))];
}

// ---------------------------------------------------------------------------------------------------
// One run of the lesson: the container on screen and what its probe found

interface Shown {
  fields: SecurityFields;
  steps: string[];
  container: RootfsContainer | undefined;
  probe: Record<string, string>;
  refusedCalls: string[];
  filterText?: string;
  /** The device cgroup's rules as the kernel got them: v1 lines, or the v2 program's instructions. */
  deviceRules?: string;
  deviceSource?: string;
  error?: string;
}

class SecurityLab {
  shown: Shown | undefined;
  private image: Image | undefined;
  /** The host disk the probe makes a node for (hostDisk()), found once. */
  readonly disk = hostDisk();

  private constructor(
    readonly context: LessonContext,
    readonly stateDir: string,
  ) {}

  static async open(context: LessonContext): Promise<SecurityLab> {
    return new SecurityLab(context, labStateDir());
  }

  /** Ends the container on screen, starts one with these fields, and waits for its probe's report. */
  async show(fields: SecurityFields): Promise<void> {
    await this.clear();
    this.image ??= busyboxImage({ stateDir: this.stateDir }).image;
    const shown: Shown = { fields, steps: [], container: undefined, probe: {}, refusedCalls: fields.seccomp ? refused(fields.seccomp) : [] };
    this.shown = shown;
    try {
      shown.steps = securitySteps(fields).map(({ step }) => step);
      if (fields.seccomp) shown.filterText = filterExcerpt(fields.seccomp);
      // The fields go into the container's config.json; the runtime's features do the rest, the device
      // cgroup too (lesson 04 makes the cgroup, feature.ts writes the rules and puts init into it).
      shown.container = await startRootfsContainer({
        mode: 'pivot_root', args: probeCommand(this.disk), image: this.image, registry: this.context.registry, stateDir: this.stateDir, bundle: this.context.bundle, stdio: ['ignore', 'pipe', 'pipe'],
        config: securityConfig(fields),
      });
      if (fields.devices) describeDeviceCgroup(shown, shown.container);
      shown.probe = await readProbe(shown.container.container);
    } catch (error) {
      // With --mine, an unfinished exercise stops the container from starting: say so in the pane.
      shown.error = isTodo(error) ? `exercise ${error.exercise} is not done yet: npm run hint 7 ${error.exercise}` : (error as Error).message;
    }
  }

  async clear(): Promise<void> {
    const current = this.shown;
    this.shown = undefined;
    await current?.container?.destroy();
  }

  close(): Promise<void> {
    return this.clear();
  }
}

/** The device rules as the kernel got them, for the screen: v1's allow/deny lines, or v2's BPF program. */
function describeDeviceCgroup(shown: Shown, started: RootfsContainer): void {
  const target = deviceCgroupOfConfig(started.config, started.id)!;
  const rules = deviceRulesOf(started.config)!;
  if (target.version === 'v1') {
    shown.deviceRules = v1DeviceLines(rules).map(({ file, line }) => `${file.padEnd(14)} ${line}`).slice(0, 6).join('\n') + `\n… ${rules.length + 1} lines in all`;
    shown.deviceSource = `${target.path}/devices.{deny,allow}`;
  } else {
    const program = deviceProgram(rules).map(({ text }) => text);
    shown.deviceRules = [...program.slice(0, 12), `… ${program.length} instructions in all`].join('\n');
    shown.deviceSource = `bpf(BPF_PROG_LOAD), attached to ${target.path}`;
  }
}

/** The first lines of libseccomp's pseudo-code for the filter: the architecture check, then the rules. */
function filterExcerpt(profile: NonNullable<SecurityFields['seccomp']>): string {
  try {
    const text = linuxSyscalls().seccompExport(seccompFilter(profile, { noNewPrivileges: false }));
    const lines = text.split('\n').filter((line) => line.trim() && !line.startsWith('#'));
    return [...lines.slice(0, 8), `… ${lines.length} lines in all`].join('\n');
  } catch (error) {
    return `(libseccomp could not show it: ${(error as Error).message})`;
  }
}
