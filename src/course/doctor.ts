/**
 * The doctor: does this machine have what the lab needs?
 *
 *   npm run doctor            every check, one line each, with the fix for each ✗
 *   await requireFor(3)       what a lesson calls first: throws a RequirementError naming the first
 *                             missing requirement and its fix, in one line
 *
 * The checks themselves are data (doctor/checks.ts) over a MachineView (doctor/machine.ts), so the
 * tests run them against fixture machines: a cgroup v2 host, a v1 hybrid host, one without busybox...
 */
import { CourseError } from './errors.js';
import { checkById, CHECKS, checksFor, firstNeededBy, type Check, type CheckId, type LessonTarget } from './doctor/checks.js';
import { realMachine, type MachineView } from './doctor/machine.js';
import { Probe } from './doctor/probe.js';
import { readyThrough, type CheckResult, type DoctorReport } from './doctor/report.js';

export { CHECKS, checksFor, type Check, type CheckId, type LessonTarget } from './doctor/checks.js';
export type { MachineView, RunResult } from './doctor/machine.js';
export { realMachine } from './doctor/machine.js';
export { formatReport, type CheckResult, type DoctorReport } from './doctor/report.js';

export interface DoctorOptions {
  /** The machine to look at. Default: this one. */
  machine?: MachineView;
  /** The command to repeat in "run it as root" fixes. Default: what the student just ran. */
  rerun?: string;
}

/**
 * A lesson's requirement is not met. The message is one line: what is missing and how to fix it.
 * As a CourseError (exit code 1: refused, nothing changed) the course's commands print it without a stack trace.
 */
export class RequirementError extends CourseError {
  override name = 'RequirementError';
  constructor(
    readonly lesson: LessonTarget,
    /** The failed check, e.g. "image.busybox". */
    readonly check: CheckId,
    /** "a static busybox". */
    readonly need: string,
    /** What the doctor found instead. */
    readonly found: string,
    /** What to do, e.g. "run `sudo apt-get install busybox-static` (...)". */
    readonly fix: string,
  ) {
    super(oneLine(`${lesson === 'final' ? 'the final runtime' : `lesson ${lesson}`} needs ${need}: ${fix}`), 1);
  }
}

export function isRequirementError(error: unknown): error is RequirementError {
  return error instanceof Error && error.name === 'RequirementError' && 'fix' in error;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** POSIX shell quoting, only where needed: `--json` stays as is, `a b` becomes `'a b'`. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command the student ran, to repeat with sudo. npm puts the script name in npm_lifecycle_event
 * ("doctor", "lesson"); the script's own arguments are in process.argv after the script path.
 */
export function defaultRerun(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv): string {
  const script = env.npm_lifecycle_event;
  // Under `npx tsx ...` the "script" is npx itself: nothing sensible to repeat, so point at the doctor.
  if (!script || script === 'npx') return 'npm run doctor';
  // npm passes leading plain words on by itself (`npm run lesson 1`); options need `--` before them.
  const args = argv.slice(2).map(shellQuote);
  const firstOption = args.findIndex((arg) => arg.startsWith('-'));
  const words = firstOption < 0 ? args : args.slice(0, firstOption);
  const options = firstOption < 0 ? [] : args.slice(firstOption);
  return [`npm run ${script}`, ...words, ...(options.length ? ['--', ...options] : [])].join(' ');
}

/** Runs checks (all at once; each reads the machine through one shared Probe). A crashing check fails, never throws. */
export async function runChecks(ids: readonly CheckId[], options: DoctorOptions = {}): Promise<CheckResult[]> {
  return runWith(new Probe(options.machine ?? realMachine()), ids, options.rerun ?? defaultRerun());
}

async function runWith(probe: Probe, ids: readonly CheckId[], rerun: string): Promise<CheckResult[]> {
  return Promise.all(
    ids.map(async (id): Promise<CheckResult> => {
      const check = checkById(id);
      const outcome = await check.run({ probe, rerun }).catch((error: unknown) => ({
        ok: false,
        found: `the check itself failed: ${error instanceof Error ? error.message : String(error)}`,
        fix: 'please report this as a bug in the course, with the output of `npm run doctor -- --json`',
      }));
      return {
        id: check.id,
        group: check.group,
        title: check.title,
        need: check.need,
        required: check.required,
        neededBy: firstNeededBy(check.id),
        ...outcome,
      };
    }),
  );
}

/** Every check, for `npm run doctor`. */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const probe = new Probe(options.machine ?? realMachine());
  const checks = await runWith(
    probe,
    CHECKS.map((c) => c.id),
    options.rerun ?? defaultRerun(),
  );
  return {
    ok: checks.every((c) => c.ok || !c.required),
    readyThrough: readyThrough(checks),
    checks,
    // Already read by the cgroup checks: the Probe hands back the same answer.
    cgroup: await probe.cgroupFacts().then(
      (facts) => facts.layout,
      () => null,
    ),
  };
}

/**
 * What every lesson calls before it starts. Resolves when the machine has everything the lesson
 * needs; otherwise throws a RequirementError for the first missing requirement, in lesson order
 * (root before Node before the kernel ...), so the student fixes one thing at a time.
 */
export async function requireFor(lesson: LessonTarget, options: DoctorOptions & { rootless?: boolean } = {}): Promise<void> {
  // Rootless, the lesson runs as root of the user's own user namespace: the machine's root is not needed.
  const results = await runChecks(checksFor(lesson).filter((id) => !(options.rootless && id === 'system.root')), options);
  const failed = results.find((r) => !r.ok);
  if (failed) {
    throw new RequirementError(lesson, failed.id, failed.need, failed.found, failed.fix ?? 'run `npm run doctor` for details');
  }
}
